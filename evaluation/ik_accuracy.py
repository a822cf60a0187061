"""IK accuracy on generated clips against the generator's true joint angles (a benchmark).

    python -m ingest.ik_accuracy [--clips 4] [--size 256] [--out reports/ik_accuracy.json]

Generates a few `pro` clips (squat, walk, countermovement jump, lunge, ...) with a video large
enough for MediaPipe, then solves OpenSim IK (`biomech.ik`, the model scaled per person on the
landmarks of the clip) from two inputs and compares hip / knee / ankle flexion with the truth
(`angles.mot`, interpolated to the video frames):

* ``lab``       : the noise-free lab-frame landmarks (`ground` in keypoints.npz): the IK path's
                  own error (marker set, scaling, solver);
* ``mediapipe`` : MediaPipe Pose run on the rendered video (`ingest.video.landmarks_from_video`,
                  world landmarks): the input the model gets in use.

Reference: the multimodal CNN paper reports 3.2 deg (pro) / 6.3 deg (consumer) joint-angle RMSE
for video keypoints -> OpenSim IK. Prints a table and writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from biomech.ik import calibrate_body, mediapipe_world_to_ylab, solve_ik
from biomech.io import read_json, read_mot, read_npz

JOINTS = ("hip_flexion", "knee_angle", "ankle_angle")
ACTIONS = ("squat", "walk", "countermovement_jump", "lunge", "jumping_jack", "soccer_kick")
PAPER_RMSE_DEG = {"pro": 3.2, "consumer": 6.3}


def generate_clips(root: Path, n: int, size: int, seed: int = 7) -> list[Path]:
    from biomech.conventions import GRAVITY
    from biomech.sensors import ImuSpec
    from biomech.synth import ClipSpec, Preset, SynthConfig, write_clip

    pro = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
    cfg = SynthConfig(width=size, height=size)
    people = [("male", 1.80, 78.0), ("female", 1.65, 58.0), ("male", 1.92, 92.0), ("female", 1.72, 66.0)]
    dirs = []
    for i in range(n):
        sex, h, m = people[i % len(people)]
        spec = ClipSpec(clip_id=f"clip{i:05d}", athlete_id=f"athlete{i % len(people):04d}", sex=sex,
                        height=h, mass=m, action=ACTIONS[i % len(ACTIONS)], fault="none", preset="pro",
                        duration=3.0, seed=seed * 1000 + i)
        write_clip(spec, pro, cfg, root)
        dirs.append(root / spec.athlete_id / spec.clip_id)
    return dirs


def flexion_rmse(result, frame_time: np.ndarray, clip_dir: Path) -> dict[str, float]:
    """RMSE (deg) of each side's hip / knee / ankle flexion vs the clip's angles.mot."""
    t, cols, truth, _ = read_mot(clip_dir / "angles.mot")
    out = {}
    for j in JOINTS:
        for s in ("r", "l"):
            name = f"{j}_{s}"
            ref = np.interp(frame_time, t, truth[:, cols.index(name)])
            out[name] = float(np.sqrt(np.nanmean((result.angle(name) - ref) ** 2)))
    return out


def evaluate_clip(clip_dir: Path) -> dict:
    from ingest.video import landmarks_from_video

    meta = read_json(clip_dir / "meta.json")
    a = meta["athlete"]
    _, kp = read_npz(clip_dir / "keypoints.npz")
    person = dict(sex=a["sex"], height=a["height_m"], mass=a["mass_kg"])
    row = {"clip": f"{meta['athlete_id']}/{meta['clip_id']}", "action": meta["action"]}
    t0 = time.perf_counter()
    body = calibrate_body(kp["ground"], **person)
    lab = solve_ik(body, kp["time"], kp["ground"], progress=False)
    row["lab"] = {"rmse_deg": flexion_rmse(lab, kp["time"], clip_dir),
                  "marker_error_rms_mm": 1000 * float(np.nanmean(lab.marker_error_rms)),
                  "ik_ms_per_frame": 1000 * (time.perf_counter() - t0) / len(kp["time"])}
    t0 = time.perf_counter()
    lm = landmarks_from_video(clip_dir / "video.mp4", progress=False)
    if lm["info"]["n_frames"] != len(kp["time"]):
        raise RuntimeError(f"{clip_dir}: {lm['info']['n_frames']} decoded frames, keypoints has {len(kp['time'])}")
    ok = lm["visibility"].max(1) > 0
    pts, vis = mediapipe_world_to_ylab(lm["world"][ok]), lm["visibility"][ok]
    body = calibrate_body(pts, vis, **person)
    mp = solve_ik(body, kp["time"][ok], pts, vis, progress=False)
    row["mediapipe"] = {"rmse_deg": flexion_rmse(mp, kp["time"][ok], clip_dir),
                        "marker_error_rms_mm": 1000 * float(np.nanmean(mp.marker_error_rms)),
                        "frames_with_pose": int(ok.sum()), "frames": int(len(ok)),
                        "ms_per_frame": 1000 * (time.perf_counter() - t0) / len(ok)}
    return row


def summarise(rows: list[dict]) -> dict:
    out = {}
    for src in ("lab", "mediapipe"):
        per_joint = {}
        for j in JOINTS:
            vals = [r[src]["rmse_deg"][f"{j}_{s}"] for r in rows for s in ("r", "l")]
            per_joint[j] = float(np.sqrt(np.mean(np.square(vals))))  # pooled over clips and sides
        out[src] = {"rmse_deg": per_joint,
                    "marker_error_rms_mm": float(np.mean([r[src]["marker_error_rms_mm"] for r in rows]))}
    return out


def table(summary: dict) -> str:
    lines = ["| input | " + " | ".join(f"{j} RMSE (deg)" for j in JOINTS) + " | marker error (mm) | paper |",
             "|---|" + "---|" * (len(JOINTS) + 2)]
    for src, label in (("lab", "noise-free lab landmarks"), ("mediapipe", "MediaPipe on the rendered video")):
        s = summary[src]
        lines.append(f"| {label} | " + " | ".join(f"{s['rmse_deg'][j]:.2f}" for j in JOINTS)
                     + f" | {s['marker_error_rms_mm']:.1f} | {PAPER_RMSE_DEG['pro']} (pro) / "
                       f"{PAPER_RMSE_DEG['consumer']} (consumer) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--size", type=int, default=256, help="video width = height (px)")
    ap.add_argument("--work", default="outputs/ik_accuracy", help="where the clips are generated")
    ap.add_argument("--out", default="reports/ik_accuracy.json")
    args = ap.parse_args(argv)
    clips = generate_clips(Path(args.work), args.clips, args.size)
    rows = [evaluate_clip(c) for c in clips]
    summary = summarise(rows)
    for r in rows:
        print(f"{r['clip']} {r['action']}: lab " + ", ".join(f"{k} {v:.2f}" for k, v in r["lab"]["rmse_deg"].items())
              + f" | mediapipe ({r['mediapipe']['frames_with_pose']}/{r['mediapipe']['frames']} frames) "
              + ", ".join(f"{k} {v:.1f}" for k, v in r["mediapipe"]["rmse_deg"].items()))
    print(table(summary))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"clips": rows, "summary": summary,
                                          "paper_rmse_deg": PAPER_RMSE_DEG}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
