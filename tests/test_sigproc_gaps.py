"""Tests for sigproc.gaps: gap detection and spline gap filling."""

import numpy as np
import pytest

from sigproc.gaps import find_gaps, resample_uniform, uniform_grid


def _smooth(t):
    return np.sin(2 * np.pi * 0.7 * t) + 0.5 * np.cos(2 * np.pi * 1.9 * t + 0.3)


def test_find_gaps_reports_start_and_count():
    fs = 100.0
    t = np.arange(500) / fs
    keep = np.ones(500, bool)
    keep[50:53] = False  # 3 missing after index 49
    keep[300] = False  # 1 missing after index 299
    tk = t[keep]
    gaps = find_gaps(tk, fs)
    assert gaps.shape == (2, 2)
    np.testing.assert_array_equal(gaps[0], [49, 3])
    # second gap: index in the kept array
    assert tk[gaps[1, 0]] == pytest.approx(2.99) and gaps[1, 1] == 1
    # 30 % jitter is not a gap at tol=0.5
    rng = np.random.default_rng(0)
    tj = t + rng.uniform(-0.1, 0.1, t.size) / fs
    assert find_gaps(tj, fs).shape == (0, 2)


def test_resample_fills_gaps_with_small_rmse():
    fs = 100.0
    rng = np.random.default_rng(1)
    t = np.arange(1000) / fs
    keep = np.ones(t.size, bool)
    keep[200:210] = False  # 0.1 s gap
    keep[rng.choice(np.arange(300, 900), 40, replace=False)] = False  # scattered drops
    x = np.stack([_smooth(t), 2 * _smooth(t + 0.1)], axis=1)
    x_new, filled = resample_uniform(t[keep], x[keep], t, kind="cubic")
    rmse = np.sqrt(np.mean((x_new - x) ** 2))
    assert rmse < 1e-3
    gap_err = np.max(np.abs(x_new[200:210] - x[200:210]))
    assert gap_err < 0.02
    # inside the 10-sample gap, samples farther than one period from real data are flagged
    assert filled[201:209].all() and not filled[200] and not filled[209]
    assert filled.sum() == 8
    # real samples are reproduced exactly
    np.testing.assert_allclose(x_new[keep], x[keep], atol=1e-12)


def test_resample_upsample_shapes_and_nan_rows():
    t = np.arange(0, 2, 0.01)
    x = np.stack([_smooth(t)] * 6, axis=1).reshape(-1, 2, 3)
    x[50] = np.nan
    grid = uniform_grid(0.0, 1.99, 1000.0)
    assert grid.size == 1991
    x_new, filled = resample_uniform(t, x, grid)
    assert x_new.shape == (grid.size, 2, 3)
    assert np.max(np.abs(x_new[:, 0, 0] - _smooth(grid))) < 1e-3
    assert not filled.any()  # NaN row leaves a 2-period hole, every query within 1 period of data
    lin, _ = resample_uniform(t, x, grid, kind="linear")
    assert np.max(np.abs(lin[:, 1, 2] - _smooth(grid))) < 5e-3


def test_resample_errors_and_outside_range():
    t = np.array([0.0, 0.01, 0.02, 0.015, 0.03])
    with pytest.raises(ValueError, match=r"strictly increasing: t\[3\]=0.015"):
        resample_uniform(t, np.zeros(5), np.zeros(3))
    with pytest.raises(ValueError, match="kind="):
        resample_uniform(np.arange(5.0), np.zeros(5), np.zeros(3), kind="quintic")
    t = np.arange(10) / 10.0
    x_new, filled = resample_uniform(t, t * 2, np.array([-1.0, -0.05, 0.5, 0.95, 5.0]))
    np.testing.assert_allclose(x_new, [0.0, -0.1, 1.0, 1.9, 1.8], atol=1e-9)
    np.testing.assert_array_equal(filled, [True, False, False, False, True])


def test_cubic_is_the_not_a_knot_spline_of_scipy_cubicspline():
    """kind="cubic" (one make_interp_spline fit over all channels) gives CubicSpline's not-a-knot
    interpolant per channel, inside the data and in the one-period extrapolation at both ends,
    on irregular stamps with a NaN row (dropped before the fit)."""
    from scipy.interpolate import CubicSpline

    rng = np.random.default_rng(7)
    t = np.sort(rng.choice(np.arange(400), 300, replace=False)) / 100.0
    x = np.cumsum(rng.standard_normal((300, 5)), 0) * [1.0, 10.0, 100.0, 1e3, 0.01]
    x[40] = np.nan
    q = np.linspace(t[0] - 0.009, t[-1] + 0.009, 777)
    got, _ = resample_uniform(t, x, q, kind="cubic", nominal_hz=100.0)
    good = np.isfinite(x).all(1)
    for c in range(x.shape[1]):
        want = CubicSpline(t[good], x[good, c], bc_type="not-a-knot")(q)
        np.testing.assert_allclose(got[:, c], want, rtol=1e-11, atol=1e-11 * np.abs(x[good, c]).max())
