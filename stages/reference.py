"""DVC stage `reference`: the per-class reference movements of the technique feedback.

    python -m stages.reference        # what `dvc repro reference` runs

Reads params.yaml section `feedback` (evaluation.feedback.FeedbackParams). For every action class,
the DTW barycentre of the clean (fault "none") training clips' joint angles (biomech.feedback),
from the angles the service sees in use (`feedback.angles: ik`: OpenSim IK of the detector-like
landmarks, on `feedback.workers` processes, cached per clip in `feedback.cache_dir`; `true`: the
generator's angles). Writes `feedback.reference` (artifacts/reference/
reference.npz; the package stage puts it in the bento) and reports/reference.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.params import ParamsError, section, validate


def main(argv: list[str] | None = None) -> int:
    import argparse

    from evaluation.feedback import FeedbackParams, build_references

    ap = argparse.ArgumentParser(prog="python -m stages.reference", description=__doc__.splitlines()[0])
    ap.add_argument("--raw-dir", help="override feedback.raw_dir (e.g. another checkout's data)")
    ap.add_argument("--processed-dir", help="override feedback.processed_dir")
    ap.add_argument("--angles", choices=("ik", "true"), help="override feedback.angles")
    ap.add_argument("--reference", help="override feedback.reference (the output file)")
    ap.add_argument("--cache-dir", help="override feedback.cache_dir (IK angles per clip)")
    ap.add_argument("--workers", type=int, help="override feedback.workers (IK processes)")
    ap.add_argument("--report", default="reports/reference.json")
    a = ap.parse_args(argv)
    try:
        _, raw = section("feedback")
        over = {k: v for k, v in vars(a).items() if v is not None and k != "report"}
        p = validate(FeedbackParams, {**raw, **over}, "feedback")
    except ParamsError as exc:
        print(f"reference: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from biomech.feedback import FeedbackError
    from biomech.io import RawDataError

    try:
        info = build_references(p)
    except (RawDataError, FeedbackError) as exc:
        print(f"reference: {exc}", file=sys.stderr)
        return 1
    Path(a.report).parent.mkdir(parents=True, exist_ok=True)
    Path(a.report).write_text(json.dumps(info, indent=1))
    print(f"reference: {len(info['classes'])} classes ({sum(info['classes'].values())} clean clips, "
          f"{p.angles} angles) -> {p.reference}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
