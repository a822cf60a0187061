"""From a motion plan to generalized coordinates: analytic leg IK and the CoM-driven pelvis.

A `MotionPlan` prescribes what an athlete's technique fixes: the whole-body centre-of-mass
trajectory (so flight phases are exactly ballistic and the ground reaction force is designed),
pelvis orientation, trunk and arm coordinates, and each foot's pose (planted feet do not slide).
`solve_motion` finds the pelvis translation and the six leg coordinates per side
(hip flexion/adduction/rotation, knee flexion/adduction, ankle) so that the feet reach their
poses exactly (analytic inverse kinematics) and the whole-body CoM follows the plan
(fixed-point iteration on the pelvis position).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from biomech.body import Body, forward_kinematics, q_index, whole_body_com
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


def _sole_point(body: Body, where: str) -> np.ndarray:
    lf, ah, hb = body.foot_length, body.ankle_height, body.heel_back
    try:
        return np.asarray({"heel": (-hb * lf, -ah, 0.0), "toe": ((1 - hb) * lf, -ah, 0.0),
                           "mid": ((0.5 - hb) * lf, -ah, 0.0)}[where])
    except KeyError:
        raise ValueError(f"where={where!r}: expected 'heel', 'toe' or 'mid'") from None


def ankle_from_pivot(body: Body, pivot: np.ndarray, yaw, pitch, where: str) -> np.ndarray:
    """Ankle-centre position that puts the foot's heel / toe / mid-sole at `pivot` (T,3)."""
    R = foot_rotation(yaw, pitch, np.zeros_like(np.asarray(yaw, dtype=float))).numpy()
    return pivot - R @ _sole_point(body, where)


def pivot_from_ankle(body: Body, ankle: np.ndarray, yaw, pitch, where: str) -> np.ndarray:
    """World position (T,3) of the foot's heel / toe / mid-sole for an ankle-centre position."""
    R = foot_rotation(yaw, pitch, np.zeros_like(np.asarray(yaw, dtype=float))).numpy()
    return ankle + R @ _sole_point(body, where)


def _euler_zxy(R: torch.Tensor, m: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Angles (a, b, c) with R = Rz(a) Rx(m*b) Ry(m*c)."""
    b = torch.asin(torch.clamp(R[..., 2, 1], -1.0, 1.0))
    c = torch.atan2(-R[..., 2, 0], R[..., 2, 2])
    a = torch.atan2(-R[..., 0, 1], R[..., 1, 1])
    return a, m * b, m * c


def leg_ik(body: Body, side: str, R_pelvis: torch.Tensor, p_pelvis: torch.Tensor,
           ankle: torch.Tensor, foot_dir: torch.Tensor, swivel: torch.Tensor
           ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Leg coordinates putting the ankle centre at `ankle` (T,3) with the foot's long axis
    along `foot_dir` (T,3) as closely as a hinge knee and hinge ankle allow.

    The knee is a hinge in the plane through hip, ankle and the foot's long axis (knee in front),
    rotated about the hip-ankle line by `swivel` (rad, + = knee moves medially: dynamic valgus).
    The foot lies in the shank's sagittal plane (no subtalar joint), so its roll follows the
    leg plane. knee_adduction stays 0: the coordinate exists so that OpenSim reports the frontal
    plane (varus/valgus) knee moment. Returns (coordinates by name, reach shortfall (T,) m).
    """
    m = 1.0 if side == "r" else -1.0
    Lt = body.segments[f"thigh_{side}"].length
    Ls = body.segments[f"shank_{side}"].length
    hip = p_pelvis + R_pelvis @ torch.as_tensor(body.joint_offsets[f"thigh_{side}"])
    ha = hip - ankle
    dist = ha.norm(dim=-1)
    # Smooth saturation of the reach (no kink in the coordinates when a plan asks for a fully
    # straight leg): d = Lmax - softplus(Lmax - dist), scale 4 mm, so the knee never locks (a straight-legged plan up to ~0.99 of the leg length is reached within ~1 mm).
    l_max = (Lt + Ls) * 0.9995
    soft = 0.004
    d = l_max - soft * torch.nn.functional.softplus((l_max - dist) / soft)
    shortfall = (dist - d).clamp_min(0.0)
    u = ha / dist.unsqueeze(-1)  # unit ankle -> hip
    # plane normal (points to the athlete's right, like the segments' Z axes); where the foot
    # points along the leg (toe pointed hard in flight) blend in the pelvis' forward axis
    f_perp = foot_dir - (foot_dir * u).sum(-1, keepdim=True) * u
    px = R_pelvis[..., :, 0]
    px_perp = px - (px * u).sum(-1, keepdim=True) * u
    w = (0.5 - f_perp.norm(dim=-1, keepdim=True)).clamp_min(0.0)
    n = torch.linalg.cross(f_perp + w * px_perp, u)
    n = n / n.norm(dim=-1, keepdim=True)
    # swivel: rotate the plane normal about u (Rodrigues); medial knee = toward the midline
    ang = -m * swivel
    n = n * torch.cos(ang).unsqueeze(-1) + torch.linalg.cross(u, n) * torch.sin(ang).unsqueeze(-1)
    fwd = torch.linalg.cross(u, n)  # in-plane, perpendicular to u, anterior
    # two-link IK in the plane: knee at distance Ls from the ankle along u rotated forward
    cos_a = ((Ls * Ls + d * d - Lt * Lt) / (2 * Ls * d)).clamp(-1.0, 1.0)
    sin_a = torch.sqrt(1 - cos_a * cos_a)
    knee = ankle + Ls * (cos_a.unsqueeze(-1) * u + sin_a.unsqueeze(-1) * fwd)
    y_s = (knee - ankle) / Ls
    y_t = hip - knee
    y_t = y_t / y_t.norm(dim=-1, keepdim=True)
    R_shank = torch.stack([torch.linalg.cross(y_s, n), y_s, n], -1)
    R_thigh = torch.stack([torch.linalg.cross(y_t, n), y_t, n], -1)
    # knee flexion: rotation from thigh to shank about -Z
    Rk = R_thigh.transpose(-1, -2) @ R_shank
    knee_angle = -torch.atan2(Rk[..., 1, 0], Rk[..., 0, 0])
    # ankle: foot X = projection of foot_dir on the shank's sagittal plane
    fx = foot_dir - (foot_dir * n).sum(-1, keepdim=True) * n
    fx = fx / fx.norm(dim=-1, keepdim=True)
    fl = (R_shank.transpose(-1, -2) @ fx.unsqueeze(-1)).squeeze(-1)
    ankle_angle = torch.atan2(fl[..., 1], fl[..., 0])
    hf, ha_, hr = _euler_zxy(R_pelvis.transpose(-1, -2) @ R_thigh, m)
    coords = {
        f"hip_flexion_{side}": hf, f"hip_adduction_{side}": ha_, f"hip_rotation_{side}": hr,
        f"knee_angle_{side}": knee_angle, f"knee_adduction_{side}": torch.zeros_like(knee_angle),
        f"ankle_angle_{side}": ankle_angle,
    }
    return coords, shortfall


def solve_motion(body: Body, plan: MotionPlan, iters: int = 5) -> tuple[np.ndarray, dict]:
    """Generalized coordinates q (T, len(COORDINATES)) realising `plan`; plus solver info."""
    T = plan.n
    q = torch.zeros(T, len(COORDINATES), dtype=torch.float64)
    for i, name in enumerate(("pelvis_tilt", "pelvis_list", "pelvis_rotation")):
        q[:, q_index(name)] = torch.as_tensor(plan.pelvis_rot[:, i])
    for name, v in plan.upper.items():
        q[:, q_index(name)] = torch.as_tensor(v)
    com_target = torch.as_tensor(plan.com, dtype=torch.float64)
    foot_dir = {s: foot_rotation(f.yaw, f.pitch, np.zeros_like(f.yaw))[..., :, 0]
                for s, f in plan.feet.items()}
    swivel = {s: torch.as_tensor(f.swivel, dtype=torch.float64) for s, f in plan.feet.items()}
    ankles = {s: torch.as_tensor(f.pos, dtype=torch.float64) for s, f in plan.feet.items()}
    ti = [q_index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    # initial guess: the standing pose's CoM offset from the pelvis origin
    pose0 = forward_kinematics(body, q)
    p = com_target - (whole_body_com(body, pose0) - pose0.p["pelvis"])
    shortfall = torch.zeros(T, dtype=torch.float64)
    err = torch.zeros(T, dtype=torch.float64)
    for it in range(iters):
        q[:, ti] = p
        pose = forward_kinematics(body, q)
        shortfall = torch.zeros(T, dtype=torch.float64)
        for s in ("r", "l"):
            coords, sf = leg_ik(body, s, pose.R["pelvis"], p, ankles[s], foot_dir[s], swivel[s])
            for n, v in coords.items():
                q[:, q_index(n)] = v
            shortfall = torch.maximum(shortfall, sf)
        com = whole_body_com(body, forward_kinematics(body, q))
        err = com_target - com
        if it < iters - 1:
            p = p + err
    pose = forward_kinematics(body, q)
    foot_err = max(float((pose.p[f"foot_{s}"] - ankles[s]).norm(dim=-1).max()) for s in ("r", "l"))
    info = {
        "com_error_max_m": float(err.norm(dim=-1).max()),
        "foot_error_max_m": foot_err,
        "reach_shortfall_max_m": float(shortfall.max()),
    }
    return q.numpy(), info
