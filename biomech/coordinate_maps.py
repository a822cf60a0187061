"""Coordinate tables between OpenSim gait models' IK files and the project's model.

The project's model (`biomech.body`, written as `athlete.osim`) follows the names and signs of
Rajagopal et al. (2016) with one difference that matters for inverse dynamics: its
``pelvis_tx/ty/tz`` place the *hip-centre midpoint* in the ground frame, whereas in Gait2354,
Gait2392 and Rajagopal 2016 they place the pelvis body's origin (between the anterior and posterior
iliac spines), above and behind the hips. The tables here state, per model:

* the sign of each coordinate relative to ours (Gait2354 / Gait2392 count knee flexion negative);
* where the hip-centre midpoint sits in that model's pelvis frame (metres on the generic model,
  scaled by the athlete's height over the generic model's height): ``to_project`` moves the
  pelvis translation there through the pelvis rotation, ``from_project`` moves it back;
* the coordinates the project's model lacks (subtalar, mtp, wrist, ...; listed, not used) and
  the ones that model lacks (filled with 0: e.g. knee_adduction).

The knee of those three models translates with the flexion angle (a coupled spline in their
CustomJoint); the project's knee is a pin at the femur length. The moments reported are about the
pin (`README`, joint moments); the coupled models' own generalized force adds the joint reaction
force times the derivative of the translation (a few N m in heavy loading).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biomech.conventions import COORDINATES, MOMENT_COORDINATES, TRANSLATIONS

__all__ = ["ModelMap", "MODEL_MAPS", "get_map", "detect_model", "to_project", "from_project",
           "moments_from_project"]


@dataclass(frozen=True)
class ModelMap:
    name: str
    height_m: float  # stature of the generic model the offsets are measured on
    hip_midpoint: tuple[float, float, float]  # hip-centre midpoint in the model's pelvis frame (m)
    signs: dict[str, float] = field(default_factory=dict)  # coordinate -> +-1 relative to ours (default +1)
    unused: tuple[str, ...] = ()  # the model's coordinates the project's model does not have

    def sign(self, coordinate: str) -> float:
        return self.signs.get(coordinate, 1.0)


_GAIT_UNUSED = ("subtalar_angle_r", "subtalar_angle_l", "mtp_angle_r", "mtp_angle_l")
MODEL_MAPS: dict[str, ModelMap] = {
    "athlete-mm": ModelMap("athlete-mm", 1.75, (0.0, 0.0, 0.0)),
    # Gait2392 / Gait2354 (Delp 1990 legs; 1.80 m generic): hip_r at (-0.0707, -0.0661, 0.0835)
    "gait2392": ModelMap("gait2392", 1.80, (-0.0707, -0.0661, 0.0),
                         {"knee_angle_r": -1.0, "knee_angle_l": -1.0}, _GAIT_UNUSED),
    "gait2354": ModelMap("gait2354", 1.80, (-0.0707, -0.0661, 0.0),
                         {"knee_angle_r": -1.0, "knee_angle_l": -1.0}, _GAIT_UNUSED),
    # Rajagopal et al. 2016 (1.70 m generic): hip_r at (-0.056276, -0.07849, 0.07726)
    "rajagopal2016": ModelMap("rajagopal2016", 1.70, (-0.056276, -0.07849, 0.0), {},
                              _GAIT_UNUSED + ("knee_angle_r_beta", "knee_angle_l_beta", "pro_sup_r", "pro_sup_l",
                                              "wrist_flex_r", "wrist_flex_l", "wrist_dev_r", "wrist_dev_l")),
}


def get_map(name: str) -> ModelMap:
    try:
        return MODEL_MAPS[name.lower()]
    except KeyError:
        raise ValueError(f"model {name!r}: known models are {', '.join(MODEL_MAPS)}") from None


def detect_model(columns: list[str], knee_deg: np.ndarray | None = None) -> str:
    """A best guess from an IK file's columns: Rajagopal has knee_angle_*_beta or pro_sup; a knee
    that is mostly negative (flexed) is Gait2392 / Gait2354's; else the project's model."""
    if any(c.endswith("_beta") or c.startswith("pro_sup") for c in columns):
        return "rajagopal2016"
    if knee_deg is not None and len(knee_deg) and np.median(knee_deg) < -2.0:
        return "gait2392"
    return "athlete-mm"


def _pelvis_R(tilt: np.ndarray, lst: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(T,3,3) pelvis-in-ground rotations, body-fixed Z (tilt), X (list), Y (rotation); radians."""
    def rz(a):
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, -s, 0 * a], -1), np.stack([s, c, 0 * a], -1),
                         np.stack([0 * a, 0 * a, 1 + 0 * a], -1)], -2)

    def rx(a):
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([1 + 0 * a, 0 * a, 0 * a], -1), np.stack([0 * a, c, -s], -1),
                         np.stack([0 * a, s, c], -1)], -2)

    def ry(a):
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, 0 * a, s], -1), np.stack([0 * a, 1 + 0 * a, 0 * a], -1),
                         np.stack([-s, 0 * a, c], -1)], -2)

    return rz(tilt) @ rx(lst) @ ry(rot)


def _hip_offset(m: ModelMap, height_m: float) -> np.ndarray:
    return np.asarray(m.hip_midpoint) * (height_m / m.height_m)


def to_project(model: str, columns: dict[str, np.ndarray], height_m: float) -> tuple[np.ndarray, list[str]]:
    """A model's coordinates {name: (T,) degrees / metres} -> q (T, 29) of the project's model
    (radians, metres; pelvis_t* at the hip-centre midpoint) and the list of columns not used.
    Coordinates the file lacks are 0 (except the pelvis pose and the hip/knee/ankle flexions, which
    are required: a ValueError names the missing ones)."""
    m = get_map(model)
    needed = ["pelvis_tilt", "pelvis_list", "pelvis_rotation", *TRANSLATIONS,
              *[c for c in MOMENT_COORDINATES if "adduction" not in c]]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(f"coordinates missing for model {m.name}: {missing}")
    T = len(next(iter(columns.values())))
    q = np.zeros((T, len(COORDINATES)))
    for i, c in enumerate(COORDINATES):
        if c in columns:
            v = np.asarray(columns[c], dtype=float)
            q[:, i] = v if c in TRANSLATIONS else np.radians(v * m.sign(c))
    R = _pelvis_R(q[:, 0], q[:, 1], q[:, 2])
    q[:, 3:6] += R @ _hip_offset(m, height_m)
    unused = [c for c in columns if c not in COORDINATES]
    return q, unused


def from_project(model: str, q: np.ndarray, height_m: float) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_project`: q (T, 29) -> {name: (T,) degrees / metres} in the model's
    names and signs (coordinates the model lacks are still listed, at their value)."""
    m = get_map(model)
    q = np.asarray(q, dtype=float)
    R = _pelvis_R(q[:, 0], q[:, 1], q[:, 2])
    t = q[:, 3:6] - R @ _hip_offset(m, height_m)
    out = {}
    for i, c in enumerate(COORDINATES):
        out[c] = t[:, i - 3] if c in TRANSLATIONS else np.degrees(q[:, i]) * m.sign(c)
    return out


def moments_from_project(model: str, moments: np.ndarray) -> dict[str, np.ndarray]:
    """(T, 10) moments in MOMENT_COORDINATES order -> {'<coordinate>_moment': (T,)} with the model's
    signs (a generalized force changes sign with its coordinate)."""
    m = get_map(model)
    return {f"{c}_moment": moments[:, j] * m.sign(c) for j, c in enumerate(MOMENT_COORDINATES)}
