"""The evaluate stage's library: every trained model of artifacts/train/ (and extra seeds) on the
processed val / test splits, the champion, the reports (stages/evaluate.py is thin).

    summary = run_evaluation(EvaluateParams(...))

Steps: load the models (``evaluation.predict``), read val and test once, score every recognizer
(``evaluation.recognition``) and torque estimator (``evaluation.agreement``), measure their cost
(``evaluation.benchmark``), pick the champion (``evaluation.champion``), check it under rotation
about the vertical, compare seeds (mean +- std, McNemar), write the reports
(``evaluation.report``), log one MLflow run per model and register the champions.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from evaluation import agreement, metrics as M, power as PW
from evaluation.benchmark import model_cost
from evaluation.params import EvaluateParams
from evaluation.predict import Split, Trained, find_trained, load_split, load_trained, predict, predict_torque
from evaluation.recognition import admissible_faults, recognizer_report

__all__ = ["run_evaluation", "evaluate_models", "rotation_check", "seed_significance"]


def _log(msg: str) -> None:
    print(f"evaluate: {msg}", file=sys.stderr)


def _angle_truth(split: Split) -> np.ndarray:
    return np.concatenate([b["angles"].numpy() for b in split.batches])


def _torque_row(tr: Trained, test: Split, val: Split, data_dir: Path, names: list[str],
                classes: list[str]) -> dict:
    out, vout = predict_torque(tr, test, data_dir), predict_torque(tr, val, data_dir)
    rep = {"test": agreement.regression_scores(out["pred"], out["target"], names),
           "test_per_action": agreement.grouped_regression_scores(
               out["pred"], out["target"], [classes[k] for k in test.label[out["rows"]]], names) if len(out["rows"]) else {},
           "val": agreement.regression_scores(vout["pred"], vout["target"], names)}
    anthro = np.concatenate([b["anthro"].numpy() for b in val.batches])[vout["rows"], 0] if len(vout["rows"]) else np.ones(0)
    if len(anthro):
        rep["val_rmse_nm_per_kg"] = float(np.sqrt(np.mean(((vout["pred"] - vout["target"]) / anthro[:, None, None]) ** 2)))
    return rep


def evaluate_models(models: dict[str, list[Trained]], test: Split, val: Split, data_dir: Path, info: dict,
                    p: EvaluateParams, train_label: np.ndarray, train_fault: np.ndarray) -> tuple[dict, dict]:
    """Score every model. Returns (reports {name: report}, predictions {name: [test outputs per seed]})."""
    from training.tasks import TorqueTask

    classes, faults = list(info["classes"]), list(info.get("faults", ["none"]))
    K = len(classes)
    admissible = admissible_faults(train_label, train_fault, K)
    reports, preds = {}, {}
    example = test.batches[0] if test.batches else val.batches[0]
    for name, runs in tqdm(sorted(models.items()), desc="evaluate", unit="model", file=sys.stderr):
        primary = runs[0]
        t0 = time.perf_counter()
        rep: dict[str, Any] = {"model": name, "kind": primary.kind, "modalities": list(primary.modalities),
                               "path": str(primary.path), "seed": primary.seed, "config": primary.cfg,
                               "train_metrics": {k: v for k, v in primary.metrics.items() if k not in ("history", "ddp")}}
        if primary.kind == "torque":
            rep.update(_torque_row(primary, test, val, data_dir, list(info["moments"]), classes))
            prep = TorqueTask(data_dir, batch_size=p.batch_size, seed=0).prepare
            rep["cost"] = model_cost(primary, example, p.latency.batch_sizes, p.latency.runs, p.latency.warmup, prepare=prep,
                                    max_seconds=p.latency.max_seconds)
        else:
            outs = [predict(primary, test, K, data_dir=data_dir)]   # the train stage's outputs when it saved them
            vout = predict(primary, val, K, data_dir=data_dir)
            rep.update(recognizer_report(outs[0], test, vout, val, K, p, admissible, faults, classes))
            if "angles" in outs[0]:
                rep["angle_score"] = agreement.angle_score(outs[0]["angles"], _angle_truth(test), p.angle_thresholds_deg)
            rep["cost"] = model_cost(primary, example, p.latency.batch_sizes, p.latency.runs, p.latency.warmup,
                                     max_seconds=p.latency.max_seconds)
            for extra in runs[1:]:
                outs.append(predict(extra, test, K, data_dir=data_dir))
            rep["seeds"] = _seed_rows(runs, outs, test, K, p, admissible, faults, classes)
            preds[name] = outs
        rep["eval_seconds"] = round(time.perf_counter() - t0, 2)
        reports[name] = rep
    return reports, preds


def _seed_rows(runs: list[Trained], outs: list[dict], test: Split, K: int, p: EvaluateParams,
               admissible: list[list[int]] | None = None, fault_names=(), class_names=()) -> dict:
    """Per seed: window accuracy / macro-F1, clip accuracy and (fault head) the fault macro-F1 given
    the action; their mean +- std over the seeds."""
    from evaluation.recognition import fault_report

    rows = []
    for tr, o in zip(runs, outs):
        row = {"path": str(tr.path), "seed": tr.seed, "window_accuracy": M.accuracy(test.label, o["log_prob"]),
               "window_macro_f1": M.macro_f1(test.label, o["log_prob"]),
               "clip_accuracy": float(_clip_correct(o, test).mean()) if len(test) else float("nan")}
        if "fault_logits" in o and admissible is not None and len(test):
            row["fault_macro_f1"] = fault_report(o["fault_logits"], test.fault, test.label, admissible, fault_names,
                                                 class_names)["macro_f1"]
        rows.append(row)
    keys = ("window_accuracy", "window_macro_f1", "clip_accuracy") + (("fault_macro_f1",) if all(
        "fault_macro_f1" in r for r in rows) and rows else ())
    return {"runs": rows, **{k: M.mean_std([r[k] for r in rows]) for k in keys}}


def _clip_correct(o: dict, test: Split) -> np.ndarray:
    cy, clp, _, _ = M.aggregate_clips(test.label, o["log_prob"], test.meta["clip_id"], test.meta["athlete_id"])
    return clp.argmax(1) == cy


def seed_significance(a: str, b: str, preds: dict, test: Split) -> dict:
    """McNemar (exact) of model a vs b on the test windows and clips: the first runs (the pipeline's
    own training) and every seed pair (k-th run of a vs k-th run of b)."""
    pa, pb = preds[a], preds[b]
    pairs, ca, cb = [], [], []
    for k in range(min(len(pa), len(pb))):
        wa, wb = pa[k]["log_prob"].argmax(1) == test.label, pb[k]["log_prob"].argmax(1) == test.label
        ca.append(wa), cb.append(wb)
        pairs.append({"pair": k, "window": M.mcnemar_exact(wa, wb),
                      "clip": M.mcnemar_exact(_clip_correct(pa[k], test), _clip_correct(pb[k], test))})
    return {"a": a, "b": b, "n_pairs": len(pairs), "pairs": pairs, "power": _power(pairs, ca, cb, test)}


def _power(pairs: list[dict], ca: list, cb: list, test: Split) -> dict | None:
    """What this test size can show (evaluation.power): from the pairs' mean discordant counts, the
    smallest gap found 80 % of the time and the windows a 0.5 / 1 point gap needs; the design effect
    of the athletes over the pooled pairs."""
    if not pairs or len(test) == 0:
        return None
    out = PW.power_summary(len(test), [p["window"]["a_only"] for p in pairs], [p["window"]["b_only"] for p in pairs])
    out["design_effect_athletes"] = PW.design_effect(np.concatenate(ca), np.concatenate(cb),
                                                     np.tile(test.meta["athlete_id"], len(pairs)))
    out["n_athletes"] = int(len(set(test.meta["athlete_id"].tolist())))
    return out


def rotation_check(trained: Trained, test: Split, data_dir: Path, info: dict, angles_deg: list[float],
                   rotate=None) -> dict:
    """Window accuracy of ``trained`` on the test windows seen from a camera turned by each angle
    about the vertical (``rotate`` = ``preprocessing.view.rotate_scaled_landmarks(landmarks,
    angle_deg, scalers, present=, view_normalize=)``)."""
    if "landmarks" not in trained.modalities:
        return {"available": False, "reason": f"{trained.name} reads no landmarks"}
    if rotate is None:
        try:
            from preprocessing.view import rotate_scaled_landmarks as rotate
        except ImportError:  # HOOK: lands with the preprocessing helper's view normalisation
            return {"available": False, "reason": "preprocessing.view.rotate_scaled_landmarks not available yet"}
    scalers = json.loads((data_dir / "scalers.json").read_text())
    view_norm = bool(info.get("params", {}).get("landmarks", {}).get("view_normalize", False))
    rows = []
    for ang in angles_deg:
        def rot(b, ang=ang):
            lm = rotate(b["landmarks"].numpy(), ang, scalers, present=b["modality_mask"][:, 1].numpy(),
                        view_normalize=view_norm)
            return {**b, "landmarks": torch.from_numpy(lm)}
        o = predict(trained, test, len(info["classes"]), transform=rot)
        rows.append({"angle_deg": float(ang), "accuracy": M.accuracy(test.label, o["log_prob"])})
    accs = [r["accuracy"] for r in rows]
    return {"available": True, "view_normalize": view_norm, "angles": rows,
            "max_drop": float(accs[0] - min(accs)) if accs else None, "spread": float(max(accs) - min(accs)) if accs else None}


def run_evaluation(p: EvaluateParams, git_sha: str | None = None) -> dict:
    from evaluation import champion as C, report as R

    torch.set_num_threads(p.threads)
    data_dir = Path(p.data_dir) / p.dataset
    if not (data_dir / "dataset.json").is_file():
        raise FileNotFoundError(f"{data_dir}: not a processed dataset (run the preprocess stage)")
    info = json.loads((data_dir / "dataset.json").read_text())
    found = find_trained(p.train_dir, p.seeds_dir)
    if not found:
        raise FileNotFoundError(f"{p.train_dir}: no trained model (model.pt / model.joblib); run the train stages")
    t0 = time.perf_counter()
    models = {name: [load_trained(d) for d in dirs] for name, dirs in found.items()}
    needs_video = any("video" in t.modalities for runs in models.values() for t in runs)
    test = load_split(data_dir, "test", p.batch_size, needs_video)
    val = load_split(data_dir, "val", p.batch_size, needs_video)
    train_label = np.load(data_dir / "train" / "label.npy")
    train_fault = np.load(data_dir / "train" / "fault.npy")
    _log(f"{len(models)} models, test {len(test)} / val {len(val)} windows (read in {time.perf_counter() - t0:.1f} s)")
    reports, preds = evaluate_models(models, test, val, data_dir, info, p, train_label, train_fault)
    champ = C.select_champion(reports, p.champion)
    torque_champ = C.select_torque_champion(reports)
    summary: dict[str, Any] = {"champion": champ, "torque_champion": torque_champ, "n_test": len(test), "n_val": len(val)}
    if champ["name"]:
        summary["rotation"] = rotation_check(models[champ["name"]][0], test, data_dir, info, p.rotation_angles_deg)
        if p.view_sweep.enabled:
            from evaluation.view_sweep import view_sweep
            summary["view_sweep"] = view_sweep(models[champ["name"]][0], test, data_dir, info, p.view_sweep, p.bootstrap,
                                               reports[champ["name"]]["test"]["window"].get("accuracy"))
        summary["significance"] = C.significance(champ["name"], reports, preds, test, p.champion, seed_significance)
    dhash = dataset_content_hash(data_dir)
    runs, rows, source = {}, None, "the evaluation reports (MLflow tracking disabled)"
    if p.tracking.enabled:
        eval_id, runs = R.log_to_mlflow(p, data_dir, reports, summary, git_sha, dhash)
        if p.tracking.register_models:
            summary["registry"] = C.register_champions(p, data_dir, models, reports, summary, runs, test)
        rows = R.zoo_rows_from_mlflow(p.tracking.uri, p.tracking.experiment, eval_id)
        source = f"the MLflow runs of `{p.tracking.experiment}` with tag eval_id = {eval_id}"
        summary["eval_id"] = eval_id
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    R.write_reports(p, info, reports, summary, test, preds)
    R.write_zoo_and_markdown(p, reports, summary, rows if rows is not None else R.zoo_rows_from_reports(reports, runs), source)
    summary["champion_file"] = C.write_champion_file(p, data_dir, reports, summary, runs, git_sha, dhash)
    return summary


def dataset_content_hash(data_dir: Path) -> str:
    """The processed data's content hash (``training.tracking.dataset_hash`` once the training
    package has it; until then its index hash ``data_hash``)."""
    from training import tracking

    fn = getattr(tracking, "dataset_hash", None) or tracking.data_hash
    return fn(data_dir)
