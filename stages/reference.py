"""DVC stage `reference`: the per-class reference movements of the technique feedback.

    python -m stages.reference        # what `dvc repro reference` runs

Reads params.yaml section `feedback` (evaluation.feedback.FeedbackParams). For every action class,
the DTW barycentre of the clean (fault "none") training clips' joint angles (biomech.feedback),
from the angles the service sees in use (`feedback.angles: ik`: OpenSim IK of the detector-like
landmarks; `true`: the generator's angles). Writes `feedback.reference` (artifacts/reference/
reference.npz; the package stage puts it in the bento) and reports/reference.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.params import ParamsError, section, validate


def main(argv: list[str] | None = None) -> int:
    from evaluation.feedback import FeedbackParams, build_references

    try:
        _, raw = section("feedback")
        p = validate(FeedbackParams, raw, "feedback")
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
    Path("reports").mkdir(exist_ok=True)
    Path("reports/reference.json").write_text(json.dumps(info, indent=1))
    print(f"reference: {len(info['classes'])} classes ({sum(info['classes'].values())} clean clips, "
          f"{p.angles} angles) -> {p.reference}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
