"""The installed `athlete-mm` console command works from any folder (not only the repository root)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli import COMMANDS


def test_console_command_lists_every_command_outside_the_repository(tmp_path):
    exe = Path(sys.executable).parent / "athlete-mm"
    p = subprocess.run([str(exe), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    for name in COMMANDS:
        assert name in p.stdout, name
    for name in COMMANDS:           # every command's own options parse (its module imports)
        q = subprocess.run([str(exe), name, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert q.returncode == 0 and "usage" in q.stdout, (name, q.stderr[-2000:])
