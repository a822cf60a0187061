"""Switch the active profile: `python -m stages.select_profile tiny|default|full`.

Rewrites only the `profile:` line of params.yaml (equivalent to `dvc exp run -S profile=...`).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from stages.params import PARAMS_FILE, PROFILES


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in PROFILES:
        print(f"usage: python -m stages.select_profile {{{'|'.join(PROFILES)}}}", file=sys.stderr)
        return 2
    text = Path(PARAMS_FILE).read_text()
    new, n = re.subn(r"^profile:.*$", f"profile: {argv[0]}", text, count=1, flags=re.M)
    if n != 1:
        print("params.yaml has no top-level 'profile:' line", file=sys.stderr)
        return 2
    if new != text:
        Path(PARAMS_FILE).write_text(new)
    print(f"profile: {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
