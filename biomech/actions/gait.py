"""Gait-like actions: walk, run, sprint start, long-jump take-off, lateral shuffle."""
from __future__ import annotations
