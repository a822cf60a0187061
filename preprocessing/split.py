"""Subject-wise split and class / sampling weights."""
from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def subject_split(athletes, fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Assign every athlete to one split (no athlete in two splits), seeded.

    The athletes (sorted, then permuted with the seed) are cut by the fractions; with >= 3
    athletes every split with a positive fraction gets at least one athlete, and train keeps
    at least one."""
    ids = sorted(set(athletes))
    n = len(ids)
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 7])).permutation(n)
    ids = [ids[i] for i in order]
    n_val = int(round(fractions["val"] * n))
    n_test = int(round(fractions["test"] * n))
    if n >= 3:
        n_val = max(n_val, 1 if fractions["val"] > 0 else 0)
        n_test = max(n_test, 1 if fractions["test"] > 0 else 0)
    while n - n_val - n_test < 1 and (n_val or n_test):
        if n_val >= n_test and n_val:
            n_val -= 1
        else:
            n_test -= 1
    n_train = n - n_val - n_test
    out = {a: "train" for a in ids[:n_train]}
    out.update({a: "val" for a in ids[n_train:n_train + n_val]})
    out.update({a: "test" for a in ids[n_train + n_val:]})
    return out


def class_weights(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts (K,), weights (K,)): w_c proportional to 1 / n_c (TCN+GAT eq. 8), normalised to
    sum 1 over the classes present; absent classes get weight 0."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(np.int64)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    s = w.sum()
    return counts, (w / s if s > 0 else w)


def sampling_weights(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-window inverse-frequency sampling weights (sum 1): each class is drawn equally often."""
    w = weights[np.asarray(labels, dtype=int)].astype(np.float64)
    s = w.sum()
    return w / s if s > 0 else w
