"""Body-model error and the per-moment uncertainty of the capture-rate inverse dynamics.

    python -m evaluation.torque_uncertainty [--clips 24] [--members 16] [--out FILE.json]

Each clip is simulated for an athlete who is *not* de Leva's table (`biomech.body.perturb_body`:
segment lengths +-5 %, mass distribution +-10 %) and its ground truth is that athlete's
Newton-Euler moments; the inverse dynamics gets what it would get in use: the table's body for the
athlete's sex, height and mass, the 100 Hz coordinates and the exact plates. Reported per moment:
RMSE with the table's body (out of distribution) and with the athlete's own body (reference), and
the coverage of the truth by nominal +- 1.96 sd, sd from `moment_uncertainty` (16 bodies drawn
around the table's). A calibrated band covers ~95 %.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from biomech.body import build_body, perturb_body
from biomech.conventions import ACTIONS, GRAVITY, MOMENT_COORDINATES
from biomech.inverse_dynamics import Plate, inverse_dynamics, moment_uncertainty
from biomech.sensors import ImuSpec, resample_at
from biomech.synth import MARGIN_S, ClipSpec, Preset, SynthConfig, newton_euler_moments, simulate

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
REPORTED = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")


def clip_case(i: int, members: int) -> dict:
    rng = np.random.default_rng(1000 + i)
    sex = ("male", "female")[i % 2]
    height, mass = float(rng.uniform(1.55, 1.95)), float(rng.uniform(50, 95))
    table = build_body(sex, height, mass)
    athlete = perturb_body(table, rng)
    action = ACTIONS[i % len(ACTIONS)]
    sim = simulate(athlete, ClipSpec(f"u{i}", "a", sex, height, mass, action, "none", "pro", 2.0, 50 + i), PRO,
                   SynthConfig(width=64, height=64))
    t = np.arange(0, 2.0, 0.01)
    q = sim["spline"](t + MARGIN_S)
    tp = np.arange(-0.05, 2.05, 0.001)
    plates = {s: Plate(tp, *(resample_at(sim["t"], sim["grf"][s][k].numpy(), tp + MARGIN_S)
                             for k in ("force", "cop", "free_moment"))) for s in ("r", "l")}
    truth = newton_euler_moments(athlete, sim, t + MARGIN_S)
    nominal, sd = moment_uncertainty(table, t, q, plates, n=members, seed=i, cutoff_hz=None)
    own = inverse_dynamics(athlete, t, q, plates, cutoff_hz=None).moments
    keep = slice(3, -3)  # spline end conditions
    return {"action": action, "truth": truth[keep], "table": nominal.moments[keep], "own": own[keep], "sd": sd[keep]}


def evaluate(n_clips: int = 24, members: int = 16, progress: bool = True) -> dict:
    from tqdm import tqdm

    cases = [clip_case(i, members) for i in tqdm(range(n_clips), desc="torque_uncertainty", disable=not progress)]
    cat = {k: np.concatenate([c[k] for c in cases]) for k in ("truth", "table", "own", "sd")}
    out = {"n_clips": n_clips, "members": members, "per_moment": {}}
    for c in REPORTED:
        j = MOMENT_COORDINATES.index(c)
        e_tab = cat["table"][:, j] - cat["truth"][:, j]
        e_own = cat["own"][:, j] - cat["truth"][:, j]
        out["per_moment"][f"{c}_moment"] = {
            "rmse_table_body": float(np.sqrt(np.mean(e_tab ** 2))), "rmse_own_body": float(np.sqrt(np.mean(e_own ** 2))),
            "mean_sd": float(cat["sd"][:, j].mean()),
            "coverage_95": float(np.mean(np.abs(e_tab) <= 1.96 * cat["sd"][:, j]))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.torque_uncertainty", description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--members", type=int, default=16)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = evaluate(args.clips, args.members)
    print(f"{res['n_clips']} clips of athletes off de Leva's table (lengths +-5 %, mass +-10 %), {res['members']} bodies")
    print("| moment | RMSE table body | RMSE own body | mean sd | coverage of +-1.96 sd |\n|---|---|---|---|---|")
    for k, m in res["per_moment"].items():
        print(f"| {k} | {m['rmse_table_body']:.2f} | {m['rmse_own_body']:.2f} | {m['mean_sd']:.2f} | "
              f"{100 * m['coverage_95']:.0f} % |")
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
