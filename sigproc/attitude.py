"""IMU attitude estimation: gyro integration, complementary filter, tilt Kalman filter.

Conventions
-----------
* World frame: OpenSim ground, X forward, **Y up**, Z right. Gravity is ``(0, -9.81, 0)``.
* Accelerometer: specific force in the sensor frame *including* gravity, m/s^2. A sensor at rest
  reads ``R.T @ (0, +g, 0)``; e.g. with its +y axis pointing up it reads ``(0, +9.81, 0)``.
* Gyroscope: angular velocity of the sensor frame relative to the world, expressed in the
  sensor frame, rad/s.
* Attitude: rotation matrices ``R`` of shape (T, 3, 3) mapping sensor-frame vectors to the world
  frame (``v_world = R @ v_sensor``). Quaternions are (w, x, y, z) (scalar first).
* Inputs are time-first: ``acc`` and ``gyro`` have shape (T, 3).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.spatial.transform import Rotation

from ._checks import as_float_array, check_positive

__all__ = [
    "GRAVITY",
    "UP",
    "tilts_from_acc",
    "integrate_gyro",
    "tilt_from_acc",
    "initial_specific_force",
    "complementary_attitude",
    "complementary_attitude_multi",
    "kalman_attitude",
    "to_euler",
    "to_quat_wxyz",
    "from_quat_wxyz",
    "gravity_in_sensor",
]

GRAVITY = 9.80665
UP = np.array([0.0, 1.0, 0.0])


def _check_imu(arr, name: str) -> np.ndarray:
    a = as_float_array(arr, name)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (T, 3), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN/inf; fill gaps first")
    return a



def _check_acc_gyro(acc, gyro, fs_hz) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated (T, 3) accelerometer and gyroscope arrays of equal shape, and the sample period."""
    a = _check_imu(acc, "acc")
    g = _check_imu(gyro, "gyro")
    if a.shape != g.shape:
        raise ValueError(f"acc shape {a.shape} must equal gyro shape {g.shape}")
    return a, g, 1.0 / check_positive(fs_hz, "fs_hz")

def _check_R0(R0) -> np.ndarray:
    if R0 is None:
        return np.eye(3)
    R = as_float_array(R0, "R0")
    if R.shape != (3, 3):
        raise ValueError(f"R0 must be a (3, 3) rotation matrix, got shape {R.shape}")
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
        raise ValueError("R0 must be a proper rotation matrix (orthonormal, det=+1)")
    return R


def _step_rotations(gyro: np.ndarray, dt: float) -> np.ndarray:
    """Incremental body-frame rotations (T-1, 3, 3) using the midpoint angular velocity."""
    w_mid = 0.5 * (gyro[1:] + gyro[:-1])
    return Rotation.from_rotvec(w_mid * dt).as_matrix()


def integrate_gyro(gyro, fs_hz: float, R0=None) -> np.ndarray:
    """Integrate body-frame angular velocity into sensor->world rotation matrices.

    ``R[k+1] = R[k] @ exp([w_mid * dt]x)`` with ``w_mid = (w[k] + w[k+1]) / 2`` (exact exponential
    map per step; exact for constant angular velocity).

    Parameters
    ----------
    gyro : array_like, shape (T, 3)
        Angular velocity in the sensor frame, rad/s.
    fs_hz : float
        Sampling rate in Hz.
    R0 : array_like, shape (3, 3), optional
        Initial attitude (sensor->world); identity if None.

    Returns
    -------
    numpy.ndarray, shape (T, 3, 3)
    """
    g = _check_imu(gyro, "gyro")
    dt = 1.0 / check_positive(fs_hz, "fs_hz")
    R = np.empty((g.shape[0], 3, 3))
    if g.shape[0] == 0:
        return R
    R[0] = _check_R0(R0)
    dR = _step_rotations(g, dt)
    for k in range(dR.shape[0]):
        R[k + 1] = R[k] @ dR[k]
    return R


def _align_to_up(v_world: np.ndarray) -> np.ndarray:
    """Minimal world-frame rotation matrix taking unit vector ``v_world`` onto UP (axis horizontal)."""
    axis = np.cross(v_world, UP)
    s = np.linalg.norm(axis)
    c = float(np.dot(v_world, UP))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        return Rotation.from_rotvec(np.pi * np.array([1.0, 0.0, 0.0])).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def tilt_from_acc(acc_sample) -> np.ndarray:
    """Attitude (3, 3) whose tilt matches a static accelerometer reading, with minimal rotation.

    The returned ``R`` satisfies ``R @ a/|a| = UP``; heading is whatever the minimal rotation from
    identity gives (not observable from the accelerometer).
    """
    a = as_float_array(acc_sample, "acc_sample")
    if a.shape != (3,):
        raise ValueError(f"acc_sample must have shape (3,), got {a.shape}")
    n = np.linalg.norm(a)
    if not n > 0:
        raise ValueError("acc_sample has zero norm; cannot infer tilt")
    return _align_to_up(a / n)


def tilts_from_acc(acc_samples) -> np.ndarray:
    """:func:`tilt_from_acc` of S readings (S, 3) at once -> (S, 3, 3) (one vectorised rotation for all;
    the same minimal rotations to rounding). ValueError naming the first sensor with a zero norm."""
    a = as_float_array(acc_samples, "acc_samples")
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"acc_samples must have shape (S, 3), got {a.shape}")
    n = np.linalg.norm(a, axis=1)
    if not (n > 0).all():
        raise ValueError(f"sensor {int(np.argmin(n > 0))}: first accelerometer sample has zero norm; cannot infer tilt")
    v = a / n[:, None]
    axis = np.cross(v, UP)
    sn = np.linalg.norm(axis, axis=1)
    c = v @ UP
    par = sn < 1e-12    # along UP (identity) or opposite it (half a turn about x), as _align_to_up
    rotvec = np.where(par[:, None], np.where((c > 0)[:, None], 0.0, np.pi * np.array([1.0, 0.0, 0.0])),
                      axis / np.where(par, 1.0, sn)[:, None] * np.arctan2(sn, c)[:, None])
    out = Rotation.from_rotvec(rotvec).as_matrix()
    out[par & (c > 0)] = np.eye(3)
    return out


def _rotate_towards_up(R: np.ndarray, a_unit: np.ndarray, fraction: float) -> np.ndarray:
    """Rotate ``R`` in the world frame by ``fraction`` of the angle between ``R a`` and UP."""
    v = R @ a_unit
    axis = np.cross(v, UP)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return R
    ang = np.arctan2(s, float(np.dot(v, UP)))
    return Rotation.from_rotvec(axis / s * (fraction * ang)).as_matrix() @ R


def complementary_attitude(
    acc,
    gyro,
    fs_hz: float,
    gain: float = 0.02,
    R0=None,
    acc_gate: float | None = None,
    init_s: float = 0.0,
) -> np.ndarray:
    """Complementary filter: gyro integration with accelerometer tilt correction.

    Each step propagates the attitude with the gyro (as :func:`integrate_gyro`), then rotates it
    about a horizontal world axis by ``gain`` times the angle between the predicted "up" direction
    ``R @ acc/|acc|`` and the world UP axis. Only roll/pitch are corrected; heading (yaw about world
    Y) comes from the gyro alone. The tilt-correction time constant is about ``1 / (gain * fs_hz)``
    seconds.

    Parameters
    ----------
    acc, gyro : array_like, shape (T, 3)
        Specific force (m/s^2) and angular velocity (rad/s), sensor frame.
    fs_hz : float
        Sampling rate in Hz.
    gain : float
        Fraction of the tilt error corrected per sample, in [0, 1].
    R0 : array_like (3, 3), optional
        Initial attitude; if None, from the first accelerometer sample (:func:`tilt_from_acc`).
    acc_gate : float, optional
        If given, skip the correction when ``| |acc| - g | > acc_gate * g`` (dynamic phases).
    init_s : float
        Initial tilt from the mean specific force over the first ``init_s`` seconds (0: the first
        sample). A clip that starts mid-stride (a runner) has a first sample far from gravity; the
        mean over a stride is close to it.

    Returns
    -------
    numpy.ndarray, shape (T, 3, 3)
        Sensor->world rotation matrices.
    """
    a, g, dt = _check_acc_gyro(acc, gyro, fs_hz)
    gain = float(gain)
    if not 0.0 <= gain <= 1.0:
        raise ValueError(f"gain={gain} must be in [0, 1]")
    T = a.shape[0]
    R = np.empty((T, 3, 3))
    if T == 0:
        return R
    norms = np.linalg.norm(a, axis=1)
    a_unit = a / np.where(norms > 0, norms, 1.0)[:, None]
    use = norms > 0
    if acc_gate is not None:
        use &= np.abs(norms - GRAVITY) <= float(acc_gate) * GRAVITY
    R[0] = tilt_from_acc(initial_specific_force(a, fs_hz, init_s)) if R0 is None else _check_R0(R0)
    dR = _step_rotations(g, dt)
    for k in range(1, T):
        Rk = R[k - 1] @ dR[k - 1]
        if use[k] and gain > 0:
            Rk = _rotate_towards_up(Rk, a_unit[k], gain)
        R[k] = Rk
    return R


def kalman_attitude(
    acc,
    gyro,
    fs_hz: float,
    gyro_noise: float = 0.01,
    acc_noise: float = 0.5,
    R0=None,
    adaptive: bool = True,
) -> np.ndarray:
    """Linear Kalman filter on the tilt (gravity direction), gyro-only heading.

    The state is ``u``, the world UP direction expressed in the sensor frame (3-vector, unit
    norm), which encodes roll and pitch. It propagates linearly with the gyro,
    ``u[k+1] = dR[k].T @ u[k]`` (``dR`` the midpoint body-frame increment), with process noise
    ``Q = gyro_noise^2 * dt * (I - u u^T)``; the measurement is ``acc / |acc| = u + noise`` with
    variance ``(acc_noise / g)^2`` (inflated by ``((|acc| - g) / g)^2`` when ``adaptive``, to
    distrust the accelerometer during dynamic phases). After each update ``u`` is renormalised.
    The attitude is the gyro-propagated matrix rotated about a horizontal world axis so that
    ``R @ u = UP``; yaw therefore comes from gyro integration only.

    Parameters
    ----------
    acc, gyro : array_like, shape (T, 3)
        Specific force (m/s^2) and angular velocity (rad/s), sensor frame.
    fs_hz : float
        Sampling rate in Hz.
    gyro_noise : float
        Gyro white-noise density, rad/s/sqrt(Hz).
    acc_noise : float
        Accelerometer noise standard deviation, m/s^2 (includes unmodelled linear acceleration).
    R0 : array_like (3, 3), optional
        Initial attitude; if None, from the first accelerometer sample.
    adaptive : bool
        Inflate the measurement noise when ``|acc|`` departs from g.

    Returns
    -------
    numpy.ndarray, shape (T, 3, 3)
        Sensor->world rotation matrices.
    """
    a, g, dt = _check_acc_gyro(acc, gyro, fs_hz)
    sg = check_positive(gyro_noise, "gyro_noise")
    sa = check_positive(acc_noise, "acc_noise")
    T = a.shape[0]
    R = np.empty((T, 3, 3))
    if T == 0:
        return R
    norms = np.linalg.norm(a, axis=1)
    R[0] = tilt_from_acc(a[0]) if R0 is None else _check_R0(R0)
    u = R[0].T @ UP
    P = np.eye(3) * 1e-2 if R0 is not None else np.eye(3) * (sa / GRAVITY) ** 2
    I3 = np.eye(3)
    r_base = (sa / GRAVITY) ** 2
    dR = _step_rotations(g, dt)
    for k in range(1, T):
        F = dR[k - 1].T
        u = F @ u
        P = F @ P @ F.T + (sg * sg * dt) * (I3 - np.outer(u, u)) + 1e-12 * I3
        n = norms[k]
        if n > 0:
            r = r_base
            if adaptive:
                r = r + ((n - GRAVITY) / GRAVITY) ** 2
            S = P + r * I3
            K = np.linalg.solve(S, P).T  # P S^-1 (both symmetric)
            u = u + K @ (a[k] / n - u)
            P = (I3 - K) @ P
            P = 0.5 * (P + P.T)
        u = u / np.linalg.norm(u)
        Rk = R[k - 1] @ dR[k - 1]
        R[k] = _align_to_up(Rk @ u) @ Rk
    return R


def to_euler(R, seq: str = "ZXY", degrees: bool = True) -> np.ndarray:
    """Euler angles of rotation matrices.

    ``seq`` follows scipy: upper case = intrinsic (rotating-axes), lower case = extrinsic.
    With the default intrinsic ``"ZXY"``, angles ``(a, b, c)`` satisfy
    ``R = Rz(a) @ Rx(b) @ Ry(c)``: in the Y-up world with X forward and Z right, ``a`` is rotation
    about Z (pitch-like, sagittal), ``b`` about X (roll-like) and ``c`` about the body Y axis
    (the long/vertical axis: axial rotation), the usual joint-angle order of flexion, adduction,
    rotation. For a heading-first decomposition use ``"YZX"``.

    Parameters
    ----------
    R : array_like, shape (3, 3) or (T, 3, 3)
    seq : str
        Three-letter axis sequence.
    degrees : bool
        Return degrees (default) or radians.

    Returns
    -------
    numpy.ndarray, shape (3,) or (T, 3), in the order of ``seq``.
    """
    M = as_float_array(R, "R", min_ndim=2)
    if M.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {M.shape}")
    if not (isinstance(seq, str) and len(seq) == 3):
        raise ValueError(f"seq={seq!r} must be a 3-letter axis sequence such as 'ZXY'")
    flat = M.reshape(-1, 3, 3)
    ang = Rotation.from_matrix(flat).as_euler(seq, degrees=degrees)
    return ang.reshape(M.shape[:-2] + (3,))


def to_quat_wxyz(R) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) ordered (w, x, y, z), w >= 0."""
    M = as_float_array(R, "R", min_ndim=2)
    if M.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {M.shape}")
    q = Rotation.from_matrix(M.reshape(-1, 3, 3)).as_quat(canonical=True, scalar_first=True)
    return q.reshape(M.shape[:-2] + (4,))


def from_quat_wxyz(q) -> np.ndarray:
    """Quaternions (..., 4) ordered (w, x, y, z) -> rotation matrices (..., 3, 3)."""
    Q = as_float_array(q, "q")
    if Q.shape[-1] != 4:
        raise ValueError(f"q must have shape (..., 4) ordered (w, x, y, z), got {Q.shape}")
    M = Rotation.from_quat(Q.reshape(-1, 4), scalar_first=True).as_matrix()
    return M.reshape(Q.shape[:-1] + (3, 3))


def gravity_in_sensor(R) -> np.ndarray:
    """Expected static accelerometer reading ``R.T @ (0, g, 0)`` for attitudes (..., 3, 3), m/s^2."""
    M = as_float_array(R, "R", min_ndim=2)
    return np.einsum("...ji,j->...i", M, UP * GRAVITY)


def initial_specific_force(acc: np.ndarray, fs_hz: float, init_s: float) -> np.ndarray:
    """Mean specific force over the first ``init_s`` seconds of ``acc`` (T, ..., 3) (the first
    sample when ``init_s`` is 0): the gravity estimate the initial tilt is taken from."""
    n = max(1, int(round(float(init_s) * float(fs_hz))))
    return np.asarray(acc)[:n].mean(axis=0)


def complementary_attitude_multi(acc, gyro, fs_hz: float, gain: float = 0.02, acc_gate: float | None = None,
                                 init_s: float = 0.0) -> np.ndarray:
    """:func:`complementary_attitude` for S sensors at once (vectorised over sensors).

    Same algorithm and result as calling :func:`complementary_attitude` (with ``R0=None``) on
    every sensor, but one Python loop over time for all sensors (S times fewer steps), so a
    6-IMU clip costs about as much as one sensor.

    Parameters
    ----------
    acc, gyro : array_like, shape (T, S, 3)
        Specific force (m/s^2) and angular velocity (rad/s) of S sensors, sensor frames.
    fs_hz, gain, acc_gate, init_s
        As in :func:`complementary_attitude`.

    Returns
    -------
    numpy.ndarray, shape (T, S, 3, 3)
        Sensor->world rotation matrices.
    """
    a = as_float_array(acc, "acc")
    g = as_float_array(gyro, "gyro")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"acc must have shape (T, S, 3), got {a.shape}")
    if a.shape != g.shape:
        raise ValueError(f"acc shape {a.shape} must equal gyro shape {g.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(g))):
        raise ValueError("acc/gyro contain NaN/inf; fill gaps first")
    dt = 1.0 / check_positive(fs_hz, "fs_hz")
    gain = float(gain)
    if not 0.0 <= gain <= 1.0:
        raise ValueError(f"gain={gain} must be in [0, 1]")
    T, S, _ = a.shape
    R = np.empty((T, S, 3, 3))
    if T == 0:
        return R
    norms = np.linalg.norm(a, axis=2)
    a_unit = a / np.where(norms > 0, norms, 1.0)[..., None]
    use = norms > 0
    if acc_gate is not None:
        use &= np.abs(norms - GRAVITY) <= float(acc_gate) * GRAVITY
    a0 = initial_specific_force(a, fs_hz, init_s)
    R[0] = tilts_from_acc(a0)
    if T > 1:
        w_mid = 0.5 * (g[1:] + g[:-1])
        dR = Rotation.from_rotvec((w_mid * dt).reshape(-1, 3)).as_matrix().reshape(T - 1, S, 3, 3)
    if T > 1:
        _complementary_loop(R, dR, np.ascontiguousarray(a_unit), np.ascontiguousarray(use), gain)
    return R


@njit(cache=True)
def _complementary_loop(R, dR, a_unit, use, gain):  # pragma: no cover - compiled by numba
    """The time loop of :func:`complementary_attitude_multi`, in place on R (T, S, 3, 3) with R[0]
    set: per step and sensor the gyro increment ``Rk = R[k-1] dR[k-1]``, then (``gain`` > 0, the
    sample usable, the predicted up direction ``v = Rk a_unit`` not already vertical) a rotation by
    ``gain`` times the angle between v and +Y about ``u = v x UP / |.| = (-v_z, 0, v_x) / |.|``
    (Rodrigues: ``I + sin K + (1 - cos) K^2`` with ``K^2 = u u^T - I``); the numpy version's
    arithmetic, element by element."""
    T, S = a_unit.shape[0], a_unit.shape[1]
    Rk = np.empty((3, 3))
    C = np.empty((3, 3))
    v = np.empty(3)
    for k in range(1, T):
        for s in range(S):
            for i in range(3):
                for j in range(3):
                    Rk[i, j] = (R[k - 1, s, i, 0] * dR[k - 1, s, 0, j] + R[k - 1, s, i, 1] * dR[k - 1, s, 1, j]
                                + R[k - 1, s, i, 2] * dR[k - 1, s, 2, j])
            done = False
            if gain > 0:
                for i in range(3):
                    v[i] = Rk[i, 0] * a_unit[k, s, 0] + Rk[i, 1] * a_unit[k, s, 1] + Rk[i, 2] * a_unit[k, s, 2]
                vx, vy, vz = v[0], v[1], v[2]
                sn = np.sqrt(vx * vx + vz * vz)
                if use[k, s] and sn >= 1e-12:
                    ang = gain * np.arctan2(sn, vy)
                    inv = 1.0 / sn
                    ux, uz = -vz * inv, vx * inv
                    sa, c1 = np.sin(ang), 1.0 - np.cos(ang)
                    C[0, 0], C[0, 1], C[0, 2] = 1.0 + c1 * (ux * ux - 1.0), -uz * sa, c1 * ux * uz
                    C[1, 0], C[1, 1], C[1, 2] = uz * sa, 1.0 - c1, -ux * sa
                    C[2, 0], C[2, 1], C[2, 2] = c1 * ux * uz, ux * sa, 1.0 + c1 * (uz * uz - 1.0)
                    for i in range(3):
                        for j in range(3):
                            R[k, s, i, j] = C[i, 0] * Rk[0, j] + C[i, 1] * Rk[1, j] + C[i, 2] * Rk[2, j]
                    done = True
            if not done:
                R[k, s] = Rk
