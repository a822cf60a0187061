"""Sport skills and exercises: lunge, tennis serve, jumping jack, soccer kick."""
from __future__ import annotations
