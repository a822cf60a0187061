"""From a motion plan to generalized coordinates: analytic leg IK and the CoM-driven pelvis.

A `MotionPlan` prescribes what an athlete's technique fixes: the whole-body centre-of-mass
trajectory (so flight phases are exactly ballistic and the ground reaction force is designed),
pelvis orientation, trunk and arm coordinates, and each foot's pose (planted feet do not slide).
`solve_motion` finds the pelvis translation and the six leg coordinates per side
(hip flexion/adduction/rotation, knee flexion/adduction, ankle) so that the feet reach their
poses exactly (analytic inverse kinematics) and the whole-body CoM follows the plan
(Broyden iteration on the pelvis position, per frame).

The solve is numpy and works on both legs at once; the legs' own forward kinematics (from the
solved coordinates) gives their CoM, so an iteration costs one leg IK and no whole-body
forward kinematics (`MotionSolver` prepares the upper body once; plan builders reuse it for
trial CoM paths).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from biomech.body import Body, forward_kinematics, q_index
from biomech.conventions import COORDINATES


@dataclass
class FootTrack:
    """Planned pose of one foot: ankle-centre position (T,3) m; yaw and pitch (T,) rad of the
    foot's long axis (world rotation Ry(yaw) Rz(pitch)); leg swivel (T,) rad, + = knee medial
    (dynamic valgus); ground contact (T,) bool; optional share of the vertical load (T,)."""

    pos: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    swivel: np.ndarray
    contact: np.ndarray
    load: np.ndarray | None = None


@dataclass
class MotionPlan:
    action: str
    fs: float
    com: np.ndarray  # (T,3) target whole-body CoM, m
    pelvis_rot: np.ndarray  # (T,3) pelvis_tilt, pelvis_list, pelvis_rotation (rad)
    upper: dict[str, np.ndarray]  # lumbar_*, arm_*, elbow_* (rad)
    feet: dict[str, FootTrack]
    fault: str = "none"
    style: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)  # named times (s), e.g. takeoff, landing

    @property
    def n(self) -> int:
        return self.com.shape[0]

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n) / self.fs


LEG_COORDS = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "knee_adduction",
              "ankle_angle")
UPPER_COORDS = ("lumbar_extension", "lumbar_bending", "lumbar_rotation",
                "arm_flex_r", "arm_add_r", "arm_rot_r", "elbow_flex_r",
                "arm_flex_l", "arm_add_l", "arm_rot_l", "elbow_flex_l")


def _rot(axis: int, a: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(a), torch.sin(a)
    o, z = torch.ones_like(a), torch.zeros_like(a)
    rows = {
        0: [[o, z, z], [z, c, -s], [z, s, c]],
        1: [[c, z, s], [z, o, z], [-s, z, c]],
        2: [[c, -s, z], [s, c, z], [z, z, o]],
    }[axis]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def foot_rotation(yaw, pitch, roll) -> torch.Tensor:
    """World rotation of a foot: Ry(yaw) Rz(pitch) Rx(roll), (T,3,3)."""
    f = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))  # noqa: E731
    return _rot(1, f(yaw)) @ _rot(2, f(pitch)) @ _rot(0, f(roll))


def _foot_frame(yaw, pitch, local: np.ndarray) -> np.ndarray:
    """Ry(yaw) Rz(pitch) @ local (no roll) for (T,) angles and a (3,) or (T,3) vector, numpy."""
    yaw, pitch = np.asarray(yaw, dtype=float), np.asarray(pitch, dtype=float)
    local = np.asarray(local, dtype=float)
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    u, v = x * cp - y * sp, x * sp + y * cp  # Rz(pitch)
    return np.stack([u * cy + z * sy, v, -u * sy + z * cy], -1)  # Ry(yaw)


def _sole_point(body: Body, where: str) -> np.ndarray:
    lf, ah, hb = body.foot_length, body.ankle_height, body.heel_back
    try:
        return np.asarray({"heel": (-hb * lf, -ah, 0.0), "toe": ((1 - hb) * lf, -ah, 0.0),
                           "mid": ((0.5 - hb) * lf, -ah, 0.0)}[where])
    except KeyError:
        raise ValueError(f"where={where!r}: expected 'heel', 'toe' or 'mid'") from None


def ankle_from_pivot(body: Body, pivot: np.ndarray, yaw, pitch, where: str) -> np.ndarray:
    """Ankle-centre position that puts the foot's heel / toe / mid-sole at `pivot` (T,3)."""
    return pivot - _foot_frame(yaw, pitch, _sole_point(body, where))


def pivot_from_ankle(body: Body, ankle: np.ndarray, yaw, pitch, where: str) -> np.ndarray:
    """World position (T,3) of the foot's heel / toe / mid-sole for an ankle-centre position."""
    return ankle + _foot_frame(yaw, pitch, _sole_point(body, where))


# --------------------------------------------------------------------------------------
# analytic leg IK (numpy, both legs at once). Vectors are stored component first, (3, 2, T)
# (x/y/z, side r/l, frame), so that every operation works on contiguous (2, T) planes.
# --------------------------------------------------------------------------------------
SIDES = ("r", "l")
_LEG_SEGMENTS = ("thigh", "shank", "foot")


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _unit(a: np.ndarray) -> np.ndarray:
    return a * (1.0 / np.sqrt(_dot(a, a)))


def _apply(cols: tuple[np.ndarray, np.ndarray, np.ndarray], v: np.ndarray) -> np.ndarray:
    """R @ v for R given by its columns (each (3, ...)) and a constant vector v (3, ...)."""
    return cols[0] * v[0] + cols[1] * v[1] + cols[2] * v[2]


def _soa(a: np.ndarray) -> np.ndarray:
    """(..., 3) -> (3, ...) contiguous."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(a, dtype=float), -1, 0))


class _Legs:
    """Per-body constants of the two legs: lengths (2, 1), joint offsets and segment CoMs
    (3, 2, 1), masses (2, 1)."""

    def __init__(self, body: Body):
        seg, off = body.segments, body.joint_offsets
        side = lambda f: np.array([f(s) for s in SIDES])[:, None]  # noqa: E731
        vec = lambda f: _soa(np.stack([f(s) for s in SIDES])[:, None, :])  # noqa: E731
        self.m = np.array([1.0, -1.0])[:, None]
        self.Lt = side(lambda s: seg[f"thigh_{s}"].length)
        self.Ls = side(lambda s: seg[f"shank_{s}"].length)
        self.hip_off = vec(lambda s: off[f"thigh_{s}"])
        self.knee_off = vec(lambda s: off[f"shank_{s}"])
        self.ankle_off = vec(lambda s: off[f"foot_{s}"])
        self.mass = {g: side(lambda s, g=g: seg[f"{g}_{s}"].mass) for g in _LEG_SEGMENTS}
        self.com = {g: vec(lambda s, g=g: seg[f"{g}_{s}"].com) for g in _LEG_SEGMENTS}
        self.leg_mass = float(sum(seg[f"{g}_{s}"].mass for g in _LEG_SEGMENTS for s in SIDES))


def legs_ik(legs: _Legs, Rp: tuple[np.ndarray, np.ndarray, np.ndarray], p: np.ndarray, ankle: np.ndarray,
            foot_dir: np.ndarray, swivel: np.ndarray) -> dict[str, np.ndarray]:
    """Leg coordinates putting each ankle centre at `ankle` (3,2,T) with the foot's long axis
    along `foot_dir` (3,2,T) as closely as a hinge knee and hinge ankle allow; pelvis rotation
    given by its columns `Rp` (each (3,1,T)), pelvis origin `p` (3,1,T) (component first).

    The knee is a hinge in the plane through hip, ankle and the foot's long axis (knee in front),
    rotated about the hip-ankle line by `swivel` (2,T) (rad, + = knee moves medially: dynamic
    valgus). The foot lies in the shank's sagittal plane (no subtalar joint), so its roll
    follows the leg plane. knee_adduction stays 0: the coordinate exists so that OpenSim reports
    the frontal plane (varus/valgus) knee moment.

    Returns the coordinates (hip_flexion, hip_adduction, hip_rotation, knee_angle,
    ankle_angle: (2,T) each), the reach shortfall (2,T) m, and the legs' forward kinematics from
    those coordinates: ankle centres (3,2,T) and the legs' mass-weighted CoM sum (3,T) kg m.
    """
    m, Lt, Ls = legs.m, legs.Lt, legs.Ls
    hip = p + _apply(Rp, legs.hip_off)
    ha = hip - ankle
    dist = np.sqrt(_dot(ha, ha))
    # Smooth saturation of the reach (no kink in the coordinates when a plan asks for a fully
    # straight leg): d = Lmax - softplus(Lmax - dist), scale 4 mm, so the knee never locks
    # (a straight-legged plan up to ~0.99 of the leg length is reached within ~1 mm).
    l_max = (Lt + Ls) * 0.9995
    soft = 0.004
    d = l_max - soft * np.logaddexp(0.0, (l_max - dist) / soft)
    shortfall = np.clip(dist - d, 0.0, None)
    u = ha * (1.0 / dist)  # unit ankle -> hip
    # plane normal (points to the athlete's right, like the segments' Z axes); where the foot
    # points along the leg (toe pointed hard in flight) blend in the pelvis' forward axis
    f_perp = foot_dir - _dot(foot_dir, u) * u
    px_perp = Rp[0] - _dot(Rp[0], u) * u
    w = np.clip(0.5 - np.sqrt(_dot(f_perp, f_perp)), 0.0, None)
    n = _unit(_cross(f_perp + w * px_perp, u))
    # swivel: rotate the plane normal about u (Rodrigues); medial knee = toward the midline
    ang = m * swivel
    n = n * np.cos(ang) + _cross(u, n) * np.sin(ang)
    fwd = _cross(u, n)  # in-plane, perpendicular to u, anterior
    # two-link IK in the plane: knee at distance Ls from the ankle along u rotated forward
    cos_a = np.clip((Ls * Ls + d * d - Lt * Lt) / (2 * Ls * d), -1.0, 1.0)
    sin_a = np.sqrt(1 - cos_a * cos_a)
    y_s = cos_a * u + sin_a * fwd  # shank axis (knee - ankle) / Ls
    y_t = _unit(hip - (ankle + Ls * y_s))
    x_t, x_s = _cross(y_t, n), _cross(y_s, n)
    # knee flexion: rotation from thigh to shank about -Z
    knee_angle = -np.arctan2(_dot(y_t, x_s), _dot(x_t, x_s))
    # ankle: foot X = projection of foot_dir on the shank's sagittal plane
    fx = _unit(foot_dir - _dot(foot_dir, n) * n)
    ankle_angle = np.arctan2(_dot(y_s, fx), _dot(x_s, fx))
    # hip: R_pelvis^T R_thigh = Rz(a) Rx(m b) Ry(m c)
    pz = Rp[2]
    b = np.arcsin(np.clip(_dot(pz, y_t), -1.0, 1.0))
    c = np.arctan2(-_dot(pz, x_t), _dot(pz, n))
    a = np.arctan2(-_dot(Rp[0], y_t), _dot(Rp[1], y_t))
    # forward kinematics of the legs from these coordinates (thigh -> shank -> foot)
    th, sh, ft = (x_t, y_t, n), (x_s, y_s, n), (fx, _cross(n, fx), n)
    knee_c = hip + _apply(th, legs.knee_off)
    ankle_c = knee_c + _apply(sh, legs.ankle_off)
    mc, cc = legs.mass, legs.com
    com = (mc["thigh"] * (hip + _apply(th, cc["thigh"])) + mc["shank"] * (knee_c + _apply(sh, cc["shank"]))
           + mc["foot"] * (ankle_c + _apply(ft, cc["foot"]))).sum(1)
    return {"hip_flexion": a, "hip_adduction": m * b, "hip_rotation": m * c, "knee_angle": knee_angle,
            "ankle_angle": ankle_angle, "shortfall": shortfall, "ankle": ankle_c, "leg_com_sum": com}


class MotionSolver:
    """`solve_motion` for one body, pelvis rotation, upper body and foot tracks, any CoM path.

    Everything that does not depend on the CoM target is prepared once (the pelvis rotation, the
    upper body's CoM relative to the pelvis origin, the foot axes), so plan builders that try
    several CoM paths for the same feet (reach fitting, key-frame heights) solve cheaply."""

    def __init__(self, body: Body, plan: MotionPlan):
        self.body, self.plan = body, plan
        T = plan.n
        q = torch.zeros(T, len(COORDINATES), dtype=torch.float64)
        for i, name in enumerate(("pelvis_tilt", "pelvis_list", "pelvis_rotation")):
            q[:, q_index(name)] = torch.as_tensor(plan.pelvis_rot[:, i])
        for name, v in plan.upper.items():
            q[:, q_index(name)] = torch.as_tensor(v)
        self.q0 = q.numpy()
        # one forward kinematics with the pelvis at the origin and straight legs
        pose = forward_kinematics(body, q)
        Rp = pose.R["pelvis"].numpy()
        self.Rp = tuple(_soa(Rp[..., :, k])[:, None, :] for k in range(3))  # columns, (3,1,T)
        msum = lambda names: sum(body.segments[n].mass * pose.point(n, body.segments[n].com) for n in names)  # noqa: E731
        leg = [f"{g}_{s}" for g in _LEG_SEGMENTS for s in SIDES]
        self.upper_com_sum = msum([n for n in body.segments if n not in leg]).numpy()
        self.com_straight = (self.upper_com_sum + msum(leg).numpy()) / body.total_mass
        self.legs = _Legs(body)
        self.upper_mass = body.total_mass - self.legs.leg_mass
        self.ankle_aos = np.stack([plan.feet[s].pos for s in SIDES]).astype(float)  # (2,T,3)
        self.ankle = _soa(self.ankle_aos)
        self.foot_dir = _soa(_foot_frame(np.stack([plan.feet[s].yaw for s in SIDES]),
                                         np.stack([plan.feet[s].pitch for s in SIDES]), np.array([1.0, 0.0, 0.0])))
        self.swivel = np.stack([plan.feet[s].swivel for s in SIDES]).astype(float)

    def _legs(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return legs_ik(self.legs, self.Rp, _soa(p)[:, None, :], self.ankle, self.foot_dir, self.swivel)

    def hip_centres(self, p: np.ndarray) -> np.ndarray:
        """Hip joint centres (2,T,3) (r, l) for the pelvis origin path p (T,3)."""
        return np.moveaxis(_soa(p)[:, None, :] + _apply(self.Rp, self.legs.hip_off), 0, -1)

    def com_of(self, p: np.ndarray, legs: dict[str, np.ndarray]) -> np.ndarray:
        return (self.upper_com_sum + self.upper_mass * p + legs["leg_com_sum"].T) / self.body.total_mass

    def solve(self, com_target: np.ndarray | None = None, iters: int = 6, tol: float = 1e-7,
              p0: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Generalized coordinates (T, len(COORDINATES)) whose whole-body CoM follows
        `com_target` (default: the plan's) with the feet on their tracks; plus solver info
        (and the pelvis origin path under "pelvis_origin", a warm start `p0` for a nearby target).

        The pelvis origin p solves com(p) = target per frame by Broyden's method (3x3 inverse
        Jacobian per frame, started at I / 0.85: the CoM moves ~0.85 x the pelvis as the legs
        fold, and up-down couples into fore-aft): ~1e-6 m after 5 evaluations where the
        plain fixed point p += err needs ~10. Stops after `iters` evaluations or when the CoM
        error is below `tol` (m)."""
        target = np.asarray(self.plan.com if com_target is None else com_target, dtype=float)
        p = target - self.com_straight if p0 is None else np.array(p0, dtype=float)
        H = np.tile(np.eye(3) / 0.85, (len(p), 1, 1))
        prev = None
        for it in range(iters):
            legs = self._legs(p)
            com = self.com_of(p, legs)
            err = target - com
            if it == iters - 1 or np.abs(err).max() < tol:
                break
            if prev is not None:  # good Broyden, inverse form (Sherman-Morrison)
                s, y = p - prev[0], com - prev[1]
                Hy = np.einsum("tij,tj->ti", H, y)
                den = np.einsum("ti,ti->t", s, Hy)
                ok = np.abs(den) > 1e-14
                upd = np.einsum("ti,tj->tij", s - Hy, np.einsum("ti,tij->tj", s, H))
                H = H + np.where(ok[:, None, None], upd / np.where(ok, den, 1.0)[:, None, None], 0.0)
            prev = (p, com)
            p = p + np.einsum("tij,tj->ti", H, err)
        q = self.q0.copy()
        q[:, [q_index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]] = p
        for k, s in enumerate(SIDES):
            for name in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"):
                q[:, q_index(f"{name}_{s}")] = legs[name][k]
            q[:, q_index(f"knee_adduction_{s}")] = 0.0
        foot_err = np.sqrt(_dot(legs["ankle"] - self.ankle, legs["ankle"] - self.ankle))
        info = {
            "com_error_max_m": float(np.sqrt((err ** 2).sum(-1)).max()),
            "foot_error_max_m": float(foot_err.max()),
            "reach_shortfall_max_m": float(legs["shortfall"].max()),
            "iterations": it + 1,
            "pelvis_origin": p,
        }
        return q, info


def solve_motion(body: Body, plan: MotionPlan, iters: int = 6) -> tuple[np.ndarray, dict]:
    """Generalized coordinates q (T, len(COORDINATES)) realising `plan`; plus solver info
    (CoM, foot and reach errors in m, iterations used)."""
    q, info = MotionSolver(body, plan).solve(iters=iters)
    info.pop("pelvis_origin")
    info.pop("iterations")
    return q, info
