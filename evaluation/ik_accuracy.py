"""IK accuracy against the generator's true joint angles, and joint moments from IK angles.

Held-out clips of a generated dataset, the detector-like landmarks a model gets in use (the main mode):

    python -m evaluation.ik_accuracy --dataset data/raw/synth [--split data/processed/synth/split.json]
        [--clips 40] [--offsets reports/preprocess/sync_offsets.json] [--cutoff 6] [--out reports/ik_accuracy.json]

Per clip (`evaluate_detector_clip`): the detector-like MediaPipe *world* landmarks of keypoints.npz
(`world`: camera axes, origin at the detected hip midpoint, noise / swaps / missed frames of
`biomech.camera.detector_landmarks`; not the privileged `world_true` / `ground`) are put on the
video's frame grid and low-passed (`--cutoff`, 6 Hz; `biomech.ik.uniform_landmarks`), the model is scaled on them,
and OpenSim IK solves them with the detector prior (`biomech.ik.DETECTOR_PRIOR`). Joint angles do
not depend on the frame, so IK runs in the (y-up) camera frame; hip / knee / ankle flexion are
scored against `angles.mot` on every frame of the grid (filled gaps included), marker error in mm.

Joint moments from those IK angles (`ik_moments`), scored against `moments.sto`, per joint:
* the pelvis orientation is turned from the camera frame into the lab frame with the clip's
  calibrated camera rotation (meta.json video.camera.R: a lab calibrates its cameras);
* the pelvis *translation* (hip-centre midpoint in the lab) is the generator's true one
  (`angles.mot` pelvis_t*): world landmarks are hip-centred and carry none, so this input is
  privileged (labelled so in the output);
* IK angles resampled onto the 100 Hz truth timeline (cubic spline), the body scaled by the IK;
  the same zero-lag low-pass (`--cutoff`) on coordinates and plates (`biomech.inverse_dynamics`);
* pro clips: with their plates (clock offsets recovered by the preprocess stage, refined within
  +-20 ms), and with estimated GRF (plates hidden, `biomech.grf_estimate`); consumer clips: estimated
  GRF only (they have no plate); the true angles through the same path as a reference row.

Reference: the multimodal CNN paper reports 3.2 deg (pro) / 6.3 deg (consumer) joint-angle RMSE
for video keypoints -> OpenSim IK.

Generated clips with a video large enough for MediaPipe (the earlier mode, `--generate N`):

    python -m evaluation.ik_accuracy --generate 4 [--size 256]

solves IK from the noise-free lab landmarks (`ground`: the IK path's own error) and from MediaPipe
Pose run on the rendered capsule video (far off on these renders, see the README).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from biomech.conventions import COORDINATES, TRANSLATIONS
from biomech.ik import (BACKTRACK_FRAMES, DETECTOR_PRIOR, calibrate_body, mediapipe_world_to_ylab, pelvis_to_lab, solve_ik,
                        uniform_landmarks, unswap_limbs)
from biomech.io import RawDataError, read_json, read_mot, read_npz

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


# ------------------------------------------------------------------ held-out clips, detector-like landmarks
def detector_ik(clip_dir: Path, cutoff_hz: float | None = 6.0, unswap: bool = True):
    """(IKResult on the video's frame grid, the scaled body, filled (M,) bool, frames unswapped)
    from the clip's detector-like world landmarks (see module doc)."""
    meta = read_json(clip_dir / "meta.json")
    a = meta["athlete"]
    _, kp = read_npz(clip_dir / "keypoints.npz", ("time", "world", "visibility"))
    pts = mediapipe_world_to_ylab(kp["world"])
    pts, n_unswapped = unswap_limbs(pts) if unswap else (pts, 0)
    seen = np.isfinite(pts).all((1, 2))
    body = calibrate_body(pts[seen], kp["visibility"][seen], sex=a["sex"], height=a["height_m"], mass=a["mass_kg"])
    grid, P, filled = uniform_landmarks(kp["time"], pts, float(meta["rates_hz"]["video"]), cutoff_hz)
    # every landmark the detector returns is used: leaving hidden ones out leaves a limb unconstrained
    res = solve_ik(body, grid, P, min_visibility=0.0, coordinate_weights=DETECTOR_PRIOR, backtrack=BACKTRACK_FRAMES,
                   progress=False)
    return res, body, filled, n_unswapped


def ik_coordinates_on(result, R_cam: np.ndarray, t: np.ndarray, q_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside (T,) bool, q (n, 29) rad / m) of IK `result` (camera frame) on the times t[inside] that
    the video grid covers: pelvis rotation to the lab (`pelvis_to_lab`), rotations unwrapped,
    cubic spline; pelvis translation from `q_true` (privileged, see module doc)."""
    from scipy.interpolate import CubicSpline

    q = pelvis_to_lab(result.q, R_cam)
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    q[:, rot] = np.unwrap(q[:, rot], axis=0)
    inside = (t >= result.time[0]) & (t <= result.time[-1])
    out = CubicSpline(result.time, q, axis=0)(t[inside])
    tr = [COORDINATES.index(c) for c in TRANSLATIONS]
    out[:, tr] = q_true[inside][:, tr]
    return inside, out


def ik_moments(inputs: dict, body, t: np.ndarray, q: np.ndarray, cutoff_hz: float | None,
               align_s: float = 0.02) -> dict[str, np.ndarray]:
    """Moments (n, 10) from coordinates q at times t (a sub-range of the clip's): with the clip's
    plates ("plates", pro clips) and with GRF estimated from q ("estimated_grf"); NaN rows where a
    plate has no record."""
    from biomech.grf_estimate import estimate_grf
    from biomech.inverse_dynamics import Plate, inverse_dynamics
    from sigproc.filters import butter_lowpass

    out = {}
    if inputs["plates"]:
        res = inverse_dynamics(body, t, q, inputs["plates"], cutoff_hz, align_s=align_s)
        out["plates"] = np.where(res.covered[:, None], res.moments, np.nan)
    rate = 1.0 / float(np.median(np.diff(t)))
    qf = butter_lowpass(q, rate, cutoff_hz, 4) if cutoff_hz else q
    est, _ = estimate_grf(body, t, qf)
    plates = {s: Plate(t, g["force"], g["cop"], g["free_moment"]) for s, g in est.items()}
    out["estimated_grf"] = inverse_dynamics(body, t, qf, plates, None).moments
    return out


def evaluate_detector_clip(clip_dir: Path, offset_s: float, cutoff_hz: float | None = 6.0,
                           id_cutoff_hz: float | None = 12.0) -> tuple[dict, dict]:
    """(IK row for the JSON, {input: (pred (n, 10), target (n, 10))} of the moments) of one clip;
    `cutoff_hz` low-passes the landmarks before IK, `id_cutoff_hz` the coordinates and plates of
    the inverse dynamics (the same for both)."""
    from evaluation.torque_id import clip_inputs, clip_moments

    t0 = time.perf_counter()
    res, body, filled, n_unswapped = detector_ik(clip_dir, cutoff_hz)
    meta = read_json(clip_dir / "meta.json")
    row = {"clip": f"{meta['athlete_id']}/{meta['clip_id']}", "action": meta["action"], "preset": meta["preset"],
           "rmse_deg": flexion_rmse(res, res.time, clip_dir),
           "marker_error_rms_mm": 1000 * float(np.nanmean(res.marker_error_rms)),
           "frames": int(len(res.time)), "filled_frames": int(filled.sum()), "unswapped_frames": n_unswapped,
           "ik_ms_per_frame": 1000 * (time.perf_counter() - t0) / len(res.time)}
    inp = clip_inputs(clip_dir, offset_s)
    inside, q = ik_coordinates_on(res, np.asarray(meta["video"]["camera"]["R"]), inp["t"], inp["q"])
    t, target = inp["t"][inside], inp["target"][inside]
    moments = {f"ik_{k}": v for k, v in ik_moments(inp, body, t, q, id_cutoff_hz).items()}
    # the true angles through the same path (the same frames, the table's body): the reference rows
    sub = {**inp, "t": t, "q": inp["q"][inside]}
    if inp["plates"]:
        moments["true_plates"] = clip_moments(sub, id_cutoff_hz, 0.02)
    moments["true_estimated_grf"] = ik_moments({**sub, "plates": {}}, inp["body"], t, sub["q"],
                                               id_cutoff_hz)["estimated_grf"]
    pairs = {}
    for k, pred in moments.items():
        ok = np.isfinite(pred).all(1)
        pairs[k] = (pred[ok], target[ok])
    return row, pairs


def held_out_clips(dataset: Path, split: Path | None, n: int) -> list[Path]:
    """Up to n clips of the split's test athletes (every athlete without a split file), spread
    over the actions and presets (round robin over (action, preset), sorted)."""
    from collections import defaultdict

    if not dataset.is_dir():
        raise RawDataError(f"{dataset}: dataset folder not found (a raw generated dataset, e.g. data/raw/synth)")
    athletes = read_json(split)["athletes"]["test"] if split else sorted(p.name for p in dataset.iterdir() if p.is_dir())
    groups = defaultdict(list)
    for a in athletes:
        if not (dataset / a).is_dir():
            raise RawDataError(f"{dataset / a}: test athlete of {split} not in the dataset")
        for c in sorted(p for p in (dataset / a).iterdir() if (p / "meta.json").is_file()):
            m = read_json(c / "meta.json")
            groups[(m["action"], m["preset"])].append(c)
    out, k = [], 0
    while len(out) < n and any(k < len(v) for v in groups.values()):
        out += [v[k] for _, v in sorted(groups.items()) if k < len(v)][: n - len(out)]
        k += 1
    return out


def summarise_detector(rows: list[dict], pairs: list[tuple[str, dict]]) -> dict:
    """Pooled figures per preset: IK flexion RMSE (deg, pooled over clips and sides), marker
    error (mm), and per moment input the torque_id scores (RMSE N m, ICC)."""
    from evaluation.torque_id import score

    out = {}
    for preset in sorted({r["preset"] for r in rows}):
        rs = [r for r in rows if r["preset"] == preset]
        ik = {j: float(np.sqrt(np.mean([r["rmse_deg"][f"{j}_{s}"] ** 2 for r in rs for s in ("r", "l")])))
              for j in JOINTS}
        torque = {}
        for key in sorted({k for p, d in pairs if p == preset for k in d}):
            got = [d[key] for p, d in pairs if p == preset and key in d]
            torque[key] = {"n_clips": len(got),
                           **score(np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got]))}
        out[preset] = {"n_clips": len(rs), "ik_rmse_deg": ik,
                       "marker_error_rms_mm": float(np.mean([r["marker_error_rms_mm"] for r in rs])),
                       "ik_ms_per_frame": float(np.median([r["ik_ms_per_frame"] for r in rs])),
                       "moments": torque}
    return out


MOMENT_INPUTS = {"true_plates": "true angles, plates", "ik_plates": "IK angles*, plates",
                 "true_estimated_grf": "true angles, estimated GRF", "ik_estimated_grf": "IK angles*, estimated GRF"}


def detector_tables(summary: dict) -> str:
    lines = ["IK from detector-like world landmarks (held-out clips), RMSE vs the generator's angles",
             "| preset | clips | " + " | ".join(f"{j} (deg)" for j in JOINTS) + " | marker error (mm) | paper (deg) |",
             "|---|---|" + "---|" * (len(JOINTS) + 2)]
    for preset, s in summary.items():
        lines.append(f"| {preset} | {s['n_clips']} | " + " | ".join(f"{s['ik_rmse_deg'][j]:.1f}" for j in JOINTS)
                     + f" | {s['marker_error_rms_mm']:.0f} | {PAPER_RMSE_DEG.get(preset, '-')} |")
    lines += ["", "Joint moments, RMSE N m / ICC(2,1) (* pelvis translation: the generator's, privileged)",
              "| preset | input | clips | knee r | knee l | hip flex r | hip flex l | ankle r | ankle l |",
              "|---|---|---|---|---|---|---|---|---|"]
    cols = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")
    for preset, s in summary.items():
        for key, label in MOMENT_INPUTS.items():
            m = s["moments"].get(key)
            if m:
                lines.append(f"| {preset} | {label} | {m['n_clips']} | " + " | ".join(
                    f"{m[c + '_moment']['rmse']:.1f} / {m[c + '_moment']['icc_2_1']:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def run_detector(args) -> int:
    from tqdm import tqdm

    from evaluation.torque_id import plate_offsets

    clips = held_out_clips(Path(args.dataset), Path(args.split) if args.split else None, args.clips)
    offsets = plate_offsets(Path(args.offsets) if args.offsets else None)
    rows, pairs = [], []
    for c in tqdm(clips, desc="ik_accuracy", unit="clip"):
        has_plates = read_json(c / "meta.json")["modalities"].get("grf")
        if has_plates and c.name not in offsets:
            raise RawDataError(f"{c.name}: no recovered force-plate offset in {args.offsets or 'the offsets file'}")
        row, p = evaluate_detector_clip(c, offsets.get(c.name, 0.0), args.cutoff or None, args.id_cutoff or None)
        rows.append(row)
        pairs.append((row["preset"], p))
    summary = summarise_detector(rows, pairs)
    print(detector_tables(summary))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"input": "detector-like world landmarks (keypoints.npz: world)",
                                          "pelvis_translation": "generator truth (privileged)",
                                          "landmark_cutoff_hz": args.cutoff, "id_cutoff_hz": args.id_cutoff,
                                          "clips": rows, "summary": summary,
                                          "paper_rmse_deg": PAPER_RMSE_DEG}, indent=1))
    return 0


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
    ap = argparse.ArgumentParser(prog="python -m evaluation.ik_accuracy", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None, help="raw generated dataset: score its held-out clips")
    ap.add_argument("--split", default=None, help="split.json of the preprocess stage (its test athletes)")
    ap.add_argument("--offsets", default=None, help="sync_offsets.json of the preprocess stage (plate clocks)")
    ap.add_argument("--cutoff", type=float, default=6.0, help="low-pass of the landmarks before IK (Hz); 0: none")
    ap.add_argument("--id-cutoff", type=float, default=12.0,
                    help="low-pass of coordinates and plates in the inverse dynamics (Hz, as the CLI's); 0: none")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--generate", type=int, default=0, help="the earlier mode: N generated clips, lab + MediaPipe")
    ap.add_argument("--size", type=int, default=256, help="video width = height (px), --generate mode")
    ap.add_argument("--work", default="outputs/ik_accuracy", help="where --generate writes its clips")
    ap.add_argument("--out", default="reports/ik_accuracy.json")
    args = ap.parse_args(argv)
    if args.dataset:
        try:
            return run_detector(args)
        except (RawDataError, ValueError) as exc:
            print(f"ik_accuracy: {exc}", file=sys.stderr)
            return 1
    if not args.generate:
        ap.error("give --dataset DIR (held-out clips, detector-like landmarks) or --generate N")
    clips = generate_clips(Path(args.work), args.generate, args.size)
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
