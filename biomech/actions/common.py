"""Shared pieces for action builders: context, standing posture, foot tracks, arm presets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biomech.body import Body, forward_kinematics, q_index, whole_body_com
from biomech.conventions import COORDINATES, GRAVITY
from biomech.kinematics import UPPER_COORDS, FootTrack, ankle_from_pivot, pivot_from_ankle
from biomech.trajectory import Knot, ballistic_knot, piecewise_quintic

DEG = np.pi / 180.0


@dataclass
class ActionContext:
    body: Body
    rng: np.random.Generator
    fs: float
    duration: float
    fault: str = "none"

    @property
    def n(self) -> int:
        return int(round(self.duration * self.fs))

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n) / self.fs

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    @property
    def leg_length(self) -> float:
        b = self.body
        return b.segments["thigh_r"].length + b.segments["shank_r"].length + b.ankle_height


def standing_com_height(body: Body, knee_bend_deg: float = 12.0) -> float:
    """CoM height of a quiet standing posture (feet flat, knees bent `knee_bend_deg`)."""
    q = torch.zeros(1, len(COORDINATES), dtype=torch.float64)
    Lt, Ls = body.segments["thigh_r"].length, body.segments["shank_r"].length
    k = knee_bend_deg * DEG
    # symmetric bend: hip flexion = ankle dorsiflexion = k/2 keeps the trunk upright
    for s in ("r", "l"):
        q[0, q_index(f"hip_flexion_{s}")] = k / 2
        q[0, q_index(f"knee_angle_{s}")] = k
        q[0, q_index(f"ankle_angle_{s}")] = k / 2
    leg = (Lt + Ls) * np.cos(k / 2) + body.ankle_height
    q[0, q_index("pelvis_ty")] = leg
    return float(whole_body_com(body, forward_kinematics(body, q))[0, 1])


def zeros(ctx: ActionContext) -> np.ndarray:
    return np.zeros(ctx.n)


def neutral_upper(ctx: ActionContext, arm_abduction_deg: float = 8.0,
                  elbow_deg: float = 15.0) -> dict[str, np.ndarray]:
    """Relaxed trunk and arms hanging slightly away from the body."""
    up = {c: zeros(ctx) for c in UPPER_COORDS}
    for s in ("r", "l"):
        up[f"arm_add_{s}"] += -arm_abduction_deg * DEG
        up[f"elbow_flex_{s}"] += elbow_deg * DEG
    return up


def flat_track(ctx: ActionContext, ankle_xz: tuple[float, float], yaw: float = 0.0) -> FootTrack:
    """A foot standing flat and still at (x, z) for the whole clip."""
    n = ctx.n
    pos = np.tile([ankle_xz[0], ctx.body.ankle_height, ankle_xz[1]], (n, 1)).astype(float)
    return FootTrack(pos=pos, yaw=np.full(n, yaw), pitch=np.zeros(n), swivel=np.zeros(n),
                     contact=np.ones(n, dtype=bool))


def stance_width(ctx: ActionContext, scale: float = 1.0) -> float:
    """Half distance between the ankle centres of a natural stance, m."""
    return scale * ctx.u(0.09, 0.13) * ctx.body.height / 1.75


def heel_raise(ctx: ActionContext, track: FootTrack, pitch: np.ndarray) -> None:
    """Rotate a planted foot about its toe by `pitch` (rad, negative = heel up), in place."""
    toe = pivot_from_ankle(ctx.body, track.pos, track.yaw, track.pitch, "toe")
    track.pitch = track.pitch + pitch
    track.pos = ankle_from_pivot(ctx.body, toe, track.yaw, track.pitch, "toe")


def com_height_on_toes(body: Body, coords: dict[str, float]) -> float:
    """Height of the whole-body CoM above the floor for a pose (coordinate values in rad) when
    the lower toe touches the floor: what a take-off or landing CoM height must be for the
    legs to be in that pose."""
    q = torch.zeros(1, len(COORDINATES), dtype=torch.float64)
    for name, v in coords.items():
        q[0, q_index(name)] = float(v)
    pose = forward_kinematics(body, q)
    lf, ah, hb = body.foot_length, body.ankle_height, body.heel_back
    toe = min(float(pose.point(f"foot_{s}", ((1 - hb) * lf, -ah, 0.0))[0, 1]) for s in ("r", "l"))
    return float(whole_body_com(body, pose)[0, 1]) - toe


def vertical_jump_com(ctx: ActionContext, h0: float, *, t_start: float, dip: float, t_dip: float,
                      t_push: float | None, v_takeoff: float, rise: float, land_dip: float,
                      t_absorb: float | None, t_recover: float,
                      land_rise: float | None = None) -> tuple[np.ndarray, dict]:
    """CoM height of a countermovement jump: stand, dip, push, ballistic flight, land, stand.

    Piecewise quintic (C2), the flight knots lie on one parabola so flight is exactly ballistic
    and the ground reaction force is continuous (zero at take-off and at touchdown). Push-off
    and absorption durations default to the ones that keep the vertical GRF positive: a quintic
    covering distance d from rest to speed v needs about T = 2 d / v (x1.15 margin).
    """
    lr = rise if land_rise is None else land_rise
    if t_push is None:
        t_push = 1.15 * 2 * max(dip + rise, 0.5 * dip, 0.03) / v_takeoff
    if t_absorb is None:
        v_land = float(np.sqrt(max(v_takeoff * v_takeoff + 2 * GRAVITY * (rise - lr), 0.25)))
        # distance from touchdown to the bottom of the landing (the landing height h0 + lr may
        # sit below standing height when the legs are inclined)
        t_absorb = 1.15 * 2 * max(land_dip + lr, 0.5 * land_dip, 0.03) / v_land
    land_rise = rise if land_rise is None else land_rise
    t1 = t_start
    t2 = t1 + t_dip
    t3 = t2 + t_push
    # flight from h0 + rise up and down to h0 + land_rise
    drop = land_rise - rise
    disc = v_takeoff * v_takeoff - 2 * GRAVITY * drop
    if disc <= 0:
        raise ValueError(f"take-off velocity {v_takeoff:.2f} m/s cannot reach a landing "
                         f"{drop:.3f} m above the take-off height")
    t_flight = (v_takeoff + np.sqrt(disc)) / GRAVITY
    t4 = t3 + t_flight
    t5 = t4 + t_absorb
    t6 = t5 + t_recover
    to = Knot(t3, h0 + rise, v_takeoff, -GRAVITY)
    knots = [
        Knot(0.0, h0), Knot(t1, h0), Knot(t2, h0 - dip, 0.0, 0.9 * GRAVITY), to,
        ballistic_knot(to, t4), Knot(t5, h0 - land_dip, 0.0, 1.2 * GRAVITY), Knot(t6, h0),
    ]
    if t6 >= ctx.duration:
        raise ValueError(f"jump does not fit in {ctx.duration:.2f} s (needs {t6:.2f} s)")
    knots.append(Knot(ctx.duration + 1.0, h0))
    y = piecewise_quintic(ctx.t, knots)
    return y, {"dip_start": t1, "bottom": t2, "takeoff": t3, "landing": t4, "absorbed": t5,
               "standing": t6}
