"""Recognition metrics of the evaluate stage (window and clip level), on numpy arrays.

    scores = classification_scores(y, prob, n_classes)      accuracy, macro-F1/precision/recall, AUC, ...
    clip_y, clip_logp, clip_groups = aggregate_clips(y, log_prob, clip_ids, athlete_ids)
    ci = bootstrap_ci(y, prob, athlete_ids, lambda y, p: accuracy(y, p), n_boot=1000, seed=0)
    T = fit_temperature(val_logits, val_y); ece = expected_calibration_error(softmax(logits / T), y)
    test = mcnemar_exact(correct_a, correct_b)                 exact binomial McNemar (scipy.stats.binomtest)
    mean_std([0.95, 0.96, 0.97])                                over seeds

A clip's prediction is the mean over its windows of the log-probabilities (the windows of one clip
share the label). Confidence intervals resample *athletes* (every window / clip of a drawn athlete
comes along), because windows of one athlete are not independent. sklearn computes every score
that it has; this module only arranges the inputs.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import optimize, special, stats
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, precision_score, recall_score,
                             roc_auc_score)

__all__ = ["softmax", "log_softmax", "classification_scores", "per_class_accuracy", "roc_auc_ovr",
           "aggregate_clips", "bootstrap_ci", "expected_calibration_error", "reliability_bins",
           "fit_temperature", "mcnemar_exact", "mean_std", "macro_f1", "accuracy"]


def softmax(logits: np.ndarray) -> np.ndarray:
    return special.softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    return special.log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def _check(y: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, prob = np.asarray(y).astype(np.int64), np.asarray(prob, dtype=np.float64)
    if prob.ndim != 2 or prob.shape[0] != y.shape[0]:
        raise ValueError(f"scores must be (N, K) with N = len(y) = {y.shape[0]}, got shape {prob.shape}")
    return y, prob


def accuracy(y: np.ndarray, prob: np.ndarray) -> float:
    """Top-1 accuracy of scores ``prob`` (N, K) (numpy only: called 1000s of times by the bootstrap)."""
    y = np.asarray(y)
    return float(np.mean(np.asarray(prob).argmax(1) == y)) if len(y) else float("nan")


def macro_f1(y: np.ndarray, prob: np.ndarray) -> float:
    """Macro-F1 over the K classes of ``prob`` (N, K), classes with neither a sample nor a
    prediction scoring 0 as in ``sklearn.metrics.f1_score(labels=range(K), zero_division=0)``
    (numpy only, from the confusion counts: the bootstrap calls it 1000s of times)."""
    y, prob = np.asarray(y).astype(np.int64), np.asarray(prob)
    K = prob.shape[1]
    pred = prob.argmax(1)
    tp = np.bincount(y[pred == y], minlength=K)[:K].astype(np.float64)
    denom = np.bincount(y, minlength=K)[:K] + np.bincount(pred, minlength=K)[:K]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1.mean())


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of each class's samples predicted as that class (= per-class recall); NaN for a class
    with no sample."""
    cm = confusion_matrix(y, pred, labels=list(range(n_classes)))
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def roc_auc_ovr(y: np.ndarray, prob: np.ndarray) -> tuple[float, list[float]]:
    """Macro one-vs-rest ROC AUC over the classes that have positives and negatives in ``y``
    (sklearn's ``roc_auc_score`` per class), and the per-class values (NaN where undefined)."""
    y, prob = _check(y, prob)
    per = []
    for k in range(prob.shape[1]):
        pos = y == k
        per.append(float(roc_auc_score(pos, prob[:, k])) if 0 < pos.sum() < len(y) else float("nan"))
    defined = [v for v in per if not np.isnan(v)]
    return (float(np.mean(defined)) if defined else float("nan")), per


def classification_scores(y: np.ndarray, prob: np.ndarray, n_classes: int | None = None) -> dict:
    """Accuracy, macro-F1 / precision / recall, macro one-vs-rest AUC, per-class accuracy (its mean
    and std over the classes present), the confusion matrix (rows = true) and n, for labels ``y``
    (N,) and class scores ``prob`` (N, K) (probabilities or anything monotone in them; the AUC
    needs probabilities or log-probabilities)."""
    y, prob = _check(y, prob)
    K = n_classes or prob.shape[1]
    pred = prob.argmax(1)
    labels = list(range(K))
    pca = per_class_accuracy(y, pred, K)
    auc, auc_per = roc_auc_ovr(y, prob)
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "macro_precision": float(precision_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "auc_ovr": auc,
        "auc_per_class": auc_per,
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in pca],
        "per_class_accuracy_mean": float(np.nanmean(pca)) if np.isfinite(pca).any() else float("nan"),
        "per_class_accuracy_std": float(np.nanstd(pca)) if np.isfinite(pca).any() else float("nan"),
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def aggregate_clips(y: np.ndarray, log_prob: np.ndarray, clip_ids: Sequence[str],
                    groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list]:
    """Windows -> clips: mean log-probability over each clip's windows (clips in first-seen order).
    Returns (clip labels, clip mean log-probs (C, K), clip ids, the clips' group (e.g. athlete)).
    Raises ValueError when the windows of one clip disagree on the label."""
    y, log_prob = _check(y, log_prob)
    clip_ids = np.asarray(list(clip_ids), dtype=object)
    if len(clip_ids) != len(y):
        raise ValueError(f"clip_ids has {len(clip_ids)} entries for {len(y)} windows")
    ids, first, inverse = np.unique(clip_ids, return_index=True, return_inverse=True)
    order = np.argsort(first)                      # first-seen order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inv = rank[inverse]
    C = len(ids)
    sums = np.zeros((C, log_prob.shape[1]))
    np.add.at(sums, inv, log_prob)
    counts = np.bincount(inv, minlength=C)
    clip_y = np.full(C, -1, dtype=np.int64)
    clip_y[inv] = y
    bad = [ids[order[c]] for c in range(C) if not np.all(y[inv == c] == clip_y[c])]
    if bad:
        raise ValueError(f"windows of clip(s) {bad[:5]} carry different labels")
    g = np.asarray(list(groups), dtype=object) if groups is not None else clip_ids
    clip_groups = [None] * C
    for i, c in enumerate(inv):
        clip_groups[c] = g[i]
    return clip_y, sums / counts[:, None], [str(ids[o]) for o in order], clip_groups


def bootstrap_ci(y: np.ndarray, prob: np.ndarray, groups: Sequence, metric: Callable[[np.ndarray, np.ndarray], float],
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap CI of ``metric(y, prob)`` resampling whole groups (athletes) with
    replacement: {"value" (on all data), "low", "high", "n_groups", "n_boot", "level"}."""
    y, prob = _check(y, prob)
    g = np.asarray(list(groups), dtype=object)
    uniq, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))])
        values[b] = metric(y[idx], prob[idx])
    lo, hi = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)])
    return {"value": float(metric(y, prob)), "low": float(lo), "high": float(hi), "n_groups": int(len(uniq)),
            "n_boot": int(n_boot), "level": level}


def reliability_bins(prob: np.ndarray, y: np.ndarray, n_bins: int = 15) -> list[dict]:
    """Equal-width confidence bins of the top-1 probability: per bin {"lo", "hi", "n", "confidence"
    (mean top-1 probability), "accuracy"} (the reliability diagram's data)."""
    y, prob = _check(y, prob)
    conf, correct = prob.max(1), (prob.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = which == b
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(sel.sum()),
                    "confidence": float(conf[sel].mean()) if sel.any() else None,
                    "accuracy": float(correct[sel].mean()) if sel.any() else None})
    return out


def expected_calibration_error(prob: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """ECE (Guo et al. 2017): sum over equal-width top-1 confidence bins of
    |bin| / N * |accuracy(bin) - confidence(bin)|."""
    bins = reliability_bins(prob, y, n_bins)
    n = sum(b["n"] for b in bins)
    return float(sum(b["n"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"])) if n else float("nan")


def fit_temperature(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature scaling (Guo et al. 2017): the one scalar T > 0 minimising the negative
    log-likelihood of softmax(logits / T) on (validation) data; bounded scalar search over log T."""
    y = np.asarray(y).astype(np.int64)
    z = np.asarray(logits, dtype=np.float64)
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        return float(-log_softmax(z / np.exp(log_t))[np.arange(len(y)), y].mean())

    res = optimize.minimize_scalar(nll, bounds=np.log(bounds), method="bounded")
    return float(np.exp(res.x))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact test on paired outcomes (the same samples scored by two models): b = a right
    and b wrong, c = a wrong and b right, two-sided p of ``binomtest(b, b + c, 0.5)`` (1.0 when
    b + c = 0)."""
    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ValueError(f"paired outcomes differ in length: {a.shape} vs {b_.shape}")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return {"n": int(a.size), "a_only": b, "b_only": c, "both": int((a & b_).sum()),
            "neither": int((~a & ~b_).sum()), "p_value": p}


def mean_std(values: Sequence[float]) -> dict:
    """{"mean", "std" (sample std, ddof=1; 0 for one value), "n", "values"} over seeds."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0, "values": []}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size),
            "values": [float(x) for x in v]}
