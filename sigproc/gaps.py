"""Gap detection and resampling of irregularly sampled / gappy streams onto uniform grids.

Timestamps ``t`` are in seconds, strictly increasing, shape (T,). Data arrays are time-first,
shape (T,) or (T, ...).
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate

from ._checks import as_float_array, check_positive

__all__ = ["check_timestamps", "find_gaps", "uniform_grid", "resample_uniform", "Resampler", "nominal_period"]


def check_timestamps(t, name: str = "t") -> np.ndarray:
    """Return ``t`` as a 1-D float array, raising ValueError if not finite and strictly increasing."""
    t = as_float_array(t, name)
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D (T,), got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} contains NaN/inf timestamps")
    if t.size > 1:
        d = np.diff(t)
        bad = np.flatnonzero(d <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise ValueError(
                f"{name} must be strictly increasing: {name}[{i}]={float(t[i])!r} <= {name}[{i - 1}]={float(t[i - 1])!r} "
                f"({bad.size} non-increasing step(s)); sort and de-duplicate first"
            )
    return t


def nominal_period(t) -> float:
    """Median sampling interval of timestamps ``t`` in seconds (robust to gaps)."""
    t = check_timestamps(t)
    if t.size < 2:
        raise ValueError(f"t needs at least 2 samples to estimate a sampling period, got {t.size}")
    return float(np.median(np.diff(t)))


def find_gaps(t, nominal_hz: float, tol: float = 0.5) -> np.ndarray:
    """Locate gaps (dropped samples) in a timestamp vector.

    A gap follows sample ``i`` when ``t[i+1] - t[i] > (1 + tol) / nominal_hz``.

    Parameters
    ----------
    t : array_like, shape (T,)
        Strictly increasing timestamps in s.
    nominal_hz : float
        Nominal sampling rate in Hz.
    tol : float
        Relative tolerance on the sampling interval (0.5 = 50 % jitter allowed).

    Returns
    -------
    numpy.ndarray of int, shape (G, 2)
        Rows ``(start_index, n_missing)``: ``start_index`` is the last real sample before the gap
        and ``n_missing = max(1, round(dt * nominal_hz) - 1)`` the estimated number of dropped
        samples.
    """
    t = check_timestamps(t)
    fs = check_positive(nominal_hz, "nominal_hz")
    tol = float(tol)
    if not tol >= 0:
        raise ValueError(f"tol={tol} must be >= 0")
    if t.size < 2:
        return np.zeros((0, 2), dtype=int)
    d = np.diff(t)
    idx = np.flatnonzero(d > (1.0 + tol) / fs)
    n_missing = np.maximum(1, np.rint(d[idx] * fs).astype(int) - 1)
    return np.stack([idx, n_missing], axis=1).astype(int)


def uniform_grid(t_start: float, t_stop: float, fs_hz: float) -> np.ndarray:
    """Uniform time grid ``t_start + k / fs_hz`` covering ``[t_start, t_stop]`` (inclusive within 1e-9 s)."""
    fs = check_positive(fs_hz, "fs_hz")
    if not t_stop >= t_start:
        raise ValueError(f"t_stop={t_stop!r} must be >= t_start={t_start!r}")
    n = int(np.floor((t_stop - t_start) * fs + 1e-9)) + 1
    return t_start + np.arange(n) / fs


_KINDS = ("cubic", "linear", "pchip", "akima")


def resample_uniform(t, x, t_new, kind: str = "cubic", nominal_hz: float | None = None):
    """Interpolate samples ``x`` taken at ``t`` onto new times ``t_new``.

    Parameters
    ----------
    t : array_like, shape (T,)
        Strictly increasing sample times in s.
    x : array_like, shape (T,) or (T, ...)
        Samples, time first. Rows containing any NaN/inf are dropped before interpolation
        (they are treated as missing, so they also count as gaps).
    t_new : array_like, shape (N,)
        Query times in s (typically a uniform grid, see :func:`uniform_grid`).
    kind : {"cubic", "linear", "pchip", "akima"}
        ``"cubic"``: not-a-knot cubic spline (``scipy.interpolate.make_interp_spline`` with k=3, one
        fit over all channels: the same interpolant as ``CubicSpline``'s not-a-knot spline, to
        rounding, at a fraction of its set-up cost); ``"pchip"`` and
        ``"akima"`` are shape-preserving (no overshoot); ``"linear"`` is piecewise linear.
    nominal_hz : float, optional
        Nominal rate of the input; default ``1 / median(diff(t))``.

    Returns
    -------
    x_new : numpy.ndarray, shape (N, ...)
        Interpolated values. Query times before/after the data are extrapolated by the
        interpolant for up to one nominal period, and beyond that hold the first/last value.
    filled_mask : numpy.ndarray of bool, shape (N,)
        True where the new sample is farther than one nominal period from every real (finite)
        input sample, i.e. it lies inside a gap or outside the data; those values are synthesised.
    """
    return Resampler(t, x, kind, nominal_hz)(t_new)


class Resampler:
    """The interpolant of :func:`resample_uniform` fitted once, evaluated at several sets of query
    times (``Resampler(t, x)(t_new)`` is ``resample_uniform(t, x, t_new)``, bit for bit): the clock
    synchronisation evaluates the same fit on a cross-correlation grid and a DTW grid.
    ``t`` and ``x`` (the checked inputs) are kept as attributes."""

    def __init__(self, t, x, kind: str = "cubic", nominal_hz: float | None = None):
        t = check_timestamps(t)
        x = as_float_array(x, "x")
        if x.shape[0] != t.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples along axis 0 but t has {t.shape[0]}")
        if kind not in _KINDS:
            raise ValueError(f"kind={kind!r} must be one of {_KINDS}")
        self.t, self.x = t, x
        self.period = nominal_period(t) if nominal_hz is None else 1.0 / check_positive(nominal_hz, "nominal_hz")
        good = np.all(np.isfinite(x.reshape(x.shape[0], -1)), axis=1)
        tg, xg = t[good], x[good]
        min_pts = {"cubic": 4, "linear": 2, "pchip": 2, "akima": 3}[kind]
        if tg.size < min_pts:
            raise ValueError(f"kind={kind!r} needs at least {min_pts} finite samples, got {tg.size}")
        if kind == "cubic":
            # not-a-knot, extrapolates; tg / xg are finite already (checked above), so scipy's second
            # finiteness pass over the data and the collocation matrix is skipped (the same solve)
            self.f = interpolate.make_interp_spline(tg, xg, k=3, axis=0, check_finite=False)
        elif kind == "pchip":
            self.f = interpolate.PchipInterpolator(tg, xg, axis=0, extrapolate=True)
        elif kind == "akima":
            self.f = interpolate.Akima1DInterpolator(tg, xg, axis=0, extrapolate=True)
        else:
            self.f = interpolate.make_interp_spline(tg, xg, k=1, axis=0, check_finite=False)
        self.tg, self.xg = tg, xg

    def __call__(self, t_new) -> tuple[np.ndarray, np.ndarray]:
        """(x_new, filled_mask) at ``t_new`` (see :func:`resample_uniform`)."""
        t_new = as_float_array(t_new, "t_new")
        if t_new.ndim != 1:
            raise ValueError(f"t_new must be 1-D, got shape {t_new.shape}")
        tg, xg, period = self.tg, self.xg, self.period
        # distance from each query to the nearest real sample
        pos = np.searchsorted(tg, t_new)
        left = np.abs(t_new - tg[np.clip(pos - 1, 0, tg.size - 1)])
        right = np.abs(tg[np.clip(pos, 0, tg.size - 1)] - t_new)
        dist = np.minimum(left, right)
        filled = dist > period * (1.0 + 1e-9)

        tq = np.clip(t_new, tg[0] - period, tg[-1] + period)
        x_new = np.asarray(self.f(tq))
        before = t_new < tg[0] - period
        after = t_new > tg[-1] + period
        if before.any():
            x_new[before] = xg[0]
        if after.any():
            x_new[after] = xg[-1]
        return x_new, filled
