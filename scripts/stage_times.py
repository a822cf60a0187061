"""`dvc repro` with the wall time of every stage printed at the end (issue 12: "per-stage times printed").

    scripts/python scripts/stage_times.py                      # = .venv/bin/dvc repro, then the table
    scripts/python scripts/stage_times.py --json reports/stage_times.json -- -f evaluate

Everything after ``--`` goes to ``dvc repro``. DVC's own output passes through unchanged. A stage's
time runs from DVC's "Running stage '<name>'" line to the next stage's line (or the end), so it holds
the command (Python start-up included), DVC's hashing and dvc.lock update after it and DVC's check
of the next stage (DVC names a stage only once it has checked it); stages that DVC skips ("didn't
change", restored from the run cache) are listed too.
Exit status: dvc's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

# DVC 3's lines when it starts work on a stage: run, skip, or restore from the run cache
MARKERS = (re.compile(r"^Running stage '([^']+)'"),
           re.compile(r"^Stage '([^']+)' didn't change, skipping"),
           re.compile(r"^Stage '([^']+)' is cached - skipping run"))


def stage_of(line: str) -> tuple[str, str] | None:
    """(stage, "ran" | "skipped") when ``line`` is DVC's start of a stage, else None."""
    for k, pat in enumerate(MARKERS):
        m = pat.match(line.strip())
        if m:
            return m.group(1), ("ran" if k == 0 else "skipped")
    return None


def durations(events: list[tuple[float, str, str]], end: float) -> list[dict]:
    """[(time, stage, how)] in order + the end time -> [{stage, how, seconds}]."""
    out: list[dict] = []
    for k, (t, stage, how) in enumerate(events):
        stop = events[k + 1][0] if k + 1 < len(events) else end
        out.append({"stage": stage, "how": how, "seconds": round(stop - t, 1)})
    return out


def table(rows: list[dict], total: float) -> str:
    width = max([len(r["stage"]) for r in rows] + [5])
    lines = [f"{'stage':<{width}}  {'how':<7}  seconds"]
    lines += [f"{r['stage']:<{width}}  {r['how']:<7}  {r['seconds']:7.1f}" for r in rows]
    lines.append(f"{'total':<{width}}  {'':<7}  {total:7.1f}  (dvc repro wall time, start-up included)")
    return "\n".join(lines)


def run(dvc_args: list[str], out=sys.stdout.buffer) -> tuple[int, list[dict], float]:
    """Run ``dvc repro <dvc_args>`` passing its output through; returns (exit status, rows, total s)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", *dvc_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    events, pending = [], b""
    while chunk := os.read(proc.stdout.fileno(), 65536):
        now = time.monotonic() - t0
        out.write(chunk)
        out.flush()
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            hit = stage_of(line.decode(errors="replace").split("\r")[-1])
            if hit:
                events.append((now, *hit))
    rc = proc.wait()
    total = time.monotonic() - t0
    return rc, durations(events, total), total


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, dvc_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(prog="scripts/stage_times.py", description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the times here ({stages: [...], total_s})")
    a = ap.parse_args(ours)
    rc, rows, total = run(dvc_args)
    print("\n" + table(rows, total), file=sys.stderr)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"dvc_args": dvc_args, "exit_status": rc, "total_s": round(total, 1),
                                            "stages": rows}, indent=1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
