"""Bodyweight squat: repeated descents with the CoM kept over the mid-foot.

Faults: shallow_squat (depth < 40 % of the normal range), knee_valgus (feet everted and
toed-out: the knees collapse medially), trunk_lean (excessive forward pelvis tilt and trunk
flexion).
"""
from __future__ import annotations

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext, flat_track, neutral_upper, stance_width, standing_com_height
from biomech.kinematics import MotionPlan
from biomech.trajectory import bump


@register_action("squat", faults=("shallow_squat", "knee_valgus", "trunk_lean"))
def build(ctx: ActionContext) -> MotionPlan:
    b, t = ctx.body, ctx.t
    h0 = standing_com_height(b)
    L = ctx.leg_length
    depth = ctx.u(0.28, 0.42) * L
    if ctx.fault == "shallow_squat":
        depth = ctx.u(0.08, 0.14) * L
    period = ctx.u(1.6, 2.6)
    start = ctx.u(0.45, 0.8)  # quiet standing first
    n_reps = max(1, int((ctx.duration - start - 0.2) // period))
    s = np.zeros_like(t)  # squat depth fraction 0..1
    for k in range(n_reps):
        s = s + bump(t, start + k * period, start + (k + 1) * period)
    half = stance_width(ctx, 1.25)
    toe_out = ctx.u(5, 15) * DEG
    roll = 0.0
    if ctx.fault == "knee_valgus":
        toe_out += 10 * DEG
        roll = ctx.u(12, 20) * DEG
    feet = {
        "r": flat_track(ctx, (0.0, half), yaw=-toe_out),
        "l": flat_track(ctx, (0.0, -half), yaw=toe_out),
    }
    feet["r"].swivel[:] = roll * s
    feet["l"].swivel[:] = roll * s
    lean = ctx.u(10, 20) * DEG
    if ctx.fault == "trunk_lean":
        lean = ctx.u(30, 40) * DEG
    com = np.zeros((ctx.n, 3))
    com[:, 0] = b.foot_length * ctx.u(0.15, 0.25) - 0.03 * s
    com[:, 1] = h0 - depth * s
    pelvis = np.zeros((ctx.n, 3))
    pelvis[:, 0] = -lean * s
    up = neutral_upper(ctx)
    up["lumbar_extension"] = -0.5 * lean * s
    arm = ctx.u(60, 95) * DEG  # arms raised forward for balance
    for side in ("r", "l"):
        up[f"arm_flex_{side}"] = arm * s
        up[f"elbow_flex_{side}"] = up[f"elbow_flex_{side}"] + 0.2 * s
    return MotionPlan("squat", ctx.fs, com, pelvis, up, feet, fault=ctx.fault,
                      style={"depth_m": depth, "period_s": period, "reps": n_reps})
