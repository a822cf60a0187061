"""Root (hip midpoint) from one calibrated camera's landmarks (biomech.root_translation)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.root_translation import root_in_camera, root_in_lab


def _scene(T=60, seed=0):
    rng = np.random.default_rng(seed)
    skel = rng.normal(0, 0.3, (33, 3))
    skel[[23, 24]] = [[-0.1, 0, 0], [0.1, 0, 0]]  # hips: the origin is their midpoint
    K = np.array([[100.0, 0, 48], [0, 100.0, 48], [0, 0, 1]])
    t = np.arange(T) / 30.0
    lab = np.stack([0.5 * t, 0.9 + 0.05 * np.sin(3 * t), 0.2 * t], 1)  # moving hip midpoint
    R = np.eye(3)[[0, 1, 2]] * [1, -1, -1]  # camera looks along -Z of the lab, y down
    tc = np.array([0.0, 1.0, 3.0])
    cam = lab @ R.T + tc
    world = np.repeat(skel[None] @ R.T, T, 0)  # camera axes, hip-centred
    P = world + cam[:, None]
    image = np.stack([(K[0, 0] * P[..., 0] / P[..., 2] + K[0, 2]) / 96,
                      (K[1, 1] * P[..., 1] / P[..., 2] + K[1, 2]) / 96], -1)
    return t, world, image, K, R, tc, cam, lab


def test_exact_landmarks_give_the_root():
    t, world, image, K, R, tc, cam, lab = _scene()
    assert np.allclose(root_in_camera(world, image, K, 96, 96), cam, atol=1e-9)
    camera = {"K": K, "R": R, "t": tc, "width": 96, "height": 96, "track": None}
    assert np.allclose(root_in_lab(t, world, image, camera, t, cutoff_hz=None), lab, atol=1e-6)
    # a dolly camera: X_cam = R (X_lab - track[k]) + t
    track = np.stack([0.3 * t, 0 * t, 0 * t], 1)
    moved = {**camera, "track": track}
    cam2 = (lab - track) @ R.T + tc
    P = world + cam2[:, None]
    image2 = np.stack([(100 * P[..., 0] / P[..., 2] + 48) / 96, (100 * P[..., 1] / P[..., 2] + 48) / 96], -1)
    assert np.allclose(root_in_lab(t, world, image2, moved, t, cutoff_hz=None), lab, atol=1e-6)


def test_shape_mismatch_is_refused():
    t, world, image, K, *_ = _scene()
    with pytest.raises(ValueError, match="must be"):
        root_in_camera(world[:, :10], image, K, 96, 96)
