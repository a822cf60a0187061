"""What the evaluate stage writes: headline metrics, detail JSON, DVC plot data, MLflow runs, the
model-zoo table and reports/evaluation.md.

    reports/evaluate.json                    headline figures only (dvc metrics show / dvc exp show)
    reports/evaluation/summary.json          champion, candidates, rotation, significance, timing
    reports/evaluation/view_sweep.json       the champion seen from every azimuth (evaluation.view_sweep)
    reports/evaluation/models/<name>.json    every figure of one model
    reports/evaluation/plots/*.json          confusion (DVC confusion template), ROC, reliability, accuracy vs azimuth
    reports/evaluation.md                    headline vs the papers' published figures, the model zoo
"""
from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["headline", "write_reports", "log_to_mlflow", "zoo_rows_from_reports", "zoo_rows_from_mlflow",
           "zoo_table", "write_zoo_and_markdown", "REFERENCE"]

# Published figures of the papers the project follows (the reference column of evaluation.md).
REFERENCE = {
    "test_window_accuracy": "97.8 % (multimodal CNN, pro sensors)",
    "consumer_window_accuracy": "93.4 % (multimodal CNN, consumer hardware)",
    "knee_rmse_nm": "4.1 N m (multimodal CNN, knee moment)",
    "knee_icc": "0.93 (multimodal CNN, knee moment)",
    "angle_score": "angle thresholds 7-11 deg: hit rate 91.5-92.1 %, false triggers 11.8 % (TCN+GAT)",
}


def _w(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=_default) + "\n")


def _default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _r(x: Any, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), nd)


def _knee(t: dict, key: str) -> float | None:
    vals = [t.get(key, {}).get(f"knee_angle_{s}_moment") for s in ("r", "l")]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def headline(reports: dict, summary: dict) -> dict:
    """The handful of figures of reports/evaluate.json (short keys: dvc exp show in 80 columns)."""
    out: dict[str, Any] = {}
    name, tname = summary["champion"]["name"], summary["torque_champion"]["name"]
    if name:
        r = reports[name]
        out.update(win_acc=_r(r["test"]["window"]["accuracy"]), clip_acc=_r(r["test"]["clip"]["accuracy"]),
                   cons_acc=_r(r["consumer"]["window"].get("accuracy")), fault_f1=_r(r.get("fault", {}).get("macro_f1")))
    sweep = summary.get("view_sweep") or {}
    if sweep.get("available"):
        out["az_gap"] = _r(sweep["max_gap"])
    if tname:
        t = reports[tname]["test"]
        out.update(knee_rmse=_r(_knee(t, "rmse"), 2), knee_icc=_r(_knee(t, "icc_2_1"), 3))
    return {k: v for k, v in out.items() if v is not None}


def _plots(rep: dict, test, classes: list[str], out: dict) -> dict[str, list[dict]]:
    from sklearn.metrics import roc_curve

    pred = out["log_prob"].argmax(1)
    confusion = [{"actual": classes[a], "predicted": classes[b]} for a, b in zip(test.label, pred)]
    K = out["log_prob"].shape[1]
    onehot = np.eye(K)[test.label].ravel()
    fpr, tpr, _ = roc_curve(onehot, np.exp(out["log_prob"]).ravel()) if len(test) else (np.zeros(1), np.zeros(1), None)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    roc = [{"fpr": float(fpr[i]), "tpr": float(tpr[i])} for i in keep]
    cal = rep["calibration"]
    rel = {k: [{"confidence": b["confidence"], "accuracy": b["accuracy"], "n": b["n"]} for b in cal[k] if b["n"]]
           for k in ("reliability", "reliability_calibrated")}
    return {"confusion": confusion, "roc": roc, "reliability_raw": rel["reliability"],
            "reliability_calibrated": rel["reliability_calibrated"],
            "reliability_ideal": [{"confidence": 0.0, "accuracy": 0.0}, {"confidence": 1.0, "accuracy": 1.0}]}


def write_reports(p, info: dict, reports: dict, summary: dict, test, preds: dict) -> None:
    root = Path(p.report_dir)
    for name, rep in reports.items():
        _w(root / "models" / f"{name}.json", rep)
    _w(root / "summary.json", {k: v for k, v in summary.items() if k != "view_sweep"})
    champ = summary["champion"]["name"]
    if champ:
        for key, rows in _plots(reports[champ], test, list(info["classes"]), preds[champ][0]).items():
            _w(root / "plots" / f"{key}.json", rows)
    sweep = summary.get("view_sweep")
    if sweep is not None:
        from evaluation.view_sweep import natural_bins

        _w(root / "view_sweep.json", {**sweep, "natural_bins": natural_bins(reports[champ].get("azimuth", {}),
                                                                             p.bootstrap.level)})
        if sweep.get("available"):
            _w(root / "plots" / "view_sweep.json", [{"azimuth_deg": r["azimuth_deg"], "accuracy": r["accuracy"],
                                                     "ci_low": r["ci"][0], "ci_high": r["ci"][1]}
                                                    for r in sweep["azimuths"]])
    _w(Path(p.metrics_file), headline(reports, summary))


def _flat_metrics(rep: dict) -> dict[str, float]:
    m: dict[str, Any] = {}
    c = rep.get("cost", {})
    m.update(params=c.get("params"), flops_per_window=c.get("flops_per_window"),
             latency_b1_ms=c.get("latency_ms", {}).get("1", {}).get("median"),
             latency_b32_ms=c.get("latency_ms", {}).get("32", {}).get("median"))
    if rep["kind"] == "torque":
        t = rep["test"]
        m.update(test_mean_rmse_nm=t["mean_rmse"], test_mean_mae_nm=t["mean_mae"], test_mean_icc_3_1=t["mean_icc_3_1"],
                 test_mean_icc_2_1=t["mean_icc_2_1"], test_mean_pearson=t["mean_pearson"],
                 val_rmse_nm_per_kg=rep.get("val_rmse_nm_per_kg"))
    else:
        w, cl = rep["test"]["window"], rep["test"]["clip"]
        m.update(test_window_accuracy=w.get("accuracy"), test_window_macro_f1=w.get("macro_f1"),
                 test_window_auc=w.get("auc_ovr"), test_clip_accuracy=cl.get("accuracy"),
                 test_clip_macro_f1=cl.get("macro_f1"), val_window_macro_f1=rep["val"]["window"].get("macro_f1"),
                 consumer_window_accuracy=rep["consumer"]["window"].get("accuracy"),
                 ece=rep["calibration"]["ece"], ece_calibrated=rep["calibration"]["ece_calibrated"],
                 temperature=rep["calibration"]["temperature"], fault_macro_f1=rep.get("fault", {}).get("macro_f1"),
                 per_class_accuracy_std=w.get("per_class_accuracy_std"))
        for k in ("accuracy_ci",):
            if w.get(k):
                m["test_window_accuracy_lo"], m["test_window_accuracy_hi"] = w[k]
    return {k: float(v) for k, v in m.items() if v is not None and math.isfinite(float(v))}


def _train_run_ids(uri: str, experiment: str) -> dict[str, str]:
    """{model_name: run id} of the newest finished run per model in the training experiment."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        df = mlflow.search_runs(experiment_names=[experiment], filter_string="attributes.status = 'FINISHED'",
                                order_by=["attributes.start_time DESC"])
    except Exception:  # noqa: BLE001 - no such experiment yet: no ids to link
        return {}
    out: dict[str, str] = {}
    if len(df) and "tags.model_name" in df:
        for name, rid in zip(df["tags.model_name"], df["run_id"]):
            out.setdefault(str(name), str(rid))
    return out


def log_to_mlflow(p, data_dir: Path, reports: dict, summary: dict, git_sha: str | None, data_hash: str) -> tuple[str, dict]:
    """One run per evaluated model in ``evaluate.tracking.experiment`` (params: model, kind,
    modalities, seed, config; metrics: the flat figures; tags: eval_id, git sha, data hash,
    training run id; the model's detail JSON). Returns (eval_id, {model name: run id})."""
    import mlflow

    t = p.tracking
    mlflow.set_tracking_uri(t.uri)
    train_ids = _train_run_ids(t.uri, t.train_experiment)
    mlflow.set_experiment(t.experiment)
    eval_id = uuid.uuid4().hex
    runs = {}
    for name, rep in reports.items():
        tags = {"eval_id": eval_id, "model_name": name, "data_hash": data_hash, "data_dir": str(data_dir),
                "champion": str(name in (summary["champion"]["name"], summary["torque_champion"]["name"])).lower()}
        if git_sha:
            tags["git_sha"] = git_sha
        if name in train_ids:
            tags["train_run_id"] = train_ids[name]
        with mlflow.start_run(run_name=f"evaluate-{name}", tags=tags) as run:
            mlflow.log_params({"model_name": name, "kind": rep["kind"], "modalities": ",".join(rep.get("modalities", [])),
                               "seed": str(rep.get("seed")), "config": json.dumps(rep.get("config", {}), default=str)[:6000],
                               "path": rep.get("path")})
            mlflow.log_metrics(_flat_metrics(rep))
            mlflow.log_dict(json.loads(json.dumps(rep, default=_default)), f"evaluation/{name}.json")
            runs[name] = run.info.run_id
    return eval_id, runs


_ZOO_KEYS = ("model", "kind", "modalities", "test_window_accuracy", "test_window_accuracy_lo", "test_window_accuracy_hi",
             "test_window_macro_f1", "test_clip_accuracy", "val_window_macro_f1", "consumer_window_accuracy",
             "fault_macro_f1", "flops_per_window", "params", "latency_b1_ms", "latency_b32_ms", "seed", "config", "run_id",
             "test_mean_rmse_nm", "test_mean_icc_2_1")


def zoo_rows_from_reports(reports: dict, runs: dict | None = None) -> list[dict]:
    rows = []
    for name, rep in reports.items():
        m = _flat_metrics(rep)
        rows.append({"model": name, "kind": rep["kind"], "modalities": ",".join(rep.get("modalities", [])),
                     "seed": rep.get("seed"), "config": json.dumps(rep.get("config", {}), default=str),
                     "run_id": (runs or {}).get(name), **m})
    return rows


def zoo_rows_from_mlflow(uri: str, experiment: str, eval_id: str) -> list[dict]:
    """The model-zoo rows read back from the MLflow runs of one evaluation."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[experiment], filter_string=f"tags.eval_id = '{eval_id}'")
    rows = []
    for _, r in df.iterrows():
        row = {"model": r.get("params.model_name"), "kind": r.get("params.kind"), "modalities": r.get("params.modalities"),
               "seed": r.get("params.seed"), "config": r.get("params.config"), "run_id": r["run_id"]}
        for k in _ZOO_KEYS:
            v = r.get(f"metrics.{k}")
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                row[k] = float(v)
        rows.append(row)
    return sorted(rows, key=lambda x: str(x["model"]))


def _f(v: Any, fmt: str = ".3f", scale: float = 1.0) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(float(v) * scale, fmt)


def zoo_table(rows: list[dict]) -> str:
    """MMAction2-style model zoo: one line per recognizer (test figures, CI, cost, seed, config, run)
    and one per torque estimator."""
    rec = sorted([r for r in rows if r.get("kind") != "torque"], key=lambda r: -(r.get("val_window_macro_f1") or 0))
    tq = [r for r in rows if r.get("kind") == "torque"]
    lines = ["| model | inputs | test window acc [95 % CI] | macro-F1 | clip acc | consumer acc | fault F1 | "
             "val macro-F1 | MFLOPs | params | latency b1 / b32 (ms) | seed | config | run id |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rec:
        ci = f"[{_f(r.get('test_window_accuracy_lo'))}, {_f(r.get('test_window_accuracy_hi'))}]"
        cfg = (r.get("config") or "{}")
        cfg = cfg if len(cfg) <= 40 else cfg[:37] + "..."
        lines.append(f"| {r['model']} | {r.get('modalities') or '-'} | {_f(r.get('test_window_accuracy'))} {ci} | "
                     f"{_f(r.get('test_window_macro_f1'))} | {_f(r.get('test_clip_accuracy'))} | "
                     f"{_f(r.get('consumer_window_accuracy'))} | {_f(r.get('fault_macro_f1'))} | "
                     f"{_f(r.get('val_window_macro_f1'))} | {_f(r.get('flops_per_window'), '.1f', 1e-6)} | "
                     f"{_f(r.get('params'), ',.0f')} | {_f(r.get('latency_b1_ms'), '.2f')} / {_f(r.get('latency_b32_ms'), '.1f')} | "
                     f"{r.get('seed')} | `{cfg}` | {(r.get('run_id') or '-')[:8]} |")
    if tq:
        lines += ["", "| torque model | test mean RMSE (N m) | mean ICC(2,1) | MFLOPs | params | latency b1 (ms) | run id |",
                  "|---|---|---|---|---|---|---|"]
        for r in tq:
            lines.append(f"| {r['model']} | {_f(r.get('test_mean_rmse_nm'), '.2f')} | {_f(r.get('test_mean_icc_2_1'))} | "
                         f"{_f(r.get('flops_per_window'), '.1f', 1e-6)} | {_f(r.get('params'), ',.0f')} | "
                         f"{_f(r.get('latency_b1_ms'), '.2f')} | {(r.get('run_id') or '-')[:8]} |")
    return "\n".join(lines)


def _headline_md(reports: dict, summary: dict) -> list[str]:
    name, tname = summary["champion"]["name"], summary["torque_champion"]["name"]
    L = ["| figure | this run | published reference |", "|---|---|---|"]
    if name:
        r = reports[name]
        w, c, cons = r["test"]["window"], r["test"]["clip"], r["consumer"]["window"]
        ci = w.get("accuracy_ci") or [None, None]
        L += [f"| champion `{name}` test window accuracy [95 % CI over athletes] | {_f(w['accuracy'])} "
              f"[{_f(ci[0])}, {_f(ci[1])}] | {REFERENCE['test_window_accuracy']} |",
              f"| test clip accuracy (mean log-prob over windows) | {_f(c.get('accuracy'))} | - |",
              f"| consumer preset, window accuracy | {_f(cons.get('accuracy'))} (n={cons.get('n', 0)}) | "
              f"{REFERENCE['consumer_window_accuracy']} |",
              f"| technique faults given the action, macro-F1 | {_f(r.get('fault', {}).get('macro_f1'))} | - |",
              f"| ECE before / after temperature (T={_f(r['calibration']['temperature'], '.2f')}) | "
              f"{_f(r['calibration']['ece'])} / {_f(r['calibration']['ece_calibrated'])} | - |"]
        if "angle_score" in r:
            s = r["angle_score"]["score"]
            L.append(f"| Angle-Score (share of frames, mean joint-angle error <= 7 / 11 deg) | "
                     f"{_f(s.get('7'))} / {_f(s.get('11'))} | {REFERENCE['angle_score']} |")
    if tname:
        t = reports[tname]["test"]
        L += [f"| torque `{tname}` knee flexion moment RMSE r / l (N m) | {_f(t['rmse'].get('knee_angle_r_moment'), '.2f')} / "
              f"{_f(t['rmse'].get('knee_angle_l_moment'), '.2f')} | {REFERENCE['knee_rmse_nm']} |",
              f"| knee ICC(3,1) r / l ; ICC(2,1) r / l | {_f(t['icc_3_1'].get('knee_angle_r_moment'))} / "
              f"{_f(t['icc_3_1'].get('knee_angle_l_moment'))} ; {_f(t['icc_2_1'].get('knee_angle_r_moment'))} / "
              f"{_f(t['icc_2_1'].get('knee_angle_l_moment'))} | {REFERENCE['knee_icc']} |"]
    return L


def _details_md(reports: dict, summary: dict) -> list[str]:
    L = ["## Champion rule", "", f"`{json.dumps(summary['champion']['rule'])}`", "",
         "| model | val macro-F1 | latency b1 (ms) | eligible / why not |", "|---|---|---|---|"]
    for n, why in sorted(summary["champion"]["candidates"].items()):
        r = reports[n]
        L.append(f"| {n} | {_f(r['val']['window'].get('macro_f1'))} | "
                 f"{_f(r['cost'].get('latency_ms_per_window_b1'), '.2f')} | {'; '.join(why) or 'eligible'} |")
    rot = summary.get("rotation")
    if rot:
        L += ["", "## Rotation about the vertical (champion, test windows)", ""]
        if rot.get("available"):
            L += ["| angle (deg) | " + " | ".join(f"{a['angle_deg']:g}" for a in rot["angles"]) + " |",
                  "|---|" + "---|" * len(rot["angles"]),
                  "| accuracy | " + " | ".join(_f(a["accuracy"]) for a in rot["angles"]) + " |",
                  "", f"Spread {_f(rot['spread'])} (view normalisation: {rot['view_normalize']})."]
        else:
            L.append(f"Not run: {rot.get('reason')}.")
    name = summary["champion"]["name"]
    if name:
        L += _azimuth_md(reports[name].get("azimuth", {}), summary.get("view_sweep"))
    sig = summary.get("significance")
    if sig:
        L += ["", "## Seeds and paired tests", "",
              "| model | seeds | window acc mean +- std | macro-F1 | clip acc | fault macro-F1 (given the action) |",
              "|---|---|---|---|---|---|"]
        pm = lambda s, k: f"{_f(s[k]['mean'])} +- {_f(s[k]['std'])}" if k in s else "-"  # noqa: E731
        for n, s in sorted(sig["seeds"].items()):
            L.append(f"| {n} | {s['window_accuracy']['n']} | {pm(s, 'window_accuracy')} | {pm(s, 'window_macro_f1')} | "
                     f"{pm(s, 'clip_accuracy')} | {pm(s, 'fault_macro_f1')} |")
        L += ["", "| champion vs | pair | windows: only champ / only other / p | clips: only champ / only other / p |",
              "|---|---|---|---|"]
        for role, m in sig["mcnemar"].items():
            if not m:
                L.append(f"| {role} | - | not available | - |")
                continue
            for pr in m["pairs"]:
                w, c = pr["window"], pr["clip"]
                L.append(f"| {role} `{m['b']}` | {pr['pair']} | {w['a_only']} / {w['b_only']} / {w['p_value']:.3g} | "
                         f"{c['a_only']} / {c['b_only']} / {c['p_value']:.3g} |")
        L += _power_md(sig["mcnemar"])
    return L


def _power_md(mcnemar: dict) -> list[str]:
    """What the paired test can show at this test size (evaluation.power)."""
    L = []
    for role, m in mcnemar.items():
        pw = (m or {}).get("power")
        if not pw:
            continue
        need = pw["windows_needed"]
        mdg = pw["min_detectable_gap"]
        gap = f"{100 * mdg:.1f} points" if np.isfinite(mdg) else "none (too few windows)"
        n_txt = lambda k: "-" if need.get(k) is None else f"{need[k]:,} ({need[k] / pw['n']:.1f} x)"  # noqa: E731
        L.append(f"- Power vs {role} `{m['b']}` (exact McNemar, alpha {pw['alpha']:g}, {pw['power']:.0%}, windows taken "
                 f"as independent): on {pw['n']} windows ({pw['n_athletes']} athletes), the champion right alone on "
                 f"{pw['p_a_only']:.2%} of them, `{m['b']}` on {pw['p_b_only']:.2%} (means over the pairs; observed gap "
                 f"{100 * pw['observed_gap']:+.2f} points). Holding the latter, the smallest true gap found is {gap}; "
                 f"a 1-point gap needs {n_txt('0.01')} windows, a 0.5-point gap {n_txt('0.005')}. Design effect "
                 f"of the athletes over the pooled pairs: {pw['design_effect_athletes']:.2f} (multiply the windows by it).")
    return [""] + L if L else []


def _azimuth_md(az: dict, sweep: dict | None) -> list[str]:
    """The natural per-bin table (n, Wilson CI) and the controlled azimuth sweep of the champion."""
    from evaluation.view_sweep import natural_bins

    L = ["", "## Window accuracy per camera-azimuth bin (champion)", ""]
    if az.get("available"):
        L += ["As generated: each test clip seen from its own camera only, so a bin holds a few clips' windows "
              "and one error moves its figure by 100/n points (Wilson 95 % interval beside it).", "",
              "| azimuth (deg) | n | errors | accuracy [95 % Wilson] |", "|---|---|---|---|"]
        for b in natural_bins(az):
            ci = b["ci"] or [None, None]
            L.append(f"| {b['lo_deg']:g}-{b['hi_deg']:g} | {b['n']} | {b['errors']} | {_f(b['accuracy'])} "
                     f"[{_f(ci[0])}, {_f(ci[1])}] |")
        L.append(f"\nLargest gap to the overall {_f(az['overall'])}: {_f(az['max_gap'])}.")
    else:
        L.append("Not available: index.json carries no `camera_azimuth_deg` yet.")
    if sweep is None:
        return L
    L += ["", "## Controlled azimuth sweep (champion, every test clip from every azimuth)", ""]
    if not sweep.get("available"):
        return L + [f"Not run: {sweep.get('reason')}."]
    L += [f"Each of the {sweep['n_clips']} test clips ({sweep['n_windows']} windows, {sweep['n_athletes']} athletes) "
          "re-derived by the generator from each azimuth (its own motion, elevation, distance, field of view and "
          "error model; fresh detector-error and occluder draws per azimuth) and re-windowed by the preprocessing "
          f"path; {sweep['sync']}. 95 % CI: bootstrap over athletes.", "",
          "| azimuth (deg) | accuracy [95 % CI] | errors | gap to stored |", "|---|---|---|---|"]
    rows = sweep["azimuths"] + ([{"azimuth_deg": "own", **sweep["own_view"]}] if sweep.get("own_view") else [])
    for r in rows:
        az_s = r["azimuth_deg"] if isinstance(r["azimuth_deg"], str) else f"{r['azimuth_deg']:g}"
        L.append(f"| {az_s} | {_f(r['accuracy'])} [{_f(r['ci'][0])}, {_f(r['ci'][1])}] | {r['errors']} / {r['n']} | "
                 f"{r['gap']:+.3f} |")
    L.append(f"\nStored windows: {_f(sweep['overall'])}; largest gap over the sweep azimuths {_f(sweep['max_gap'])} "
             f"(`az_gap`), spread {_f(sweep['spread'])}; \"own\" = each clip's own azimuth with a fresh error draw "
             f"(the re-draw alone). Windows wrong from every azimuth: {sweep['wrong_in_every_view']}, from at least "
             f"one: {sweep['wrong_in_some_view']} of {sweep['n_windows']}. Sweep time {sweep['timing']['total_s']:.1f} s.")
    return L


# real recordings are scored by their own pipelines (no generated truth): pointers, not figures
REAL_DATA_MD = [
    "## Real data", "",
    "- IMU: the UEA BasicMotions archive (real smart-watch recordings, its own train/test split) is trained "
    "and scored by `dvc repro pipelines/basicmotions/dvc.yaml`: [basicmotions.md](basicmotions.md) "
    "(metrics `reports/basicmotions.json`).",
    "- Video: `python -m evaluation.real_video` runs the champion on Pose2Sim's real demo videos "
    "(README, \"Bring your own data\").",
]


def write_zoo_and_markdown(p, reports: dict, summary: dict, rows: list[dict], source: str) -> None:
    L = ["# Evaluation", "", f"Test split: {summary['n_test']} windows; val: {summary['n_val']}. "
         f"Confidence intervals: {p.bootstrap.level:.0%} percentile bootstrap over athletes "
         f"({p.bootstrap.n_boot} draws, seed {p.bootstrap.seed}). Generated by `python -m stages.evaluate`.", "",
         "## Headline", "", *_headline_md(reports, summary), "", f"## Model zoo (from {source})", "",
         zoo_table(rows), "", *_details_md(reports, summary), "", *REAL_DATA_MD, ""]
    path = Path(p.markdown)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L))
