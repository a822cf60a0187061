"""Sensor models: IMUs on body segments, force plates, and the capture clocks.

IMU: accelerometer = specific force in the sensor frame, f = R_s^T (a_s - g) (a sensor at
rest with its +Y axis up reads +9.81 on Y); gyroscope = angular velocity of the sensor frame
in the sensor frame, R_s^T w. Each sensor sits on its segment at a fixed offset with a small
random mounting misalignment, and has white noise, a bias random walk and saturation.

Clocks: every stream has its own clock. A sample stamped t_stamp was measured at video-clock
time t = t_stamp + offset (the convention of `sigproc.sync`); the sample clock also drifts
(ppm) and jitters. Dropped samples are removed (their time stamps are missing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biomech.body import Body, Pose
from biomech.conventions import GRAVITY, IMU_SENSORS
from biomech.dynamics import BodyState

# sensor -> (segment, offset in segment frame as fractions: (x * radius, y * length, z * radius))
_MOUNTS = {
    "pelvis": ("pelvis", (-1.0, 0.45, 0.0)),  # sacrum, on the back
    "trunk": ("trunk", (-1.0, 0.75, 0.0)),  # upper back
    "wrist_l": ("forearm_l", (0.0, -0.95, -0.9)),
    "wrist_r": ("forearm_r", (0.0, -0.95, 0.9)),
    "shank_l": ("shank_l", (0.0, -0.45, -1.0)),  # lateral shank
    "shank_r": ("shank_r", (0.0, -0.45, 1.0)),
}


@dataclass(frozen=True)
class ImuSpec:
    rate_hz: float
    acc_noise: float  # m/s^2 white noise SD
    gyro_noise: float  # rad/s white noise SD
    acc_bias_walk: float  # m/s^2 per sqrt(s)
    gyro_bias_walk: float  # rad/s per sqrt(s)
    acc_range: float  # m/s^2 saturation
    gyro_range: float  # rad/s saturation


def mount_points(body: Body) -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for name in IMU_SENSORS:
        seg, (fx, fy, fz) = _MOUNTS[name]
        s = body.segments[seg]
        out[name] = (seg, np.array([fx * s.radius, fy * s.length, fz * s.radius]))
    return out


def _small_rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.radians(rng.uniform(-max_deg, max_deg, 3))).as_matrix()


def ideal_imu(body: Body, state: BodyState, rng: np.random.Generator,
              misalignment_deg: float = 4.0) -> dict[str, dict[str, np.ndarray]]:
    """Noise-free IMU signals at the simulation rate: acc (T,3), gyro (T,3), R sensor->world.

    Exact: the sensor point's acceleration and the segment's angular velocity come from the
    recursive kinematics of the generalized coordinates (no numerical differentiation)."""
    pose = state.pose
    g = torch.tensor([0.0, -GRAVITY, 0.0], dtype=torch.float64)
    out = {}
    for name, (seg, offset) in mount_points(body).items():
        Rm = torch.as_tensor(_small_rotation(rng, misalignment_deg))
        Rs = pose.R[seg] @ Rm
        a = state.point_acceleration(seg, offset)
        w = state.omega[seg]
        acc = (Rs.transpose(-1, -2) @ (a - g).unsqueeze(-1)).squeeze(-1)
        gyro = (Rs.transpose(-1, -2) @ w.unsqueeze(-1)).squeeze(-1)
        out[name] = {"acc": acc.numpy(), "gyro": gyro.numpy(), "R": Rs.numpy(),
                     "segment": seg, "offset_m": offset, "mount_R": Rm.numpy()}
    return out


def add_imu_errors(acc: np.ndarray, gyro: np.ndarray, spec: ImuSpec,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """White noise + bias random walk (+ constant turn-on bias) + saturation."""
    n = acc.shape[0]
    dt = 1.0 / spec.rate_hz

    def walk(sigma):
        b0 = rng.normal(0, sigma * 2, 3)
        return b0 + np.cumsum(rng.normal(0, sigma * np.sqrt(dt), (n, 3)), axis=0)

    acc = acc + rng.normal(0, spec.acc_noise, acc.shape) + walk(spec.acc_bias_walk)
    gyro = gyro + rng.normal(0, spec.gyro_noise, gyro.shape) + walk(spec.gyro_bias_walk)
    return np.clip(acc, -spec.acc_range, spec.acc_range), np.clip(gyro, -spec.gyro_range, spec.gyro_range)


@dataclass(frozen=True)
class StreamClock:
    """A capture clock: stamps k / rate, measured at t = stamp * (1 + ppm 1e-6) + offset + jitter."""

    rate_hz: float
    offset_s: float
    drift_ppm: float
    jitter_s: float
    drop_fraction: float

    def sample(self, duration: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(stamps, true times) of the samples actually delivered in [0, duration)."""
        n = int(np.floor(duration * self.rate_hz))
        stamps = np.arange(n) / self.rate_hz
        true = stamps * (1 + self.drift_ppm * 1e-6) + self.offset_s
        true = true + rng.normal(0, self.jitter_s, n)
        keep = drop_mask(n, self.drop_fraction, rng)
        return stamps[keep], true[keep]


def drop_mask(n: int, fraction: float, rng: np.random.Generator, max_burst: int = 4) -> np.ndarray:
    """Boolean keep-mask with about `fraction` of samples dropped in short bursts."""
    keep = np.ones(n, dtype=bool)
    target = int(round(fraction * n))
    dropped = 0
    guard = 0
    while dropped < target and guard < 10 * n:
        guard += 1
        start = int(rng.integers(1, max(2, n - 1)))
        length = int(rng.integers(1, max_burst + 1))
        seg = keep[start:start + length]
        dropped += int(seg.sum())
        keep[start:start + length] = False
    keep[0] = keep[-1] = True  # the recording's first and last samples are always there
    return keep


def resample_at(t_src: np.ndarray, x: np.ndarray, t_new: np.ndarray) -> np.ndarray:
    """Linear interpolation of (T, ...) signals at new times (clamped to the source range)."""
    flat = x.reshape(x.shape[0], -1)
    out = np.stack([np.interp(t_new, t_src, flat[:, j]) for j in range(flat.shape[1])], -1)
    return out.reshape((len(t_new),) + x.shape[1:])
