"""Filtering, smoothing, outlier removal and force-plate drift correction.

Conventions
-----------
* Arrays are time-first (axis 0 = time) unless an ``axis`` argument says otherwise.
* Sampling rates are in Hz, durations in seconds, frequencies in Hz.
* All filters except :func:`exp_smooth` and the forward pass of
  :func:`kalman_rts_smooth` are zero-phase (non-causal, offline use).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit
from scipy import ndimage, signal

from ._checks import as_float_array, check_axis, check_fs_cutoff, check_positive

__all__ = [
    "butter_lowpass",
    "savgol",
    "exp_smooth",
    "kalman_rts_smooth",
    "iqr_outliers",
    "remove_outliers",
    "zero_drift_correct",
]


@lru_cache(maxsize=256)
def _butter_sos(order: int, cutoff_hz: float, fs_hz: float) -> np.ndarray:
    """Second-order sections of the Butterworth low-pass (designed once per setting: the service
    filters every request with the same few). Shared between calls: never modify it (scipy's
    sosfilt needs a writable array, so it is not flagged read-only)."""
    return signal.butter(order, cutoff_hz, btype="low", fs=fs_hz, output="sos")


@lru_cache(maxsize=256)
def _butter_zi(order: int, cutoff_hz: float, fs_hz: float) -> np.ndarray:
    """``scipy.signal.sosfilt_zi`` of :func:`_butter_sos` (n_sections, 2), computed once per setting
    (``sosfiltfilt`` recomputes it, a companion-matrix solve per section, on every call). Shared
    between calls: never modify it."""
    return signal.sosfilt_zi(_butter_sos(order, cutoff_hz, fs_hz))


def _sosfiltfilt(sos: np.ndarray, zi: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """``scipy.signal.sosfiltfilt(sos, x, axis=0, padtype="odd", padlen=padlen)`` with its initial
    state ``zi`` given: the same operations in the same order (odd extension, forward ``sosfilt``
    from ``zi * x[0]``, backward from ``zi * y[-1]``), so the result is bitwise equal
    (tests/test_serving_speedups.py)."""
    ext = np.concatenate((2 * x[:1] - x[padlen:0:-1], x, 2 * x[-1:] - x[-2:-(padlen + 2):-1]), axis=0)
    zi = zi.reshape((len(sos), 2) + (1,) * (x.ndim - 1))
    y, _ = signal.sosfilt(sos, ext, axis=0, zi=zi * ext[:1])
    y, _ = signal.sosfilt(sos, y[::-1], axis=0, zi=zi * y[-1:])
    return y[::-1][padlen:-padlen]


def butter_lowpass(x, fs_hz: float, cutoff_hz: float, order: int = 4, axis: int = 0) -> np.ndarray:
    """Zero-phase Butterworth low-pass filter.

    Designs a digital Butterworth filter of ``order`` as second-order sections and applies it
    forwards and backwards (``scipy.signal.sosfiltfilt``), so the effective magnitude response
    is squared (-6 dB at ``cutoff_hz``) and the phase lag is zero.

    Parameters
    ----------
    x : array_like
        Signal, any shape; filtered along ``axis`` (time, default 0). Must be finite.
    fs_hz : float
        Sampling rate in Hz.
    cutoff_hz : float
        Cut-off frequency in Hz, ``0 < cutoff_hz < fs_hz / 2``.
    order : int
        Filter order (per pass) >= 1.
    axis : int
        Time axis.

    Returns
    -------
    numpy.ndarray
        Filtered signal, same shape as ``x``, float64.

    Notes
    -----
    The signal is extended at both ends by odd reflection over
    ``padlen = max(3 * (2 * n_sections + 1), ceil(3 * fs_hz / cutoff_hz))`` samples (about three
    periods of the cut-off; scipy's default pad is much shorter and leaves visible edge transients
    at low cut-offs). Signals shorter than that use ``padlen = n - 1``. Signals with fewer than
    ``2 * order + 1`` samples are rejected with a ValueError because the transient would dominate.
    """
    x = as_float_array(x, "x")
    axis = check_axis(axis, x.ndim)
    fs, fc = check_fs_cutoff(fs_hz, cutoff_hz)
    order = int(order)
    if order < 1:
        raise ValueError(f"order={order} must be >= 1")
    n = x.shape[axis]
    min_len = 2 * order + 1
    if n < min_len:
        raise ValueError(
            f"x has {n} samples along axis {axis}; butter_lowpass of order={order} needs at least "
            f"{min_len} samples"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN/inf; fill gaps first (e.g. sigproc.gaps.resample_uniform or remove_outliers)")
    sos = _butter_sos(order, fc, fs)
    default_padlen = max(3 * (2 * len(sos) + 1), int(np.ceil(3.0 * fs / fc)))
    padlen = min(default_padlen, n - 1)
    y = _sosfiltfilt(sos, _butter_zi(order, fc, fs), np.moveaxis(x, axis, 0), padlen)
    return np.moveaxis(y, 0, axis)


def _odd_window(window_s: float, fs_hz: float) -> int:
    """Convert a window length in seconds to an odd sample count (rounded, at least 1)."""
    n = int(round(window_s * fs_hz))
    if n % 2 == 0:
        n += 1
    return max(n, 1)


def savgol(x, fs_hz: float, window_s: float, polyorder: int = 3, deriv: int = 0, axis: int = 0) -> np.ndarray:
    """Savitzky-Golay smoothing / differentiation.

    Parameters
    ----------
    x : array_like
        Signal, time along ``axis``.
    fs_hz : float
        Sampling rate in Hz.
    window_s : float
        Window length in seconds; converted to ``round(window_s * fs_hz)`` samples and bumped to
        the next odd number. Must give more than ``polyorder`` samples and at most the signal length.
    polyorder : int
        Order of the local polynomial.
    deriv : int
        Derivative order. ``deriv > 0`` returns the derivative in (units of x) / s**deriv.
    axis : int
        Time axis.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    x = as_float_array(x, "x")
    axis = check_axis(axis, x.ndim)
    fs = check_positive(fs_hz, "fs_hz")
    check_positive(window_s, "window_s")
    polyorder = int(polyorder)
    deriv = int(deriv)
    if polyorder < 0:
        raise ValueError(f"polyorder={polyorder} must be >= 0")
    if deriv < 0 or deriv > polyorder:
        raise ValueError(f"deriv={deriv} must be between 0 and polyorder={polyorder}")
    win = _odd_window(window_s, fs)
    if win <= polyorder:
        raise ValueError(
            f"window_s={window_s:g} gives {win} samples at fs_hz={fs:g}; need more than polyorder={polyorder}"
        )
    n = x.shape[axis]
    if win > n:
        raise ValueError(f"window_s={window_s:g} gives {win} samples, longer than the signal ({n} samples)")
    return signal.savgol_filter(x, win, polyorder, deriv=deriv, delta=1.0 / fs, axis=axis, mode="interp")


def exp_smooth(x, alpha: float = 0.6, axis: int = 0) -> np.ndarray:
    """Causal exponential smoothing ``y_t = alpha * x_t + (1 - alpha) * y_{t-1}``.

    The filter is initialised with ``y_{-1} = x_0`` so ``y_0 = x_0`` and a constant signal is
    returned unchanged. ``alpha = 1`` is the identity; smaller ``alpha`` smooths more
    (the TCN+GAT paper uses 0.6). Introduces a lag of ``(1 - alpha) / alpha`` samples.

    Parameters
    ----------
    x : array_like
        Signal, time along ``axis``.
    alpha : float
        Smoothing factor in (0, 1].
    axis : int
        Time axis.
    """
    x = as_float_array(x, "x")
    axis = check_axis(axis, x.ndim)
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must be in (0, 1]")
    if x.shape[axis] == 0:
        return x.copy()
    b = np.array([alpha])
    a = np.array([1.0, -(1.0 - alpha)])
    x0 = np.take(x, [0], axis=axis)  # keeps a length-1 time axis, as lfilter expects for zi
    zi = (1.0 - alpha) * x0
    y, _ = signal.lfilter(b, a, x, axis=axis, zi=zi)
    return y


def kalman_rts_smooth(
    x,
    fs_hz: float,
    process_noise: float,
    measurement_noise: float,
    axis: int = 0,
    return_velocity: bool = False,
):
    """Constant-velocity Kalman filter + Rauch-Tung-Striebel smoother, independently per channel.

    State per channel is ``[position, velocity]`` with the continuous white-noise-acceleration
    model: ``F = [[1, dt], [0, 1]]``, ``Q = q * [[dt^3/3, dt^2/2], [dt^2/2, dt]]``, and a direct
    position measurement with variance ``r``. NaN samples are treated as missing measurements
    (prediction only), so the smoother also bridges short gaps.

    Parameters
    ----------
    x : array_like
        Measurements, time along ``axis``; all other axes are independent channels.
    fs_hz : float
        Sampling rate in Hz (``dt = 1 / fs_hz``).
    process_noise : float
        ``q``: spectral density of the acceleration noise, in (units/s^2)^2 / Hz = units^2 / s^3.
        Larger values follow the data more closely.
    measurement_noise : float
        ``r``: measurement noise variance in units^2.
    axis : int
        Time axis.
    return_velocity : bool
        If True, also return the smoothed velocity (units/s).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        Smoothed positions (same shape as ``x``), and velocities if requested. Channels with no
        finite sample are returned as NaN.
    """
    x = as_float_array(x, "x")
    axis = check_axis(axis, x.ndim)
    fs = check_positive(fs_hz, "fs_hz")
    q = check_positive(process_noise, "process_noise")
    r = check_positive(measurement_noise, "measurement_noise")
    dt = 1.0 / fs

    xm = np.moveaxis(x, axis, 0)
    shape = xm.shape
    T = shape[0]
    z = xm.reshape(T, -1)
    C = z.shape[1]
    if T == 0:
        return (x.copy(), x.copy()) if return_velocity else x.copy()

    Q00, Q01, Q11 = q * dt**3 / 3.0, q * dt**2 / 2.0, q * dt
    finite = np.isfinite(z)
    # Initial state: first finite measurement, zero velocity, diffuse velocity prior.
    first_idx = np.where(finite.any(axis=0), finite.argmax(axis=0), 0)
    p = np.where(finite.any(axis=0), z[first_idx, np.arange(C)], 0.0)
    v = np.zeros(C)
    P00 = np.full(C, r)
    P01 = np.zeros(C)
    P11 = np.full(C, 1e6 * r / dt**2)
    # Before the first measurement we start at that measurement: treat it as time of init.

    ps, vs = _kalman_rts_loops(np.ascontiguousarray(z), finite, dt, r, Q00, Q01, Q11, p, v, P00, P01, P11)
    empty = ~finite.any(axis=0)
    ps[:, empty] = np.nan
    vs[:, empty] = np.nan
    pos = np.moveaxis(ps.reshape(shape), 0, axis)
    if return_velocity:
        return pos, np.moveaxis(vs.reshape(shape), 0, axis)
    return pos


def iqr_outliers(x, k: float = 1.5, axis: int = 0) -> np.ndarray:
    """Boolean outlier mask from Tukey fences, per channel.

    A sample is an outlier if it lies outside ``[Q1 - k * IQR, Q3 + k * IQR]``, where the quartiles
    are computed along ``axis`` (time) separately for every other index (channel), ignoring NaN.
    NaN samples are never flagged (they are missing, not outliers).

    Returns
    -------
    numpy.ndarray of bool, same shape as ``x``.
    """
    x = as_float_array(x, "x")
    axis = check_axis(axis, x.ndim)
    k = float(k)
    if not k >= 0:
        raise ValueError(f"k={k} must be >= 0")
    # np.percentile computes the same quartiles as np.nanpercentile when there is no NaN, vectorised
    # (nanpercentile runs a Python-level loop over the channels)
    quartiles = np.nanpercentile if np.isnan(x).any() else np.percentile
    q1, q3 = quartiles(x, [25.0, 75.0], axis=axis, keepdims=True)
    iqr = q3 - q1
    with np.errstate(invalid="ignore"):
        return (x < q1 - k * iqr) | (x > q3 + k * iqr)


def _rolling_fences(x2: np.ndarray, k: float, window: int) -> np.ndarray:
    """Outlier mask with quartiles over a centred window of ``window`` samples (x2 is (T, C)).

    Uses ``scipy.ndimage.percentile_filter`` (rank-based quartiles, reflected edges). NaNs are
    linearly interpolated for the quartile computation only and never flagged.
    """
    filled = x2.copy()
    t = np.arange(x2.shape[0], dtype=float)
    for c in range(x2.shape[1]):
        bad = ~np.isfinite(x2[:, c])
        if bad.all():
            filled[:, c] = 0.0
        elif bad.any():
            filled[bad, c] = np.interp(t[bad], t[~bad], x2[~bad, c])
    q1 = ndimage.percentile_filter(filled, 25, size=(window, 1), mode="reflect")
    q3 = ndimage.percentile_filter(filled, 75, size=(window, 1), mode="reflect")
    iqr = q3 - q1
    with np.errstate(invalid="ignore"):
        return (x2 < q1 - k * iqr) | (x2 > q3 + k * iqr)


def remove_outliers(x, k: float = 1.5, window: int | None = None):
    """Detect outliers with Tukey fences and replace them by linear interpolation over time.

    Parameters
    ----------
    x : array_like
        Signal, time on axis 0; any trailing channel axes.
    k : float
        Fence multiplier (1.5 = Tukey's "outlier", 3 = "far out").
    window : int or None
        If None, fences use the quartiles of the whole channel (as in the IMU paper). If an int
        (samples, >= 4), fences are computed over a centred rolling window, which keeps legitimate
        large but slow excursions and only flags local spikes.

    Returns
    -------
    cleaned : numpy.ndarray
        Copy of ``x`` with outliers (and NaN samples) replaced by linear interpolation between the
        neighbouring valid samples of the same channel (edge values held at the ends).
    mask : numpy.ndarray of bool
        True where a sample was flagged as an outlier (NaNs are not flagged but are filled).
    """
    x = as_float_array(x, "x")
    T = x.shape[0]
    x2 = x.reshape(T, -1)
    if window is None:
        mask2 = iqr_outliers(x2, k=k, axis=0)
    else:
        window = int(window)
        if window < 4:
            raise ValueError(f"window={window} must be >= 4 samples (or None for global fences)")
        if window > T:
            raise ValueError(f"window={window} is longer than the signal ({T} samples)")
        mask2 = _rolling_fences(x2, float(k), window)
    cleaned = x2.copy()
    t = np.arange(T, dtype=float)
    for c in range(x2.shape[1]):
        bad = mask2[:, c] | ~np.isfinite(x2[:, c])
        if bad.any() and (~bad).any():
            cleaned[bad, c] = np.interp(t[bad], t[~bad], x2[~bad, c])
    return cleaned.reshape(x.shape), mask2.reshape(x.shape)


def zero_drift_correct(
    force,
    fs_hz: float,
    unloaded_threshold_n: float = 20.0,
    order: int = 1,
    vertical_channel: int | None = None,
    guard_s: float = 0.02,
    min_span_s: float = 0.1,
):
    """Remove force-plate offset + slow drift estimated from unloaded samples.

    When nobody stands on the plate (flight phases, before/after contact) each channel reads only
    ``offset + drift(t) + noise``. A polynomial of ``order`` in time (default linear) is fitted to
    the unloaded samples of each channel and subtracted from the whole channel.

    Parameters
    ----------
    force : array_like, shape (T, C) or (T,)
        Forces in N, time first.
    fs_hz : float
        Sampling rate in Hz (used for the time axis of the fit; coefficients are in N and N/s).
    unloaded_threshold_n : float
        A sample is "unloaded" when ``|F| < unloaded_threshold_n`` (N).
    order : int
        Drift polynomial order (0 = constant offset, 1 = linear drift).
    vertical_channel : int or None
        If given, the unloaded mask is computed from ``|force[:, vertical_channel]|`` (typically Fz)
        and used for every channel (shear channels are small even under load). In this project's
        Y-up ground frame that is the ``*_ground_force_vy`` column. If None, each channel uses its
        own magnitude. Pass force (and free-moment) columns only: centre-of-pressure columns are
        undefined when unloaded and must not be drift-corrected.
    guard_s : float
        Samples within ``guard_s`` seconds of a loaded sample are not used for the fit (excludes the
        low-force tails of contact onsets/offsets, which are load, not drift). 0 disables.
    min_span_s : float
        The drift's time terms (order >= 1) are fitted only when the unloaded samples span at least
        ``min_span_s`` seconds; otherwise only the constant offset is removed. A slope fitted to a
        few samples close together (a foot that leaves the plate for a millisecond) extrapolates
        to kilonewtons over a trial.

    Returns
    -------
    corrected : numpy.ndarray
        Same shape as ``force``.
    info : dict
        ``"corrected"`` (C,) bool, whether the channel was corrected;
        ``"n_unloaded"`` (C,) int, number of unloaded samples used;
        ``"coef"`` (C, order+1) drift polynomial coefficients, highest power first
        (``numpy.polyval`` convention, time in s from the first sample), NaN if not corrected;
        ``"unloaded_mask"`` (T, C) bool;
        ``"message"`` str, human-readable summary (e.g. which channels had no unloaded samples).
    """
    f = as_float_array(force, "force")
    if f.ndim > 2:
        raise ValueError(f"force must have shape (T,) or (T, C), got {f.shape}")
    fs = check_positive(fs_hz, "fs_hz")
    thr = check_positive(unloaded_threshold_n, "unloaded_threshold_n")
    order = int(order)
    if order < 0:
        raise ValueError(f"order={order} must be >= 0")
    one_d = f.ndim == 1
    f2 = f[:, None] if one_d else f
    T, C = f2.shape
    if vertical_channel is not None and not -C <= vertical_channel < C:
        raise ValueError(f"vertical_channel={vertical_channel} is out of range for {C} channel(s)")
    t = np.arange(T) / fs
    with np.errstate(invalid="ignore"):
        if vertical_channel is None:
            unloaded = np.abs(f2) < thr
        else:
            unloaded = np.repeat((np.abs(f2[:, vertical_channel]) < thr)[:, None], C, axis=1)
    unloaded &= np.isfinite(f2)
    guard_s = float(guard_s)
    if not guard_s >= 0:
        raise ValueError(f"guard_s={guard_s} must be >= 0")
    if not float(min_span_s) >= 0:
        raise ValueError(f"min_span_s={min_span_s} must be >= 0")
    g = int(round(guard_s * fs))
    if g > 0:
        loaded = ~unloaded
        struct = np.ones((2 * g + 1, 1), dtype=bool)
        unloaded &= ~ndimage.binary_dilation(loaded, structure=struct)

    out = f2.copy()
    coef = np.full((C, order + 1), np.nan)
    corrected = np.zeros(C, dtype=bool)
    n_unl = unloaded.sum(axis=0)
    skipped = []
    for c in range(C):
        m = unloaded[:, c]
        # need more distinct samples than parameters for a meaningful fit
        if n_unl[c] <= order:
            skipped.append(c)
            continue
        deg = order if np.ptp(t[m]) >= min_span_s and np.ptp(t[m]) > 0 else 0
        p = np.polyfit(t[m], f2[m, c], deg)
        p = np.concatenate([np.zeros(order - deg), p])
        coef[c] = p
        out[:, c] = f2[:, c] - np.polyval(p, t)
        corrected[c] = True
    if skipped:
        msg = (
            f"no/too few unloaded samples (|F| < {thr:g} N, need > {order}) in channel(s) {skipped}; "
            "those channels are returned unchanged"
        )
    else:
        msg = f"corrected {C} channel(s) with an order-{order} drift fit"
    info = {
        "corrected": corrected,
        "n_unloaded": n_unl,
        "coef": coef,
        "unloaded_mask": unloaded[:, 0] if one_d else unloaded,
        "message": msg,
    }
    return (out[:, 0] if one_d else out), info


@njit(cache=True)
def _kalman_rts_loops(z, finite, dt, r, Q00, Q01, Q11, p, v, P00, P01, P11):  # pragma: no cover - numba
    """Forward Kalman filter and backward RTS pass of :func:`kalman_rts_smooth`, per channel
    (the element-wise arithmetic of the vectorised form, in the same order, compiled)."""
    T, C = z.shape
    ps = np.empty((T, C))
    vs = np.empty((T, C))
    pf = np.empty((T, C))
    vf = np.empty((T, C))
    pp = np.empty((T, C))
    vp = np.empty((T, C))
    Pf = np.empty((T, 3, C))
    Pp = np.empty((T, 3, C))
    for c in range(C):
        pc, vc, a00, a01, a11 = p[c], v[c], P00[c], P01[c], P11[c]
        for k in range(T):
            if k > 0:
                pc = pc + dt * vc
                n00 = a00 + 2.0 * dt * a01 + dt * dt * a11 + Q00
                n01 = a01 + dt * a11 + Q01
                n11 = a11 + Q11
                a00, a01, a11 = n00, n01, n11
            pp[k, c], vp[k, c] = pc, vc
            Pp[k, 0, c], Pp[k, 1, c], Pp[k, 2, c] = a00, a01, a11
            any_finite = False
            for cc in range(C):
                if finite[k, cc]:
                    any_finite = True
                    break
            if any_finite:
                S = a00 + r
                K0 = a00 / S
                K1 = a01 / S
                innov = z[k, c] - pc if finite[k, c] else 0.0
                if not finite[k, c]:
                    K0 = 0.0
                    K1 = 0.0
                pc = pc + K0 * innov
                vc = vc + K1 * innov
                n00 = (1.0 - K0) * a00
                n01 = (1.0 - K0) * a01
                n11 = a11 - K1 * a01
                a00, a01, a11 = n00, n01, n11
            pf[k, c], vf[k, c] = pc, vc
            Pf[k, 0, c], Pf[k, 1, c], Pf[k, 2, c] = a00, a01, a11
        ps[T - 1, c], vs[T - 1, c] = pf[T - 1, c], vf[T - 1, c]
        for k in range(T - 2, -1, -1):
            f00, f01, f11 = Pf[k, 0, c], Pf[k, 1, c], Pf[k, 2, c]
            b00, b01, b11 = Pp[k + 1, 0, c], Pp[k + 1, 1, c], Pp[k + 1, 2, c]
            m00 = f00 + dt * f01
            m01 = f01
            m10 = f01 + dt * f11
            m11 = f11
            det = b00 * b11 - b01 * b01
            i00, i01, i11 = b11 / det, -b01 / det, b00 / det
            g00 = m00 * i00 + m01 * i01
            g01 = m00 * i01 + m01 * i11
            g10 = m10 * i00 + m11 * i01
            g11 = m10 * i01 + m11 * i11
            dp = ps[k + 1, c] - pp[k + 1, c]
            dv = vs[k + 1, c] - vp[k + 1, c]
            ps[k, c] = pf[k, c] + g00 * dp + g01 * dv
            vs[k, c] = vf[k, c] + g10 * dp + g11 * dv
    return ps, vs
