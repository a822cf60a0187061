"""Tests for sigproc.normalize and sigproc.windows."""

import json

import numpy as np
import pytest

from sigproc.normalize import ChannelScaler, normalize_skeleton
from sigproc.windows import sliding_windows, window_starts


def _skeleton(T=20, seed=0):
    rng = np.random.default_rng(seed)
    lm = rng.standard_normal((T, 33, 3))
    lm[:, 23] = [-0.1, 0.0, 0.0]
    lm[:, 24] = [0.1, 0.0, 0.0]
    lm[:, 11] = [-0.2, 0.5, 0.0]
    lm[:, 12] = [0.2, 0.5, 0.0]  # trunk length 0.5
    return lm


def test_normalize_skeleton_is_translation_and_scale_invariant():
    lm = _skeleton()
    out, scale = normalize_skeleton(lm)
    assert scale == pytest.approx(0.5)
    np.testing.assert_allclose(out[:, [23, 24]].mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out[:, [11, 12]].mean(1) - out[:, [23, 24]].mean(1), axis=1), 1.0)
    moved = 3.0 * lm + np.array([5.0, -2.0, 1.0])
    out2, scale2 = normalize_skeleton(moved)
    assert scale2 == pytest.approx(1.5)
    np.testing.assert_allclose(out2, out, atol=1e-12)
    single, _ = normalize_skeleton(lm[0])
    np.testing.assert_allclose(single, out[0], atol=1e-12)
    with pytest.raises(ValueError, match="root"):
        normalize_skeleton(lm, root=(40,))
    bad = lm.copy()
    bad[:, [11, 12]] = bad[:, [23, 24]]
    with pytest.raises(ValueError, match="reference length"):
        normalize_skeleton(bad)


@pytest.mark.parametrize("method", ["zscore", "minmax"])
def test_channel_scaler_roundtrip_and_json(method):
    rng = np.random.default_rng(1)
    train = rng.normal([1.0, -5.0, 100.0], [0.1, 2.0, 30.0], size=(8, 50, 3))
    test = rng.normal([1.0, -5.0, 100.0], [0.1, 2.0, 30.0], size=(4, 50, 3))
    sc = ChannelScaler(method).fit(train)
    z = sc.transform(train).reshape(-1, 3)
    if method == "zscore":
        np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(z.std(0), 1, atol=1e-12)
    else:
        np.testing.assert_allclose(z.min(0), 0, atol=1e-12)
        np.testing.assert_allclose(z.max(0), 1, atol=1e-12)
    d = json.loads(json.dumps(sc.to_dict()))
    sc2 = ChannelScaler.from_dict(d)
    np.testing.assert_allclose(sc2.transform(test), sc.transform(test), atol=1e-12)  # test split uses train stats
    np.testing.assert_allclose(sc2.inverse_transform(sc2.transform(test)), test, atol=1e-9)
    with pytest.raises(ValueError, match="2 channel"):
        sc.transform(np.zeros((5, 2)))


def test_channel_scaler_constant_channel_and_unfitted():
    x = np.stack([np.ones(10), np.arange(10.0)], 1)
    sc = ChannelScaler().fit(x)
    assert np.all(np.isfinite(sc.transform(x))) and np.allclose(sc.transform(x)[:, 0], 0)
    with pytest.raises(ValueError, match="not fitted"):
        ChannelScaler().transform(x)
    with pytest.raises(ValueError, match="method="):
        ChannelScaler("robust")


def test_window_starts_and_sliding_windows():
    np.testing.assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])
    np.testing.assert_array_equal(window_starts(11, 4, 3, pad_last=True), [0, 3, 6, 9])
    np.testing.assert_array_equal(window_starts(10, 4, 3, pad_last=True), [0, 3, 6])  # already covered
    np.testing.assert_array_equal(window_starts(3, 4, 2, pad_last=True), [0])
    assert window_starts(3, 4, 2).size == 0
    x = np.arange(22).reshape(11, 2)
    w = sliding_windows(x, 4, 3)
    assert w.shape == (3, 4, 2)
    np.testing.assert_array_equal(w[1], x[3:7])
    assert np.shares_memory(w, x)
    wp = sliding_windows(x, 4, 3, pad_last=True)
    assert wp.shape == (4, 4, 2)
    np.testing.assert_array_equal(wp[3], [x[9], x[10], x[10], x[10]])
    y = np.arange(2 * 3 * 10).reshape(2, 3, 10)
    wy = sliding_windows(y, 5, 5, axis=-1)
    assert wy.shape == (2, 3, 2, 5)
    np.testing.assert_array_equal(wy[1, 2, 1], y[1, 2, 5:10])
    with pytest.raises(ValueError, match="stride=0"):
        window_starts(10, 4, 0)
