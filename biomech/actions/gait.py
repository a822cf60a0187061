"""Running actions: run and sprint start.

Both are designed on an extended time grid (the clip plus a margin on both sides) so the
motion is already under way when the clip starts and still under way when it ends; the feet
are planted stances joined by C2 swings (`biomech.actions.feet`, shared with the walk).

* run / sprint_start: a step engine that designs the CoM *acceleration* of every stance
  (horizontal -B sin(2 pi tau) + A sin(pi tau)), integrates it, and joins quintic stances by
  exactly ballistic flights (vertical), so the GRF is continuous (zero at touchdown and
  take-off); stance feet are placed within the legs' reach.

Faults: run (overstriding, trunk_lean), sprint_start (upright_posture).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext
from biomech.conventions import GRAVITY
from biomech.body import forward_kinematics, q_index, whole_body_com
from biomech.conventions import COORDINATES
from biomech.actions.feet import Grid, Stance, clip_track, foot_track, make_grid, stance_eval
from biomech.kinematics import SIDES, FootTrack, MotionPlan, MotionSolver, UPPER_COORDS
from biomech.trajectory import Knot, ballistic_knot, integrate_acceleration, piecewise_quintic, ramp

G = GRAVITY


# --------------------------------------------------------------------------------------
# step engine: designed stance accelerations (horizontal), quintic stances and exactly
# ballistic flights (vertical), stance feet placed within the legs' reach
# --------------------------------------------------------------------------------------
REACH_MAX = 0.97  # hip-ankle distance / (thigh + shank) that a plan may ask for


@dataclass
class _Step:
    side: str
    on: float
    tc: float
    tf: float  # flight after this stance
    y_to: float = 0.0  # CoM height at take-off (relative to the design level)
    vy_to: float | None = None  # vertical take-off velocity (None: symmetric flight, g tf / 2)
    B: float = 0.0  # brake-then-propel amplitude (m/s^2)
    A: float = 0.0  # net propulsion amplitude (m/s^2, half-sine)
    C: float = 0.0  # lateral amplitude (m/s^2, toward the midline)
    dip: float | None = None  # CoM drop from touchdown to its lowest point (None: free quintic)
    t_low: float = 0.45  # when (fraction of the stance) the CoM is lowest
    f_low: float = 2.4  # vertical GRF (BW) there

    @property
    def off(self) -> float:
        return self.on + self.tc

    @property
    def vy(self) -> float:
        return G * self.tf / 2 if self.vy_to is None else self.vy_to


def _horizontal_acc(t: np.ndarray, steps: list[_Step]) -> np.ndarray:
    """Horizontal CoM accelerations (T,2) (X, Z): zero in flight and at contact edges."""
    acc = np.zeros((len(t), 2))
    for s in steps:
        m = (t >= s.on) & (t <= s.off)
        tau = (t[m] - s.on) / s.tc
        acc[m, 0] += -s.B * np.sin(2 * np.pi * tau) + s.A * np.sin(np.pi * tau)
        acc[m, 1] += -(1.0 if s.side == "r" else -1.0) * s.C * np.sin(np.pi * tau)
    return acc


def _vertical_knots(steps: list[_Step], y_td0: float, vy_td0: float) -> list[Knot]:
    """Knots of the vertical CoM: a quintic per stance (a = -g at touchdown and take-off, so the
    vertical GRF starts and ends at zero) and exact parabolas in between."""
    knots = [Knot(steps[0].on, y_td0, vy_td0, -G)]
    for k, s in enumerate(steps):
        if s.dip is not None:  # a stiff leg: the CoM stops descending early, GRF f_low at the bottom
            knots.append(Knot(s.on + s.t_low * s.tc, knots[-1].p - s.dip, 0.0, (s.f_low - 1.0) * G))
        to = Knot(s.off, s.y_to, s.vy, -G)
        knots.append(to)
        if k + 1 < len(steps):
            knots.append(ballistic_knot(to, steps[k + 1].on))
    return knots


def _gait_com(g: Grid, steps: list[_Step], v0: float, yknots: list[Knot]) -> np.ndarray:
    """CoM (extended grid): integrated horizontal accelerations, vertical quintic knots."""
    acc = _horizontal_acc(g.t, steps)
    i0 = int(np.searchsorted(g.t, steps[0].on))
    com = np.zeros((len(g.t), 3))
    vz0 = (1 if steps[0].side == "r" else -1) * steps[0].C * steps[0].tc / np.pi
    p, _ = integrate_acceleration(acc[i0:], g.fs, [0.0, 0.0], [v0, vz0])
    com[i0:, 0], com[i0:, 2] = p[:, 0], p[:, 1]
    com[:i0, 0] = v0 * (g.t[:i0] - g.t[i0])
    cz = np.polyfit(g.t[i0:], com[i0:, 2], 1)  # remove the lateral drift (a linear term)
    com[:, 2] -= np.polyval(cz, g.t)
    com[:, 1] = piecewise_quintic(g.t, yknots)
    return com


def _hip_offsets(ctx: ActionContext, postures: list[tuple[float, float, tuple]], *, arm_flex: float = 0.0,
                 elbow: float = 80 * DEG) -> np.ndarray:
    """CoM minus pelvis origin (hip joint level), (x, y) per posture (n, 2), for postures
    (pelvis tilt, lumbar extension, legs = (hip flexion, knee flexion) of the right and the
    left leg); one forward kinematics for all of them."""
    q = torch.zeros(len(postures), len(COORDINATES), dtype=torch.float64)
    for i, (tilt, lumbar, legs) in enumerate(postures):
        vals = {"pelvis_tilt": tilt, "lumbar_extension": lumbar}
        for s, (hf, kn) in zip(("r", "l"), legs):
            vals.update({f"hip_flexion_{s}": hf, f"knee_angle_{s}": kn,
                         f"arm_flex_{s}": arm_flex, f"elbow_flex_{s}": elbow})
        for k, v in vals.items():
            q[i, q_index(k)] = v
    pose = forward_kinematics(ctx.body, q)
    return (whole_body_com(ctx.body, pose) - pose.p["pelvis"]).numpy()[:, :2]


def _leg_offsets_many(ctx: ActionContext, tilts, lumbars, *, td=((35, 30), (5, 100)),
                      to=((-10, 30), (60, 90)), **kw) -> list[tuple[np.ndarray, np.ndarray]]:
    """CoM - hip offsets at touchdown and at take-off (stance leg first, degrees) for each
    (tilt, lumbar) pair."""
    legs = lambda ph: tuple((a * DEG, b * DEG) for a, b in ph)  # noqa: E731
    rows = [(t, l_, legs(ph)) for t, l_ in zip(tilts, lumbars) for ph in (td, to)]
    off = _hip_offsets(ctx, rows, **kw)
    return [(off[2 * i], off[2 * i + 1]) for i in range(len(tilts))]


def _leg_offsets(ctx: ActionContext, tilt: float, lumbar: float, **kw) -> tuple[np.ndarray, np.ndarray]:
    """CoM - hip offsets at touchdown and at take-off (stance leg first, degrees)."""
    return _leg_offsets_many(ctx, [tilt], [lumbar], **kw)[0]


def _reach_geometry(ctx: ActionContext, st: Stance, com: np.ndarray, g: Grid, hip_off,
                    d_td: float, d_to: float) -> tuple:
    """What `_reach_interval` needs that does not depend on the CoM raise dy (computed once)."""
    b = ctx.body
    Lts = b.segments["thigh_r"].length + b.segments["shank_r"].length
    hipw = abs(b.joint_offsets["thigh_r"][2])
    dz = max(hipw - abs(st.ankle_flat[2]), 0.0)
    pos, _ = stance_eval(b, st, np.array([st.on, st.off]))
    ends = []
    for k, (tt, dd) in enumerate(((st.on, d_td), (st.off, d_to))):
        hx = g.at(com[:, 0], tt) - hip_off[k][0]
        hy = g.at(com[:, 1], tt) - hip_off[k][1]
        ends.append((hx, hy - pos[k, 1], (dd * Lts) ** 2 - dz * dz, pos[k, 0] - st.ankle_flat[0]))
    return tuple(ends)


def _interval_at(geom: tuple, dy: float) -> tuple[float, float]:
    out = []
    for k, (hx, rel_y, r2, ax) in enumerate(geom):
        h2 = r2 - (rel_y + dy) ** 2
        span = np.sqrt(h2) if h2 > 0 else -1.0 - (rel_y + dy)  # infeasible: very negative
        out.append(hx + span - ax if k == 0 else hx - span - ax)
    hi, lo = out
    return lo, hi


def _reach_interval(ctx: ActionContext, st: Stance, com: np.ndarray, g: Grid, hip_off,
                    d_td: float, d_to: float, dy: float = 0.0) -> tuple[float, float]:
    """Range of stance positions (shift of `st.ankle_flat` along X) that keeps the leg within
    d_td / d_to x (thigh + shank) of the hip at touchdown / take-off; CoM raised by dy."""
    return _interval_at(_reach_geometry(ctx, st, com, g, hip_off, d_td, d_to), dy)


def _fit_height(ctx, stances, com, g, hip_off, d_td, d_to, need: float) -> float:
    """Largest CoM raise dy for which every stance has `need` m of room (bisection)."""
    geoms = [_reach_geometry(ctx, st, com, g, hip_off, d_td, d_to) for st in stances]

    def room(dy):
        return min(hi - lo for lo, hi in (_interval_at(gm, dy) for gm in geoms))
    lo, hi = -0.5 * ctx.body.height, 0.8 * ctx.body.height
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if room(mid) >= need:
            lo = mid
        else:
            hi = mid
    return lo


def _place(ctx, stances, com, g, hip_off, d_td, d_to, frac) -> None:
    """Shift each stance along X to `frac` of its feasible range (0 = rearmost)."""
    for st in stances:
        lo, hi = _reach_interval(ctx, st, com, g, hip_off, d_td, d_to)
        x = lo + frac * (hi - lo)
        st.ankle_flat = st.ankle_flat + np.array([x - st.ankle_flat[0], 0.0, 0.0])


def _arm_phase(fr: FootTrack, fl: FootTrack, step_len: float) -> np.ndarray:
    """Smooth -1..1 phase: + when the right foot is ahead (right arm back, left arm forward)."""
    x = (fr.pos[:, 0] - fl.pos[:, 0]) / max(step_len, 1e-3)
    return 1.2 * np.tanh(x / 1.2)  # smooth saturation (a clip would kink the pelvis rotation)


def _side_of(k: int, first: str) -> str:
    return first if k % 2 == 0 else ("l" if first == "r" else "r")


def _other(side: str) -> str:
    return "l" if side == "r" else "r"


def _run_upper(ctx, ph, *, arm_amp, arm_mean, elbow, elbow_amp, trunk_flex, pelvis_rot_amp):
    n = len(ph)
    up = {c: np.zeros(n) for c in UPPER_COORDS}
    for s, sg in (("r", -1.0), ("l", 1.0)):
        up[f"arm_flex_{s}"] = arm_mean + sg * arm_amp * ph
        up[f"elbow_flex_{s}"] = elbow + sg * elbow_amp * ph  # elbow flexes as the arm comes forward
        up[f"arm_add_{s}"] = -ctx.u(5, 12) * DEG * np.ones(n)
    up["lumbar_extension"] = -trunk_flex * np.ones(n)
    up["lumbar_rotation"] = -0.6 * pelvis_rot_amp * ph
    return up


def _shift_x(g: Grid, com: np.ndarray, feet: dict[str, FootTrack]) -> None:
    """Translate the whole motion along X so that the CoM starts the clip at x = 0."""
    dx = g.at(com[:, 0], 0.0)
    com[:, 0] -= dx
    for f in feet.values():
        f.pos[:, 0] -= dx


def _finish(ctx, g, action, com, pelvis_rot, upper, feet, style, events) -> MotionPlan:
    clip = lambda a: g.clip(a).copy()  # noqa: E731
    return MotionPlan(action, ctx.fs, clip(com), clip(pelvis_rot), {k: clip(v) for k, v in upper.items()},
                      {s: clip_track(g, f) for s, f in feet.items()}, fault=ctx.fault, style=style,
                      events=events)


def _toe_stance(ctx, s: _Step, half_w, yaw_out, *, p_td, p_to, clear, peak, via_rel) -> Stance:
    """Mid/forefoot contact: toe pivot, the heel drops after touchdown and rises through late
    stance (toe-off with the heel high and still rising)."""
    b = ctx.body
    sgn = 1.0 if s.side == "r" else -1.0
    return Stance(s.on, s.off, np.array([0.0, b.ankle_height, sgn * half_w]), -sgn * yaw_out, mode="toe",
                   p_td=-p_td, p_mid=-0.7 * p_td, p_to=p_to, f1=0.3, k_to=1.5, clear=clear, peak=peak,
                   via_rel=via_rel)


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
@register_action("run", faults=("overstriding", "trunk_lean"))
def run(ctx: ActionContext) -> MotionPlan:
    """Steady running: mid/forefoot strike, stance knee flexion ~35-50 deg, vertical GRF
    ~2.2-3 BW. Faults: overstriding (heel strike far ahead of the CoM, extended knee, large
    braking), trunk_lean (20-30 deg trunk flexion)."""
    b = ctx.body
    # Froude scaling by leg length (thigh + shank of a 1.75 m male = 0.861 m)
    hs = (b.segments["thigh_r"].length + b.segments["shank_r"].length) / 0.861
    L = ctx.leg_length
    over = ctx.fault == "overstriding"
    v = ctx.u(2.8, 3.8) * hs ** 0.5
    tc = float(np.clip(0.215 - 0.03 * (v - 3.0) + ctx.u(-0.015, 0.015), 0.17, 0.25)) * hs ** 0.5
    step_t = ctx.u(0.33, 0.37) * hs ** 0.5
    B = ctx.u(2.5, 4.0) * v / 3.5
    if over:
        tc += 0.02
        B *= ctx.u(1.8, 2.3)
    tf = max(step_t - tc, 0.08)
    C = ctx.u(0.8, 1.6)
    # vertical: the CoM drops ~3-4.5 cm after touchdown (a stiff leg spring) and is lowest
    # just before mid-stance with a peak GRF of ~1.5x the mean (half-sine like)
    dip = ctx.u(0.018, 0.025) * b.height
    t_low = ctx.u(0.42, 0.48)
    f_low = ctx.u(1.42, 1.52) * (tc + tf) / tc
    lean = ctx.u(4, 10) * DEG
    trunk = ctx.u(20, 30) * DEG if ctx.fault == "trunk_lean" else ctx.u(0, 8) * DEG
    g = make_grid(ctx, 1.2, 1.2)
    first = "r" if ctx.rng.random() < 0.5 else "l"
    steps, t0, k = [], g.t[0] - 0.6 * step_t, 0
    while t0 < g.t[-1]:
        steps.append(_Step(_side_of(k, first), t0, tc, tf, B=B, C=C, dip=dip, t_low=t_low,
                           f_low=f_low))
        t0 += tc + tf
        k += 1
    com = _gait_com(g, steps, v, _vertical_knots(steps, 0.0, -G * tf / 2))
    half_w = ctx.u(0.04, 0.07) * hs
    yaw_out = ctx.u(2, 10) * DEG
    p_td, p_to = ctx.u(8, 14) * DEG, ctx.u(45, 55) * DEG
    clear = (ctx.u(0.2, 0.28) + 0.05 * (v - 2.5)) * L
    peak, via_rel = ctx.u(0.3, 0.36), -ctx.u(0.3, 0.38) * L
    sts = []
    for s in steps:
        st = _toe_stance(ctx, s, half_w, yaw_out, p_td=p_td, p_to=p_to, clear=clear, peak=peak, via_rel=via_rel)
        if over:  # heel strike, toe up
            st.mode, st.p_td, st.f1, st.f2, st.k_to = "heel", ctx.u(15, 22) * DEG, 0.25, 0.5, 0.0
        sts.append(st)
    hip_off = _leg_offsets(ctx, -lean, -trunk)
    d_td, d_to = (REACH_MAX - 0.012, 0.955) if over else (0.95, 0.955)
    mid = [st for st in sts if 0.0 <= st.on <= ctx.duration] or sts[len(sts) // 2:len(sts) // 2 + 2]
    # the CoM as high as the legs allow (knees ~30 deg at touchdown and toe-off); overstriding:
    # the heel lands well ahead of the most backward feasible contact (lower CoM, bent knee mid-stance)
    dy = _fit_height(ctx, mid, com, g, hip_off, d_td, d_to, (0.09 if over else 0.04) * hs)
    com[:, 1] += dy
    _place(ctx, sts, com, g, hip_off, d_td, d_to, 1.0 if over else 0.5)
    stances = {"r": [st for st in sts if st.on in {s.on for s in steps if s.side == "r"}],
               "l": [st for st in sts if st.on in {s.on for s in steps if s.side == "l"}]}
    feet = {sd: foot_track(b, g, stances[sd], com) for sd in ("r", "l")}
    _shift_x(g, com, feet)
    ph = _arm_phase(feet["r"], feet["l"], v * (tc + tf))
    prot = ctx.u(5, 10) * DEG
    pelvis = np.zeros((len(g.t), 3))
    pelvis[:, 0] = -lean
    pelvis[:, 2] = prot * ph
    upper = _run_upper(ctx, ph, arm_amp=ctx.u(25, 45) * DEG, arm_mean=ctx.u(-5, 5) * DEG,
                       elbow=ctx.u(75, 95) * DEG, elbow_amp=ctx.u(5, 15) * DEG, trunk_flex=trunk,
                       pelvis_rot_amp=prot)
    ev = {"touchdowns_r": [s.on for s in steps if s.side == "r" and 0 <= s.on < ctx.duration],
          "touchdowns_l": [s.on for s in steps if s.side == "l" and 0 <= s.on < ctx.duration]}
    return _finish(ctx, g, "run", com, pelvis, upper, feet,
                   {"speed_mps": v, "contact_s": tc, "flight_s": tf, "com_height_m": float(g.at(com[:, 1], 0.0))}, ev)


# --------------------------------------------------------------------------------------
# sprint start (acceleration strides)
# --------------------------------------------------------------------------------------
def _step_heights(ctx, g, steps, sts, com0, hip_offs, d_td, d_to, need) -> list[float]:
    """Per-stance CoM level (raise of the level-0 design `com0`) as high as each leg allows."""
    return [_fit_height(ctx, [st], com0, g, ho, d_td, d_to, need) for st, ho in zip(sts, hip_offs)]


def _leveled_knots(steps: list[_Step], levels: list[float], vy_td0: float,
                   dip_k: float | None = 0.6) -> list[Knot]:
    """Set each step's take-off level and velocity so that its flight lands exactly on the next
    step's level (touchdown and take-off of a stance at the same level); vertical knots."""
    vy_td = vy_td0
    for k, s in enumerate(steps):
        s.y_to = levels[k]
        if dip_k is not None:  # the CoM settles over the distance a smooth stop from vy_td needs
            s.dip = dip_k * abs(vy_td) * s.t_low * s.tc
        if k + 1 < len(steps):
            dt = steps[k + 1].on - s.off
            s.vy_to = (levels[k + 1] - levels[k]) / dt + 0.5 * G * dt
            vy_td = s.vy_to - G * dt
    return _vertical_knots(steps, levels[0], vy_td0)


def _slope_limit(levels, delta: float) -> list[float]:
    """Lower levels (never raise) until neighbours differ by at most `delta`."""
    lv = np.array(levels, dtype=float)
    for _ in range(len(lv)):
        lv[1:] = np.minimum(lv[1:], lv[:-1] + delta)
        lv[:-1] = np.minimum(lv[:-1], lv[1:] + delta)
    return list(lv)


def _reach_excess(solver: MotionSolver, com: np.ndarray, steps: list[_Step], g: Grid, d_max: float,
                  p0: np.ndarray | None = None) -> tuple[list[float], np.ndarray]:
    """Per stance, the CoM level change (<= 0) that brings the probe-solved hip (CoM path `com`
    on the solver's feet, pelvis and upper body) within d_max x (thigh + shank) of the ankle at
    touchdown and toe-off; plus the solved pelvis origin path (a warm start for the next probe)."""
    body = solver.body
    _, info = solver.solve(com, p0=p0)
    hips = solver.hip_centres(info["pelvis_origin"])
    Lts = body.segments["thigh_r"].length + body.segments["shank_r"].length
    out = []
    for s in steps:
        hip = hips[SIDES.index(s.side)]
        ank = solver.plan.feet[s.side].pos
        dy = 0.0
        for tt in (s.on, s.off):
            i = int(np.clip(round((tt - g.t[0]) * g.fs), 0, len(g.t) - 1))
            d = hip[i] - ank[i]
            h2 = (d_max * Lts) ** 2 - d[0] ** 2 - d[2] ** 2
            need = (np.sqrt(h2) if h2 > 0 else 0.0) - d[1]
            dy = min(dy, need)
        out.append(max(dy, -0.04))
    return out, info["pelvis_origin"]


def _smooth(x: np.ndarray, fs: float, sigma_s: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d
    return gaussian_filter1d(x, sigma_s * fs, mode="nearest")


@register_action("sprint_start", faults=("upright_posture",))
def sprint_start(ctx: ActionContext) -> MotionPlan:
    """Acceleration strides: from a 2-4 m/s run, 3-5 steps gaining 3-5 m/s^2 (forefoot
    contacts of 0.15-0.22 s, propulsive stance forces, short flights), forward lean of pelvis and
    trunk 25-45 deg that decreases step by step, powerful arm action; then the acceleration
    fades and the body rises. Fault: upright_posture (lean < 10 deg, ~half the propulsion).

    KNOWN LIMITATIONS (work in progress): the per-stance CoM levels come from a reach estimate
    corrected by probe solves, which still leaves leg-reach shortfalls of ~5-20 mm (and, for a
    few slow upright seeds, a failed plan near the clip start); peak vertical GRF reaches
    ~3.2-3.5 BW in the fast late steps; stance knee peaks are ~50-75 deg (target 35-55)."""
    b = ctx.body
    hs = (b.segments["thigh_r"].length + b.segments["shank_r"].length) / 0.861
    L = ctx.leg_length
    upright = ctx.fault == "upright_posture"
    v0 = ctx.u(2.0, 4.0) * hs ** 0.5
    n_acc = int(ctx.rng.integers(3, 6))
    a_mean = ctx.u(3.0, 5.0) * (ctx.u(0.45, 0.6) if upright else 1.0)
    t_acc = ctx.u(0.35, 0.7)  # first acceleration touchdown (clip time)
    v_max = ctx.u(7.0, 8.0) * hs ** 0.5
    lean_max = ctx.u(4, 8) * DEG if upright else ctx.u(36, 44) * DEG
    lean_jog = ctx.u(3, 7) * DEG
    lean_post = ctx.u(6, 10) * DEG
    C = ctx.u(0.8, 1.6)
    dip = ctx.u(0.012, 0.018) * b.height
    first = "r" if ctx.rng.random() < 0.5 else "l"
    g = make_grid(ctx, 1.0, 1.0)

    def timing(v):
        tc = float(np.clip(0.195 - 0.025 * (v / hs ** 0.5 - 3.0), 0.11, 0.21)) * hs ** 0.5
        tf = float(np.clip(0.05 + 0.008 * (v / hs ** 0.5 - 3.0), 0.05, 0.1)) * hs ** 0.5
        return tc, tf

    # steps: jog before t_acc, n_acc acceleration steps, then a fading acceleration
    steps, accs = [], []
    tc, tf = timing(v0)
    t0 = t_acc - 3 * (tc + tf)
    while t0 > g.t[0] - 0.3:
        t0 -= tc + tf
    v, k, j_acc = v0, 0, None
    while t0 < g.t[-1]:
        if t0 < t_acc - 1e-9:
            a = 0.0 if t0 < t_acc - 1.5 * (tc + tf) else 0.25 * a_mean
        else:
            j_acc = 0 if j_acc is None else j_acc + 1
            a = (a_mean * (1.25 - 0.5 * j_acc / (n_acc - 1)) if j_acc < n_acc
                 else a_mean * 0.75 * 0.35 ** (j_acc - n_acc + 1))
        tc, tf = timing(v)
        a = float(np.clip((v_max - v) / (tc + tf), 0.0, a))  # the speed levels off near v_max
        A = a * np.pi * (tc + tf) / (2 * tc)
        w = min(a / a_mean, 1.0) if a_mean > 0 else 0.0
        B = (1 - w) * ctx.u(2.0, 3.0) * v / 3.5 + w * ctx.u(0.3, 1.0)
        steps.append(_Step(_side_of(k, first), t0, tc, tf, A=A, B=B, C=C, dip=dip, t_low=ctx.u(0.4, 0.46),
                           f_low=ctx.u(1.35, 1.45) * (tc + tf) / tc))
        accs.append(a)
        v += 2 * A * tc / np.pi
        t0 += tc + tf
        k += 1
    # lean follows the (smoothed) stride-mean acceleration
    a_t = np.zeros(len(g.t))
    for s, a in zip(steps, accs):
        a_t[(g.t >= s.on) & (g.t < s.off + s.tf)] = a
    a_s = _smooth(a_t, g.fs, 0.12)
    rel = np.clip(a_s / max(a_s.max(), 1e-6), 0.0, 1.0) ** 0.7
    after = ramp(g.t, t_acc, t_acc + 2.5)
    lean = (lean_jog * (1 - after) + lean_post * after) + (lean_max - lean_jog) * rel
    tilt_f = ctx.u(0.55, 0.65)
    tilt, lumbar = tilt_f * lean, (1 - tilt_f) * lean
    # CoM: horizontal from the stance accelerations, vertical levelled per stance
    com0 = _gait_com(g, steps, v0, _vertical_knots(steps, 0.0, -G * steps[0].tf / 2))
    half_w = ctx.u(0.05, 0.08) * hs
    yaw_out = ctx.u(2, 8) * DEG
    p_td, p_to = ctx.u(10, 18) * DEG, ctx.u(55, 62) * DEG
    sts = []
    for s in steps:
        vv = g.at(np.gradient(com0[:, 0], 1 / g.fs), s.on)
        clear = (ctx.u(0.14, 0.2) + 0.02 * (vv - 3.0)) * L
        sts.append(_toe_stance(ctx, s, half_w, yaw_out, p_td=p_td, p_to=p_to, clear=clear, peak=ctx.u(0.3, 0.36),
                               via_rel=-ctx.u(0.22, 0.3) * L))
    tm = [s.on + 0.5 * s.tc for s in steps]
    hip_offs = _leg_offsets_many(ctx, [-g.at(tilt, x) for x in tm], [-g.at(lumbar, x) for x in tm],
                                 td=((45, 40), (20, 100)), to=((0, 20), (80, 100)), arm_flex=0.0, elbow=90 * DEG)
    d_td, d_to = 0.96, 0.98
    frac = ctx.u(0.25, 0.4)
    levels = _step_heights(ctx, g, steps, sts, com0, hip_offs, d_td, d_to, 0.04 * hs)
    levels = _slope_limit(levels, 0.008 * hs)
    com = com0.copy()
    com[:, 1] = piecewise_quintic(g.t, _leveled_knots(steps, levels, -G * steps[0].tf / 2))
    for st, ho in zip(sts, hip_offs):
        _place(ctx, [st], com, g, ho, d_td, d_to, frac)
    stances = {sd: [st for st, s in zip(sts, steps) if s.side == sd] for sd in ("r", "l")}
    feet = {sd: foot_track(b, g, stances[sd], com) for sd in ("r", "l")}
    vx = np.gradient(com[:, 0], 1 / g.fs)
    stride = _smooth(vx, g.fs, 0.1) * (steps[0].tc + steps[0].tf)
    x = (feet["r"].pos[:, 0] - feet["l"].pos[:, 0]) / np.maximum(stride, 0.3)
    ph = 1.2 * np.tanh(x / 1.2)
    prot = ctx.u(5, 10) * DEG
    pelvis = np.zeros((len(g.t), 3))
    pelvis[:, 0] = -tilt
    pelvis[:, 2] = prot * ph
    power = 1.0 if upright else 1.0 + 0.4 * rel
    upper = _run_upper(ctx, ph * power, arm_amp=ctx.u(40, 55) * DEG, arm_mean=ctx.u(0, 10) * DEG,
                       elbow=ctx.u(80, 95) * DEG, elbow_amp=ctx.u(10, 20) * DEG, trunk_flex=0.0,
                       pelvis_rot_amp=prot)
    upper["lumbar_extension"] = -lumbar
    # probe: the real hip path (arm swing, lean) -> lower a stance's level where the leg would
    # be straighter than 0.982 x (thigh + shank) at touchdown or toe-off
    solver = MotionSolver(b, MotionPlan("probe", g.fs, com.copy(), pelvis, upper, feet))
    p_probe = None
    for _ in range(3):
        if p_probe is not None:  # warm start: the pelvis follows the CoM's change
            p_probe = p_probe + (com - com_probe)
        com_probe = com.copy()
        excess, p_probe = _reach_excess(solver, com_probe, steps, g, 0.982, p_probe)
        levels = _slope_limit([lv + dy for lv, dy in zip(levels, excess)], 0.008 * hs)
        com[:, 1] = piecewise_quintic(g.t, _leveled_knots(steps, levels, -G * steps[0].tf / 2))
    _shift_x(g, com, feet)
    acc_steps = [s for s, a in zip(steps, accs) if s.on >= t_acc - 1e-9][:n_acc]
    ev = {"acceleration_start": float(t_acc),
          "touchdowns_r": [s.on for s in steps if s.side == "r" and 0 <= s.on < ctx.duration],
          "touchdowns_l": [s.on for s in steps if s.side == "l" and 0 <= s.on < ctx.duration],
          "acceleration_touchdowns": [s.on for s in acc_steps]}
    return _finish(ctx, g, "sprint_start", com, pelvis, upper, feet,
                   {"start_speed_mps": v0, "acceleration_mps2": a_mean, "acceleration_steps": n_acc,
                    "max_lean_deg": float(np.degrees(lean.max())),
                    "contact_s": [round(s.tc, 3) for s in acc_steps]}, ev)
