"""Agreement of predicted and reference series: joint moments and joint angles.

    icc(y)                          {"icc_3_1", "icc_2_1", "icc_1_1"} of y (n subjects, k raters; models.torque.icc)
    regression_scores(pred, target, names)  per channel RMSE, MAE, ICC(3,1), ICC(2,1), Pearson r
    grouped_regression_scores(pred, target, groups, names)  the same per group (e.g. action class)
    angle_score(pred_deg, true_deg, thresholds)  share of frames within each threshold

ICC from the two-way ANOVA of Shrout & Fleiss (1979) / McGraw & Wong (1996), single measures:
  ICC(3,1) = (MS_R - MS_E) / (MS_R + (k-1) MS_E)                         two-way mixed, consistency
  ICC(2,1) = (MS_R - MS_E) / (MS_R + (k-1) MS_E + k (MS_C - MS_E) / n)   two-way random, absolute agreement
  ICC(1,1) = (MS_R - MS_W) / (MS_R + (k-1) MS_W)                         one-way random
A bias between prediction and reference lowers ICC(2,1) but not ICC(3,1), so both are reported.
For a model, the "subjects" are the frames and the two "raters" are reference and prediction.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from models.torque import icc  # the one ICC (models is the lower layer: training scores with it too)

__all__ = ["icc", "regression_scores", "grouped_regression_scores", "angle_score"]


def _flat(x, C: int | None = None) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    return a.reshape(-1, a.shape[-1] if C is None else C)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b).statistic)


def regression_scores(pred, target, names: Sequence[str]) -> dict:
    """Per channel (last axis, named ``names``) over every frame: {"rmse", "mae", "icc_3_1",
    "icc_2_1", "pearson"} each {name: value}, their means ("mean_<key>") and "n_frames"."""
    p, t = _flat(pred, len(names)), _flat(target, len(names))
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and reference {t.shape} differ")
    out: dict = {k: {} for k in ("rmse", "mae", "icc_3_1", "icc_2_1", "pearson")}
    for j, name in enumerate(names):
        e = p[:, j] - t[:, j]
        out["rmse"][name] = float(np.sqrt(np.mean(e ** 2))) if len(e) else float("nan")
        out["mae"][name] = float(np.mean(np.abs(e))) if len(e) else float("nan")
        c = icc(np.stack([t[:, j], p[:, j]], 1)) if len(e) >= 2 else {"icc_3_1": np.nan, "icc_2_1": np.nan}
        out["icc_3_1"][name], out["icc_2_1"][name] = float(c["icc_3_1"]), float(c["icc_2_1"])
        out["pearson"][name] = _pearson(p[:, j], t[:, j])
    for key in list(out):
        vals = [v for v in out[key].values() if np.isfinite(v)]
        out[f"mean_{key}"] = float(np.mean(vals)) if vals else float("nan")
    out["n_frames"] = int(p.shape[0])
    return out


def grouped_regression_scores(pred, target, groups: Sequence, names: Sequence[str]) -> dict:
    """``regression_scores`` per group of windows (``groups`` has one entry per window of pred
    (N, T, C)): {group: scores}."""
    p, t = np.asarray(pred), np.asarray(target)
    g = np.asarray(list(groups), dtype=object)
    if len(g) != p.shape[0]:
        raise ValueError(f"groups has {len(g)} entries for {p.shape[0]} windows")
    return {str(k): regression_scores(p[g == k], t[g == k], names) for k in sorted(set(g.tolist()), key=str)}


def angle_score(pred_deg, true_deg, thresholds: Sequence[float] = (3, 5, 7, 9, 11, 15)) -> dict:
    """Angle-Score: the share of frames whose mean absolute joint-angle error (over the joints, deg)
    is within each threshold, in the spirit of the TCN+GAT paper's angle-threshold feedback
    (7-11 deg). Also the mean absolute error per frame. {"mae_deg", "score": {"<thr>": share}}."""
    p, t = np.asarray(pred_deg, dtype=np.float64), np.asarray(true_deg, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"angle prediction {p.shape} and reference {t.shape} differ")
    err = np.abs(p - t).reshape(-1, p.shape[-1]).mean(1)
    return {"mae_deg": float(err.mean()) if err.size else float("nan"),
            "score": {f"{thr:g}": float((err <= thr).mean()) if err.size else float("nan") for thr in thresholds}}
