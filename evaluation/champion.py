"""The champion rule (params.yaml ``evaluate.champion``), significance across seeds, the MLflow
registry alias ``champion`` and artifacts/champion.json.

Recognizer: the best *validation* window-level macro-F1 among models that fuse >= ``min_modalities``
inputs, read none of ``forbidden_modalities`` (rendered pixels) and all of ``required_modalities``, are not excluded peer baselines and
cost <= ``max_latency_ms`` per window at batch 1 on one thread and <= ``max_mflops`` (either None: no gate). Torque estimator: the lowest
validation RMSE (N m / kg). Both are logged as MLflow models with what a caller needs to feed them
(dataset.json: classes, faults, window and preprocessing settings; scalers.json; the calibration
temperature) and registered with alias ``champion``.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

from evaluation.params import ChampionRule, EvaluateParams

__all__ = ["eligibility", "select_champion", "select_torque_champion", "significance", "register_champions",
           "write_champion_file"]


def _val_f1(rep: dict, metric: str = "val_macro_f1") -> float:
    """A window-level validation score of a report: ``val_macro_f1`` or ``val_accuracy``."""
    return float(rep.get("val", {}).get("window", {}).get(metric.removeprefix("val_"), float("nan")))


def eligibility(rep: dict, rule: ChampionRule) -> list[str]:
    """Why a recognizer may not be champion ([] = eligible)."""
    why = []
    mods = rep.get("modalities", [])
    if rep["model"] in rule.exclude:
        why.append("peer baseline")
    if len(mods) < rule.min_modalities:
        why.append(f"fuses {len(mods)} < {rule.min_modalities} modalities")
    bad = sorted(set(mods) & set(rule.forbidden_modalities))
    if bad:
        why.append(f"reads {bad} (cannot be fed in use)")
    missing = sorted(set(rule.required_modalities) - set(mods))
    if missing:
        why.append(f"reads no {missing} (a video reaches the service as landmarks only)")
    lat = rep.get("cost", {}).get("latency_ms_per_window_b1")
    if rule.max_latency_ms is not None and (lat is None or lat > rule.max_latency_ms):
        why.append(f"latency {lat if lat is None else round(lat, 2)} ms > {rule.max_latency_ms} ms")
    flops = rep.get("cost", {}).get("flops_per_window")
    if rule.max_mflops is not None and rep.get("kind") == "torch" and (flops is None or flops / 1e6 > rule.max_mflops):
        why.append(f"{flops if flops is None else round(flops / 1e6, 1)} MFLOPs per window > {rule.max_mflops}")
    if not math.isfinite(_val_f1(rep, rule.metric)):
        why.append("no validation score")
    return why


def select_champion(reports: dict[str, dict], rule: ChampionRule) -> dict:
    """{"name" (None when no model qualifies), "rule", "val_macro_f1", "candidates": {name: reasons}}."""
    cands = {n: eligibility(r, rule) for n, r in reports.items() if r["kind"] != "torque"}
    ok = [n for n, why in cands.items() if not why]
    best = max(ok, key=lambda n: (_val_f1(reports[n], rule.metric), -reports[n]["cost"]["latency_ms_per_window_b1"]),
               default=None)
    return {"name": best, "rule": rule.model_dump(), "val_macro_f1": _val_f1(reports[best]) if best else None,
            "candidates": cands}


def select_torque_champion(reports: dict[str, dict]) -> dict:
    rows = {n: r.get("val_rmse_nm_per_kg", float("nan")) for n, r in reports.items() if r["kind"] == "torque"}
    ok = {n: v for n, v in rows.items() if math.isfinite(v)}
    best = min(ok, key=ok.get, default=None)
    return {"name": best, "rule": "lowest validation RMSE (N m / kg)", "val_rmse_nm_per_kg": ok.get(best),
            "candidates": rows}


def best_single_modality(reports: dict[str, dict]) -> str | None:
    single = [n for n, r in reports.items() if r["kind"] != "torque" and len(r.get("modalities", [])) == 1
              and math.isfinite(_val_f1(r))]
    return max(single, key=lambda n: _val_f1(reports[n]), default=None)


def significance(champ: str, reports: dict, preds: dict, test, rule: ChampionRule,
                 mcnemar: Callable[[str, str, dict, Any], dict]) -> dict:
    """Mean +- std over seeds of the champion, the baseline, the best single-modality model and
    every other model trained at more than one seed, and McNemar of the champion against the
    baseline and the best single-modality model."""
    out: dict[str, Any] = {"seeds": {}, "mcnemar": {}}
    others = {"baseline": rule.baseline if rule.baseline in preds else None, "single_modality": best_single_modality(reports)}
    replicated = [n for n, r in reports.items() if len(r.get("seeds", {}).get("runs", [])) > 1]
    for name in {champ, *[o for o in others.values() if o], *replicated}:
        out["seeds"][name] = {k: v for k, v in reports[name]["seeds"].items() if k != "runs"}
    for role, other in others.items():
        out["mcnemar"][role] = mcnemar(champ, other, preds, test) if other and other != champ else None
    out["roles"] = {"champion": champ, **others}
    return out


def _bound_files(p: EvaluateParams, data_dir: Path, rep: dict, out_dir: Path) -> list[str]:
    """The files a caller needs to feed the model, written beside the model: dataset.json,
    scalers.json and calibration.json (temperature, class and fault names)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info = json.loads((data_dir / "dataset.json").read_text())
    cal = {"temperature": rep.get("calibration", {}).get("temperature", 1.0), "classes": info.get("classes"),
           "faults": info.get("faults"), "modalities": rep.get("modalities"), "window_length": info.get("window_length"),
           "timeline_hz": info.get("timeline_hz")}
    (out_dir / "calibration.json").write_text(json.dumps(cal, indent=1) + "\n")
    return [str(data_dir / "dataset.json"), str(data_dir / "scalers.json"), str(out_dir / "calibration.json")]


def _log_model(trained, rep: dict, files: list[str], example: dict):
    """Log ``trained`` in the active run as an MLflow model with ``files`` bound to it."""
    import mlflow
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    from biomech.conventions import MODALITIES
    from training.tracking import TORQUE_INPUTS, FlatInputModel, pinned

    meta = {"model_name": trained.name, "bound_files": [Path(f).name for f in files]}
    if trained.kind == "sklearn":
        info = mlflow.sklearn.log_model(trained.model, name="model", serialization_format="cloudpickle",
                                        metadata=meta, pip_requirements=pinned("scikit-learn", "numpy"))
        for f in files:
            mlflow.log_artifact(f, artifact_path="model_files")
        return info
    if trained.kind == "torque":
        keys = [k for k in TORQUE_INPUTS if k in example]
        wrapped = FlatInputModel(trained.model, {k: tuple(example[k].shape[1:]) for k in keys}, output="moments",
                                 with_mask=False).eval()
    else:
        keys = [m for m in MODALITIES if m in trained.modalities and m in example]
        wrapped = FlatInputModel(trained.model, {k: tuple(example[k].shape[1:]) for k in keys}).eval()
    with torch.no_grad():
        x = wrapped.flatten(example)
        y = wrapped(x)
    xa = x.numpy().astype(np.float32)
    return mlflow.pytorch.log_model(wrapped, name="model", signature=infer_signature(xa, y.numpy()),
                                    input_example=xa[:1], serialization_format="pickle", export_model=False,
                                    extra_files=files, metadata=meta,
                                    pip_requirements=pinned("torch", "torchvision", "numpy"))


def register_champions(p: EvaluateParams, data_dir: Path, models: dict, reports: dict, summary: dict,
                       runs: dict[str, str], test) -> dict:
    """Log the champion recognizer and torque estimator as models in their evaluate runs, register
    them and point alias ``champion`` at the new versions. Returns {role: {name, version, run_id}}."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(p.tracking.uri)
    client = MlflowClient()
    out = {}
    roles = (("recognizer", summary["champion"]["name"], p.tracking.recognizer_name),
             ("torque", summary["torque_champion"]["name"], p.tracking.torque_name))
    for role, name, reg_name in roles:
        if not name or name not in runs:
            continue
        trained = models[name][0]
        example = {k: v[:2] for k, v in test.batches[0].items()}
        if trained.kind == "torque":
            from training.tasks import TorqueTask

            example = TorqueTask(data_dir, batch_size=2, seed=0).prepare(example)
        with mlflow.start_run(run_id=runs[name]), tempfile.TemporaryDirectory() as tmp:
            files = _bound_files(p, data_dir, reports[name], Path(tmp))
            info = _log_model(trained, reports[name], files, example)
        mv = mlflow.register_model(info.model_uri, reg_name, tags={"model_name": name, "role": role})
        client.set_registered_model_alias(reg_name, "champion", mv.version)
        out[role] = {"name": name, "registered_model": reg_name, "version": str(mv.version), "run_id": runs[name],
                     "model_uri": f"models:/{reg_name}@champion"}
    return out


def write_champion_file(p: EvaluateParams, data_dir: Path, reports: dict, summary: dict, runs: dict,
                        git_sha: str | None, data_hash: str) -> dict:
    """artifacts/champion.json: names, run ids, registry entries, git sha, processed-data hash,
    the rule and headline test metrics of the champions."""
    name, tname = summary["champion"]["name"], summary["torque_champion"]["name"]
    rep = reports.get(name, {}) if name else {}
    metrics = {}
    if rep:
        metrics = {"val_window_macro_f1": rep["val"]["window"]["macro_f1"],
                   "test_window_accuracy": rep["test"]["window"]["accuracy"],
                   "test_window_accuracy_ci": rep["test"]["window"].get("accuracy_ci"),
                   "test_window_macro_f1": rep["test"]["window"]["macro_f1"],
                   "test_clip_accuracy": rep["test"]["clip"]["accuracy"],
                   "test_consumer_window_accuracy": rep["consumer"]["window"].get("accuracy"),
                   "test_fault_macro_f1": rep.get("fault", {}).get("macro_f1"),
                   "ece_calibrated": rep["calibration"]["ece_calibrated"],
                   "temperature": rep["calibration"]["temperature"],
                   "latency_ms_b1": rep["cost"]["latency_ms_per_window_b1"]}
    torque = {}
    if tname:
        t = reports[tname]["test"]
        torque = {"test_mean_rmse_nm": t["mean_rmse"], "test_mean_icc_2_1": t["mean_icc_2_1"],
                  "test_knee_rmse_nm": {s: t["rmse"].get(f"knee_angle_{s}_moment") for s in ("r", "l")},
                  "test_knee_icc_2_1": {s: t["icc_2_1"].get(f"knee_angle_{s}_moment") for s in ("r", "l")}}
    doc = {"recognizer": {"name": name, "run_id": runs.get(name), "path": rep.get("path"), "metrics": metrics,
                          "registry": summary.get("registry", {}).get("recognizer")},
           "torque": {"name": tname, "run_id": runs.get(tname), "metrics": torque,
                      "registry": summary.get("registry", {}).get("torque")},
           "rule": summary["champion"]["rule"], "git_sha": git_sha, "data_hash": data_hash,
           "data_dir": str(data_dir)}
    path = Path(p.champion_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    return doc
