"""Joint moments from IK angles on detector-like landmarks, with the root translation from the
landmarks too (no privileged input in the kinematics), with plates and with estimated GRF.

    python -m evaluation.torque_ik --dataset data/raw/synth --split data/processed/synth/split.json \
        --offsets reports/preprocess/sync_offsets.json [--clips 16] [--out reports/torque_ik.json]

writes the JSON and a Markdown table beside it (reports/torque_ik.md).

Per held-out clip (`evaluation.ik_accuracy.held_out_clips`): IK on the detector-like world
landmarks (`evaluation.ik_accuracy.detector_ik`), the pelvis orientation turned into the lab with
the calibrated camera; the pelvis translation from the image + world landmarks and the camera
calibration (`biomech.root_translation.root_in_lab`, labelled "root: landmarks") or, for
comparison, the generator's ("root: generator", privileged). Moments through
`biomech.inverse_dynamics` at 12 Hz (`--id-cutoff`) with the plates (pro clips; clock from the
preprocess estimate refined within +-0.12 s) and with GRF estimated from the same kinematics
(`biomech.grf_estimate`: force-need-gated contacts; "estimated_grf" on the 12 Hz kinematics,
"estimated_grf_4hz" on kinematics low-passed at `--grf-cutoff`), scored against `moments.sto`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from biomech.conventions import COORDINATES, TRANSLATIONS
from biomech.grf_estimate import estimate_grf
from biomech.inverse_dynamics import Plate, inverse_dynamics
from biomech.io import RawDataError, read_json, read_npz
from biomech.root_translation import root_in_lab
from evaluation.ik_accuracy import detector_ik, held_out_clips, ik_coordinates_on, ik_moments
from evaluation.torque_id import clip_inputs, plate_offsets, score

TR = [COORDINATES.index(c) for c in TRANSLATIONS]
COLS = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")


def estimated_grf_moments(body, t: np.ndarray, q: np.ndarray, id_cutoff_hz: float | None,
                          grf_cutoff_hz: float) -> np.ndarray:
    """Moments (n, 10) with the GRF estimated from q low-passed at `grf_cutoff_hz` and the
    inverse dynamics on q low-passed at `id_cutoff_hz`."""
    est, _ = estimate_grf(body, t, q, cutoff_hz=grf_cutoff_hz)
    plates = {s: Plate(t, g["force"], g["cop"], g["free_moment"]) for s, g in est.items()}
    return inverse_dynamics(body, t, q, plates, id_cutoff_hz, contact_from_raw=False).moments


def clip_pairs(clip_dir: Path, offset_s: float, id_cutoff_hz: float | None, align_s: float,
               grf_cutoff_hz: float = 4.0) -> tuple[dict, dict]:
    """(row, {input: (pred, target)}) of one clip."""
    meta = read_json(clip_dir / "meta.json")
    res, body, _, _ = detector_ik(clip_dir)
    inp = clip_inputs(clip_dir, offset_s)
    inside, q_ik = ik_coordinates_on(res, np.asarray(meta["video"]["camera"]["R"]), inp["t"], inp["q"])
    t, target = inp["t"][inside], inp["target"][inside]
    _, kp = read_npz(clip_dir / "keypoints.npz", ("time", "world", "image", "visibility"))
    root = root_in_lab(kp["time"], kp["world"], kp["image"], meta["video"]["camera"], t, kp["visibility"])
    root_err = 1e3 * float(np.sqrt(np.mean(np.sum((root - inp["q"][inside][:, TR]) ** 2, 1))))
    q_lm = q_ik.copy()
    q_lm[:, TR] = root
    inputs = {"ik_root_landmarks": (body, q_lm), "ik_root_generator": (body, q_ik),
              "true_angles": (inp["body"], inp["q"][inside])}
    pairs = {}
    for name, (b, q) in inputs.items():
        preds = ik_moments(inp, b, t, q, id_cutoff_hz, align_s)
        preds[f"estimated_grf_{grf_cutoff_hz:g}hz"] = estimated_grf_moments(b, t, q, id_cutoff_hz, grf_cutoff_hz)
        for kind, pred in preds.items():
            ok = np.isfinite(pred).all(1)
            pairs[f"{name}|{kind}"] = (pred[ok], target[ok])
    row = {"clip": f"{meta['athlete_id']}/{meta['clip_id']}", "action": meta["action"], "preset": meta["preset"],
           "root_rmse_mm": root_err}
    return row, pairs


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(prog="python -m evaluation.torque_ik", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default=None)
    ap.add_argument("--offsets", default=None)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--id-cutoff", type=float, default=12.0)
    ap.add_argument("--align", type=float, default=0.12)
    ap.add_argument("--grf-cutoff", type=float, default=4.0,
                    help="low-pass of the kinematics the GRF is estimated from (Hz; rows estimated_grf_<f>hz)")
    ap.add_argument("--out", default="reports/torque_ik.json")
    args = ap.parse_args(argv)
    try:
        clips = held_out_clips(Path(args.dataset), Path(args.split) if args.split else None, args.clips)
        offsets = plate_offsets(Path(args.offsets) if args.offsets else None)
        rows, acc = [], defaultdict(lambda: ([], []))
        for c in tqdm(clips, desc="torque_ik", unit="clip"):
            row, pairs = clip_pairs(c, offsets.get(c.name, 0.0), args.id_cutoff or None, args.align, args.grf_cutoff)
            rows.append(row)
            for k, (p, y) in pairs.items():
                acc[(row["preset"], k)][0].append(p)
                acc[(row["preset"], k)][1].append(y)
    except (RawDataError, ValueError) as exc:
        print(f"torque_ik: {exc}", file=sys.stderr)
        return 1
    summary = {f"{preset}|{k}": {"n_clips": len(v[0]), **score(np.concatenate(v[0]), np.concatenate(v[1]))}
               for (preset, k), v in sorted(acc.items())}
    lines = ["# Joint moments from IK angles on detector-like landmarks (default test athletes)", "",
             "Command: `python -m evaluation.torque_ik " + " ".join(sys.argv[1:] if argv is None else argv) + "`", "",
             "Kinematics: `true_angles` the generator's (reference); `ik_root_landmarks` IK angles with the root "
             "translation from the landmarks (no privileged input); `ik_root_generator` IK angles with the "
             "generator's root translation (privileged). Load: the plates (pro clips), or the GRF estimated from the "
             f"same kinematics at {args.id_cutoff:g} Hz (`estimated_grf`) or at {args.grf_cutoff:g} Hz "
             f"(`estimated_grf_{args.grf_cutoff:g}hz`). Cells: RMSE N m / ICC(2,1).", "",
             "| preset | kinematics | load | clips | " + " | ".join(COLS) + " |",
             "|---|---|---|---|" + "---|" * len(COLS)]
    for key, m in summary.items():
        preset, kin, load = key.split("|")
        lines.append(f"| {preset} | {kin} | {load} | {m['n_clips']} | " + " | ".join(
            f"{m[c + '_moment']['rmse']:.1f} / {m[c + '_moment']['icc_2_1']:.2f}" for c in COLS) + " |")
    lines.append("")
    for preset in sorted({r["preset"] for r in rows}):
        e = [r["root_rmse_mm"] for r in rows if r["preset"] == preset]
        lines.append(f"Root from landmarks, {preset}: hip-midpoint RMSE median {np.median(e):.0f} mm, "
                     f"max {np.max(e):.0f} mm.")
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"clips": rows, "summary": summary, "id_cutoff_hz": args.id_cutoff,
                                          "grf_cutoff_hz": args.grf_cutoff}, indent=1))
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
