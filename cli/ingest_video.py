"""`athlete-mm ingest-video VIDEO_DIR --labels LABELS.csv --out DATASET_DIR`: videos -> raw dataset.

Runs MediaPipe Pose on every video listed in the labels CSV, then OpenSim inverse kinematics
(see `ingest.dataset` for the CSV columns and the files written), and prints per video the
frames with a pose, the IK marker error and the time per frame.
"""
from __future__ import annotations

import argparse
import time

from cli import CommandError
from ingest import IngestError
from ingest.dataset import IngestSettings, ingest_videos


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video_dir", help="folder holding the videos named in the labels CSV")
    p.add_argument("--labels", required=True, help="CSV: video,action[,athlete_id,sex,height_m,mass_kg,fault]")
    p.add_argument("--out", required=True, help="dataset folder to write (raw layout)")
    p.add_argument("--min-pose-fraction", type=float, default=0.5,
                   help="fail a video where a person is found in fewer frames (default 0.5)")
    p.add_argument("--max-marker-error-mm", type=float, default=60.0,
                   help="fail a video whose median IK marker error is larger (default 60 mm)")
    p.add_argument("--max-frames", type=int, default=None, help="read at most this many frames per video")
    p.add_argument("--no-ik", action="store_true", help="landmarks only, no OpenSim inverse kinematics")
    p.add_argument("--skip-bad", action="store_true", help="skip (and list) unreadable or failing videos")


def run(args: argparse.Namespace) -> int:
    settings = IngestSettings(min_pose_fraction=args.min_pose_fraction,
                              max_marker_error_mm=args.max_marker_error_mm,
                              max_frames=args.max_frames, ik=not args.no_ik)
    t0 = time.perf_counter()
    try:
        summary = ingest_videos(args.video_dir, args.labels, args.out, settings, skip_bad=args.skip_bad)
    except IngestError as exc:
        raise CommandError(str(exc)) from None
    seconds = time.perf_counter() - t0
    frames = sum(c["frames"] for c in summary["clips"])
    for c in summary["clips"]:
        err = c["marker_error_rms_median_m"]
        err_txt = "" if err is None else f", IK marker error median {1000 * err:.0f} mm"
        print(f"{c['video']}: pose in {c['frames_with_pose']}/{c['frames']} frames{err_txt} "
              f"-> {c['athlete_id']}/{c['clip_id']}")
    for s in summary["skipped"]:
        print(f"skipped {s['video']}: {s['error']}")
    print(f"ingest-video: {len(summary['clips'])} clips, {frames} frames in {seconds:.1f} s "
          f"({1000 * seconds / max(frames, 1):.0f} ms per frame) -> {summary['out_dir']}")
    return 0
