"""Tests for sigproc.attitude (Y-up world, sensor->world matrices)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sigproc.attitude import (
    GRAVITY,
    UP,
    complementary_attitude,
    from_quat_wxyz,
    gravity_in_sensor,
    integrate_gyro,
    kalman_attitude,
    to_euler,
    to_quat_wxyz,
)

FS = 200.0


def _angle_deg(u, v):
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(u * v, axis=-1), -1, 1)))


def test_integrate_gyro_constant_rate_matches_exponential():
    R0 = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    w = np.array([0.3, -1.2, 0.8])  # rad/s, body frame
    T = 400
    R = integrate_gyro(np.tile(w, (T, 1)), FS, R0)
    k = np.arange(T)[:, None]
    expected = R0[None] @ Rotation.from_rotvec(k * w / FS).as_matrix()
    assert np.max(np.abs(R - expected)) < 1e-9
    # a 90 deg turn about world-up (sensor aligned with world) at constant rate
    Rz = integrate_gyro(np.tile([0, np.pi / 2, 0], (int(FS) + 1, 1)), FS)
    np.testing.assert_allclose(Rz[-1] @ np.array([1.0, 0, 0]), [0, 0, -1], atol=1e-9)


def test_integrate_gyro_varying_rate_is_body_frame():
    # time-varying rate about a fixed body axis: angle = integral
    t = np.arange(1000) / FS
    rate = 2.0 * np.sin(2 * np.pi * 0.5 * t)
    gyro = np.outer(rate, [0, 0, 1.0])
    R = integrate_gyro(gyro, FS)
    angle = np.cumsum(np.r_[0, 0.5 * (rate[1:] + rate[:-1])]) / FS
    np.testing.assert_allclose(to_euler(R, "ZXY")[:, 0], np.degrees(angle), atol=1e-6)


def _static(R_true, T, rng, acc_sd=0.05, gyro_sd=0.002):
    acc = np.tile(R_true.T @ UP * GRAVITY, (T, 1)) + acc_sd * rng.standard_normal((T, 3))
    gyro = gyro_sd * rng.standard_normal((T, 3))
    return acc, gyro


@pytest.mark.parametrize("which", ["complementary", "kalman"])
def test_static_tilt_converges(which):
    rng = np.random.default_rng(0)
    R_true = Rotation.from_euler("ZXY", [25, -15, 40], degrees=True).as_matrix()
    acc, gyro = _static(R_true, 2000, rng)
    if which == "complementary":
        R = complementary_attitude(acc, gyro, FS, gain=0.02, R0=np.eye(3))
    else:
        R = kalman_attitude(acc, gyro, FS, R0=np.eye(3))
    err = _angle_deg(R[-200:] @ (R_true.T @ UP), np.tile(UP, (200, 1)))  # estimated vs true "up"
    assert err.max() < 0.5
    assert _angle_deg(R[0] @ (R_true.T @ UP), UP) > 20  # started wrong, so it really converged


def test_filters_track_rotation_and_keep_heading():
    """Sensor swinging in pitch + constant yaw; filters follow the true tilt despite gyro bias."""
    rng = np.random.default_rng(1)
    T = 3000
    t = np.arange(T) / FS
    eul = np.stack([30 * np.sin(2 * np.pi * 0.4 * t), 10 * np.sin(2 * np.pi * 0.25 * t), 20 * t], 1)
    R_true = Rotation.from_euler("ZXY", eul, degrees=True).as_matrix()
    # body angular velocity from finite differences of the true rotations
    dR = np.einsum("tji,tjk->tik", R_true[:-1], R_true[1:])
    w = Rotation.from_matrix(dR).as_rotvec() * FS
    gyro = np.vstack([w, w[-1]]) + np.array([0.02, -0.015, 0.01])  # bias
    acc = gravity_in_sensor(R_true) + 0.1 * rng.standard_normal((T, 3))
    R_gyro = integrate_gyro(gyro, FS, R_true[0])
    tilt = lambda R: _angle_deg(np.einsum("tij,tj->ti", R, np.einsum("tji,j->ti", R_true, UP)), np.tile(UP, (T, 1)))
    e_gyro = tilt(R_gyro)[-500:].mean()
    for R in (complementary_attitude(acc, gyro, FS, R0=R_true[0]), kalman_attitude(acc, gyro, FS, R0=R_true[0])):
        e = tilt(R)[-500:].mean()
        assert e < 1.0
        assert e < 0.5 * e_gyro


def test_euler_and_quaternion_conventions():
    R = Rotation.from_euler("ZXY", [30, 20, -10], degrees=True).as_matrix()
    np.testing.assert_allclose(to_euler(R, "ZXY"), [30, 20, -10], atol=1e-9)
    Rz = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    Rx = Rotation.from_euler("x", 20, degrees=True).as_matrix()
    Ry = Rotation.from_euler("y", -10, degrees=True).as_matrix()
    np.testing.assert_allclose(R, Rz @ Rx @ Ry, atol=1e-12)  # documented composition
    q = to_quat_wxyz(np.stack([np.eye(3), R]))
    np.testing.assert_allclose(q[0], [1, 0, 0, 0])
    np.testing.assert_allclose(from_quat_wxyz(q)[1], R, atol=1e-12)
    # static sensor with +y up reads +g on y
    np.testing.assert_allclose(gravity_in_sensor(np.eye(3)), [0, GRAVITY, 0])


def test_attitude_input_errors():
    with pytest.raises(ValueError, match=r"gyro must have shape \(T, 3\)"):
        integrate_gyro(np.zeros((10, 2)), FS)
    with pytest.raises(ValueError, match="gain=2"):
        complementary_attitude(np.ones((5, 3)), np.zeros((5, 3)), FS, gain=2.0)
    with pytest.raises(ValueError, match="R0"):
        integrate_gyro(np.zeros((5, 3)), FS, R0=2 * np.eye(3))


def test_initial_tilt_from_a_stride_mean_when_the_clip_starts_mid_stride():
    """A runner: the sensor holds a fixed tilt while the specific force bounces (stride frequency 2 Hz; -0.1 to 2.1 g along
    the body's vertical plus a fore-aft swing). The first sample is far from gravity; the mean over
    half a second is not, and the gated filter stays closer to the truth."""
    R_true = Rotation.from_euler("ZXY", [10, 8, -5], degrees=True).as_matrix()
    t = np.arange(0, 3.0, 1 / FS)
    bounce = np.stack([6.0 * np.cos(2 * np.pi * 2.0 * t), 1.1 * np.sin(2 * np.pi * 2.0 * t - 0.9) * GRAVITY,
                       np.zeros_like(t)], 1)        # world-frame body acceleration, zero mean over strides
    acc = (R_true.T @ (bounce + GRAVITY * UP).T).T     # specific force in the sensor frame
    gyro = np.zeros_like(acc)
    first = complementary_attitude(acc, gyro, FS, gain=0.02)
    strided = complementary_attitude(acc, gyro, FS, gain=0.02, acc_gate=0.25, init_s=0.5)
    up_true = R_true.T @ UP
    assert _angle_deg(first[0] @ up_true, UP) > 15           # the first sample alone is tilted wrongly
    assert _angle_deg(strided[0] @ up_true, UP) < 0.5          # one whole stride averages to gravity
    err_first = _angle_deg(first @ up_true, np.tile(UP, (len(t), 1)))
    err_strided = _angle_deg(strided @ up_true, np.tile(UP, (len(t), 1)))
    assert err_strided.mean() < 0.5 * err_first.mean()
