"""Tests for sigproc.sync: known clock offsets are recovered (t_true = t_stamp + offset_s)."""

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from sigproc.sync import OffsetResult, dtw_path, estimate_offset_xcorr, refine_offset_dtw


def _smooth_random(seed, t0=-1.0, t1=13.0, knot_s=0.1):
    rng = np.random.default_rng(seed)
    tk = np.arange(t0, t1, knot_s)
    return CubicSpline(tk, rng.standard_normal(tk.size))


def _streams(seed, offset_s, ref_hz=100.0, sig_hz=148.0, drop=0.05, channels=1):
    """ref on the reference clock; sig stamped on its own clock: sig(t_stamp) = s(t_stamp + offset_s)."""
    f = _smooth_random(seed)
    rng = np.random.default_rng(1000 + seed)
    ref_t = np.arange(0.0, 10.0, 1 / ref_hz)
    sig_t = np.arange(0.3, 9.7, 1 / sig_hz)
    sig_t = sig_t[rng.random(sig_t.size) > drop]  # dropped samples
    ref = f(ref_t) + 0.02 * rng.standard_normal(ref_t.size)
    sig = 2.5 * f(sig_t + offset_s) + 1.0 + 0.05 * rng.standard_normal(sig_t.size)  # other gain/offset
    if channels > 1:
        g = _smooth_random(seed + 77)
        ref = np.stack([ref, g(ref_t)], 1)
        sig = np.stack([sig, -0.5 * g(sig_t + offset_s)], 1) * [1, -1]
    return ref_t, ref, sig_t, sig


@pytest.mark.parametrize("seed,offset_s", [(0, 0.0373), (1, -0.0373), (2, 0.1512), (3, -0.1888), (4, 0.0)])
def test_xcorr_recovers_known_offset(seed, offset_s):
    ref_t, ref, sig_t, sig = _streams(seed, offset_s)
    res = estimate_offset_xcorr(ref_t, ref, sig_t, sig, max_lag_s=0.2)
    assert isinstance(res, OffsetResult)
    assert abs(res.offset_s - offset_s) < 1e-3
    assert res.confidence > 0.95 and not res.at_boundary
    assert res.fs_hz == pytest.approx(148.0, rel=1e-6)
    off, conf = res  # tuple-style unpacking
    assert off == res.offset_s


def test_xcorr_multichannel_and_sign_convention():
    offset_s = 0.0731
    ref_t, ref, sig_t, sig = _streams(5, offset_s, ref_hz=60.0, sig_hz=1000.0, channels=2)
    res = estimate_offset_xcorr(ref_t, ref, sig_t, sig)
    assert res.fs_hz == pytest.approx(1000.0)
    assert abs(res.offset_s - offset_s) < 1e-3
    # applying the offset aligns sig onto ref's clock
    f = _smooth_random(5)
    np.testing.assert_allclose(
        (sig[:, 0] - 1.0) / 2.5, f(sig_t + res.offset_s), atol=0.1
    )  # 0.05 noise / 2.5 gain + tiny offset error
    # swapping the roles flips the sign
    res_back = estimate_offset_xcorr(sig_t, sig, ref_t, ref)
    assert abs(res_back.offset_s + offset_s) < 1e-3


def test_xcorr_flags_offset_beyond_search_range():
    ref_t, ref, sig_t, sig = _streams(6, 0.26)
    res = estimate_offset_xcorr(ref_t, ref, sig_t, sig, max_lag_s=0.2)
    assert res.at_boundary
    assert abs(estimate_offset_xcorr(ref_t, ref, sig_t, sig, max_lag_s=0.3).offset_s - 0.26) < 1e-3


def test_xcorr_errors():
    t = np.arange(100) / 100.0
    with pytest.raises(ValueError, match="channel"):
        estimate_offset_xcorr(t, np.zeros((100, 2)), t, np.zeros(100))
    with pytest.raises(ValueError, match="strictly increasing"):
        estimate_offset_xcorr(t[::-1], np.zeros(100), t, np.zeros(100))


def _dtw_bruteforce(a, b):
    n, m = len(a), len(b)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            D[i, j] = abs(a[i - 1] - b[j - 1]) + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[n, m]


def test_dtw_path_matches_bruteforce_and_known_warp():
    rng = np.random.default_rng(7)
    a = rng.standard_normal(23)
    b = rng.standard_normal(31)
    path, cost = dtw_path(a, b)
    assert cost == pytest.approx(_dtw_bruteforce(a, b), rel=1e-12)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (22, 30)
    steps = np.diff(path, axis=0)
    assert np.all((steps >= 0) & (steps <= 1)) and np.all(steps.sum(1) >= 1)
    assert cost == pytest.approx(np.abs(a[path[:, 0]] - b[path[:, 1]]).sum())
    # b is a delayed by 5 samples: the path is the diagonal shifted by 5 in the interior
    x = np.sin(np.linspace(0, 6 * np.pi, 300)) + np.linspace(0, 1, 300)
    p, c = dtw_path(x[5:], x[:-5], window=20)
    mid = p[(p[:, 0] > 30) & (p[:, 0] < 260)]
    assert np.all(mid[:, 1] - mid[:, 0] == 5)
    # a band narrower than the shift costs more
    _, c_narrow = dtw_path(x[5:], x[:-5], window=2)
    assert c_narrow > c
    # multi-channel input
    p2, c2 = dtw_path(np.stack([x, x], 1), np.stack([x, x], 1), window=3)
    assert c2 == 0.0 and np.all(p2[:, 0] == p2[:, 1])


@pytest.mark.parametrize("seed,offset_s,coarse_err", [(0, 0.0373, 0.02), (2, -0.1123, -0.03)])
def test_refine_offset_dtw_corrects_coarse_estimate(seed, offset_s, coarse_err):
    ref_t, ref, sig_t, sig = _streams(seed, offset_s)
    refined = refine_offset_dtw(ref_t, ref, sig_t, sig, offset_s + coarse_err, search_s=0.05)
    assert abs(refined - offset_s) < 1e-3
    with pytest.raises(ValueError, match="overlap"):
        refine_offset_dtw(ref_t[:50], ref[:50], sig_t, sig, offset_s, search_s=0.2)
