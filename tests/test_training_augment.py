"""training.loop.augment_batch: the landmark rotation turns about the vertical of the
view-normalised frame, in z-scored units, within +-rotation_deg."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sigproc.normalize import fit_landmark_scaler, normalize_view, rotate_about_vertical
from training.loop import AugmentParams, augment_batch


def _stored_windows(B=64, T=16, seed=0):
    """View-normalised, z-scored windows (B, T, 33, 4) like the preprocess stage writes, and the scaler."""
    rng = np.random.default_rng(seed)
    lm = 0.3 * rng.standard_normal((B, T, 33, 3))
    lm[:, :, 23] += [0.12, 0.0, 0.0]
    lm[:, :, 24] += [-0.12, 0.0, 0.0]
    lm[:, :, 11] = lm[:, :, 23] + [0.0, -0.5, -0.1]
    lm[:, :, 12] = lm[:, :, 24] + [0.0, -0.5, -0.1]
    xyz, _ = normalize_view(rotate_about_vertical(lm, rng.uniform(-180, 180, B)))
    sc = fit_landmark_scaler(xyz)
    vis = rng.uniform(0, 1, (B, T, 33, 1))
    return np.concatenate([sc.transform(xyz), vis], -1).astype(np.float32), sc


def _applied_angles(rot_deg: float, B=64):
    stored, sc = _stored_windows(B)
    a = AugmentParams(rotation_deg=rot_deg, scale=(1.0, 1.0), imu_noise=0, grf_noise=0, modality_dropout=0)
    batch = {"landmarks": torch.from_numpy(stored), "label": torch.zeros(B, dtype=torch.long)}
    out = augment_batch(batch, a, torch.Generator().manual_seed(3))["landmarks"].numpy().astype(float)
    np.testing.assert_array_equal(out[..., 3], stored[..., 3])            # visibility untouched
    np.testing.assert_allclose(out[..., 1], stored[..., 1], atol=1e-5)    # the vertical (y) untouched
    phys = sc.inverse_transform(out[..., :3])
    back, heading = normalize_view(phys)
    # a rotation about the normalised frame's vertical: view normalisation undoes it exactly
    np.testing.assert_allclose(back, sc.inverse_transform(stored[..., :3]), atol=1e-4)
    return (-heading + 180) % 360 - 180   # the stored windows have heading 0: the applied angle is -heading


def test_rotation_is_about_the_vertical_and_spans_the_range():
    ang = _applied_angles(180.0)
    assert np.abs(ang).max() > 150 and (ang > 0).any() and (ang < 0).any()


def test_small_default_rotation_stays_within_its_range():
    assert AugmentParams().rotation_deg == pytest.approx(20.0)
    ang = _applied_angles(20.0)
    assert np.abs(ang).max() <= 20.0 + 1e-3 and np.abs(ang).max() > 15.0
