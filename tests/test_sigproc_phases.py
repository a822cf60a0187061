"""Tests for sigproc.phases: energy-based preparation/core/recovery segmentation."""

import numpy as np
import pytest

from sigproc.phases import (CORE, PREPARATION, RECOVERY, angular_energy, boundary_score, motion_energy,
                            segment_energy, segment_phases)

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


def test_angular_energy_sums_squared_rates_over_sensors():
    g = np.zeros((10, 2, 3))
    g[:, 0, 2] = 0.3
    g[:, 1, 0] = 0.4
    g[3, 1, 1] = np.nan
    assert np.allclose(angular_energy(g), 0.25)
    with pytest.raises(ValueError, match="gyro"):
        angular_energy(np.zeros((10, 3)))


def test_absolute_floor_keeps_a_still_clip_out_of_core_and_a_landing_spike_from_hiding_the_movement():
    rng = np.random.default_rng(0)
    T = 300
    gyro = 0.01 * rng.standard_normal((T, 6, 3))               # sensor noise of a still athlete
    # relative threshold: the noise alone is called "core" over most of a still clip
    assert (segment_energy(angular_energy(gyro), FS, 0.3) == CORE).mean() > 0.5
    assert np.all(segment_energy(angular_energy(gyro), FS, 0.0, min_energy=0.1) == PREPARATION)
    moving = gyro.copy()
    moving[100:200, 2, 0] += 1.0 * np.sin(np.linspace(0, 4 * np.pi, 100)) ** 2 + 0.5  # 1.5 s of movement
    moving[190, :, :] += 20.0                                   # a landing impact
    E = angular_energy(moving)
    rel = segment_energy(E, FS, 0.3)
    assert (rel == CORE).sum() < 20                             # relative to the impact: only the impact
    lab = segment_energy(E, FS, 0.0, min_energy=0.1)
    core = np.flatnonzero(lab == CORE)
    assert abs(core[0] - 100) <= 3 and abs(core[-1] - 199) <= 3
    assert np.all(lab[:core[0]] == PREPARATION) and np.all(lab[core[-1] + 1:] == RECOVERY)
    with pytest.raises(ValueError, match="both 0"):
        segment_energy(E, FS, 0.0, min_energy=0.0)
    # segment_phases is segment_energy of the landmark energy
    kp, _, _ = _bump_clip()
    assert np.array_equal(segment_phases(kp, FS, 0.3, 0.1), segment_energy(motion_energy(kp, FS), FS, 0.3, 0.1))
