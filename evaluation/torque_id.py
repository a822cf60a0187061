"""Inverse dynamics at the capture rate on raw generated clips with force plates, scored against
the generator's OpenSim moments (``moments.sto``).

    python -m evaluation.torque_id [data/raw/synth] [--split data/processed/synth/split.json] [--cutoff 12]
                                   [--offsets FILE | --true-offsets] [--align 0.12] [--out reports/torque_id.json]
    python -m evaluation.torque_id DATASET --split SPLIT --offsets SYNC_OFFSETS --report reports/torque_id.md

The second form is the torque report: the split's test clips under four conditions (the plates'
clock from the preprocess stage's estimate refined against the kinematics, or the generator's
true clock = a lab's shared hardware clock; no filter or the CLI's 12 Hz), written as Markdown
with its JSON beside it.

Inputs per pro clip: ``angles.mot`` (the true coordinates at 100 Hz: a lab's IK file without IK
error) and ``grf.npz`` (the plates with their noise, zero offset, drift and dropped samples, on
their own clock). The plates are put on the video clock with the offsets the preprocess stage
recovered (``reports/preprocess/sync_offsets.json``; ``--true-offsets`` reads the generator's
truth instead, a privileged input, labelled as such in the output), zero-drift corrected
(``sigproc.filters.zero_drift_correct``), their clock refined within +-ALIGN s (default 0.12 s:
the preprocess stage's landmark-based estimate is off by up to 50 ms at p95 and 150 ms at worst
on the default data, so a +-20 ms search left a fifth of the clips 20-60 ms off) against the force
the kinematics require (``--align``), and go with the kinematics through
``biomech.inverse_dynamics.inverse_dynamics`` (one low-pass for both, spline derivatives, the
project's Newton-Euler).

Reported per action class and pooled, per joint moment: RMSE (N m), ICC(3,1) (consistency),
ICC(2,1) (absolute agreement); and per phase of each foot, over all clips and over the running
clips alone ("run:<phase>_<side>"): stance (its plate loaded), impact (the first 50 ms of a
stance), flight (both plates unloaded).

Plate quality check: a clip whose drift-corrected plate reads below -QC_NEGATIVE_N (a plate cannot
pull the foot down; noise is ~1.5 N) fails it (named in the output) and is scored apart: the
generator produces such pulls in a few bouncing landings, where its own ground truth uses a
force no plate records.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from biomech.body import build_body
from biomech.conventions import COORDINATES, MOMENT_COORDINATES, MOMENTS, TRANSLATIONS
from biomech.inverse_dynamics import Plate, inverse_dynamics
from biomech.io import RawDataError, read_json, read_manifest, read_mot, read_npz, require_columns
from models.torque import icc
from sigproc.filters import zero_drift_correct

REPORTED = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l",
            "hip_adduction_r", "hip_adduction_l", "knee_adduction_r", "knee_adduction_l")
IMPACT_S = 0.05
QC_NEGATIVE_N = 50.0  # a drift-corrected plate reading below -this fails the quality check

__all__ = ["clip_inputs", "clip_moments", "score", "plate_offsets", "plate_qc", "dataset_clips", "evaluate_dataset",
           "grf_estimate_clip", "evaluate_grf_estimate", "report_markdown"]


def coordinates_from_mot(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(time, q (T, 29) rad / m) from a project-convention coordinates file (angles.mot)."""
    t, cols, data, header = read_mot(path)
    q = data[:, require_columns(path, cols, COORDINATES)].copy()
    if header.get("inDegrees", "yes").lower() == "yes":
        rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
        q[:, rot] = np.radians(q[:, rot])
    return t, q


def clip_inputs(clip_dir: Path, grf_offset_s: float, unloaded_n: float = 20.0) -> dict:
    """Body, kinematics, plates (drift corrected, on the video clock; none on a clip without plates)
    and the OpenSim targets of a clip."""
    meta = read_json(clip_dir / "meta.json")
    a = meta["athlete"]
    body = build_body(a["sex"], float(a["height_m"]), float(a["mass_kg"]))
    t, q = coordinates_from_mot(clip_dir / "angles.mot")
    tm, cols, data, _ = read_mot(clip_dir / "moments.sto")
    target = data[:, require_columns(clip_dir / "moments.sto", cols, MOMENTS)]
    plates = {}
    if not meta["modalities"].get("grf"):  # a consumer clip: no plate
        return {"body": body, "t": t, "q": q, "plates": plates, "target": target, "action": meta["action"],
                "meta": meta}
    _, g = read_npz(clip_dir / "grf.npz", ("time", "force", "cop", "free_moment"))
    rate = float(meta["rates_hz"]["grf"])
    for k, side in enumerate(("r", "l")):
        force, _ = zero_drift_correct(g["force"][:, k].astype(float), rate, unloaded_n, 1, vertical_channel=1)
        plates[side] = Plate(g["time"].astype(float) + grf_offset_s, force, g["cop"][:, k].astype(float),
                             g["free_moment"][:, k].astype(float))
    if not np.allclose(tm, t, atol=1e-6):
        raise RawDataError(f"{clip_dir}: angles.mot and moments.sto have different times")
    return {"body": body, "t": t, "q": q, "plates": plates, "target": target, "action": meta["action"],
            "meta": meta}


def plate_qc(plates: dict) -> str | None:
    """None, or why the clip's plates fail the quality check (a vertical pull, see module doc)."""
    for side, p in plates.items():
        low = float(np.min(p.force[:, 1]))
        if low < -QC_NEGATIVE_N:
            return f"plate {side} reads {low:.0f} N vertical (< -{QC_NEGATIVE_N:.0f} N)"
    return None


def dataset_clips(dataset_dir: Path, split: Path | None = None) -> list[tuple[str, str]]:
    """(athlete, clip) of the pro clips (with plates), only the split's test clips given `split`."""
    clips = sorted({(r["athlete_id"], r["clip_id"]) for r in read_manifest(dataset_dir) if r["file"] == "grf.npz"})
    if split is not None:
        test = set(read_json(split)["clips"]["test"])
        clips = [c for c in clips if c[1] in test]
    if not clips:
        where = f" in the test split of {split}" if split else ""
        raise RawDataError(f"{dataset_dir}: no clip with force plates{where}")
    return clips


def clip_moments(inputs: dict, cutoff_hz: float | None, align_s: float = 0.0) -> np.ndarray:
    """Moments (T, 10) of a clip; NaN where a plate has no record (its clock offset leaves up to
    0.1 s of the kinematics uncovered at one end)."""
    res = inverse_dynamics(inputs["body"], inputs["t"], inputs["q"], inputs["plates"], cutoff_hz, align_s=align_s)
    inputs["grf_used"], inputs["plate_shift_s"] = res.grf, res.plate_shift_s
    return np.where(res.covered[:, None], res.moments, np.nan)


def phases(grf_used: dict, t: np.ndarray, side: str) -> dict[str, np.ndarray]:
    """Boolean masks (T,) of one foot's stance, impact (first IMPACT_S of a stance) and flight."""
    loaded = {s: grf_used[s]["force"][:, 1] > 0 for s in ("r", "l")}
    st = loaded[side]
    on = np.flatnonzero(np.diff(st.astype(int)) == 1) + 1
    impact = np.zeros_like(st)
    for i in on:
        impact |= (t >= t[i]) & (t < t[i] + IMPACT_S)
    return {"stance": st, "impact": impact & st, "flight": ~loaded["r"] & ~loaded["l"]}


def score(pred: np.ndarray, target: np.ndarray) -> dict:
    """Per reported coordinate: RMSE (N m), ICC(3,1), ICC(2,1) over all frames."""
    out = {}
    for c in REPORTED:
        j = MOMENT_COORDINATES.index(c)
        p, y = pred[:, j], target[:, j]
        if len(p) < 3:
            continue
        agree = icc(np.stack([y, p], 1))
        out[f"{c}_moment"] = {"rmse": float(np.sqrt(np.mean((p - y) ** 2))), "icc_3_1": agree["icc_3_1"],
                              "icc_2_1": agree["icc_2_1"], "n": int(len(p))}
    return out


def plate_offsets(offsets_file: Path | None, true_offsets: bool = False) -> dict[str, float] | None:
    """Plate clock offset per clip id: recovered by the preprocess stage (`offsets_file`, default
    reports/preprocess/sync_offsets.json); "none": zeros (the plates' own clocks); None with
    `true_offsets` (the caller reads the generator's truth from meta.json)."""
    if true_offsets:
        return None
    if offsets_file is not None and str(offsets_file) == "none":  # plates' own clocks as recorded
        return defaultdict(float)
    path = offsets_file or Path("reports/preprocess/sync_offsets.json")
    rows = read_json(path) if path.is_file() else None
    if rows is None:
        raise RawDataError(f"{path}: recovered clock offsets not found (run the preprocess stage, or pass "
                           "--true-offsets for the generator's privileged truth)")
    return {r["clip_id"]: float(r["grf"]["offset_s"]) for r in rows if r.get("grf")}


def evaluate_dataset(dataset_dir: str | Path, cutoff_hz: float | None = 12.0, offsets_file: Path | None = None,
                     true_offsets: bool = False, align_s: float = 0.12, progress: bool = True,
                     split: Path | None = None) -> dict:
    """Scores of the pro clips (the split's test clips given `split`) per action, pooled and per
    phase; clips failing :func:`plate_qc` are scored apart ("qc_failed")."""
    from tqdm import tqdm

    dataset_dir = Path(dataset_dir)
    offsets = plate_offsets(offsets_file, true_offsets)
    clips = dataset_clips(dataset_dir, split)
    per_action = defaultdict(lambda: ([], []))
    per_phase = defaultdict(lambda: ([], []))
    sync_err = []
    qc_failed = {}
    for aid, cid in tqdm(clips, desc="torque_id", disable=not progress):
        d = dataset_dir / aid / cid
        if offsets is None:
            off = float(read_json(d / "meta.json")["synthetic_truth"]["clock_offsets_s"]["grf"])
        elif cid in offsets or isinstance(offsets, defaultdict):
            off = offsets[cid]
        else:
            raise RawDataError(f"{cid}: no recovered force-plate offset in the offsets file")
        inp = clip_inputs(d, off)
        pred = clip_moments(inp, cutoff_hz, align_s)
        truth = float(inp["meta"]["synthetic_truth"]["clock_offsets_s"]["grf"])  # report only
        sync_err.append(1e3 * abs(off + inp["plate_shift_s"] - truth))
        ok = np.isfinite(pred).all(1)
        pred, inp["target"], inp["t"] = pred[ok], inp["target"][ok], inp["t"][ok]
        inp["grf_used"] = {s: {k: v[ok] for k, v in g.items()} for s, g in inp["grf_used"].items()}
        why = plate_qc(inp["plates"])
        if why:
            qc_failed[cid] = {"action": inp["action"], "reason": why}
            for key in ("qc_failed", "all_incl_qc_failed"):
                per_action[key][0].append(pred)
                per_action[key][1].append(inp["target"])
            continue
        for key in (inp["action"], "all", "all_incl_qc_failed"):
            per_action[key][0].append(pred)
            per_action[key][1].append(inp["target"])
        groups = ("all", "run") if inp["action"] == "run" else ("all",)
        for side in ("r", "l"):
            for ph, mask in phases(inp["grf_used"], inp["t"], side).items():
                cols = [MOMENT_COORDINATES.index(c) for c in MOMENT_COORDINATES if c.endswith("_" + side)]
                p = np.zeros_like(pred)
                y = np.zeros_like(pred)
                p[:, cols], y[:, cols] = pred[:, cols], inp["target"][:, cols]
                for grp in groups:
                    per_phase[(grp, ph, side)][0].append(p[mask])
                    per_phase[(grp, ph, side)][1].append(y[mask])
    result = {"cutoff_hz": cutoff_hz, "n_clips": len(clips), "align_s": align_s, "qc_failed": qc_failed,
              "clips": "test split of " + str(split) if split else "every pro clip",
              "plate_clock_error_ms": {"median": float(np.median(sync_err)), "p95": float(np.percentile(sync_err, 95)),
                                       "max": float(np.max(sync_err))},
              "plate_offsets": "generator truth (privileged)" if true_offsets else
              "none (plate clocks as recorded)" if isinstance(offsets, defaultdict) else "recovered by preprocess",
              "per_action": {k: {"n_clips": len(v[0]), **score(np.concatenate(v[0]), np.concatenate(v[1]))}
                             for k, v in sorted(per_action.items())},
              "per_phase": {}}
    for (grp, ph, side), (p, y) in sorted(per_phase.items()):
        sc = score(np.concatenate(p), np.concatenate(y))
        key = f"{ph}_{side}" if grp == "all" else f"{grp}:{ph}_{side}"
        result["per_phase"][key] = {k: v for k, v in sc.items() if k.endswith(f"_{side}_moment")}
    return result


def grf_estimate_clip(inputs: dict, align_s: float = 0.12) -> dict:
    """One clip with its plates hidden: GRF / COP from the kinematics (biomech.grf_estimate) against
    the plates, and the moments from it against the plate-based moments and the targets."""
    from biomech.grf_estimate import estimate_grf

    body, t, q = inputs["body"], inputs["t"], inputs["q"]
    ref = inverse_dynamics(body, t, q, inputs["plates"], None, align_s=align_s)
    est, contacts = estimate_grf(body, t, q)
    est_res = inverse_dynamics(body, t, q, {s: Plate(t, g["force"], g["cop"], g["free_moment"]) for s, g in est.items()},
                               None)
    ok = ref.covered
    bw = body.total_mass * 9.80665
    out = {"fy_err_bw": [], "cop_err_m": [], "moment_vs_plate": est_res.moments[ok] - ref.moments[ok],
           "moment_vs_target": est_res.moments[ok] - inputs["target"][ok]}
    for s in ("r", "l"):
        fy_p, fy_e = ref.grf[s]["force"][ok, 1], est[s]["force"][ok, 1]
        out["fy_err_bw"].append((fy_e - fy_p) / bw)
        both = (fy_p > 0) & (fy_e > 20.0)
        out["cop_err_m"].append(np.linalg.norm((est[s]["cop"][ok] - ref.grf[s]["cop"][ok])[both][:, [0, 2]], axis=1))
    return out


def evaluate_grf_estimate(dataset_dir: str | Path, offsets_file: Path | None = None, align_s: float = 0.12,
                          progress: bool = True, split: Path | None = None) -> dict:
    """GRF estimation error on the pro clips with their plates hidden, per action and pooled."""
    from tqdm import tqdm

    dataset_dir = Path(dataset_dir)
    offsets = plate_offsets(offsets_file)
    clips = dataset_clips(dataset_dir, split)
    acc = defaultdict(lambda: defaultdict(list))
    for aid, cid in tqdm(clips, desc="grf_estimate", disable=not progress):
        inp = clip_inputs(dataset_dir / aid / cid, offsets[cid])
        r = grf_estimate_clip(inp, align_s)
        for key in (inp["action"], "all"):
            for k, v in r.items():
                acc[key][k].append(np.concatenate(v) if isinstance(v, list) else v)
    out = {}
    for key, a in sorted(acc.items()):
        fy, cop = np.concatenate(a["fy_err_bw"]), np.concatenate(a["cop_err_m"])
        mp, mt = np.concatenate(a["moment_vs_plate"]), np.concatenate(a["moment_vs_target"])
        rm = lambda e, c: float(np.sqrt(np.mean(e[:, MOMENT_COORDINATES.index(c)] ** 2)))  # noqa: E731
        out[key] = {"n_clips": len(a["fy_err_bw"]), "vertical_force_rmse_pct_bw": 100 * float(np.sqrt(np.mean(fy ** 2))),
                    "cop_error_mm_median": 1e3 * float(np.median(cop)) if len(cop) else float("nan"),
                    "cop_error_mm_p95": 1e3 * float(np.percentile(cop, 95)) if len(cop) else float("nan"),
                    "moment_rmse_vs_plate_nm": {c: rm(mp, c) for c in REPORTED},
                    "moment_rmse_vs_target_nm": {c: rm(mt, c) for c in REPORTED}}
    return out


def _print_grf(res: dict) -> None:
    print("GRF estimated from kinematics (plates hidden); moments RMSE against the plate-based result")
    print("| action | clips | Fy RMSE %BW | COP median / p95 mm | knee r / l N m | hip flex r / l | ankle r / l |")
    print("|---|---|---|---|---|---|---|")
    for a, m in res.items():
        v = m["moment_rmse_vs_plate_nm"]
        print(f"| {a} | {m['n_clips']} | {m['vertical_force_rmse_pct_bw']:.1f} | {m['cop_error_mm_median']:.0f} / "
              f"{m['cop_error_mm_p95']:.0f} | {v['knee_angle_r']:.1f} / {v['knee_angle_l']:.1f} | "
              f"{v['hip_flexion_r']:.1f} / {v['hip_flexion_l']:.1f} | {v['ankle_angle_r']:.1f} / {v['ankle_angle_l']:.1f} |")


def _print(res: dict) -> None:
    e = res["plate_clock_error_ms"]
    print(f"inverse dynamics at the capture rate, {res['n_clips']} pro clips, cut-off {res['cutoff_hz']} Hz, "
          f"plate offsets {res['plate_offsets']}, refined within +-{1e3 * res['align_s']:.0f} ms: plate clock "
          f"error median {e['median']:.2f} ms, p95 {e['p95']:.2f} ms, max {e['max']:.2f} ms")
    print("| action | clips | knee r RMSE / ICC3 / ICC2 | knee l | hip flex r | hip flex l | ankle r | ankle l |")
    print("|---|---|---|---|---|---|---|---|")
    for a, m in res["per_action"].items():
        cells = [f"{m[c]['rmse']:.2f} / {m[c]['icc_3_1']:.3f} / {m[c]['icc_2_1']:.3f}" if c in m else "-"
                 for c in ("knee_angle_r_moment", "knee_angle_l_moment", "hip_flexion_r_moment",
                           "hip_flexion_l_moment", "ankle_angle_r_moment", "ankle_angle_l_moment")]
        print(f"| {a} | {m['n_clips']} | " + " | ".join(cells) + " |")
    print("| phase (run: running clips only) | frames | knee RMSE | hip flex RMSE | ankle RMSE |\n|---|---|---|---|---|")
    for ph, m in res["per_phase"].items():
        s = ph[-1]
        k = m.get(f"knee_angle_{s}_moment")
        if k is None:
            continue
        print(f"| {ph} | {k['n']} | {k['rmse']:.2f} | {m[f'hip_flexion_{s}_moment']['rmse']:.2f} | "
              f"{m[f'ankle_angle_{s}_moment']['rmse']:.2f} |")


REPORT_CONDITIONS = (  # (key, label, true clock offsets, cut-off Hz); the lab clock is not searched
    ("estimated_sync_c0", "plates on the clock estimated from the data (preprocess offset, then the kinematics "
     "search within +-ALIGN), no filter", False, None),
    ("lab_clock_c0", "plates on the true clock (a lab's shared hardware clock: the generator's offsets, "
     "privileged here; no search), no filter", True, None),
    ("estimated_sync_c12", "estimated clock, 12 Hz on kinematics and plates (the CLI's default)", False, 12.0),
    ("lab_clock_c12", "true clock (lab, no search), 12 Hz on kinematics and plates", True, 12.0),
)
ROW_MOMENTS = ("knee_angle_r_moment", "knee_angle_l_moment", "hip_flexion_r_moment", "hip_flexion_l_moment",
               "ankle_angle_r_moment", "ankle_angle_l_moment")


def _cell(m: dict, c: str) -> str:
    return f"{m[c]['rmse']:.2f} / {m[c]['icc_2_1']:.3f} / {m[c]['icc_3_1']:.3f}" if c in m else "-"


def report_markdown(results: dict[str, dict], command: str) -> str:
    """The torque report: per condition, per action (RMSE N m / ICC(2,1) / ICC(3,1)) and per phase."""
    lines = ["# Joint moments by inverse dynamics at the capture rate (generated test split, force plates, "
             "true kinematics)", "", f"Command: `{command}`", "",
             "Inputs: `angles.mot` (the generator's coordinates at 100 Hz: no IK error) and the raw plates "
             "(`grf.npz`: noise, zero offset, drift, dropped samples, own clock), zero-drift corrected; scored "
             "against `moments.sto` (OpenSim's InverseDynamicsSolver on the generator's exact loads). "
             "Cells: RMSE N m / ICC(2,1) absolute agreement / ICC(3,1) consistency. Target (the multimodal CNN "
             "paper): knee RMSE <= 4.1 N m, ICC >= 0.93.", ""]
    for key, label, _, _ in REPORT_CONDITIONS:
        if key not in results:
            continue
        r = results[key]
        e = r["plate_clock_error_ms"]
        lines += [f"## {label}", "",
                  f"{r['n_clips']} pro clips ({r['clips']}); plate clock error after the search: median "
                  f"{e['median']:.2f} ms, p95 {e['p95']:.2f} ms, max {e['max']:.2f} ms.", ""]
        if r["qc_failed"]:
            lines += ["Failed the plate quality check, scored apart (row `qc_failed`; `all` leaves them out, "
                      "`all_incl_qc_failed` keeps them): " + "; ".join(
                f"{c} ({v['action']}: {v['reason']})" for c, v in r["qc_failed"].items()), ""]
        lines += ["| action | clips | knee r | knee l | hip flexion r | hip flexion l | ankle r | ankle l |",
                  "|---|---|---|---|---|---|---|---|"]
        for a, m in r["per_action"].items():
            lines.append(f"| {a} | {m['n_clips']} | " + " | ".join(_cell(m, c) for c in ROW_MOMENTS) + " |")
        lines += ["", "Per phase of each foot (all QC-passed clips; `run:` the running clips alone), RMSE N m:", "",
                  "| phase | frames | knee | hip flexion | ankle |", "|---|---|---|---|---|"]
        for ph, m in r["per_phase"].items():
            sd = ph[-1]
            k = m.get(f"knee_angle_{sd}_moment")
            if k is not None:
                lines.append(f"| {ph} | {k['n']} | {k['rmse']:.2f} | {m[f'hip_flexion_{sd}_moment']['rmse']:.2f} | "
                             f"{m[f'ankle_angle_{sd}_moment']['rmse']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def run_report(args, command: str) -> int:
    results = {}
    for key, _, true_offsets, cutoff in REPORT_CONDITIONS:
        results[key] = evaluate_dataset(args.dataset, cutoff, args.offsets, true_offsets,
                                        0.0 if true_offsets else args.align, split=args.split)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(report_markdown(results, command))
    args.report.with_suffix(".json").write_text(json.dumps(results, indent=1))
    for key in results:
        print(key)
        _print(results[key])
    print(f"wrote {args.report} and {args.report.with_suffix('.json')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.torque_id", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", default="data/raw/synth")
    ap.add_argument("--split", type=Path, default=None, help="split.json: score its test clips only")
    ap.add_argument("--cutoff", type=float, default=12.0, help="low-pass for kinematics and plates (Hz); 0: none")
    ap.add_argument("--offsets", type=Path, default=None,
                    help="sync_offsets.json of the preprocess stage; 'none': the plates' clocks as recorded")
    ap.add_argument("--true-offsets", action="store_true", help="use the generator's clock offsets (privileged)")
    ap.add_argument("--align", type=float, default=0.12,
                    help="refine the plate clock within +-ALIGN s against the kinematics' required force; 0: off")
    ap.add_argument("--estimated-grf", action="store_true",
                    help="hide the plates: GRF / COP from the kinematics, scored against the plates")
    ap.add_argument("--report", type=Path, default=None,
                    help="write the torque report (Markdown + JSON beside it) over the four conditions")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args(argv)
    try:
        if args.report:
            command = "python -m evaluation.torque_id " + " ".join(sys.argv[1:] if argv is None else argv)
            return run_report(args, command)
        if args.estimated_grf:
            res = evaluate_grf_estimate(args.dataset, args.offsets, args.align, split=args.split)
        else:
            res = evaluate_dataset(args.dataset, args.cutoff or None, args.offsets, args.true_offsets, args.align,
                                   split=args.split)
    except (RawDataError, ValueError) as exc:
        print(f"torque_id: {exc}", file=sys.stderr)
        return 1
    (_print_grf if args.estimated_grf else _print)(res)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
