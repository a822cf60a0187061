"""Power of the paired test (McNemar, exact) that compares the champion with a baseline.

Two models scored on the same n windows: a window is "a only" right with probability ``p_a`` and
"b only" right with ``p_b`` (the discordant windows; the rest both or neither). McNemar's exact test
conditions on the D = a_only + b_only discordant windows: a_only ~ Binomial(D, 1/2) under the null.

    exact_power(n, p_a, p_b)              P(two-sided exact p <= alpha) when the windows are independent
    sample_size(p_a, p_b)                 windows for the target power (exact, searched from the normal
                                          approximation of Connor 1987: n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2)
    min_detectable_gap(n, p_low)          the smallest accuracy gap the test finds with the target power on n
                                          windows, the worse model's discordant rate p_low held fixed (the
                                          champion still misses the windows only the baseline gets now)
    design_effect(correct_a, correct_b, groups)  variance inflation of the paired difference from windows that
                                          cluster (athletes, clips): the windows are not independent draws

Windows of one clip share their errors (a misread clip costs 2-3 windows), so the windows needed are
``sample_size(...) * design_effect``; divide by the windows per athlete for the athletes needed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["exact_power", "sample_size", "min_detectable_gap", "design_effect", "power_summary"]


def _check_rates(p_a: float, p_b: float) -> None:
    if not (0 <= p_a <= 1 and 0 <= p_b <= 1 and p_a + p_b <= 1):
        raise ValueError(f"discordant rates p_a={p_a}, p_b={p_b}: expected each in [0, 1] and p_a + p_b <= 1")


def _reject_probability(d: np.ndarray, share_a: float, alpha: float) -> np.ndarray:
    """P(the exact two-sided test rejects | d discordant windows), a_only ~ Binomial(d, share_a).
    The test (scipy.stats.binomtest, p = 1/2: symmetric tails) rejects at a_only <= k or >= d - k, k
    the largest count with 2 P(X <= k) <= alpha."""
    d = np.asarray(d, dtype=np.int64)
    k = stats.binom.ppf(alpha / 2, d, 0.5)
    k = np.where(stats.binom.cdf(k, d, 0.5) > alpha / 2, k - 1, k)       # largest k with tail <= alpha / 2
    lower = np.where(k >= 0, stats.binom.cdf(k, d, share_a), 0.0)
    upper = np.where(k >= 0, stats.binom.sf(d - k - 1, d, share_a), 0.0)
    return np.where(d > 0, lower + upper, 0.0)


def exact_power(n: int, p_a: float, p_b: float, alpha: float = 0.05) -> float:
    """Power of McNemar's exact two-sided test at level ``alpha`` on ``n`` independent paired windows
    with discordant rates ``p_a`` (only a right) and ``p_b`` (only b right)."""
    _check_rates(p_a, p_b)
    if n < 1:
        raise ValueError(f"n={n}: expected >= 1 paired windows")
    psi = p_a + p_b
    if psi == 0:
        return 0.0
    dist = stats.binom(int(n), psi)
    d = np.arange(int(dist.ppf(1e-12)), int(dist.isf(1e-12)) + 1)
    return float((dist.pmf(d) * _reject_probability(d, p_a / psi, alpha)).sum())


def _approx_n(p_a: float, p_b: float, alpha: float, power: float) -> float:
    psi, delta = p_a + p_b, abs(p_b - p_a)
    za, zb = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    return (za * np.sqrt(psi) + zb * np.sqrt(max(psi - delta ** 2, 0.0))) ** 2 / delta ** 2


def sample_size(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8, n_max: int = 10_000_000) -> int:
    """The fewest independent paired windows for which the exact test reaches ``power`` (the exact power
    is not monotone in n by a few windows: the first n from which it stays above is searched on a
    grid from the normal approximation)."""
    _check_rates(p_a, p_b)
    if p_a == p_b:
        raise ValueError(f"p_a = p_b = {p_a}: no difference to detect")
    lo, hi = 1, max(2, int(np.ceil(_approx_n(p_a, p_b, alpha, power))))
    while exact_power(hi, p_a, p_b, alpha) < power:
        lo, hi = hi, hi * 2
        if hi > n_max:
            raise ValueError(f"more than n_max={n_max} windows needed for p_a={p_a}, p_b={p_b}")
    while hi - lo > max(1, lo // 200):          # bisection to 0.5 %
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if exact_power(mid, p_a, p_b, alpha) >= power else (mid, hi)
    return int(hi)


def min_detectable_gap(n: int, p_low: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest accuracy gap (a fraction: 0.01 = 1 point) detected with ``power`` on ``n``
    independent windows when the discordant windows that favour the worse model occur at ``p_low``
    and those that favour the better one at ``p_low + gap``; inf when no gap up to 1 - 2 p_low is."""
    lo, hi = 0.0, 1.0 - 2 * p_low
    if hi <= 0 or exact_power(n, p_low, p_low + hi, alpha) < power:
        return float("inf")
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if exact_power(n, p_low, p_low + mid, alpha) >= power else (mid, hi)
    return float(hi)


def design_effect(correct_a: np.ndarray, correct_b: np.ndarray, groups: Sequence) -> float:
    """Var(mean paired difference) with windows clustered in ``groups`` (cluster-robust, sum of the
    per-group residual totals squared) over its value for independent windows; 1.0 when no window
    is discordant. Noisy when few windows are discordant: report it with the counts."""
    d = np.asarray(correct_a, dtype=float) - np.asarray(correct_b, dtype=float)
    g = np.asarray(groups)
    if d.shape != g.shape:
        raise ValueError(f"groups has shape {g.shape}, expected one per window {d.shape}")
    r = d - d.mean()
    iid = float((r ** 2).sum())
    if iid == 0:
        return 1.0
    clustered = float(sum(r[g == u].sum() ** 2 for u in np.unique(g)))
    return clustered / iid


def power_summary(n: int, a_only: Sequence[int], b_only: Sequence[int], alpha: float = 0.05,
                  power: float = 0.8) -> dict:
    """From the McNemar counts of several seed pairs (a = the champion, b = the other model) on the
    same ``n`` windows: the mean discordant rates, the smallest gap of a over b the test would find at
    this n, and the windows a gap of 0.5 and 1 point would need, with the windows only b gets right
    (a's own errors) held at their observed rate."""
    pa, pb = float(np.mean(a_only)) / n, float(np.mean(b_only)) / n
    out = {"n": int(n), "alpha": alpha, "power": power, "p_a_only": pa, "p_b_only": pb,
           "observed_gap": pa - pb, "min_detectable_gap": min_detectable_gap(n, pb, alpha, power),
           "windows_needed": {}}
    for gap in (0.005, 0.01):
        q = max(pb, 1.0 / n)        # a keeps at least one error of its own
        out["windows_needed"][f"{gap:g}"] = sample_size(q, q + gap, alpha, power) if 2 * q + gap <= 1 else None
    return out
