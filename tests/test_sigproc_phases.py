"""Tests for sigproc.phases: energy-based preparation/core/recovery segmentation."""

import numpy as np
import pytest

from sigproc.phases import CORE, PREPARATION, RECOVERY, boundary_score, motion_energy, segment_phases

FS = 50.0


def _bump_clip(T=200, start=60, stop=140, J=5, seed=0):
    """Joints still, then move with a smooth speed bump between start and stop, then still again."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    speed = np.zeros(T)
    inside = (t >= start) & (t < stop)
    speed[inside] = np.sin(np.pi * (t[inside] - start) / (stop - start)) ** 2  # smooth 0 -> 1 -> 0
    disp = np.cumsum(speed) / FS  # position along each joint's direction
    dirs = rng.standard_normal((J, 3))
    kp = disp[:, None, None] * dirs[None] + rng.standard_normal((1, J, 3))
    return kp + 1e-4 * rng.standard_normal(kp.shape), speed, dirs


def test_motion_energy_matches_analytic():
    kp, speed, dirs = _bump_clip()
    E = motion_energy(kp, FS)
    expected = speed**2 * np.sum(dirs**2)
    inner = slice(2, -2)
    assert np.max(np.abs(E[inner] - expected[inner])) < 0.05 * expected.max()
    # NaN joint ignored
    kp2 = kp.copy()
    kp2[:, 0] = np.nan
    assert np.all(np.isfinite(motion_energy(kp2, FS)))


def test_segment_bump():
    kp, speed, dirs = _bump_clip()
    labels = segment_phases(kp, FS, core_threshold=0.3, smooth_s=0.1)
    # core where sin^4 > 0.3 (energy ~ speed^2): sin^2 > 0.548 -> phase in [0.262, 0.738] of the bump
    core = np.flatnonzero(labels == CORE)
    assert abs(core[0] - (60 + 0.262 * 80)) <= 2 and abs(core[-1] - (60 + 0.738 * 80)) <= 2
    assert np.all(labels[: core[0]] == PREPARATION) and np.all(labels[core[-1] + 1 :] == RECOVERY)
    assert np.all(np.diff(labels) >= 0)  # monotone 0 -> 1 -> 2
    # lower threshold -> wider core
    wide = segment_phases(kp, FS, core_threshold=0.05)
    assert (wide == CORE).sum() > (labels == CORE).sum()


def test_boundary_score_peaks_at_transitions_and_static_clip():
    kp, _, _ = _bump_clip()
    B = boundary_score(motion_energy(kp, FS), FS)
    assert B.max() == pytest.approx(1.0) and B.min() >= 0
    top = np.argsort(B)[-2:]
    assert all(60 < i < 140 for i in top) and not all(i < 100 for i in top)  # one per flank
    static = np.zeros((30, 4, 3))
    assert np.all(segment_phases(static, FS) == PREPARATION)
    assert np.all(boundary_score(np.ones(10)) == 0)
    with pytest.raises(ValueError, match="core_threshold"):
        segment_phases(kp, FS, core_threshold=1.5)
