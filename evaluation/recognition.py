"""What the evaluate stage reports for one recognizer on one split, from its predictions.

    rep = recognizer_report(test_logits, test_split, val_logits, val_split, n_classes, p, fault=...)

Per window and per clip (mean log-prob over a clip's windows): ``metrics.classification_scores``
plus 95 % bootstrap CIs over athletes of accuracy and macro-F1; the same on the ``consumer``
subset; calibration (ECE before / after a temperature fitted on val); window accuracy per
camera-azimuth bin; technique-fault recognition given the action when the model has a fault head.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from evaluation import metrics as M
from evaluation.params import EvaluateParams
from evaluation.predict import Split

__all__ = ["scores_with_ci", "level_reports", "calibration_report", "azimuth_report", "fault_report",
           "admissible_faults", "recognizer_report"]


def scores_with_ci(y: np.ndarray, log_prob: np.ndarray, groups: Sequence, n_classes: int,
                   p: EvaluateParams) -> dict:
    """classification_scores + bootstrap CIs (athletes) of accuracy and macro-F1."""
    out = M.classification_scores(y, log_prob, n_classes)
    if len(y) == 0:
        return out
    b = p.bootstrap
    for key, fn in (("accuracy", M.accuracy), ("macro_f1", M.macro_f1)):
        ci = M.bootstrap_ci(y, log_prob, groups, fn, n_boot=b.n_boot, seed=b.seed, level=b.level)
        out[f"{key}_ci"] = [ci["low"], ci["high"]]
    out["n_athletes"] = int(len(set(np.asarray(groups).tolist())))
    return out


def level_reports(y: np.ndarray, log_prob: np.ndarray, split: Split, n_classes: int, p: EvaluateParams,
                  rows: np.ndarray | None = None) -> dict:
    """{"window": scores, "clip": scores} over the split's windows (or the subset ``rows``)."""
    rows = np.arange(len(y)) if rows is None else rows
    ath, clips = split.meta["athlete_id"][rows], split.meta["clip_id"][rows]
    if len(rows) == 0:
        return {"window": {"n": 0}, "clip": {"n": 0}}
    cy, clp, _, cg = M.aggregate_clips(y[rows], log_prob[rows], clips, ath)
    return {"window": scores_with_ci(y[rows], log_prob[rows], ath, n_classes, p),
            "clip": scores_with_ci(cy, clp, cg, n_classes, p)}


def calibration_report(val_logits: np.ndarray, val_y: np.ndarray, logits: np.ndarray, y: np.ndarray,
                       n_bins: int) -> dict:
    """Temperature fitted on val; ECE and reliability bins on the test windows before and after."""
    T = M.fit_temperature(val_logits, val_y)
    raw, cal = M.softmax(logits), M.softmax(logits / T)
    return {"temperature": T, "ece": M.expected_calibration_error(raw, y, n_bins),
            "ece_calibrated": M.expected_calibration_error(cal, y, n_bins),
            "reliability": M.reliability_bins(raw, y, n_bins), "reliability_calibrated": M.reliability_bins(cal, y, n_bins)}


def azimuth_report(y: np.ndarray, log_prob: np.ndarray, azimuth_deg: np.ndarray | None, bin_deg: float) -> dict:
    """Window accuracy per camera-azimuth bin ([0, bin), [bin, 2 bin), ...; azimuth mod 360) and
    the largest gap to the overall accuracy; {"available": False} without azimuths."""
    if azimuth_deg is None or not np.isfinite(azimuth_deg).any():
        return {"available": False}
    ok = np.isfinite(azimuth_deg)
    n_bins = int(round(360.0 / bin_deg))
    b = (np.floor(np.mod(azimuth_deg[ok], 360.0) / bin_deg).astype(int)).clip(0, n_bins - 1)
    correct = log_prob[ok].argmax(1) == y[ok]
    overall = float(correct.mean())
    bins = []
    for k in range(n_bins):
        sel = b == k
        bins.append({"lo_deg": k * bin_deg, "hi_deg": (k + 1) * bin_deg, "n": int(sel.sum()),
                     "accuracy": float(correct[sel].mean()) if sel.any() else None})
    filled = [x["accuracy"] for x in bins if x["accuracy"] is not None]
    return {"available": True, "overall": overall, "bins": bins,
            "max_gap": float(max(abs(a - overall) for a in filled)) if filled else None}


def admissible_faults(train_label: np.ndarray, train_fault: np.ndarray, n_classes: int) -> list[list[int]]:
    """Per action class, the fault indices seen with it in training, plus 0 ("none")
    (models.losses.admissible_fault_mask as lists)."""
    from models.losses import admissible_fault_mask

    n_faults = int(max(np.max(train_fault, initial=0), 0)) + 1
    mask = admissible_fault_mask(train_label, train_fault, n_classes, n_faults)
    return [np.flatnonzero(row).tolist() for row in mask]


def fault_report(fault_logits: np.ndarray, y_fault: np.ndarray, y_action: np.ndarray,
                 admissible: list[list[int]], fault_names: Sequence[str], class_names: Sequence[str]) -> dict:
    """Fault recognition given the (true) action: the prediction is the argmax of the fault logits
    over the faults admissible for the action; macro-F1 per action (over its admissible faults) and
    overall (over every fault label present or predicted), and accuracy."""
    from sklearn.metrics import f1_score

    F = fault_logits.shape[1]
    pred = np.empty(len(y_fault), dtype=np.int64)
    for i, a in enumerate(y_action):
        allowed = [f for f in admissible[a] if f < F]
        pred[i] = allowed[int(np.argmax(fault_logits[i, allowed]))]
    per_action = {}
    for k, name in enumerate(class_names):
        sel = y_action == k
        if sel.any() and len(admissible[k]) > 1:
            per_action[name] = {"n": int(sel.sum()), "macro_f1": float(f1_score(
                y_fault[sel], pred[sel], labels=admissible[k], average="macro", zero_division=0))}
    labels = sorted(set(y_fault.tolist()) | set(pred.tolist()))
    return {"n": int(len(y_fault)), "accuracy": float(np.mean(pred == y_fault)) if len(pred) else float("nan"),
            "macro_f1": float(f1_score(y_fault, pred, labels=labels, average="macro", zero_division=0)) if len(pred) else float("nan"),
            "macro_f1_per_action": per_action, "labels": [fault_names[f] for f in labels], "pred": pred}


def recognizer_report(out: dict, split: Split, val_out: dict, val_split: Split, n_classes: int,
                      p: EvaluateParams, admissible: list[list[int]] | None = None,
                      fault_names: Sequence[str] = (), class_names: Sequence[str] = ()) -> dict:
    """Everything the stage reports for one recognizer (``out`` / ``val_out``: evaluation.predict
    outputs on the test / val split)."""
    y, lp = split.label, out["log_prob"]
    rep = {"test": level_reports(y, lp, split, n_classes, p),
           "val": {"window": M.classification_scores(val_split.label, val_out["log_prob"], n_classes)}}
    consumer = np.flatnonzero(split.meta["preset"] == "consumer")
    rep["consumer"] = level_reports(y, lp, split, n_classes, p, consumer)
    rep["calibration"] = calibration_report(val_out["logits"], val_split.label, out["logits"], y, p.calibration_bins)
    rep["azimuth"] = azimuth_report(y, lp, split.meta.get("camera_azimuth_deg"), p.azimuth_bin_deg)
    if "fault_logits" in out and admissible is not None:
        fr = fault_report(out["fault_logits"], split.fault, y, admissible, fault_names, class_names)
        fr.pop("pred")
        rep["fault"] = fr
    return rep
