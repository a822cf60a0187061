"""Real test material fetched (never committed) by scripts/fetch_real_data.sh: Pose2Sim 0.10.49's
wheel from PyPI, unzipped to .cache/real/pose2sim/ (videos of a person, OpenSim setup files)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "real"
POSE2SIM = CACHE / "pose2sim" / "Pose2Sim"


def fetch_pose2sim() -> Path:
    """Run the (idempotent) fetch script and return the unzipped Pose2Sim folder."""
    subprocess.run(["bash", str(ROOT / "scripts" / "fetch_real_data.sh"), str(CACHE)], check=True,
                   env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    return POSE2SIM
