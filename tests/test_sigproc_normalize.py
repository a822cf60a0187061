"""Tests for sigproc.normalize and sigproc.windows."""

import json

import numpy as np
import pytest

from sigproc.normalize import (ChannelScaler, fit_landmark_scaler, normalize_skeleton, normalize_view,
                               rotate_about_vertical)
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


def _athlete_window(heading_deg=0.0, lean_deg=15.0, T=32, seed=1):
    """A moving skeleton in camera axes (x right, y down, z away) that faces the camera (forward -z)
    when heading_deg = 0, its trunk leaning forward by lean_deg, then turned by heading_deg."""
    rng = np.random.default_rng(seed)
    lm = 0.3 * rng.standard_normal((T, 33, 3))
    lean = np.radians(lean_deg)
    up = np.array([0.0, -np.cos(lean), -np.sin(lean)])                # y down: up is -y; leans towards -z
    lm[:, 23] = [0.1, 0.0, 0.0]                                       # left hip: athlete's left = image right
    lm[:, 24] = [-0.1, 0.0, 0.0]
    lm[:, 11] = lm[:, 23] + 0.5 * up
    lm[:, 12] = lm[:, 24] + 0.5 * up
    lm[:, 0] = 0.65 * up + [0.0, 0.0, -0.1]                          # nose, in front of the face
    lm += 0.01 * rng.standard_normal(lm.shape)                        # sway: the hip line is not constant
    return rotate_about_vertical(lm, heading_deg)


@pytest.mark.parametrize("angle", [-180.0, -135.0, -65.0, -1.0, 30.0, 90.0, 123.0, 179.0])
def test_normalize_view_removes_any_rotation_about_the_vertical(angle):
    base = _athlete_window()
    ref, h0 = normalize_view(base)
    out, h = normalize_view(rotate_about_vertical(base, angle))
    np.testing.assert_allclose(out, ref, atol=1e-9)
    assert ((h - h0 + angle + 180) % 360 - 180) == pytest.approx(0, abs=1e-9)  # turned by -angle more
    # the hip line ends on -x; the vertical (y) is untouched, so the trunk lean is kept
    hip = (out[:, 24] - out[:, 23]).mean(0)
    assert hip[0] < 0 and abs(hip[2]) < 1e-9
    np.testing.assert_allclose(out[..., 1], base[..., 1])
    def lean(x):
        spine = x[:, [11, 12]].mean(1) - x[:, [23, 24]].mean(1)
        return np.degrees(np.arccos(-spine[:, 1] / np.linalg.norm(spine, axis=1)))
    np.testing.assert_allclose(lean(out), lean(base), atol=1e-9)
    assert lean(out).mean() == pytest.approx(15.0, abs=1.0)


def test_normalize_view_does_not_mirror_left_and_right():
    for heading in (0.0, 70.0, 160.0, -110.0):
        out, _ = normalize_view(_athlete_window(heading))
        assert (out[:, 23, 0] > out[:, 24, 0]).all()            # left hip on +x (image right), as seen from the front
        assert (out[:, 0, 2] < out[:, [23, 24], 2].mean(1)).all()  # the nose in front: facing the camera (-z)
    mirrored = _athlete_window(40.0) * [-1.0, 1.0, 1.0]         # a mirror image cannot be rotated onto the original
    out_m, _ = normalize_view(mirrored)
    assert (out_m[:, 0, 2] > out_m[:, [23, 24], 2].mean(1)).all()


def test_normalize_view_batches_nan_frames_and_undefined_windows():
    a, b = _athlete_window(20.0), _athlete_window(-100.0, seed=2)
    gappy = a.copy()
    gappy[5:9] = np.nan
    out, h = normalize_view(np.stack([a, b, gappy, np.zeros_like(a)]))
    np.testing.assert_allclose(out[0], normalize_view(a)[0], atol=1e-12)
    np.testing.assert_allclose(out[1], normalize_view(b)[0], atol=1e-12)
    assert np.isnan(out[2, 5:9]).all() and h[2] == pytest.approx(h[0], abs=1.0)
    assert np.isnan(h[3]) and (out[3] == 0).all()              # absent modality (zeros): no heading, unchanged
    with pytest.raises(ValueError, match="right_hip=40"):
        normalize_view(a, right_hip=40)


def test_landmark_scaler_commutes_with_rotation_about_the_vertical():
    x = normalize_view(np.stack([_athlete_window(h, seed=s) for s, h in enumerate((0, 50, 120))]))[0]
    sc = fit_landmark_scaler(x)
    assert sc.center_[0] == 0 and sc.center_[2] == 0 and sc.scale_[0] == sc.scale_[2]
    z = sc.transform(x)
    assert abs(z[..., 1].mean()) < 1e-9 and z[..., 1].std() == pytest.approx(1.0)
    np.testing.assert_allclose(sc.transform(rotate_about_vertical(x, 33.0)), rotate_about_vertical(z, 33.0), atol=1e-12)
