"""Clock-offset estimation between streams: cross-correlation + DTW refinement.

Timestamp convention (shared with the data generator)
-----------------------------------------------------
Every stream has its own clock. For a stream with clock offset ``offset_s``, a sample stamped
``t_stamp`` was measured at true (reference/video) time ``t_true = t_stamp + offset_s``. The
functions here return the offset of ``sig`` relative to ``ref``: the value to ADD to ``sig_t`` to
put it on ``ref``'s clock. Offsets are expected within a few hundred ms (``max_lag_s``).

Signals may be (T,) or (T, C); multi-channel signals are z-scored per channel and their
correlations summed. Both streams must measure comparable quantities (same sign convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import signal

from ._checks import as_float_array, check_positive
from .gaps import Resampler, check_timestamps, nominal_period, uniform_grid

__all__ = ["OffsetResult", "estimate_offset_xcorr", "dtw_path", "refine_offset_dtw", "common_rate", "signal_fits"]

MAX_GRID_HZ = 1000.0


@dataclass(frozen=True)
class OffsetResult:
    """Result of :func:`estimate_offset_xcorr`.

    Attributes
    ----------
    offset_s : float
        Offset to ADD to ``sig_t`` to align it with ``ref``'s clock, s.
    confidence : float
        Normalised cross-correlation (Pearson-like, in [-1, 1]) at the peak, computed over the
        overlapping part of the two resampled, z-scored signals. ~1 = near-identical shapes;
        values below ~0.5 mean the estimate should not be trusted.
    fs_hz : float
        Rate of the common grid used for the correlation, Hz.
    at_boundary : bool
        True if the peak lies on the ``±max_lag_s`` search boundary (true offset may be outside).
    """

    offset_s: float
    confidence: float
    fs_hz: float
    at_boundary: bool = False

    def __iter__(self):  # allows ``offset, conf = estimate_offset_xcorr(...)``
        return iter((self.offset_s, self.confidence))


def _prep(t, x, name_t: str, name_x: str):
    t = check_timestamps(t, name_t)
    x = as_float_array(x, name_x)
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"{name_x} has {x.shape[0]} samples but {name_t} has {t.shape[0]}")
    if x.ndim > 2:
        raise ValueError(f"{name_x} must be (T,) or (T, C), got shape {x.shape}")
    if t.size < 4:
        raise ValueError(f"{name_t} needs at least 4 samples, got {t.size}")
    return t, (x[:, None] if x.ndim == 1 else x)


def signal_fits(ref_t, ref, sig_t, sig) -> tuple[Resampler, Resampler]:
    """The checked ``ref`` and ``sig`` ((T,) or (T, C), equal C) as cubic interpolants
    (:class:`sigproc.gaps.Resampler`), for :func:`estimate_offset_xcorr` and :func:`refine_offset_dtw`
    to share (``fits=``): each resamples both onto its own grid from the same fits."""
    rt, rx = _prep(ref_t, ref, "ref_t", "ref")
    st, sx = _prep(sig_t, sig, "sig_t", "sig")
    if rx.shape[1] != sx.shape[1]:
        raise ValueError(f"ref has {rx.shape[1]} channel(s) but sig has {sx.shape[1]}")
    return Resampler(rt, rx, kind="cubic"), Resampler(st, sx, kind="cubic")


def common_rate(ref_t, sig_t, fs_hz: float | None = None, cap_hz: float = MAX_GRID_HZ) -> float:
    """Common grid rate: ``fs_hz`` if given, else the finer of the two median rates capped at ``cap_hz``."""
    if fs_hz is not None:
        return check_positive(fs_hz, "fs_hz")
    return float(min(max(1.0 / nominal_period(ref_t), 1.0 / nominal_period(sig_t)), cap_hz))


def _zscore(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mu) / sd


def _resample(fit: Resampler, fs):
    grid = uniform_grid(fit.t[0], fit.t[-1], fs)
    xn, _ = fit(grid)
    return grid, xn


def estimate_offset_xcorr(ref_t, ref, sig_t, sig, max_lag_s: float = 0.2, fs_hz: float | None = None,
                          fits: tuple[Resampler, Resampler] | None = None) -> OffsetResult:
    """Estimate the clock offset of ``sig`` relative to ``ref`` by normalised cross-correlation.

    Both signals are cubic-spline resampled onto uniform grids with the same step ``1 / fs``
    (``fs`` from :func:`common_rate`), z-scored per channel, and correlated with
    ``scipy.signal.correlate``/``correlation_lags`` (FFT). Each lag's correlation is normalised by
    the signal energies in the overlap, so the peak value is a Pearson-like coefficient. Only
    offsets in ``[-max_lag_s, max_lag_s]`` are considered; the integer peak is refined with a
    parabola through its two neighbours (sub-sample precision).

    Parameters
    ----------
    ref_t, sig_t : array_like, shape (T,)
        Strictly increasing timestamps in s, each on its own clock.
    ref, sig : array_like, shape (T,) or (T, C)
        Signals (same number of channels).
    max_lag_s : float
        Largest |offset| searched, s.
    fs_hz : float, optional
        Common grid rate; default the finer input rate capped at 1000 Hz.
    fits : (Resampler, Resampler), optional
        :func:`signal_fits` of the same four arguments (shared with :func:`refine_offset_dtw`).

    Returns
    -------
    OffsetResult
        ``offset_s`` (add to ``sig_t``), ``confidence`` and grid rate. Iterates as
        ``(offset_s, confidence)``.
    """
    rf, sf = fits or signal_fits(ref_t, ref, sig_t, sig)
    rt, st = rf.t, sf.t
    max_lag = check_positive(max_lag_s, "max_lag_s")
    fs = common_rate(rt, st, fs_hz)
    dt = 1.0 / fs

    rg, rr = _resample(rf, fs)
    sg, ss = _resample(sf, fs)
    rr = _zscore(rr)
    ss = _zscore(ss)
    # summed over channels: the cross-correlation (one FFT over all channels: correlate(a, b) is
    # convolve(a, b reversed)) and, by linearity, the energies in the overlap as one correlation each
    num = signal.fftconvolve(rr, ss[::-1], mode="full", axes=0).sum(1)
    e_r = signal.correlate((rr ** 2).sum(1), np.ones(ss.shape[0]), mode="full", method="fft")
    e_s = signal.correlate(np.ones(rr.shape[0]), (ss ** 2).sum(1), mode="full", method="fft")
    lags = signal.correlation_lags(rr.shape[0], ss.shape[0], mode="full")
    # Peak at lag k: rr[n + k] ~ ss[n]  =>  rg[0] + (n + k) dt = sg[0] + n dt + offset
    offsets = rg[0] - sg[0] + lags * dt
    den = np.sqrt(np.clip(e_r, 0, None) * np.clip(e_s, 0, None))
    # require a meaningful overlap (>= 25 % of the shorter signal) to avoid edge artefacts
    overlap = np.minimum(ss.shape[0], rr.shape[0] - lags) - np.maximum(0, -lags)
    min_overlap = max(4, int(0.25 * min(rr.shape[0], ss.shape[0])))
    valid = (np.abs(offsets) <= max_lag + 1e-12) & (overlap >= min_overlap) & (den > 0)
    if not valid.any():
        raise ValueError(
            f"no admissible lag: the streams do not overlap by >= {min_overlap} samples within "
            f"max_lag_s={max_lag:g} s (ref spans {rt[0]:.3f}..{rt[-1]:.3f} s, sig {st[0]:.3f}..{st[-1]:.3f} s)"
        )
    ncc = np.full(num.shape, -np.inf)
    ncc[valid] = num[valid] / den[valid]
    k = int(np.argmax(ncc))
    at_boundary = not (valid[k - 1] if k > 0 else False) or not (valid[k + 1] if k + 1 < ncc.size else False)
    delta = 0.0
    if not at_boundary:
        y0, y1, y2 = ncc[k - 1], ncc[k], ncc[k + 1]
        curv = y0 - 2.0 * y1 + y2
        if curv < 0:
            delta = float(np.clip(0.5 * (y0 - y2) / curv, -0.5, 0.5))
    return OffsetResult(
        offset_s=float(offsets[k] + delta * dt),
        confidence=float(ncc[k]),
        fs_hz=fs,
        at_boundary=bool(at_boundary),
    )


def _band_limits(n: int, m: int, window: int | None):
    """Per-row inclusive column limits of a Sakoe-Chiba band around the scaled diagonal."""
    if window is None:
        return np.zeros(n, dtype=int), np.full(n, m - 1, dtype=int)
    slope = (m - 1) / (n - 1) if n > 1 else 0.0
    centre = np.arange(n + 1) * slope
    lo = np.clip(np.floor(centre[:n] - window), 0, m - 1).astype(int)
    hi = np.clip(np.ceil(centre[1:] + window), 0, m - 1).astype(int)  # reaches next row's centre
    hi[-1] = m - 1
    return lo, hi


def dtw_path(a, b, window: int | None = None):
    """Dynamic time warping between two sequences with an optional Sakoe-Chiba band.

    Local cost is the Euclidean distance between frames; steps are (1,0), (0,1), (1,1) with equal
    weight; the path runs from (0, 0) to (n-1, m-1).

    Parameters
    ----------
    a : array_like, shape (n,) or (n, C)
    b : array_like, shape (m,) or (m, C)
    window : int, optional
        Band half-width in samples around the diagonal scaled to ``(n-1, m-1)``
        (``|j - i*(m-1)/(n-1)| <= window``, widened slightly so the band is connected). None = no band.

    Returns
    -------
    path : numpy.ndarray of int, shape (K, 2)
        Matched index pairs ``(i, j)``, monotonically non-decreasing in both.
    cost : float
        Total accumulated local cost along the path.

    Notes
    -----
    Memory and time are O(n * band width), compiled with numba; each row is computed as
    ``D[i, j] = C_j + min_{k<=j}(m_k - C_{k-1})`` with ``C`` the cumulative row cost and
    ``m_k = min(D[i-1, k], D[i-1, k-1])``.
    """
    A = as_float_array(a, "a")
    B = as_float_array(b, "b")
    A = A[:, None] if A.ndim == 1 else A
    B = B[:, None] if B.ndim == 1 else B
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"a and b must be (n,) / (n, C) with equal C, got {np.shape(a)} and {np.shape(b)}")
    n, m = A.shape[0], B.shape[0]
    if n == 0 or m == 0:
        raise ValueError(f"a and b must be non-empty, got lengths {n} and {m}")
    if window is not None:
        window = int(window)
        if window < 0:
            raise ValueError(f"window={window} must be >= 0 or None")
    lo, hi = _band_limits(n, m, window)
    width = int((hi - lo).max()) + 1
    D = _dtw_band(np.ascontiguousarray(A), np.ascontiguousarray(B), lo, hi, width)
    cost = float(D[n - 1, (m - 1) - lo[n - 1]])
    if not np.isfinite(cost):  # pragma: no cover - band construction guarantees a path
        raise ValueError(f"no warping path inside window={window}")
    return _dtw_backtrack(D, lo, hi, m), cost


@njit(cache=True)
def _dtw_band(A, B, lo, hi, width):  # pragma: no cover - compiled by numba
    """Accumulated cost D (n, width) inside the band, row i holding columns lo[i]..hi[i]: per row
    ``D[i, j] = C_j + min_{k<=j}(m_k - (C_k - d_k))`` with ``C`` the cumulative row cost, ``d`` the
    local cost and ``m_k = min(D[i-1, k], D[i-1, k-1])`` (the same arithmetic, in the same order, as
    numpy's cumsum / minimum.accumulate of a row)."""
    n, nc = A.shape
    D = np.full((n, width), np.inf)
    for i in range(n):
        csum = 0.0
        run = np.inf
        for j in range(lo[i], hi[i] + 1):
            ss = 0.0
            for c in range(nc):
                e = A[i, c] - B[j, c]
                ss += e * e
            d = np.sqrt(ss)
            if i == 0:
                mk = 0.0 if (j == 0 and lo[0] == 0) else np.inf
            else:
                up = D[i - 1, j - lo[i - 1]] if lo[i - 1] <= j <= hi[i - 1] else np.inf
                dg = D[i - 1, j - 1 - lo[i - 1]] if lo[i - 1] <= j - 1 <= hi[i - 1] else np.inf
                mk = min(up, dg)
            csum = csum + d
            run = min(run, mk - (csum - d))
            D[i, j - lo[i]] = csum + run
    return D


@njit(cache=True)
def _dtw_backtrack(D, lo, hi, m):  # pragma: no cover - compiled by numba
    """Warping path (K, 2) from (n-1, m-1) back to (0, 0): each step takes the cheapest of the
    diagonal, upper and left neighbours (the first of them on ties)."""
    n = D.shape[0]
    path = np.empty((n + m, 2), dtype=np.int64)
    i, j = n - 1, m - 1
    k = n + m - 1
    path[k, 0], path[k, 1] = i, j
    while i > 0 or j > 0:
        best, bi, bj = np.inf, i - 1, j - 1
        if i > 0 and lo[i - 1] <= j - 1 <= hi[i - 1]:
            best = D[i - 1, j - 1 - lo[i - 1]]
        if i > 0 and lo[i - 1] <= j <= hi[i - 1] and D[i - 1, j - lo[i - 1]] < best:
            best, bi, bj = D[i - 1, j - lo[i - 1]], i - 1, j
        if j > 0 and lo[i] <= j - 1 <= hi[i] and D[i, j - 1 - lo[i]] < best:
            best, bi, bj = D[i, j - 1 - lo[i]], i, j - 1
        i, j = bi, bj
        k -= 1
        path[k, 0], path[k, 1] = i, j
    return path[k:].copy()


def refine_offset_dtw(
    ref_t,
    ref,
    sig_t,
    sig,
    offset_s: float,
    search_s: float = 0.05,
    fs_hz: float | None = None,
    trim: float = 0.1,
    fits: tuple[Resampler, Resampler] | None = None,
) -> float:
    """Refine a coarse clock offset with dynamic time warping.

    ``sig`` is shifted onto ``ref``'s clock with the coarse ``offset_s``; both are resampled on a
    common uniform grid over their overlap and z-scored; DTW (band ``search_s``) matches them. A
    path pair ``(i, j)`` says ref at grid time ``g[i]`` corresponds to the aligned sig at ``g[j]``,
    i.e. a residual offset ``(i - j) / fs``. A robust centre of the residuals along the path — the
    interquartile mean (mean of the middle 50 %, which unlike the plain median resolves fractions
    of a grid step) after dropping the first and last ``trim`` fraction of the path, where it is
    pinned to the corners — is added to ``offset_s``. Because DTW works in whole grid steps the
    default grid is 1000 Hz regardless of the input rates (typical error < 0.5 ms on smooth
    signals); cost is O(N * search_s * fs).

    Parameters
    ----------
    ref_t, ref, sig_t, sig
        As in :func:`estimate_offset_xcorr`.
    offset_s : float
        Coarse offset (add to ``sig_t``), e.g. from :func:`estimate_offset_xcorr`.
    search_s : float
        DTW band half-width in s: the largest correction considered.
    fs_hz : float, optional
        Common grid rate; default 1000 Hz (``MAX_GRID_HZ``).
    trim : float
        Fraction of the path dropped at each end, in [0, 0.45].
    fits : (Resampler, Resampler), optional
        :func:`signal_fits` of the same four arguments (shared with :func:`estimate_offset_xcorr`).

    Returns
    -------
    float
        Refined offset in s (same convention as ``offset_s``).
    """
    rf, sf = fits or signal_fits(ref_t, ref, sig_t, sig)
    rt, st = rf.t, sf.t
    offset_s = float(offset_s)
    search = check_positive(search_s, "search_s")
    trim = float(trim)
    if not 0.0 <= trim <= 0.45:
        raise ValueError(f"trim={trim} must be in [0, 0.45]")
    fs = MAX_GRID_HZ if fs_hz is None else check_positive(fs_hz, "fs_hz")
    t0 = max(rt[0], st[0] + offset_s)
    t1 = min(rt[-1], st[-1] + offset_s)
    if t1 - t0 < 4 * search:
        raise ValueError(
            f"overlap after applying offset_s={offset_s:g} is {max(t1 - t0, 0):.3f} s; need at least "
            f"4 * search_s = {4 * search:g} s"
        )
    grid = uniform_grid(t0, t1, fs)
    r, _ = rf(grid)
    s, _ = sf(grid - offset_s)
    r = _zscore(r)
    s = _zscore(s)
    window = max(1, int(np.ceil(search * fs)))
    path, _ = dtw_path(r, s, window=window)
    K = path.shape[0]
    cut = int(trim * K)
    core = path[cut : K - cut] if K - 2 * cut > 0 else path
    d = np.sort(core[:, 0] - core[:, 1]).astype(float)
    q = d.size // 4
    shift = float(d[q : d.size - q].mean() if d.size - 2 * q > 0 else np.median(d)) / fs
    return offset_s + shift
