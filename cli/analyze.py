"""`athlete-mm analyze VIDEO --mass KG --height M [--sex S] [--imu imu.npz] [--grf grf.npz] [--out OUT.json]`:
what the service's /analyze returns, computed in-process (no server): MediaPipe landmarks, action
segments with probabilities, OpenSim IK joint angles, joint moments (plates when given, else from
the ground reaction estimated from the kinematics), technique feedback per segment, QC, timings
(serving.analyze.analyze_video). Prints a summary; ``--json`` prints the whole result as JSON.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cli import CommandError
from cli.bundle import add_bundle_argument, emit, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="video file (mp4, ...)")
    p.add_argument("--mass", required=True, type=float, help="body mass, kg")
    p.add_argument("--height", required=True, type=float, help="stature, m")
    p.add_argument("--sex", choices=("male", "female"), default=None)
    p.add_argument("--imu", type=Path, help="raw-layout imu.npz (time, acc, gyro)")
    p.add_argument("--grf", type=Path, help="raw-layout grf.npz (time, force, cop, free_moment)")
    p.add_argument("--max-frames", type=int, default=1800, help="read at most this many frames (default 1800)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", type=Path, help="write the result as JSON to this file")
    add_bundle_argument(p)


def summary(out: dict) -> str:
    v, qc = out["video"], out["qc"]
    lines = [f"video: {v['frames']} frames at {v['fps']:.1f} fps, a pose in {qc['frames_with_pose']}; "
             f"{out['frames_per_s']:.1f} frames/s", "segments and feedback:"]
    segs = out["recognition"]["segments"]
    for s, f in zip(segs, out["feedback"]):
        lines.append(f"  {s['t_start_s']:7.2f} - {s['t_end_s']:7.2f} s  {s['action']:<20s} p={s['probability']:.3f}")
        if f.get("skipped"):
            lines.append(f"      no feedback: {f['skipped']}")
        for m in f.get("messages") or (["no joint beyond the threshold"] if not f.get("skipped") else []):
            lines.append(f"      - {m}")
    est = " (ground reaction estimated from the kinematics)" if out["moments"]["grf_estimated"] else ""
    lines.append(f"moments: {len(out['moments']['moments'])} joints{est}")
    t = out["timings_s"]
    lines.append("timings: " + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if isinstance(v, (int, float))))
    cpu = {k: v for k, v in (t.get("cpu_s") or {}).items() if v is not None}
    if cpu:
        lines.append("cpu seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from serving.analyze import analyze_video
    from serving.inference import InputError
    from serving.schemas import Athlete

    if not args.video.is_file():
        raise CommandError(f"{args.video}: video not found")
    try:
        athlete = Athlete(mass_kg=args.mass, height_m=args.height, sex=args.sex)
    except ValueError as exc:
        raise CommandError(f"--mass / --height: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    bundle = load(args.bundle)
    try:
        out = analyze_video(bundle, args.video, athlete, args.imu, args.grf, max_frames=args.max_frames)
    except InputError as exc:
        raise CommandError(str(exc)) from None
    return emit(out, args, summary)
