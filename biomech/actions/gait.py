"""Gait-like actions: walk, run, sprint start, long-jump take-off, lateral shuffle.

All five are designed on an extended time grid (the clip plus a margin on both sides) so the
motion is already under way when the clip starts and still under way when it ends.

* walk: analytic, C-infinity CoM (vertical oscillation lowest in double support, sway toward the
  stance foot, brake-then-propel surge); heel strike -> foot flat -> heel off -> toe off.
* run / sprint_start / the long-jump approach: a step engine that designs the CoM
  *acceleration* of every stance (vertical -g + P sin(pi tau) + Q sin(2 pi tau), horizontal
  -B sin(2 pi tau) + A sin(pi tau)) and integrates it; flight phases are exactly ballistic
  and the GRF is continuous (zero at touchdown and take-off).
* lateral_shuffle: athletic stance, side steps along Z (lead foot out, trail foot follows).

Faults: walk (trunk_lean, asymmetric_gait), run (overstriding, trunk_lean), sprint_start
(upright_posture), long_jump_takeoff (knee_valgus, asymmetric_landing), lateral_shuffle
(knee_valgus, trunk_lean).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext, neutral_upper, standing_com_height
from biomech.conventions import GRAVITY
from biomech.kinematics import FootTrack, MotionPlan, UPPER_COORDS, ankle_from_pivot
from biomech.trajectory import (
    Knot, integrate_acceleration, piecewise_quintic, quintic_segment, ramp, smoothstep,
)

G = GRAVITY


# --------------------------------------------------------------------------------------
# extended grid and foot tracks
# --------------------------------------------------------------------------------------
@dataclass
class _Grid:
    t: np.ndarray  # extended time (s), clip time 0 at index i0
    i0: int
    n: int
    fs: float

    def clip(self, a):
        return a[self.i0:self.i0 + self.n]

    def at(self, a, tt):
        """Linear interpolation of a (T,) or (T,k) array at time tt."""
        a = np.asarray(a)
        if a.ndim == 1:
            return float(np.interp(tt, self.t, a))
        return np.array([np.interp(tt, self.t, a[:, j]) for j in range(a.shape[1])])


def _grid(ctx: ActionContext, pre: float, post: float) -> _Grid:
    n0, n1 = int(round(pre * ctx.fs)), int(round(post * ctx.fs))
    t = np.arange(-n0, ctx.n + n1) / ctx.fs
    return _Grid(t, n0, ctx.n, ctx.fs)


def _bump3(s: np.ndarray, peak: float = 0.5) -> np.ndarray:
    """C2 bump on [0,1] with zero value/slope/curvature at both ends, max 1 at `peak`."""
    s = np.clip(s, 0.0, 1.0)
    a = 3.0 * max(peak, 1e-3) / max(1 - peak, 1e-3)
    a, c = max(a, 3.0), max(3.0 * (1 - peak) / max(peak, 1e-3), 3.0)
    pk = a / (a + c)
    return (s ** a * (1 - s) ** c) / (pk ** a * (1 - pk) ** c)


def _ease_out(x: np.ndarray, k: float) -> np.ndarray:
    """0 -> 1 on [0,1], C2 start (zero slope, curvature), slope k and zero curvature at 1."""
    a, b, c = np.linalg.solve([[1, 1, 1], [3, 4, 5], [6, 12, 20]], [1.0, k, 0.0])
    x = np.clip(x, 0.0, 1.0)
    return x ** 3 * (a + b * x + c * x * x)


@dataclass
class _Stance:
    on: float
    off: float
    ankle_flat: np.ndarray  # (3,) ankle centre of the flat foot (defines heel/toe floor points)
    yaw: float
    mode: str = "toe"  # "toe": forefoot contact, toe pivot; "heel": heel strike -> flat -> toe
    p_td: float = 0.0  # pitch at touchdown (rad; + toe up)
    p_mid: float = 0.0
    p_to: float = 35 * DEG  # heel-rise pitch at toe-off (positive number)
    f1: float = 0.15  # heel mode: foot flat at f1; toe mode: mid pitch at f1
    f2: float = 0.55  # heel mode: heel off at f2
    swivel: float = 0.0
    clear: float = 0.08  # clearance of the following swing
    peak: float = 0.5  # where in the following swing the clearance peaks
    via_rel: float | None = None  # ankle X relative to the CoM at the clearance peak
    k_to: float = 0.0  # toe mode: heel still rising at toe-off (slope of the last pitch ramp)
    via_speed: float = 1.3  # forward speed there, relative to the mean swing speed


def _floor_points(body, st: _Stance):
    d = np.array([np.cos(st.yaw), 0.0, -np.sin(st.yaw)])
    base = np.array([st.ankle_flat[0], 0.0, st.ankle_flat[2]])
    heel = base - body.heel_back * body.foot_length * d
    toe = base + (1 - body.heel_back) * body.foot_length * d
    return heel, toe


def _stance_eval(body, st: _Stance, tt: np.ndarray):
    tau = np.clip((tt - st.on) / (st.off - st.on), 0.0, 1.0)
    heel, toe = _floor_points(body, st)
    yaw = np.full(tt.shape, st.yaw)
    if st.mode == "heel":
        pitch = st.p_td * (1 - smoothstep(tau / st.f1)) - st.p_to * smoothstep((tau - st.f2) / (1 - st.f2))
        ph = ankle_from_pivot(body, np.tile(heel, (len(tt), 1)), yaw, pitch, "heel")
        pt = ankle_from_pivot(body, np.tile(toe, (len(tt), 1)), yaw, pitch, "toe")
        pos = np.where((tau < st.f2)[:, None], ph, pt)
    else:
        pitch = (st.p_td + (st.p_mid - st.p_td) * smoothstep(tau / st.f1)
                 + (-st.p_to - st.p_mid) * _ease_out((tau - st.f1) / (1 - st.f1), st.k_to))
        pos = ankle_from_pivot(body, np.tile(toe, (len(tt), 1)), yaw, pitch, "toe")
    return pos, pitch


def _foot_track(body, g: _Grid, stances: list[_Stance], com: np.ndarray | None = None) -> FootTrack:
    """Planted stances joined by C2 swings with a clearance bump.

    Swings are quintic from the lift-off pose to the touchdown pose (zero velocity and
    acceleration at both ends); with a stance's `via_rel` and the extended-grid `com`, the
    horizontal swing passes `via_rel` behind the CoM at the clearance peak (heel recovery).
    """
    t = g.t
    T = len(t)
    pos = np.zeros((T, 3))
    pitch = np.zeros(T)
    yaw = np.zeros(T)
    swivel = np.zeros(T)
    contact = np.zeros(T, dtype=bool)
    stances = sorted(stances, key=lambda s: s.on)
    ends = []
    for st in stances:
        m = (t >= st.on) & (t <= st.off)
        p, a = _stance_eval(body, st, t[m])
        pos[m], pitch[m], yaw[m] = p, a, st.yaw
        contact[m] = True
        tau = (t[m] - st.on) / (st.off - st.on)
        swivel[m] = st.swivel * np.sin(np.pi * tau) ** 2
        p0, a0 = _stance_eval(body, st, np.array([st.on, st.off]))
        ends.append((p0, a0))
    # before the first / after the last stance: hold
    first, last = stances[0], stances[-1]
    m = t < first.on
    pos[m], pitch[m], yaw[m] = ends[0][0][0], ends[0][1][0], first.yaw
    m = t > last.off
    pos[m], pitch[m], yaw[m] = ends[-1][0][1], ends[-1][1][1], last.yaw
    for k in range(len(stances) - 1):
        s0, s1 = stances[k], stances[k + 1]
        m = (t > s0.off) & (t < s1.on)
        if not m.any():
            continue
        s = (t[m] - s0.off) / (s1.on - s0.off)
        q0, q1 = ends[k][0][1], ends[k + 1][0][0]
        a0, a1 = ends[k][1][1], ends[k + 1][1][0]
        sy = smoothstep(s)
        pos[m] = q0 + (q1 - q0) * sy[:, None]
        if s0.via_rel is not None and com is not None:  # heel recovery: the foot passes under the hip
            # lift-off state (the heel is still rising at toe-off): C2 continuation of the stance
            h = 1e-3
            pe, ae = _stance_eval(body, s0, np.array([s0.off - 2 * h, s0.off - h, s0.off]))
            vel = (3 * pe[2] - 4 * pe[1] + pe[0]) / (2 * h)
            acc = (pe[2] - 2 * pe[1] + pe[0]) / h ** 2
            pv = (3 * ae[2] - 4 * ae[1] + ae[0]) / (2 * h)
            pa = (ae[2] - 2 * ae[1] + ae[0]) / h ** 2
            tm = s0.off + s0.peak * (s1.on - s0.off)
            xm = g.at(com[:, 0], tm) + s0.via_rel
            # late swing: the foot is still moving forward at the CoM's speed shortly before
            # touchdown and stops on the floor (no long reach ahead of the body)
            d2 = min(0.06, 0.3 * (s1.on - tm))
            w2 = g.at(np.gradient(com[:, 0], 1 / g.fs), s1.on - d2)
            x2 = q1[0] - 0.5 * w2 * d2
            vm = s0.via_speed * (x2 - q0[0]) / (s1.on - d2 - s0.off)
            pos[m, 0] = piecewise_quintic(t[m], [Knot(s0.off, q0[0], vel[0], acc[0]), Knot(tm, xm, vm, 0.0),
                                                 Knot(s1.on - d2, x2, w2, 0.0), Knot(s1.on, q1[0])])
            ym = max(q0[1], q1[1]) + s0.clear
            pos[m, 1] = piecewise_quintic(t[m], [Knot(s0.off, q0[1], vel[1], acc[1]), Knot(tm, ym),
                                                 Knot(s1.on, q1[1])])
            tp = s0.off + 0.3 * (s1.on - s0.off)
            pitch[m] = piecewise_quintic(t[m], [Knot(s0.off, a0, pv, pa), Knot(tp, a0 - 5 * DEG), Knot(s1.on, a1)])
        yaw[m] = s0.yaw + (s1.yaw - s0.yaw) * sy
    return FootTrack(pos=pos, yaw=yaw, pitch=pitch, swivel=swivel, contact=contact)


def _clip_track(g: _Grid, f: FootTrack) -> FootTrack:
    return FootTrack(pos=g.clip(f.pos).copy(), yaw=g.clip(f.yaw).copy(), pitch=g.clip(f.pitch).copy(),
                     swivel=g.clip(f.swivel).copy(), contact=g.clip(f.contact).copy(),
                     load=None if f.load is None else g.clip(f.load).copy())


# --------------------------------------------------------------------------------------
# running step engine
# --------------------------------------------------------------------------------------
@dataclass
class _Step:
    side: str
    on: float
    tc: float
    tf: float  # flight after this stance
    vy_td: float = 0.0
    vy_to: float = 0.0
    dy: float = 0.0  # CoM height change over the stance
    B: float = 0.0  # brake-then-propel amplitude (m/s^2)
    A: float = 0.0  # net propulsion amplitude (m/s^2, half-sine)
    C: float = 0.0  # lateral amplitude (m/s^2, toward the midline)

    @property
    def off(self) -> float:
        return self.on + self.tc


def _step_acc(t: np.ndarray, steps: list[_Step]) -> np.ndarray:
    acc = np.zeros((len(t), 3))
    acc[:, 1] = -G
    for s in steps:
        m = (t >= s.on) & (t <= s.off)
        tau = (t[m] - s.on) / s.tc
        # vertical: Dv = vy_to - vy_td, Dy = dy  -> P (net impulse) and Q (displacement shape)
        P = np.pi * (s.vy_to - s.vy_td + G * s.tc) / (2 * s.tc)
        dy0 = s.vy_td * s.tc - 0.5 * G * s.tc ** 2 + P * s.tc ** 2 / np.pi
        Q = 2 * np.pi * (s.dy - dy0) / s.tc ** 2
        Q = float(np.clip(Q, -0.5 * P, 0.5 * P))  # keeps the vertical GRF >= 0
        acc[m, 1] += P * np.sin(np.pi * tau) + Q * np.sin(2 * np.pi * tau)
        acc[m, 0] += -s.B * np.sin(2 * np.pi * tau) + s.A * np.sin(np.pi * tau)
        sgn = 1.0 if s.side == "r" else -1.0
        acc[m, 2] += -sgn * s.C * np.sin(np.pi * tau)
    return acc


def _arm_phase(fr: FootTrack, fl: FootTrack, step_len: float) -> np.ndarray:
    """Smooth -1..1 phase: + when the right foot is ahead (right arm back, left arm forward)."""
    return np.clip((fr.pos[:, 0] - fl.pos[:, 0]) / max(step_len, 1e-3), -1.5, 1.5)


def _side_of(k: int, first: str) -> str:
    return first if k % 2 == 0 else ("l" if first == "r" else "r")


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def _run_like(ctx: ActionContext, g: _Grid, steps: list[_Step], *, h_td: float, v0: float,
              contact_frac, p_td, p_to, half_w: float, yaw_out: float, clear, peak, via_rel=None,
              overstride: float = 0.0, detrend_y: bool = True) -> tuple[np.ndarray, dict[str, FootTrack]]:
    """CoM (extended grid) and both foot tracks for a sequence of running steps."""
    b = ctx.body
    acc = _step_acc(g.t, steps)
    # start the integration at the first step's touchdown
    first = steps[0]
    i_start = int(np.searchsorted(g.t, first.on))
    com = np.zeros((len(g.t), 3))
    vz0 = first.C * 2 * first.tc / np.pi / 2 * (1 if first.side == "r" else -1)
    p, v = integrate_acceleration(acc[i_start:], g.fs, [0.0, h_td, 0.0], [v0, first.vy_td, vz0])
    com[i_start:] = p
    com[:i_start] = p[0] + v[0] * (g.t[:i_start] - g.t[i_start])[:, None]  # unused margin
    # the lateral sway: remove residual drift (linear terms leave the acceleration unchanged)
    sl = slice(i_start, None)
    cz = np.polyfit(g.t[sl], com[sl, 2], 1)
    com[:, 2] -= np.polyval(cz, g.t)
    if detrend_y:  # periodic running: remove the integration drift of the height
        cy = np.polyfit(g.t[sl], com[sl, 1], 1)
        com[:, 1] -= np.polyval(cy, g.t) - h_td
    stances = {"r": [], "l": []}
    for k, s in enumerate(steps):
        cf = contact_frac(k) if callable(contact_frac) else contact_frac
        sgn = 1.0 if s.side == "r" else -1.0
        yaw = -sgn * yaw_out
        if overstride > 0 and False:
            # heel lands far ahead of the CoM
            xh = g.at(com[:, 0], s.on) + overstride
            ankle = np.array([xh + b.heel_back * b.foot_length, b.ankle_height, sgn * half_w])
            st = _Stance(s.on, s.off, ankle, yaw, mode="heel", p_td=ctx.u(14, 22) * DEG,
                         p_to=p_to, f1=0.22, f2=0.5, clear=clear, peak=peak, via_rel=via_rel)
        else:
            xt = g.at(com[:, 0], s.on + cf * s.tc)  # toe contact point under the CoM at cf
            ankle = np.array([xt - (1 - b.heel_back) * b.foot_length, b.ankle_height, sgn * half_w])
            st = _Stance(s.on, s.off, ankle, yaw, mode="toe", p_td=-p_td, p_mid=-0.35 * p_td,
                         p_to=p_to, f1=0.35, k_to=1.5, clear=clear, peak=peak, via_rel=via_rel)
        stances[s.side].append(st)
    feet = {sd: _foot_track(b, g, stances[sd], com) for sd in ("r", "l")}
    return com, feet


def _reach_height(ctx: ActionContext, dx: float, pitch: float, half_w: float, margin: float = 0.02) -> float:
    """Highest CoM height at which a leg reaches a toe contact `dx` (m, horizontal distance
    between CoM and toe) with the heel raised by `pitch` (rad, >= 0)."""
    b = ctx.body
    Lts = b.segments["thigh_r"].length + b.segments["shank_r"].length
    fx = (1 - b.heel_back) * b.foot_length
    ankle_dx = abs(dx) - fx * np.cos(pitch)
    ankle_y = b.ankle_height * np.cos(pitch) + fx * np.sin(pitch)
    hip_below_com = 0.048 * b.height
    dz = max(half_w - 0.05 * b.height, 0.0)
    vert = np.sqrt(max((Lts - margin) ** 2 - ankle_dx ** 2 - dz ** 2, 0.0))
    return float(ankle_y + vert + hip_below_com)


def _run_upper(ctx, ph, *, arm_amp, arm_mean, elbow, elbow_amp, trunk_flex, pelvis_rot_amp):
    up = neutral_upper(ctx)
    n = len(ph)
    up = {c: np.zeros(n) for c in UPPER_COORDS}
    for s, sg in (("r", -1.0), ("l", 1.0)):
        up[f"arm_flex_{s}"] = arm_mean * np.ones(n) + sg * arm_amp * ph
        up[f"elbow_flex_{s}"] = elbow + sg * elbow_amp * ph  # elbow flexes as the arm comes forward
        up[f"arm_add_{s}"] = -ctx.u(5, 12) * DEG * np.ones(n)
    up["lumbar_extension"] = -trunk_flex * np.ones(n)
    up["lumbar_rotation"] = -0.6 * pelvis_rot_amp * ph
    return up


def _shift_x(g: _Grid, com: np.ndarray, feet: dict[str, FootTrack]) -> None:
    """Translate the whole motion along X so that the CoM starts the clip at x = 0."""
    dx = g.at(com[:, 0], 0.0)
    com[:, 0] -= dx
    for f in feet.values():
        f.pos[:, 0] -= dx


def _fit_reach(ctx: ActionContext, plan: MotionPlan, tol: float = 0.002) -> None:
    """Lower the whole CoM trajectory by a constant until every foot target is within reach.

    A constant offset leaves the CoM accelerations (hence the GRF and the ballistic flights)
    unchanged; it only bends the knees a little more.
    """
    from biomech.kinematics import solve_motion
    drop, last, d = 0.0, np.inf, 0.0
    for _ in range(4):
        _, info = solve_motion(ctx.body, plan, iters=4)
        sf = info["reach_shortfall_max_m"]
        if sf > last:  # lowering made it worse (knee singularity): undo the last step
            plan.com[:, 1] += d
            drop -= d
            break
        if sf < tol:
            break
        last = sf
        d = min(1.2 * sf + 0.003, 0.06)
        plan.com[:, 1] -= d
        drop += d
    plan.style["reach_drop_m"] = drop


def _finish(ctx, g, action, com, pelvis_rot, upper, feet, style, events) -> MotionPlan:
    clip = lambda a: g.clip(a).copy()  # noqa: E731
    plan = MotionPlan(action, ctx.fs, clip(com), clip(pelvis_rot), {k: clip(v) for k, v in upper.items()},
                      {s: _clip_track(g, f) for s, f in feet.items()}, fault=ctx.fault, style=style,
                      events=events)
    _fit_reach(ctx, plan)
    return plan


@register_action("run", faults=("overstriding", "trunk_lean"))
def run(ctx: ActionContext) -> MotionPlan:
    b = ctx.body
    hs = b.height / 1.75
    v = ctx.u(2.5, 2.5 + 2.0 * min(1.0, hs))
    # Froude scaling: shorter athletes take shorter, quicker steps at the same speed
    tc = float(np.clip(0.275 - 0.03 * (v - 2.5) + ctx.u(-0.02, 0.02), 0.2, 0.3)) * hs ** 0.5
    step_t = ctx.u(0.33, 0.38) * hs ** 0.5
    tf = max(step_t - tc, 0.05)
    B = ctx.u(3.0, 5.0) * v / 3.5
    overstride = 0.0
    if ctx.fault == "overstriding":
        tc = min(tc + 0.03, 0.32)
        tf = max(step_t - tc, 0.05)
        B *= ctx.u(1.8, 2.3)
        overstride = ctx.u(0.42, 0.5) * hs
    C = ctx.u(0.8, 1.6)
    g = _grid(ctx, 1.2, 1.2)
    first = "r" if ctx.rng.random() < 0.5 else "l"
    t0 = g.t[0] + 0.01
    steps = []
    k = 0
    while t0 < g.t[-1]:
        steps.append(_Step(_side_of(k, first), t0, tc, tf, vy_td=-G * tf / 2, vy_to=G * tf / 2,
                           B=B, C=C))
        t0 += tc + tf
        k += 1
    L = ctx.leg_length
    h_st = standing_com_height(b)
    cf = ctx.u(0.5, 0.56)
    if overstride:  # the foot lands far ahead of the CoM (contact point passed early in stance)
        cf = ctx.u(0.15, 0.25)
    p_td, p_to = ctx.u(5, 14) * DEG, ctx.u(30, 42) * DEG
    half_w = ctx.u(0.04, 0.07) * hs
    h_td = min(h_st - (ctx.u(0.07, 0.09) + 0.03 * (v - 2.5) / hs) * L,
               _reach_height(ctx, (1 - cf) * v * tc + 0.03 * hs, p_to, half_w, 0.07 * L),
               _reach_height(ctx, cf * v * tc + 0.03 * hs, p_td, half_w, 0.07 * L)) - (0.05 * L if overstride else 0.0)
    com, feet = _run_like(ctx, g, steps, h_td=h_td, v0=v, contact_frac=cf, p_td=p_td, p_to=p_to, half_w=half_w, yaw_out=ctx.u(2, 10) * DEG,
                          clear=(ctx.u(0.2, 0.28) + 0.05 * (v - 2.5)) * L, peak=ctx.u(0.3, 0.36),
                          via_rel=-ctx.u(0.3, 0.38) * L,
                          overstride=overstride)
    _shift_x(g, com, feet)
    ph = _arm_phase(feet["r"], feet["l"], v * (tc + tf))
    lean = ctx.u(4, 10) * DEG
    trunk = ctx.u(0, 8) * DEG
    if ctx.fault == "trunk_lean":
        trunk = ctx.u(20, 30) * DEG
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
                   {"speed_mps": v, "contact_s": tc, "flight_s": tf, "overstride_m": overstride}, ev)
