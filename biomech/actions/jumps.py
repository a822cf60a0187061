"""Two-footed jumps: countermovement jump, basketball jump shot, standing long jump.

Faults: asymmetric_landing (one leg takes ~70 % of the landing load), knee_valgus (knees
collapse medially on landing), stiff_landing (small landing knee flexion).
"""
from __future__ import annotations

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import (
    DEG, ActionContext, com_height_on_toes, flat_track, neutral_upper, stance_width,
    standing_com_height, vertical_jump_com,
)
from biomech.kinematics import MotionPlan, MotionSolver, ankle_from_pivot, pivot_from_ankle
from biomech.trajectory import Knot, bump, interp_knots, piecewise_quintic, quintic_segment, ramp

_FAULTS = ("asymmetric_landing", "knee_valgus", "stiff_landing")


def _upper(ctx: ActionContext, ev: dict, depth: np.ndarray, arms: str, style: dict) -> dict:
    t = ctx.t
    up = neutral_upper(ctx)
    # the preparation's extra flexion ends at take-off (the crouch depth is ~0 there: continuous)
    up["lumbar_extension"] = -(style["trunk"] + style["trunk_prep"] * (t < ev["takeoff"])) * depth
    key = [0.0, ev["dip_start"], ev["bottom"], ev["takeoff"], 0.5 * (ev["takeoff"] + ev["landing"]),
           ev["landing"], ev["standing"], ctx.duration + 1.0]
    if arms == "swing":  # arm swing: back in the dip, up at take-off
        back, upa = style["arm_back"], style["arm_up"]
        flex = interp_knots(t, key, [0, 0, back, upa, 0.8 * upa, 40, 0, 0]) * DEG
        for s in ("r", "l"):
            up[f"arm_flex_{s}"] = flex
    else:  # jump shot: ball lifted to the set point, shooting arm extends at the apex
        shoot, guide = style["shoot"], "l" if style["shoot"] == "r" else "r"
        up[f"arm_flex_{shoot}"] = interp_knots(t, key, [20, 25, 40, 120, 165, 150, 30, 20]) * DEG
        up[f"elbow_flex_{shoot}"] = interp_knots(t, key, [80, 90, 100, 110, 15, 20, 60, 70]) * DEG
        up[f"arm_flex_{guide}"] = interp_knots(t, key, [20, 25, 40, 110, 120, 80, 30, 20]) * DEG
        up[f"elbow_flex_{guide}"] = interp_knots(t, key, [80, 90, 95, 90, 70, 50, 60, 70]) * DEG
        up[f"arm_add_{guide}"] = interp_knots(t, key, [0, 0, -10, -25, -25, -15, 0, 0]) * DEG
    return up


def _ankle_rise(body, pitch: float) -> float:
    """Ankle-centre height gain when the foot pitches toe-down by `pitch` about the toe."""
    x_t = (1 - body.heel_back) * body.foot_length
    return x_t * np.sin(pitch) + body.ankle_height * (np.cos(pitch) - 1)


def _pitch_for_ankle_height(body, a: np.ndarray) -> np.ndarray:
    """Foot pitch (rad, <= 0 = toe down) that puts the ankle at height `a` with the toe on the
    floor; flat (0) at the standing ankle height. Above the reachable height it saturates."""
    x_t = (1 - body.heel_back) * body.foot_length
    ah = body.ankle_height
    R = np.hypot(x_t, ah)
    phi = np.arctan2(x_t, ah)
    p = np.arccos(np.clip(a / R, -1.0, 1.0)) - phi
    return np.minimum(p, 0.0)


def _foot_heights(ctx: ActionContext, y: np.ndarray, ev: dict, pitch_to: float,
                  L: float) -> tuple[np.ndarray, np.ndarray]:
    # y: the hip height path the ankles follow in flight
    """Ankle height and foot pitch (T,) around a jump, C2 everywhere (y: hip height path).

    Push-off: the heel rises (foot rotating about the toe) on a quintic that ends at take-off
    with the ankle moving like the hips, so the extended leg
    leaves the floor without a jolt (plantarflexion rate ~ v0 / toe-ankle distance, as in real
    jumps). Flight: the ankle follows the CoM plus a small tuck. Landing: the mirror image,
    forefoot first, heel down on a quintic.
    """
    b, t = ctx.body, ctx.t
    ah = b.ankle_height
    fs = ctx.fs
    i_to, i_ld = int(round(ev["takeoff"] * fs)), int(round(ev["landing"] * fs))
    vy = np.gradient(y, 1.0 / fs)
    v_to, v_ld = float(vy[i_to]), float(vy[i_ld])
    a_to = ah + _ankle_rise(b, pitch_to)
    tuck = 0.05 * L * bump(t, ev["takeoff"], ev["landing"])
    a_ld = a_to + (y[i_ld] - y[i_to])
    a = np.full(ctx.n, ah)
    # push-off heel rise: duration so that the quintic does not overshoot (T ~ 2 d / v, x1.3)
    T1 = 1.3 * 2 * (a_to - ah) / max(v_to, 0.3)
    acc = np.gradient(vy, 1.0 / fs)
    k0, k1 = Knot(t[i_to] - T1, ah), Knot(t[i_to], a_to, v_to, float(acc[i_to + 1]))
    m = (t >= k0.t) & (t <= k1.t)
    a[m] = quintic_segment(t[m], k0, k1)
    flight = (t > t[i_to]) & (t < t[i_ld])
    a[flight] = (a_to + (y - y[i_to]) + tuck)[flight]
    T2 = 1.3 * 2 * max(a_ld - ah, 1e-3) / max(-v_ld, 0.3)
    k2, k3 = Knot(t[i_ld], a_ld, v_ld, float(acc[i_ld - 1])), Knot(t[i_ld] + T2, ah)
    m = (t >= k2.t) & (t <= k3.t)
    a[m] = quintic_segment(t[m], k2, k3)
    # pitch: the toe stays on the floor in contact; in flight a quintic matching rate at ends
    pitch = _pitch_for_ankle_height(b, a)
    rate = np.gradient(pitch, 1.0 / fs)
    tf = t[i_ld] - t[i_to]
    h = min(0.08, tf / 3)
    lo, hi = -60 * DEG, 10 * DEG
    knots = [Knot(t[i_to], pitch[i_to], rate[i_to - 1], 0.0),
             Knot(t[i_to] + h, float(np.clip(pitch[i_to] + 0.5 * h * rate[i_to - 1], lo, hi))),
             Knot(t[i_ld] - h, float(np.clip(pitch[i_ld] - 0.5 * h * rate[i_ld + 1], lo, hi))),
             Knot(t[i_ld], pitch[i_ld], rate[i_ld + 1], 0.0)]
    pitch = np.where(flight, piecewise_quintic(t, knots), pitch)
    return a, pitch


# Preparation (the countermovement) per jump, drawn uniformly: extra trunk inclination at the
# bottom of the dip (pelvis tilt `lean` + lumbar flexion `trunk`, deg per unit of crouch depth, on
# top of the 20-35 + 10-20 every jump draws; before take-off only, so the landings are unchanged),
# the arm backswing there (shoulder extension, deg) and, for the broad jump, how far the CoM
# travels forward during the dip (foot lengths). A standing long jump's preparation differs from a
# countermovement jump's in the direction real ones do: a larger backswing (Ashby & Heegaard 2002,
# J Biomech 35:1631, arm motion in the standing long jump), more trunk flexion / forward lean at the
# bottom and the CoM moving forward already in the countermovement (Wakai & Linthorne 2005, Hum Mov
# Sci 24:81; vertical jumps: Lees, Vanrenterghem & De Clercq 2004, J Biomech 37:1929). The numeric
# ranges are estimates consistent with those findings, not values read from the papers; the
# countermovement jump's and the jump shot's are the generator's earlier shared ranges.
PREP_VERTICAL = {"lean": (0, 0), "trunk": (0, 0), "arm_back": (35, 60), "com_forward": (0.0, 0.0)}
PREP_BROAD = {"lean": (10, 15), "trunk": (5, 8), "arm_back": (60, 90), "com_forward": (0.15, 0.30)}


def _jump(ctx: ActionContext, *, v_range, dip_range, arms: str, vx_range=(0.0, 0.0),
          prep: dict = PREP_VERTICAL) -> MotionPlan:
    b, t = ctx.body, ctx.t
    h0 = standing_com_height(b)
    L = ctx.leg_length
    # ---- style (drawn in a fixed order: same seed -> same plan)
    v0 = ctx.u(*v_range)
    dip = ctx.u(*dip_range) * L
    # unweighting: a rest-to-rest quintic over distance d peaks at ~5.8 d / T^2; keep the
    # downward acceleration below ~0.6 g (GRF stays above ~0.4 BW, as in real CMJs)
    t_dip = max(ctx.u(0.35, 0.55), float(np.sqrt(7.5 * dip / (0.6 * 9.81))))
    t_recover = ctx.u(0.4, 0.7)
    land_dip = ctx.u(0.12, 0.25) * L
    if ctx.fault == "stiff_landing":
        land_dip = ctx.u(0.04, 0.07) * L
    heel_pitch = ctx.u(25, 35) * DEG
    lean = ctx.u(20, 35) * DEG
    style = {"trunk": ctx.u(10, 20) * DEG, "arm_back": -ctx.u(*prep["arm_back"]), "arm_up": ctx.u(120, 160),
             "shoot": "r" if ctx.rng.random() < 0.85 else "l"}
    x_com = b.foot_length * ctx.u(0.18, 0.25)
    start_u = ctx.rng.random()
    vx = ctx.u(*vx_range) if vx_range[1] > 0 else 0.0
    land_hip = ctx.u(35, 50) if vx > 0 else 0.4 * 28.0  # hip flexion at touchdown (deg)
    reach_fwd = ctx.u(0.25, 0.35) * L if vx > 0 else 0.0  # feet ahead of the CoM at touchdown
    lead = ctx.u(0.28, 0.38) * b.height / 1.75  # CoM ahead of the ankles at take-off
    half = stance_width(ctx)
    # drawn last, and only for a broad jump, so that the vertical jumps' draws are unchanged
    broad = prep["com_forward"][1] > 0
    com_fwd = ctx.u(*prep["com_forward"]) * b.foot_length if broad else 0.0
    lean_prep = ctx.u(*prep["lean"]) * DEG if broad else 0.0
    style["trunk_prep"] = ctx.u(*prep["trunk"]) * DEG if broad else 0.0

    def design(rise: float, land_rise: float):
        # the whole jump must fit in the clip: measure it with t_start = 0, then place it
        kw = dict(dip=dip, t_dip=t_dip, t_push=None, v_takeoff=v0, rise=rise, land_rise=land_rise,
                  land_dip=land_dip, t_absorb=None)
        long = ActionContext(b, ctx.rng, ctx.fs, 30.0, ctx.fault)
        recover = t_recover
        _, ev0 = vertical_jump_com(long, h0, t_start=0.01, t_recover=recover, **kw)
        if ev0["standing"] > ctx.duration - 0.15:  # short clip: recover faster
            recover = max(0.25, recover - (ev0["standing"] - (ctx.duration - 0.15)))
            _, ev0 = vertical_jump_com(long, h0, t_start=0.01, t_recover=recover, **kw)
        slack = max(0.0, ctx.duration - 0.1 - ev0["standing"])
        t_start = 0.01 + min(0.1, slack) + start_u * max(0.0, slack - 0.1)
        return vertical_jump_com(ctx, h0, t_start=t_start, t_recover=recover, **kw)

    def pose_at(up: dict, i: int, knee_deg: float, pitch: float, hip_deg: float | None = None) -> dict:
        c = {k: v[i] for k, v in up.items()}
        hip = 0.4 * knee_deg if hip_deg is None else hip_deg
        for s in ("r", "l"):
            c.update({f"knee_angle_{s}": knee_deg * DEG, f"hip_flexion_{s}": hip * DEG,
                      f"ankle_angle_{s}": (knee_deg - hip) * DEG - pitch})
        return c

    # Two passes: the CoM height at take-off / landing that puts the legs nearly straight on
    # their toes depends on the arm position then (arms overhead raise the CoM).
    rise = land_rise = 0.05
    for _ in range(2):
        y, ev = design(rise, land_rise)
        depth = np.clip((h0 - y) / (0.3 * L), 0, None)
        up = _upper(ctx, ev, depth, arms, style)
        i_to, i_ld = int(round(ev["takeoff"] * ctx.fs)), int(round(ev["landing"] * ctx.fs))
        rise = com_height_on_toes(b, pose_at(up, i_to, 14.0, heel_pitch)) - h0
        land_rise = com_height_on_toes(b, pose_at(up, i_ld, 28.0, 0.8 * heel_pitch, land_hip)) - h0
        if vx > 0:  # legs inclined: the CoM is lower by the cosine of the inclination
            rise -= (h0 + rise) * (1 - np.cos(np.arcsin(min(0.9, (lead - 0.1 * L) / (h0 + rise)))))
            land_rise -= (h0 + land_rise) * (1 - np.cos(np.arcsin(min(0.9, reach_fwd / (h0 + land_rise)))))
    y, ev = design(rise, land_rise)
    depth = np.clip((h0 - y) / (0.3 * L), 0, None)
    up = _upper(ctx, ev, depth, arms, style)
    t_push = ev["takeoff"] - ev["bottom"]
    t_flight = ev["landing"] - ev["takeoff"]

    feet = {"r": flat_track(ctx, (0.0, half), -8 * DEG), "l": flat_track(ctx, (0.0, -half), 8 * DEG)}
    flight = (t > ev["takeoff"]) & (t < ev["landing"])
    com = np.zeros((ctx.n, 3))
    com[:, 0] = x_com
    com[:, 1] = y
    pelvis = np.zeros((ctx.n, 3))
    pelvis[:, 0] = -(lean + lean_prep * (t < ev["takeoff"])) * depth
    # the feet must follow the hips (not the CoM: the arm swing moves the hips relative to the
    # CoM in flight): find the hip path with a quick solve on flat feet
    probe = MotionPlan("probe", ctx.fs, com, pelvis, up, feet)
    solver = MotionSolver(b, probe)
    _, info = solver.solve()
    hip_y = solver.hip_centres(info["pelvis_origin"])[..., 1].mean(0)
    a, pitch = _foot_heights(ctx, hip_y, ev, heel_pitch, L)
    for s in ("r", "l"):
        ft = feet[s]
        toe = pivot_from_ankle(b, ft.pos, ft.yaw, ft.pitch, "toe")
        pos = ankle_from_pivot(b, toe, ft.yaw, pitch, "toe")
        pos[:, 1] = a
        ft.pos, ft.pitch, ft.contact = pos, pitch, ~flight
    # the CoM drifts over the forefoot during the push and back after landing; in flight the
    # horizontal velocity is constant (ballistic): zero for vertical jumps, vx for broad jumps
    shift = ramp(t, ev["bottom"], ev["takeoff"]) * (1 - ramp(t, ev["landing"], ev["standing"]))
    com[:, 0] = x_com + 0.04 * shift
    if vx > 0:
        t_to, t_ld = ev["takeoff"], ev["landing"]
        # push: the CoM moves ahead of the ankles by `lead` (body inclined forward) and leaves
        # with vx; flight: constant vx; landing: the feet reach ahead and the CoM decelerates
        # to rest over them.
        # the CoM moves forward by com_fwd during the dip (rest to rest), waits at the bottom
        # for the push when that is short enough not to overshoot, then leaves with vx
        x_b = x_com + com_fwd
        T_x = min(t_push, 1.3 * 2 * (lead - x_b) / vx)
        x_to = lead
        x_ld = x_to + vx * (t_ld - t_to)
        i_to, i_ld = int(round(t_to * ctx.fs)), int(round(t_ld * ctx.fs))
        land_x = x_ld + reach_fwd - x_com  # ankle displacement so the feet land reach_fwd ahead
        x_end = land_x + x_com
        T_dec = 1.3 * 2 * (x_end - x_ld) / vx
        early = ([Knot(ev["dip_start"], x_com), Knot(ev["bottom"], x_b)] if com_fwd > 0 else [])
        if t_to - T_x > (ev["bottom"] if com_fwd > 0 else 0.0) + 1e-6:
            early.append(Knot(t_to - T_x, x_b))
        com[:, 0] = piecewise_quintic(t, [Knot(0.0, x_com), *early,
                                          Knot(t_to, x_to, vx, 0.0), Knot(t_ld, x_ld, vx, 0.0),
                                          Knot(t_ld + T_dec, x_end), Knot(ctx.duration + 1.0, x_end)])
        cx = com[:, 0]
        edge = ramp(t, t_to, t_to + 0.06)
        follow = (cx - cx[i_to]) * edge
        fl_x = follow + (land_x - follow[i_ld]) * ramp(t, t_to + 0.3 * (t_ld - t_to), t_ld)
        dx = np.where(t <= t_to, 0.0, np.where(t < t_ld, fl_x, land_x))
        for s in ("r", "l"):
            feet[s].pos[:, 0] += dx
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
    action = ("standing_long_jump" if vx > 0 else "countermovement_jump") if arms == "swing" else "jump_shot"
    plan = MotionPlan(action, ctx.fs, com, pelvis, up, feet, fault=ctx.fault,
                      style={"takeoff_velocity_mps": v0, "takeoff_horizontal_mps": vx,
                             "flight_time_s": t_flight,
                             "dip_m": dip, "landing_dip_m": land_dip}, events=ev)
    if load is not None:
        plan.style["landing_load_share"] = {k: float(v.max()) for k, v in load.items()}
        for s in ("r", "l"):
            feet[s].load = load[s]
    return plan


@register_action("countermovement_jump", faults=_FAULTS)
def countermovement_jump(ctx: ActionContext) -> MotionPlan:
    return _jump(ctx, v_range=(2.0, 2.8), dip_range=(0.22, 0.34), arms="swing")


@register_action("jump_shot", faults=_FAULTS)
def jump_shot(ctx: ActionContext) -> MotionPlan:
    return _jump(ctx, v_range=(1.5, 2.3), dip_range=(0.14, 0.24), arms="shot")


@register_action("standing_long_jump", faults=_FAULTS)
def standing_long_jump(ctx: ActionContext) -> MotionPlan:
    """Standing long (broad) jump: two-footed take-off forward, ballistic flight, landing with
    the feet reaching ahead of the hips, absorption and settle."""
    return _jump(ctx, v_range=(1.6, 2.3), dip_range=(0.24, 0.36), arms="swing", vx_range=(2.0, 3.0),
                 prep=PREP_BROAD)
