"""Vertical jumps: countermovement jump and basketball jump shot.

Faults: asymmetric_landing (one leg takes ~70 % of the landing load), knee_valgus (knees
collapse medially on landing), stiff_landing (small landing knee flexion).
"""
from __future__ import annotations

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import (
    DEG, ActionContext, flat_track, heel_raise, neutral_upper, stance_width,
    standing_com_height, vertical_jump_com,
)
from biomech.kinematics import MotionPlan
from biomech.trajectory import bump, interp_knots, ramp

_FAULTS = ("asymmetric_landing", "knee_valgus", "stiff_landing")


def _jump(ctx: ActionContext, *, v_range, dip_range, arms: str) -> MotionPlan:
    b, t = ctx.body, ctx.t
    h0 = standing_com_height(b)
    L = ctx.leg_length
    v0 = ctx.u(*v_range)
    t_flight = 2 * v0 / 9.81
    t_dip, t_recover = ctx.u(0.35, 0.55), ctx.u(0.4, 0.7)
    dip = ctx.u(*dip_range) * L
    land_dip = ctx.u(0.12, 0.25) * L
    if ctx.fault == "stiff_landing":
        land_dip = ctx.u(0.04, 0.07) * L
    heel_pitch = ctx.u(25, 35) * DEG
    # the CoM rises with the heels so the legs stay within reach at take-off
    rise = 0.35 * (1 - b.heel_back) * b.foot_length * np.sin(heel_pitch)
    needed = t_dip + 2.3 * (dip + land_dip) / v0 + t_flight + t_recover + 0.1
    t_start = ctx.u(0.1, max(0.15, ctx.duration - needed - 0.05))
    half = stance_width(ctx)
    feet = {"r": flat_track(ctx, (0.0, half), -8 * DEG), "l": flat_track(ctx, (0.0, -half), 8 * DEG)}
    # the heels rise over the end of the push and stay up until the forefoot lands
    y, ev = vertical_jump_com(ctx, h0, t_start=t_start, dip=dip, t_dip=t_dip,
                              t_push=None, v_takeoff=v0, rise=rise, land_dip=land_dip,
                              t_absorb=None, t_recover=t_recover)
    t_push = ev["takeoff"] - ev["bottom"]
    rise_shape = ramp(t, ev["takeoff"] - 0.6 * t_push, ev["takeoff"]) * (1 - ramp(t, ev["landing"], ev["landing"] + 0.08))
    for s in ("r", "l"):
        heel_raise(ctx, feet[s], -heel_pitch * rise_shape)
    flight = (t > ev["takeoff"]) & (t < ev["landing"])
    # feet leave and reach the floor with zero velocity: they follow the CoM's rise in flight,
    # blended in/out over 60 ms (the legs' soft reach limit absorbs the difference)
    edge = ramp(t, ev["takeoff"] - 0.03, ev["takeoff"] + 0.15) * (1 - ramp(t, ev["landing"] - 0.15, ev["landing"] + 0.03))
    lift = np.where(flight, (y - y[np.searchsorted(t, ev["takeoff"])]) * edge, 0.0)
    tuck = 0.06 * L * bump(t, ev["takeoff"], ev["landing"])
    for s in ("r", "l"):
        feet[s].pos[:, 1] += lift + tuck
        feet[s].contact = ~flight
    if ctx.fault == "knee_valgus":
        land = ramp(t, ev["landing"], ev["landing"] + 0.12) * (1 - ramp(t, ev["absorbed"], ev["standing"]))
        r = ctx.u(12, 20) * DEG
        feet["r"].swivel = r * land
        feet["l"].swivel = r * land
    load = None
    if ctx.fault == "asymmetric_landing":
        side = "r" if ctx.rng.random() < 0.5 else "l"
        w = ctx.u(0.68, 0.78)
        land = ramp(t, ev["landing"], ev["landing"] + 0.05) * (1 - ramp(t, ev["absorbed"], ev["standing"]))
        load = {side: 0.5 + (w - 0.5) * land}
        load["l" if side == "r" else "r"] = 1 - load[side]
    com = np.zeros((ctx.n, 3))
    com[:, 0] = b.foot_length * ctx.u(0.18, 0.25) + 0.03 * rise_shape
    com[:, 1] = y
    depth = np.clip((h0 - y) / (0.3 * L), 0, None)
    pelvis = np.zeros((ctx.n, 3))
    pelvis[:, 0] = -ctx.u(20, 35) * DEG * depth
    up = neutral_upper(ctx)
    up["lumbar_extension"] = -ctx.u(10, 20) * DEG * depth
    key = [0.0, ev["dip_start"], ev["bottom"], ev["takeoff"], 0.5 * (ev["takeoff"] + ev["landing"]),
           ev["landing"], ev["standing"], ctx.duration]
    if arms == "swing":  # arm swing: back in the dip, up at take-off
        back, upa = -ctx.u(35, 60), ctx.u(120, 160)
        flex = interp_knots(t, key, [0, 0, back, upa, 0.8 * upa, 40, 0, 0]) * DEG
        for s in ("r", "l"):
            up[f"arm_flex_{s}"] = flex
    else:  # jump shot: ball lifted to the set point, shooting arm extends at the apex
        shoot = "r" if ctx.rng.random() < 0.85 else "l"
        guide = "l" if shoot == "r" else "r"
        up[f"arm_flex_{shoot}"] = interp_knots(t, key, [20, 25, 40, 120, 165, 150, 30, 20]) * DEG
        up[f"elbow_flex_{shoot}"] = interp_knots(t, key, [80, 90, 100, 110, 15, 20, 60, 70]) * DEG
        up[f"arm_flex_{guide}"] = interp_knots(t, key, [20, 25, 40, 110, 120, 80, 30, 20]) * DEG
        up[f"elbow_flex_{guide}"] = interp_knots(t, key, [80, 90, 95, 90, 70, 50, 60, 70]) * DEG
        up[f"arm_add_{guide}"] = interp_knots(t, key, [0, 0, -10, -25, -25, -15, 0, 0]) * DEG
    action = "countermovement_jump" if arms == "swing" else "jump_shot"
    plan = MotionPlan(action, ctx.fs, com, pelvis, up, feet, fault=ctx.fault,
                      style={"takeoff_velocity_mps": v0, "flight_time_s": t_flight}, events=ev)
    if load is not None:
        plan.style["landing_load_share"] = {k: float(v.max()) for k, v in load.items()}
        plan.events["load"] = load
    return plan


@register_action("countermovement_jump", faults=_FAULTS)
def countermovement_jump(ctx: ActionContext) -> MotionPlan:
    return _jump(ctx, v_range=(2.0, 2.8), dip_range=(0.22, 0.34), arms="swing")


@register_action("jump_shot", faults=_FAULTS)
def jump_shot(ctx: ActionContext) -> MotionPlan:
    return _jump(ctx, v_range=(1.5, 2.3), dip_range=(0.14, 0.24), arms="shot")
