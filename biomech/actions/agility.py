"""Agility footwork: lateral shuffle.

Faults: knee_valgus (both knees collapse medially in stance), trunk_lean (excessive forward
trunk flexion).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext, flat_track, neutral_upper, standing_com_height
from biomech.kinematics import MotionPlan
from biomech.trajectory import bump, ramp


@register_action("lateral_shuffle", faults=("knee_valgus", "trunk_lean"))
def lateral_shuffle(ctx: ActionContext) -> MotionPlan:
    """Athletic stance, side steps along Z: the lead foot steps out, the trail foot follows.

    The CoM moves sideways with a C2 velocity profile (start, cruise, stop); each foot swings on a C2 track (zero velocity at lift-off and touchdown,
    3-5 cm clearance) to land at a fixed offset from where the CoM will be.
    """
    b, t = ctx.body, ctx.t
    L = ctx.leg_length
    scale = b.height / 1.75
    h0 = standing_com_height(b)
    drop = ctx.u(0.10, 0.16) * L
    w0 = ctx.u(0.20, 0.25) * scale  # half distance between the ankles
    v = ctx.u(0.9, 1.9) * scale
    d = 1.0 if ctx.rng.random() < 0.5 else -1.0
    period = ctx.u(0.34, 0.46)  # one lead + one trail step
    swing = ctx.u(0.15, 0.19)
    clearance = ctx.u(0.03, 0.05)
    t0 = ctx.u(0.35, 0.6)
    t_stop = ctx.duration - ctx.u(0.5, 0.7)
    lean = ctx.u(20, 32) * DEG + (ctx.u(12, 18) * DEG if ctx.fault == "trunk_lean" else 0.0)
    arm = ctx.u(25, 45)
    toe_out = ctx.u(5, 15) * DEG

    # sideways CoM velocity: ramp up, (reverse), ramp down; integrate for position (C3)
    vel = ramp(t, t0, t0 + 0.3) * (1 - ramp(t, t_stop - 0.3, t_stop))
    vel = d * v * vel
    z = np.concatenate([[0.0], np.cumsum(0.5 * (vel[1:] + vel[:-1]) / ctx.fs)])
    down = ramp(t, 0.05, t0)  # sink into the athletic stance first
    # a wide stance lowers the hips for the same leg extension
    hip_hw = b.joint_offsets["thigh_r"][2]
    wide = h0 - np.sqrt(h0 ** 2 - (w0 - hip_hw) ** 2) + 0.01
    y = h0 - wide - drop * down
    com = np.zeros((ctx.n, 3))
    com[:, 0] = b.foot_length * ctx.u(0.15, 0.22)
    com[:, 1] = y
    com[:, 2] = z

    feet = {"r": flat_track(ctx, (0.0, w0), -toe_out), "l": flat_track(ctx, (0.0, -w0), toe_out)}
    # step schedule while moving: the foot on the side of travel leads
    k = 0
    ts = t0 + 0.05
    while ts + period < t_stop + 0.2:
        i = int(round(ts * ctx.fs))
        direction = np.sign(vel[min(i + int(0.1 * ctx.fs), ctx.n - 1)]) or d
        lead, trail = ("r", "l") if direction > 0 else ("l", "r")
        for foot, start, off in ((lead, ts, +1.1), (trail, ts + period / 2, -0.9)):
            t_land = start + swing
            il = min(int(round(t_land * ctx.fs)), ctx.n - 1)
            target = z[min(il + int(0.25 * period * ctx.fs), ctx.n - 1)] + direction * off * w0
            ft = feet[foot]
            z_old = ft.pos[int(round(start * ctx.fs)), 2]
            r = ramp(t, start, t_land)
            m = t >= start
            ft.pos[m, 2] = z_old + (target - z_old) * r[m]
            ft.pos[:, 1] += clearance * bump(t, start, t_land)
            ft.contact = ft.contact & ~((t > start) & (t < t_land))
        ts += period
        k += 1
    pelvis = np.zeros((ctx.n, 3))
    pelvis[:, 0] = -lean * down
    up = neutral_upper(ctx)
    up["lumbar_extension"] = -0.3 * lean * down
    for s in ("r", "l"):
        up[f"arm_flex_{s}"] = arm * DEG * down
        up[f"arm_add_{s}"] = (-8 - 15 * down) * DEG
        up[f"elbow_flex_{s}"] = (15 + 55 * down) * DEG
    if ctx.fault == "knee_valgus":
        sw = ctx.u(12, 18) * DEG * down
        for s in ("r", "l"):
            feet[s].swivel = sw * feet[s].contact.astype(float)
            feet[s].swivel = gaussian_filter1d(feet[s].swivel, 0.02 * ctx.fs)  # smooth on/off
    return MotionPlan("lateral_shuffle", ctx.fs, com, pelvis, up, feet, fault=ctx.fault,
                      style={"speed_mps": v, "direction": d,
                             "half_width_m": w0, "steps": k},
                      events={"start": t0, "stop": t_stop})
