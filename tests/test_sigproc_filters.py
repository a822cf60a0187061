"""Tests for sigproc.filters: clean signals pass, known noise is removed."""

import numpy as np
import pytest

from sigproc.filters import (
    butter_lowpass,
    exp_smooth,
    iqr_outliers,
    kalman_rts_smooth,
    remove_outliers,
    savgol,
    zero_drift_correct,
)

FS = 1000.0


def _t(n=2000, fs=FS):
    return np.arange(n) / fs


def _db(ratio):
    return 20 * np.log10(ratio)


def _amp(x, t, f):
    """Amplitude of the f-Hz component (least squares on sin/cos)."""
    A = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
    coef, *_ = np.linalg.lstsq(A, x, rcond=None)
    return float(np.hypot(*coef))


# ---------------------------------------------------------------- butter_lowpass
def test_butter_passes_2hz_and_attenuates_80hz():
    t = _t()
    clean = np.sin(2 * np.pi * 2 * t)
    noisy = clean + 0.5 * np.sin(2 * np.pi * 80 * t)
    y = butter_lowpass(noisy, FS, 20.0)
    inner = slice(100, -100)
    assert np.max(np.abs(butter_lowpass(clean, FS, 20.0) - clean)) < 1e-3  # zero phase, unit gain
    assert np.max(np.abs(y[inner] - clean[inner])) < 2e-3
    att = _db(_amp(y - clean, t, 80) / 0.5)
    assert att < -40  # 4th order x2 passes: > 40 dB at 4x cutoff


def test_butter_white_noise_variance_reduction_and_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 3))
    y = butter_lowpass(x, FS, 50.0)
    # ideal brick-wall would keep 50/500 = 10 % of the variance; Butterworth^2 ~ same
    ratio = y.var() / x.var()
    assert 0.06 < ratio < 0.14
    # axis argument: same result when time is the last axis
    y2 = butter_lowpass(x.T, FS, 50.0, axis=-1)
    np.testing.assert_allclose(y2.T, y, atol=1e-12)


def test_butter_short_signal_and_errors():
    x = np.ones(12)
    np.testing.assert_allclose(butter_lowpass(x, FS, 20.0), x, atol=1e-9)  # reduced padlen
    with pytest.raises(ValueError, match="at least 9 samples"):
        butter_lowpass(np.ones(5), FS, 20.0)
    with pytest.raises(ValueError, match=r"cutoff_hz=600 must be below Nyquist \(fs_hz/2 = 500\)"):
        butter_lowpass(np.ones(100), FS, 600)
    with pytest.raises(ValueError, match="NaN"):
        butter_lowpass(np.r_[np.ones(50), np.nan], FS, 20)


# ---------------------------------------------------------------- savgol
def test_savgol_smooths_and_differentiates():
    t = _t()
    clean = np.sin(2 * np.pi * 2 * t)
    y = savgol(clean, FS, window_s=0.05)
    assert np.max(np.abs(y - clean)) < 1e-4
    noisy = clean + 0.5 * np.sin(2 * np.pi * 80 * t)
    y = savgol(noisy, FS, window_s=0.05)
    assert _db(_amp(y - clean, t, 80) / 0.5) < -20
    d = savgol(clean, FS, window_s=0.05, deriv=1)
    d_true = 2 * np.pi * 2 * np.cos(2 * np.pi * 2 * t)
    assert np.max(np.abs(d - d_true)) / (4 * np.pi) < 1e-3  # units/s
    d2 = savgol(clean, FS, window_s=0.05, deriv=2)
    assert np.max(np.abs(d2[50:-50] + (4 * np.pi) ** 2 * clean[50:-50])) / (4 * np.pi) ** 2 < 1e-2


def test_savgol_white_noise_and_errors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5000)
    assert savgol(x, FS, 0.051, polyorder=3).var() < 0.15 * x.var()
    with pytest.raises(ValueError, match="polyorder"):
        savgol(x, FS, window_s=0.003, polyorder=3)
    with pytest.raises(ValueError, match="longer than the signal"):
        savgol(x[:10], FS, window_s=0.05)


# ---------------------------------------------------------------- exp_smooth
def test_exp_smooth_constant_unchanged_and_recursion():
    x = np.full((50, 2), 3.7)
    np.testing.assert_allclose(exp_smooth(x, 0.6), x, atol=1e-12)
    rng = np.random.default_rng(2)
    z = rng.standard_normal(30)
    y = exp_smooth(z, 0.6)
    ref = np.empty_like(z)
    ref[0] = z[0]
    for i in range(1, z.size):
        ref[i] = 0.6 * z[i] + 0.4 * ref[i - 1]
    np.testing.assert_allclose(y, ref, atol=1e-12)
    np.testing.assert_allclose(exp_smooth(z[None, :], 0.6, axis=1)[0], ref, atol=1e-12)


def test_exp_smooth_noise_reduction():
    rng = np.random.default_rng(3)
    z = rng.standard_normal(20000)
    # stationary variance of an EMA on white noise: alpha / (2 - alpha)
    ratio = exp_smooth(z, 0.6).var() / z.var()
    assert abs(ratio - 0.6 / 1.4) < 0.03
    t = _t(4000)
    slow = np.sin(2 * np.pi * 1 * t)
    assert np.max(np.abs(exp_smooth(slow, 0.6)[10:] - slow[10:])) < 0.01  # lag 0.67 samples
    with pytest.raises(ValueError, match="alpha=0"):
        exp_smooth(z, 0.0)


# ---------------------------------------------------------------- kalman
def test_kalman_rts_keeps_clean_and_reduces_noise():
    fs = 200.0
    t = np.arange(1000) / fs
    clean = np.stack([np.sin(2 * np.pi * 1 * t), 0.5 * np.cos(2 * np.pi * 0.5 * t)], axis=1)
    rng = np.random.default_rng(4)
    noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    y, v = kalman_rts_smooth(noisy, fs, process_noise=50.0, measurement_noise=0.05**2, return_velocity=True)
    err_in = np.sqrt(np.mean((noisy - clean) ** 2))
    err_out = np.sqrt(np.mean((y - clean) ** 2))
    assert err_out < 0.4 * err_in
    v_true = 2 * np.pi * np.cos(2 * np.pi * t)
    assert np.sqrt(np.mean((v[20:-20, 0] - v_true[20:-20]) ** 2)) < 0.15 * np.std(v_true)
    # noise-free input comes back nearly unchanged
    y0 = kalman_rts_smooth(clean, fs, process_noise=50.0, measurement_noise=0.05**2)
    assert np.max(np.abs(y0 - clean)) < 5e-3


def test_kalman_bridges_nan_gap():
    fs = 100.0
    t = np.arange(300) / fs
    clean = np.sin(2 * np.pi * 0.5 * t)
    x = clean.copy()
    x[140:150] = np.nan
    y = kalman_rts_smooth(x, fs, process_noise=1.0, measurement_noise=1e-4)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y[140:150] - clean[140:150])) < 0.01
    allnan = np.full((10, 2), np.nan)
    allnan[:, 1] = 1.0
    out = kalman_rts_smooth(allnan, fs, 1.0, 1.0)
    assert np.all(np.isnan(out[:, 0])) and np.allclose(out[:, 1], 1.0)


# ---------------------------------------------------------------- outliers
def test_iqr_outliers_and_remove_outliers_find_spikes():
    rng = np.random.default_rng(5)
    t = _t(2000, 100.0)
    x = np.stack([np.sin(2 * np.pi * 0.3 * t), np.cos(2 * np.pi * 0.2 * t)], 1) + 0.01 * rng.standard_normal((2000, 2))
    spikes = [(100, 0), (700, 1), (1500, 0)]
    dirty = x.copy()
    for i, c in spikes:
        dirty[i, c] += 8.0
    m = iqr_outliers(dirty)
    assert m.sum() == len(spikes)
    assert all(m[i, c] for i, c in spikes)
    cleaned, mask = remove_outliers(dirty)
    np.testing.assert_array_equal(mask, m)
    assert np.max(np.abs(cleaned - x)) < 0.05


def test_remove_outliers_rolling_window():
    rng = np.random.default_rng(6)
    t = np.arange(3000) / 100.0
    base = 5 * np.sin(2 * np.pi * 0.05 * t) + 0.05 * rng.standard_normal(t.size)  # big slow excursions
    dirty = base.copy()
    idx = [400, 1200, 2600]
    dirty[idx] += [1.5, -1.5, 1.5]  # small relative to the range: global fences miss them
    assert not iqr_outliers(dirty)[idx].any()
    cleaned, mask = remove_outliers(dirty, k=3.0, window=51)
    assert mask[idx].all()
    assert mask.sum() <= 10
    assert np.max(np.abs(cleaned[idx] - base[idx])) < 0.2


# ---------------------------------------------------------------- drift
def test_zero_drift_removes_linear_drift():
    fs = 1000.0
    T = 3000
    t = np.arange(T) / fs
    rng = np.random.default_rng(7)
    fz = np.zeros(T)
    contact = (t > 0.8) & (t < 2.2)
    fz[contact] = 800 * np.sin(np.pi * (t[contact] - 0.8) / 1.4)
    drift = np.stack([5.0 + 3.0 * t, -2.0 + 1.0 * t], axis=1)
    true = np.stack([fz, 0.05 * fz], axis=1)
    meas = true + drift + 0.5 * rng.standard_normal((T, 2))
    out, info = zero_drift_correct(meas, fs, unloaded_threshold_n=20.0, vertical_channel=0)
    assert info["corrected"].all()
    np.testing.assert_allclose(info["coef"][0], [3.0, 5.0], atol=0.05)
    resid = out - true
    assert np.max(np.abs(resid.mean(axis=0))) < 0.1
    assert np.max(np.abs(np.polyfit(t, resid[:, 0], 1))) < 0.1  # no remaining trend
    before = np.abs((meas - true)[-200:].mean(axis=0))
    after = np.abs(resid[-200:].mean(axis=0))
    assert np.all(after < 0.05 * before)


def test_zero_drift_no_unloaded_samples():
    f = np.full((100, 1), 700.0)
    out, info = zero_drift_correct(f, 1000.0)
    np.testing.assert_array_equal(out, f)
    assert not info["corrected"].any() and info["n_unloaded"][0] == 0
    assert "unchanged" in info["message"]
    out1, info1 = zero_drift_correct(np.r_[np.zeros(10), np.full(10, 500.0)] + 2.0, 100.0)
    assert out1.shape == (20,) and abs(out1[:10].mean()) < 1e-9


def test_zero_drift_slope_needs_a_span_of_unloaded_samples():
    """A plate loaded the whole trial but for two samples at its start (a lunge's rear foot): a
    slope fitted to two samples 1 ms apart extrapolates to hundreds of newtons; the fit falls back
    to the constant offset and the load stays what the plate read."""
    fs = 1000.0
    t = np.arange(3000) / fs
    load = np.full_like(t, 250.0)
    load[:2] = [0.0, 3.0]  # the two near-zero samples (unguarded: at the record's start)
    meas = load + 4.0
    out, info = zero_drift_correct(meas, fs, unloaded_threshold_n=20.0, guard_s=0.0)
    assert info["corrected"].all()
    assert np.abs(out[-100:] - 250.0).max() < 5.0
    slope, _ = zero_drift_correct(meas, fs, unloaded_threshold_n=20.0, guard_s=0.0, min_span_s=0.0)
    assert np.abs(slope[-100:] - 250.0).max() > 100.0  # what the unguarded slope does
