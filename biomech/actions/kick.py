"""Soccer kick (instep drive from a split stance).

Faults: trunk_lean (leaning back 15-25 deg through the kick), knee_valgus (support knee
collapses medially during single stance).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from biomech.actions import register_action
from biomech.actions.common import (
    DEG, ActionContext, flat_track, heel_raise, neutral_upper, standing_com_height,
)
from biomech.kinematics import MotionPlan, pivot_from_ankle
from biomech.trajectory import Knot, interp_knots, piecewise_quintic, ramp


def _path(t: np.ndarray, knots: list[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
    """C2 3-D path through (time, position, velocity) waypoints (zero acceleration at each)."""
    return np.stack([piecewise_quintic(t, [Knot(tk, float(p[i]), float(v[i])) for tk, p, v in knots])
                     for i in range(3)], axis=-1)


@register_action("soccer_kick", faults=("trunk_lean", "knee_valgus"))
def soccer_kick(ctx: ActionContext) -> MotionPlan:
    """Weight shift onto the support foot, back-swing (knee flexed behind), fast forward swing
    through ball contact beside the support foot, follow-through, the kicking foot steps down
    in front, weight returns to both feet. Right-footed 80 %."""
    b, t = ctx.body, ctx.t
    L = ctx.leg_length
    scale = b.height / 1.75
    kick = "r" if ctx.rng.random() < 0.8 else "l"
    sup = "l" if kick == "r" else "r"
    zs = 1.0 if kick == "r" else -1.0  # +Z side of the kicking foot
    h0 = standing_com_height(b)
    half = ctx.u(0.09, 0.12) * scale
    back0 = ctx.u(0.15, 0.25) * scale  # kicking foot starts behind the support foot
    t_shift = ctx.u(0.3, 0.6)  # start of the weight shift
    t_lift = t_shift + ctx.u(0.35, 0.5)
    t_back = t_lift + ctx.u(0.22, 0.32)
    t_contact = t_back + ctx.u(0.12, 0.16)
    t_follow = t_contact + ctx.u(0.18, 0.26)
    t_land = t_follow + ctx.u(0.30, 0.40)
    t_settle = t_land + ctx.u(0.4, 0.6)
    if t_settle > ctx.duration - 0.05:
        shrink = (ctx.duration - 0.1) / t_settle
        t_shift, t_lift, t_back, t_contact, t_follow, t_land, t_settle = (
            x * shrink for x in (t_shift, t_lift, t_back, t_contact, t_follow, t_land, t_settle))
    ball_h = ctx.u(0.10, 0.18) * scale
    swing_v = ctx.u(7.0, 10.0) * scale  # forward ankle speed at contact (m/s)
    sink = ctx.u(0.03, 0.06) * L  # support knee flexes during the kick

    feet = {sup: flat_track(ctx, (0.0, -zs * half), 0.0),
            kick: flat_track(ctx, (-back0, zs * half), zs * -ctx.u(5, 15) * DEG)}
    ks, kk = feet[sup], feet[kick]
    ah = b.ankle_height
    # the rear heel rises (about the toe) while the weight moves onto the support foot
    heel = -ctx.u(20, 30) * DEG
    heel_raise(ctx, kk, heel * ramp(t, t_shift, t_lift))
    i_lift = int(round(t_lift * ctx.fs))
    p0 = kk.pos[i_lift].copy()
    pos_ground = kk.pos.copy()
    p_back = np.array([-0.35 * L, 0.42 * L, zs * half])
    # at contact the foot is plantarflexed ~50 deg: keep its toe clear of the floor
    toe_drop = (1 - b.heel_back) * b.foot_length * np.sin(50 * DEG)
    p_contact = np.array([0.05 * L, toe_drop + 0.02 + 0.3 * ball_h, zs * 0.6 * half])
    p_follow = np.array([0.55 * L, 0.50 * L, zs * 0.2 * half])
    p_land = np.array([ctx.u(0.15, 0.30) * L, ah, zs * half])
    zero = np.zeros(3)
    v_contact = np.array([swing_v, 0.15 * swing_v, -zs * 0.05 * swing_v])
    path = _path(t, [(t_lift, p0, zero), (t_back, p_back, zero), (t_contact, p_contact, v_contact),
                     (t_follow, p_follow, zero), (t_land, p_land, zero)])
    air = (t > t_lift) & (t < t_land)
    kk.pos = np.where(air[:, None], path, np.where((t >= t_land)[:, None], p_land, pos_ground))
    pitch_air = interp_knots(t, [t_lift, t_back, t_contact, t_follow, t_land],
                             [heel / DEG, -45, -50, -30, 0]) * DEG
    kk.pitch = np.where(air, pitch_air, np.where(t >= t_land, 0.0, kk.pitch))
    kk.contact = ~air
    # keep the toe of the swinging foot above the floor (smooth lift where it would dip)
    toe = pivot_from_ankle(b, kk.pos, kk.yaw, kk.pitch, "toe")
    deficit = np.where(air, np.clip(0.01 - toe[:, 1], 0.0, None), 0.0)
    if deficit.any():
        lift = gaussian_filter1d(deficit, 0.02 * ctx.fs) * 2.0
        window = ramp(t, t_lift, t_lift + 0.04) * (1 - ramp(t, t_land - 0.04, t_land))
        lift = gaussian_filter1d(np.maximum(lift, deficit), 0.01 * ctx.fs)
        kk.pos[:, 1] += lift * window  # exactly zero outside the swing
    # vertical load: onto the support foot before lift-off, shared again after touchdown
    share_sup = 0.5 + 0.5 * ramp(t, t_shift, t_lift - 0.05) - 0.5 * ramp(t, t_land + 0.02, t_settle)
    ks.load, kk.load = share_sup, 1.0 - share_sup
    kk.load = np.where(air, 0.0, kk.load)

    # CoM: over the support forefoot in single stance, leaning into the kick, then between feet
    x_sup = b.foot_length * ctx.u(0.15, 0.25)
    x_mid0 = 0.5 * (x_sup + (-back0 + x_sup))
    x_mid1 = 0.5 * (x_sup + p_land[0] + x_sup)
    com = np.zeros((ctx.n, 3))
    com[:, 0] = interp_knots(t, [0.0, t_shift, t_lift, t_contact, t_land, t_settle],
                             [x_mid0, x_mid0, x_sup, x_sup + 0.05 * scale, x_sup + 0.08 * scale, x_mid1])
    com[:, 2] = interp_knots(t, [0.0, t_shift, t_lift, t_land, t_settle],
                             [0.0, 0.0, -zs * half * 0.95, -zs * half * 0.9, 0.0])
    com[:, 1] = h0 - 0.02 * L - sink * (ramp(t, t_lift, t_contact) * (1 - ramp(t, t_land, t_settle)))

    lean_back = ctx.u(3, 8) + (ctx.u(15, 25) if ctx.fault == "trunk_lean" else 0.0)
    pelvis = np.zeros((ctx.n, 3))
    kick_phase = ramp(t, t_lift, t_back) * (1 - ramp(t, t_follow, t_settle))
    pelvis[:, 0] = 0.5 * lean_back * DEG * kick_phase  # posterior tilt = leaning back
    pelvis[:, 2] = zs * ctx.u(10, 20) * DEG * (ramp(t, t_lift, t_back) - ramp(t, t_back, t_follow))
    up = neutral_upper(ctx)
    up["lumbar_extension"] = 0.5 * lean_back * DEG * kick_phase
    # balance arm (opposite the kicking leg) out and forward; kicking-side arm back
    up[f"arm_add_{sup}"] = up[f"arm_add_{sup}"] - ctx.u(45, 70) * DEG * kick_phase
    up[f"arm_flex_{sup}"] = ctx.u(20, 40) * DEG * kick_phase
    up[f"arm_flex_{kick}"] = -ctx.u(20, 35) * DEG * kick_phase
    up[f"elbow_flex_{sup}"] = up[f"elbow_flex_{sup}"] + 0.4 * kick_phase
    if ctx.fault == "knee_valgus":
        ks.swivel = ctx.u(12, 20) * DEG * ramp(t, t_lift, t_contact) * (1 - ramp(t, t_land, t_settle))
    return MotionPlan("soccer_kick", ctx.fs, com, pelvis, up, feet, fault=ctx.fault,
                      style={"kicking_foot": kick, "ball_height_m": ball_h,
                             "ankle_speed_at_contact_mps": swing_v},
                      events={"weight_shift": t_shift, "lift_off": t_lift, "back_swing": t_back,
                              "ball_contact": t_contact, "follow_through": t_follow,
                              "touchdown": t_land, "settled": t_settle})
