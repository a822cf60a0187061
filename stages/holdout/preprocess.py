"""`holdout preprocess`: the `preprocess` section's settings on the cohort's raw clips, with the
reference dataset's scalers applied as they are (``preprocessing.run.preprocess(scalers_from=)``:
nothing refitted, every clip in the test split) -> data/processed/<holdout.dataset>."""
from __future__ import annotations

import sys
from pathlib import Path

from stages.holdout import HoldoutParams, check_disjoint_athletes, cohort_preprocess_params, run_step


def step(h: HoldoutParams) -> int:
    from biomech.io import RawDataError, read_manifest
    from preprocessing.clip import ClipError
    from preprocessing.run import preprocess
    from stages.preprocess import load_params

    _, pre = load_params()
    pp = cohort_preprocess_params(pre, h)
    scalers = Path(h.reference_data) / "scalers.json"
    try:
        check_disjoint_athletes({r["athlete_id"] for r in read_manifest(Path(pp.raw_dir) / pp.dataset)},
                                Path(h.reference_data))
        r = preprocess(pp, report_json=Path(h.report_dir) / "preprocess.json", scalers_from=scalers)
    except (ClipError, RawDataError) as exc:
        print(f"holdout preprocess: {exc}", file=sys.stderr)
        return 1
    print(f"holdout preprocess: {r['clips']['processed']} clips ({r['clips']['skipped']} skipped) -> "
          f"{r['windows']['test']} test windows in {r['timing']['total_s']} s, scalers of {scalers}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_step("preprocess", step))
