"""The serving speed-ups of the shared signal library change no number: each fast path is compared
bit for bit with the scipy call it replaces, on random inputs of the shapes the service sees."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sigproc.filters import butter_lowpass


@pytest.mark.parametrize("shape,axis,fs,fc", [((1400, 12), 0, 1000.0, 20.0), ((280, 36), 0, 200.0, 20.0),
                                              ((70,), 0, 50.0, 8.0), ((3, 300, 2), 1, 250.0, 8.0),
                                              ((40, 5), 0, 100.0, 8.0)])
def test_butter_lowpass_equals_scipy_sosfiltfilt_bit_for_bit(shape, axis, fs, fc):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).cumsum(axis) + 5.0
    sos = signal.butter(4, fc, btype="low", fs=fs, output="sos")
    n = x.shape[axis]
    padlen = min(max(3 * (2 * len(sos) + 1), int(np.ceil(3.0 * fs / fc))), n - 1)
    want = signal.sosfiltfilt(sos, x, axis=axis, padlen=padlen)
    for _ in range(2):   # the second call uses the cached design and initial state
        got = butter_lowpass(x, fs, fc, order=4, axis=axis)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, x)   # it filtered


def test_resampler_fitted_once_equals_resample_uniform_on_every_grid():
    from scipy import interpolate

    from sigproc.gaps import Resampler, resample_uniform

    rng = np.random.default_rng(5)
    t = np.cumsum(rng.uniform(0.004, 0.006, 300))
    t = np.delete(t, [40, 41, 42, 200])            # dropped samples
    x = rng.normal(size=(len(t), 3)).cumsum(0)
    fit = Resampler(t, x)
    for grid in (np.linspace(t[0] - 0.02, t[-1] + 0.02, 411), np.linspace(t[0], t[-1], 97)):
        got, filled = fit(grid)
        want, want_filled = resample_uniform(t, x, grid)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(filled, want_filled)
        inside = (grid >= t[0]) & (grid <= t[-1])   # scipy's not-a-knot spline, default checks
        np.testing.assert_array_equal(got[inside], interpolate.make_interp_spline(t, x, k=3, axis=0)(grid[inside]))
    assert filled.any() and not filled.all()


def test_offsets_with_shared_fits_equal_the_separate_calls():
    from sigproc.sync import estimate_offset_xcorr, refine_offset_dtw, signal_fits

    rng = np.random.default_rng(8)
    t_ref = np.arange(0, 4, 1 / 60)
    ref = np.sin(2 * np.pi * 1.3 * t_ref)[:, None] + 0.3 * np.sin(2 * np.pi * 3.1 * t_ref)[:, None]
    t_sig = np.arange(0, 4, 1 / 200)
    true = 0.037
    sig = np.sin(2 * np.pi * 1.3 * (t_sig + true))[:, None] + 0.3 * np.sin(2 * np.pi * 3.1 * (t_sig + true))[:, None]
    sig = sig + 0.01 * rng.normal(size=sig.shape)
    fits = signal_fits(t_ref, ref, t_sig, sig)
    a = estimate_offset_xcorr(t_ref, ref, t_sig, sig, max_lag_s=0.15, fs_hz=250.0)
    b = estimate_offset_xcorr(t_ref, ref, t_sig, sig, max_lag_s=0.15, fs_hz=250.0, fits=fits)
    assert a == b and abs(a.offset_s - true) < 0.004
    da = refine_offset_dtw(t_ref, ref, t_sig, sig, a.offset_s, search_s=0.02, fs_hz=100.0)
    db = refine_offset_dtw(t_ref, ref, t_sig, sig, b.offset_s, search_s=0.02, fs_hz=100.0, fits=fits)
    assert da == db


def test_outlier_fill_in_one_interp_equals_the_per_channel_loop():
    """preprocessing.clip's outlier fill (one np.interp over all channels laid end to end) gives the
    per-channel np.interp loop it replaced bit for bit: flags at the ends, all-flagged channels
    (left as they are), many channels (a batch of on-timeline requests)."""
    from preprocessing.clip import _fill_nan

    def per_channel(x2, bad):
        out, idx = x2.copy(), np.arange(x2.shape[0], dtype=float)
        for c in np.flatnonzero(bad.any(0)):
            b = bad[:, c]
            if (~b).any():
                out[b, c] = np.interp(idx[b], idx[~b], x2[~b, c])
        return out

    rng = np.random.default_rng(1)
    for T, C, frac in ((64, 36, 0.05), (1400, 12, 0.2), (10, 5, 0.7), (64, 1152, 0.03)):
        x = rng.normal(size=(T, C))
        bad = rng.random((T, C)) < frac
        bad[:, 0] = True
        bad[0, 1] = bad[-1, 1] = True
        np.testing.assert_array_equal(_fill_nan(x, bad), per_channel(x, bad))
