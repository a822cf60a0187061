"""DVC stage `ingest` (pipelines/videos/dvc.yaml): a folder of videos + labels CSV -> raw dataset.

Reads the `ingest` section of params.yaml and runs `ingest.dataset.ingest_videos` (MediaPipe
Pose per frame, OpenSim IK per clip, quality gates), writing `ingest.out_dir` in the raw layout
plus reports/ingest.json (clips, frames with a pose, IK marker error, time per frame).

    python -m stages.ingest        # what `dvc repro pipelines/videos/dvc.yaml` runs

Exit status: 0 done; 1 a video is unreadable or fails a quality gate (message names it; set
`ingest.skip_bad_videos: true` to skip and list such videos); 2 invalid parameters.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from stages.params import ParamsError, section, validate

REPORT = Path("reports/ingest.json")


class IngestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    video_dir: str
    labels: str
    out_dir: str
    min_pose_fraction: float = Field(default=0.5, ge=0, le=1)
    min_visibility: float = Field(default=0.5, ge=0, le=1)
    max_marker_error_mm: float = Field(default=60.0, gt=0, le=1000)
    max_frames: int | None = Field(default=None, ge=1)
    ik: bool = True
    max_gap_s: float | None = Field(default=None, gt=0)
    skip_bad_videos: bool = False


def run(p: IngestParams, report: Path = REPORT, progress: bool = True) -> dict:
    from ingest.dataset import IngestSettings, ingest_videos

    settings = IngestSettings(min_pose_fraction=p.min_pose_fraction, min_visibility=p.min_visibility,
                              max_marker_error_mm=p.max_marker_error_mm, max_frames=p.max_frames, ik=p.ik,
                              max_gap_s=p.max_gap_s)
    t0 = time.perf_counter()
    summary = ingest_videos(p.video_dir, p.labels, p.out_dir, settings, skip_bad=p.skip_bad_videos,
                            progress=progress)
    seconds = time.perf_counter() - t0
    frames = sum(c["frames"] for c in summary["clips"])
    summary.update(seconds=round(seconds, 2), frames=frames,
                   ms_per_frame=round(1000 * seconds / max(frames, 1), 1))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> int:
    try:
        _, raw = section("ingest")
        p = validate(IngestParams, raw, "ingest")
    except ParamsError as exc:
        print(f"ingest: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from ingest import IngestError

    try:
        s = run(p)
    except IngestError as exc:
        print(f"ingest: {exc}", file=sys.stderr)
        return 1
    print(f"ingest: {len(s['clips'])} clips ({len(s['skipped'])} skipped), {s['frames']} frames in "
          f"{s['seconds']} s ({s['ms_per_frame']} ms per frame) -> {s['out_dir']}", file=sys.stderr)
    for k in s["skipped"]:
        print(f"ingest: skipped {k['video']}: {k['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
