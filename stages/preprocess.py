"""DVC stage `preprocess`: raw multimodal clips -> synchronised, filtered, model-ready windows.

Reads the `preprocess` section of params.yaml (active profile applied), processes every clip of
data/raw/<dataset>/ in parallel worker processes (preprocessing.run) and writes
data/processed/<dataset>/ (format: see preprocessing/__init__.py), one PNG per class, the recovered
clock offsets per clip (sync_offsets.json) and the full report (details.json: sync accuracy,
gap-filling RMSE, frames without a pose detection per clip, QC, timing, peak memory) under
reports/preprocess/, and reports/preprocess.json (headline figures only: clips, skipped, windows
per split, median sync error per stream, seconds) for `dvc metrics show` / `dvc metrics diff`.

    python -m stages.preprocess            # what `dvc repro preprocess` runs

Exit status: 0 done; 1 a clip is missing/corrupt/unusable (message names the path; set
`preprocess.skip_bad_clips: true` to skip and list such clips instead); 2 invalid parameters.
"""
from __future__ import annotations

import sys
from pathlib import Path

from stages.params import ParamsError, section, validate

REPORT = Path("reports/preprocess.json")


def load_params():
    from preprocessing.params import PreprocessParams

    profile, raw = section("preprocess")
    return profile, validate(PreprocessParams, raw, "preprocess")


def main() -> int:
    try:
        profile, p = load_params()
    except ParamsError as exc:
        print(f"preprocess: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from biomech.io import RawDataError
    from preprocessing.clip import ClipError
    from preprocessing.run import preprocess

    print(f"preprocess: profile={profile} dataset={p.dataset} timeline={p.timeline_hz:g} Hz "
          f"window={p.window.length}/{p.window.stride} workers={p.workers}", file=sys.stderr)
    try:
        r = preprocess(p, report_json=REPORT)
    except (ClipError, RawDataError) as exc:
        print(f"preprocess: {exc}", file=sys.stderr)
        return 1
    c = r["clips"]
    print(f"preprocess: {c['processed']} clips ({c['skipped']} skipped) -> windows {r['windows']} in "
          f"{r['timing']['total_s']} s; peak memory main {r['peak_memory']['main_mb']:.0f} MB, "
          f"worker {r['peak_memory']['largest_worker_mb']:.0f} MB", file=sys.stderr)
    for k, s in r.get("sync_accuracy", {}).items():
        print(f"preprocess: sync {k}: median {s['median_ms']} ms ({s['median_frames']} frames), "
              f"p95 {s['p95_ms']} ms ({s['p95_frames']} frames), n={s['n']}", file=sys.stderr)
    for s in c["skipped_clips"]:
        print(f"preprocess: skipped {s['athlete_id']}/{s['clip_id']}: {s['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
