"""Walking and lateral shuffling: double-support gaits designed foot-first on an extended grid.

Both actions are designed on a time grid that extends the clip on both sides, so the motion is
already under way when the clip starts. Feet are planted stances (heel / toe pivots computed
with `ankle_from_pivot`, so a planted foot never slides) joined by C2 swings that leave and
reach the floor at rest. The CoM is an analytic C-infinity function of a smooth step phase
(`_phase`: a C2 monotone curve through the heel strikes), so the ground reaction force is
continuous. Its height is then set by `_fit_height`, which moves the whole CoM path by a
constant (accelerations, hence the GRF, unchanged) until the longest stance leg reaches a
target fraction of its length. In double support `FootTrack.load` (read by the generator to
split the vertical load between the plates) hands the vertical load smoothly (smoothstep, C2) from the foot that
is about to lift to the one that just landed.

* walk: heel strike -> foot flat -> heel off -> toe off; inverted-pendulum CoM (vertical
  oscillation lowest in double support, fastest there, sway toward the stance foot), arm swing
  opposite to the legs, small pelvis rotation / list. Faults: trunk_lean (forward trunk
  flexion 15-25 deg), asymmetric_gait (one side: shorter step, longer stance).
* lateral_shuffle: NOT implemented yet (planned here: athletic stance, side steps along Z with
  `load_shares` in double support; faults knee_valgus, trunk_lean).

Known limitation: the IK's soft reach limit (kinematics.legs_ik) keeps the stance knee above
~25-30 deg at the CoM heights walking needs, so stance knees are more flexed than in real gait.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext, standing_com_height
from biomech.kinematics import SIDES, UPPER_COORDS, FootTrack, MotionPlan, MotionSolver, ankle_from_pivot
from biomech.trajectory import Knot, bump, piecewise_quintic, ramp, smoothstep

__all__ = ["walk", "load_shares"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
@dataclass
class _Grid:
    t: np.ndarray  # extended time (s); clip time 0 at index i0
    i0: int
    n: int

    def clip(self, a: np.ndarray) -> np.ndarray:
        return np.array(a[self.i0:self.i0 + self.n], copy=True)


def _grid(ctx: ActionContext, pre: float, post: float) -> _Grid:
    n0, n1 = int(round(pre * ctx.fs)), int(round(post * ctx.fs))
    return _Grid(np.arange(-n0, ctx.n + n1) / ctx.fs, n0, ctx.n)


def _phase(t: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Smooth (C2) monotone phase through `events` (phase k at events[k]).

    The rate at each event is the inverse of the mean of its two neighbouring intervals and the
    phase acceleration there is zero, so unequal intervals (asymmetric gait) stay smooth."""
    ev = np.asarray(events, float)
    d = np.diff(ev)
    rate = np.empty(len(ev))
    rate[1:-1] = 2.0 / (d[:-1] + d[1:])
    rate[0], rate[-1] = 1 / d[0], 1 / d[-1]
    return piecewise_quintic(t, [Knot(a, float(k), r) for k, (a, r) in enumerate(zip(ev, rate))])


def _sole(body, where: str) -> np.ndarray:
    lf, ah, hb = body.foot_length, body.ankle_height, body.heel_back
    return {"heel": np.array([-hb * lf, -ah]), "toe": np.array([(1 - hb) * lf, -ah]),
            "mid": np.array([(0.5 - hb) * lf, -ah])}[where]


def _sole_y(body, where: str, pitch: np.ndarray) -> np.ndarray:
    """Height of a sole point above the ankle centre for foot pitch `pitch` (rad)."""
    x, y = _sole(body, where)
    return x * np.sin(pitch) + y * np.cos(pitch)


def _fwd(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw), 0.0, -np.sin(yaw)])


@dataclass
class _Stance:
    on: float
    off: float
    ankle: np.ndarray  # (3,) ankle centre of the flat foot
    yaw: float
    p_td: float = 0.0  # pitch at touchdown (+ toe up; heel pivot)
    p_to: float = 0.0  # heel-rise pitch at lift-off (>= 0; toe pivot)
    f1: float = 0.15  # foot flat from this stance fraction
    f2: float = 0.6  # heel rises from this stance fraction
    clear: float = 0.05  # sole clearance of the following swing, m
    lift: float = 0.0  # extra early-swing ankle lift (knee flexion after toe-off), m
    lift_peak: float = 0.3
    swivel: float = 0.0


def _stance_eval(body, st: _Stance, tt: np.ndarray):
    tau = np.clip((tt - st.on) / (st.off - st.on), 0.0, 1.0)
    pitch = st.p_td * (1 - smoothstep(tau / st.f1)) - st.p_to * smoothstep((tau - st.f2) / (1 - st.f2))
    d = _fwd(st.yaw)
    base = np.array([st.ankle[0], 0.0, st.ankle[2]])
    heel = base - body.heel_back * body.foot_length * d
    toe = base + (1 - body.heel_back) * body.foot_length * d
    yaw = np.full(tt.shape, st.yaw)
    ph = ankle_from_pivot(body, np.tile(heel, (len(tt), 1)), yaw, pitch, "heel")
    pt = ankle_from_pivot(body, np.tile(toe, (len(tt), 1)), yaw, pitch, "toe")
    return np.where((tau < st.f2)[:, None], ph, pt), pitch


def _bump_at(s: np.ndarray, peak: float) -> np.ndarray:
    """C2 bump 0 -> 1 -> 0 on s in [0, 1] with its maximum at `peak` (s^a (1-s)^c, a, c >= 3)."""
    s = np.clip(s, 0.0, 1.0)
    a = max(3.0, 3.0 * peak / (1 - peak))
    c = max(3.0, 3.0 * (1 - peak) / peak)
    pk = a / (a + c)
    return s ** a * (1 - s) ** c / (pk ** a * (1 - pk) ** c)


def _pivot_of(pitch: float) -> str:
    return "toe" if pitch < -1e-9 else ("heel" if pitch > 1e-9 else "mid")


# fast-in, fast-out horizontal swing profile: C2, zero end slopes, peak slope 1.5 (minimum
# jerk would peak at 1.875, faster than a real swing foot)
_SWING_KNOTS = [Knot(0.0, 0.0), Knot(0.55, 0.5, 1.6), Knot(1.0, 1.0)]


def _swing_profile(s: np.ndarray) -> np.ndarray:
    return piecewise_quintic(np.clip(s, 0.0, 1.0), _SWING_KNOTS)


def _foot_track(body, g: _Grid, stances: list[_Stance]) -> FootTrack:
    """Planted stances joined by swings that leave / reach the floor at rest (C2 joins).

    In swing the horizontal ankle path follows `_swing_profile`, the pitch a smoothstep and the
    height keeps the lift-off pivot (toe) then the touchdown pivot (heel) `clear` * bump above
    the floor, blended smoothly, so the sole clears the floor without a velocity jump."""
    t = g.t
    T = len(t)
    pos, pitch, yaw = np.zeros((T, 3)), np.zeros(T), np.zeros(T)
    swivel, contact = np.zeros(T), np.zeros(T, dtype=bool)
    stances = sorted(stances, key=lambda s: s.on)
    ends = []
    for st in stances:
        m = (t >= st.on) & (t <= st.off)
        pos[m], pitch[m] = _stance_eval(body, st, t[m])
        yaw[m] = st.yaw
        contact[m] = True
        ends.append(_stance_eval(body, st, np.array([st.on, st.off])))
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
        w = smoothstep(s)
        g_h = _swing_profile(s)
        pos[m, 0] = q0[0] + (q1[0] - q0[0]) * g_h
        pos[m, 2] = q0[2] + (q1[2] - q0[2]) * g_h
        pa = a0 + (a1 - a0) * w
        pitch[m] = pa
        low = s0.clear * bump(s, 0.0, 1.0) + s0.lift * _bump_at(s, s0.lift_peak)
        pos[m, 1] = low - ((1 - w) * _sole_y(body, _pivot_of(a0), pa) + w * _sole_y(body, _pivot_of(a1), pa))
        yaw[m] = s0.yaw + (s1.yaw - s0.yaw) * w
    # swivel: a C2 bump over each stance (dynamic valgus while loaded)
    for st in stances:
        if st.swivel:
            swivel += st.swivel * bump(t, st.on, st.off)
    return FootTrack(pos=pos, yaw=yaw, pitch=pitch, swivel=swivel, contact=contact)


def load_shares(t: np.ndarray, contact: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Vertical-load shares (C2 in time): in every double support the load moves by smoothstep
    from the foot that lifts at its end to the one that landed at its start; 1 for a single
    stance foot, 0 in the air. The two shares sum to 1 wherever a foot is in contact."""
    cr, cl = contact["r"].astype(bool), contact["l"].astype(bool)
    wr = np.where(cr & ~cl, 1.0, 0.0)
    both = cr & cl
    i = 0
    n = len(t)
    while i < n:
        if not both[i]:
            i += 1
            continue
        j = i
        while j < n and both[j]:
            j += 1
        a, b = i, j - 1  # double support frames a..b
        # who landed at a: the foot that was not in contact just before
        if a > 0 and not cr[a - 1]:
            landed = "r"
        elif a > 0 and not cl[a - 1]:
            landed = "l"
        else:  # double support from the start of the grid: the foot lifting next keeps 0
            landed = "r" if (j < n and cl[j] and not cr[j]) else "l"
            landed = "l" if landed == "r" else "r"
        ta = t[a - 1] if a > 0 else t[a]
        tb = t[b + 1] if b + 1 < n else t[b]
        s = smoothstep((t[a:j] - ta) / max(tb - ta, 1e-9))
        wr[a:j] = s if landed == "r" else 1 - s
        i = j
    anyc = cr | cl
    return {"r": np.where(cr, wr, 0.0), "l": np.where(cl, 1 - wr, 0.0) * anyc}


class _Reach:
    """Hip-to-ankle geometry of a plan's legs for trial CoM heights: one MotionSolver (feet,
    pelvis and upper body fixed), each solve warm-started from the last one."""

    def __init__(self, ctx: ActionContext, plan: MotionPlan):
        self.plan = plan
        self.solver = MotionSolver(ctx.body, plan)
        b = ctx.body
        self.L = np.array([b.segments[f"thigh_{s}"].length + b.segments[f"shank_{s}"].length for s in SIDES])
        self._last = None  # (com, pelvis origin) of the last solve

    def geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """Hip-to-ankle distance / (thigh + shank) per frame and side (T, 2) at the plan's
        current CoM, and its derivative with respect to a vertical shift of the CoM (1/m)."""
        com = self.plan.com
        p0 = None if self._last is None else self._last[1] + (com - self._last[0])
        _, info = self.solver.solve(com, iters=5, p0=p0)
        self._last = (com.copy(), info["pelvis_origin"])
        d = self.solver.hip_centres(info["pelvis_origin"]) - np.stack([self.plan.feet[s].pos for s in SIDES])
        n = np.linalg.norm(d, axis=-1)
        return (n / self.L[:, None]).T, (d[..., 1] / n / self.L[:, None]).T


def _fit_height(reach: _Reach, target: float, swing_max: float = 0.982, iters: int = 4) -> float:
    """Shift the CoM path vertically (a constant: the GRF is unchanged) until the longest
    stance leg reaches `target` x (thigh + shank) (swing legs at most `swing_max`).
    Returns the shift (m)."""
    plan = reach.plan
    shift = 0.0
    c = np.stack([plan.feet[s].contact for s in ("r", "l")], 1)
    lim = np.where(c, target, swing_max)
    for _ in range(iters):
        r, dr = reach.geometry()
        # linearised: r + dr * dy; largest dy with r + dr dy <= lim everywhere, and = somewhere
        with np.errstate(divide="ignore", invalid="ignore"):
            cand = np.where(dr > 1e-3, (lim - r) / dr, np.inf)
        dy = float(np.min(cand))
        if not np.isfinite(dy):
            break
        plan.com[:, 1] += dy
        shift += dy
        if abs(dy) < 2e-4:
            break
    return shift


def _fit_ceiling(reach: _Reach, target: float, sigma_s: float, iters: int = 3) -> None:
    """Vertical CoM path under the stance legs' reach: in every frame the highest CoM at which
    each planted leg is at `target` x (thigh + shank) (the lower of the two in double support),
    turned into a smooth lower envelope (Gaussian, `sigma_s`). The result is the inverted
    pendulum: an arc over each single support, a smooth valley in double support."""
    from scipy.ndimage import gaussian_filter1d

    plan = reach.plan
    c = np.stack([plan.feet[s].contact for s in ("r", "l")], 1)
    sig = sigma_s * plan.fs
    for _ in range(iters):
        r, dr = reach.geometry()
        with np.errstate(divide="ignore", invalid="ignore"):
            allow = np.where(c & (dr > 1e-3), (target - r) / dr, np.inf)
        ceil = plan.com[:, 1] + allow.min(1)
        ceil = np.where(np.isfinite(ceil), ceil, np.nan)
        ceil = np.interp(np.arange(len(ceil)), np.flatnonzero(~np.isnan(ceil)), ceil[~np.isnan(ceil)])
        y = ceil.copy()
        for _ in range(4):
            y = gaussian_filter1d(np.minimum(y, ceil), sig, mode="nearest")
        y -= max(0.0, float((y - ceil).max()))
        plan.com[:, 1] = y


def _finish(ctx, g: _Grid, action: str, com, pelvis, upper, feet, style, events, target,
            sigma_s: float = 0.0, swing_limit: float = 0.985) -> MotionPlan:
    tracks = {}
    for s, f in feet.items():
        tracks[s] = FootTrack(pos=g.clip(f.pos), yaw=g.clip(f.yaw), pitch=g.clip(f.pitch),
                              swivel=g.clip(f.swivel), contact=g.clip(f.contact))
    load = load_shares(g.t, {s: f.contact for s, f in feet.items()})
    for s in tracks:
        tracks[s].load = g.clip(load[s])
    plan = MotionPlan(action, ctx.fs, g.clip(com), g.clip(pelvis), {k: g.clip(v) for k, v in upper.items()},
                      tracks, fault=ctx.fault, style=style, events=events)
    reach = _Reach(ctx, plan)
    if sigma_s:
        _fit_ceiling(reach, target, sigma_s)
    plan.style["height_shift_m"] = _fit_height(reach, target, swing_max=swing_limit)
    return plan


# --------------------------------------------------------------------------------------
# walk
# --------------------------------------------------------------------------------------
@register_action("walk", faults=("trunk_lean", "asymmetric_gait"))
def walk(ctx: ActionContext) -> MotionPlan:
    b = ctx.body
    hs = b.height / 1.75
    # step length scales with stature (0.33-0.39 x height); speed = step x cadence, kept in
    # 1.0-1.7 m/s by adjusting the cadence within 1.7-2.0 steps/s
    step = ctx.u(0.33, 0.39) * b.height
    cad = float(np.clip(ctx.u(1.7, 2.0), 1.0 / step, 1.7 / step))
    cad = float(np.clip(cad, 1.7, 2.0))
    step = float(np.clip(step, 1.0 / cad, 1.7 / cad))
    v = step * cad
    Ts = 1.0 / cad
    ds = ctx.u(0.10, 0.12)  # double support, fraction of the cycle (each)
    # asymmetric gait: side `bad` has the shorter step (less time from the other heel strike)
    # and the longer stance
    first = "r" if ctx.rng.random() < 0.5 else "l"
    bad = "r" if ctx.rng.random() < 0.5 else "l"
    asym = ctx.u(0.14, 0.22) if ctx.fault == "asymmetric_gait" else ctx.u(0.0, 0.02)
    g = _grid(ctx, 1.6, 1.2)
    # heel strikes alternate sides; step k ends with heel strike k of side_k
    side = lambda k: first if k % 2 == 0 else ("l" if first == "r" else "r")  # noqa: E731
    hs_t, sides = [], []
    tk = g.t[0] - 0.05
    k = 0
    while tk < g.t[-1] + 3 * Ts:
        hs_t.append(tk)
        sides.append(side(k))
        nxt = side(k + 1)
        # duration of the step ending at the next heel strike: short onto the bad side
        tk += Ts * (1 - asym / 2 if nxt == bad else 1 + asym / 2)
        k += 1
    hs_t = np.array(hs_t)
    # toe-off of the foot behind, after each heel strike: double support
    dsT = 2 * ds * Ts
    phi = _phase(g.t, hs_t)
    u0 = dsT / Ts / 2  # phase of the lowest CoM: middle of double support
    # --- CoM (extended grid), C-infinity in the phase
    A_y = ctx.u(0.035, 0.04) * min(1.0, hs)  # peak-to-peak vertical oscillation
    eps = ctx.u(0.06, 0.1)  # relative surge of the forward speed
    A_z = ctx.u(0.02, 0.03) * hs  # lateral sway toward the stance foot
    c2 = np.cos(2 * np.pi * (phi - u0))
    com = np.zeros((len(g.t), 3))
    com[:, 0] = v * g.t + v * eps * Ts / (2 * np.pi) * np.sin(2 * np.pi * (phi - u0))
    com[:, 1] = standing_com_height(b) - 0.5 * A_y * c2
    sgn0 = 1.0 if first == "r" else -1.0
    lat = sgn0 * np.sin(np.pi * (phi - u0))  # +1 in mid right stance, 0 in double support
    com[:, 2] = A_z * lat
    # --- feet
    half_w = ctx.u(0.045, 0.07) * hs
    toe_out = ctx.u(3, 12) * DEG
    p_td = ctx.u(14, 22) * DEG
    p_to = ctx.u(38, 46) * DEG
    clear = ctx.u(0.03, 0.045) * hs
    lift = ctx.u(0.07, 0.1) * hs
    stance_mean = Ts * (1 + 2 * ds)
    lead = ctx.u(0.36, 0.42) * v * Ts  # heel ahead of the CoM at heel strike
    stances = {"r": [], "l": []}
    for k in range(len(hs_t) - 2):
        s = sides[k]
        on = hs_t[k]
        off = hs_t[k + 1] + dsT  # the foot lifts after the next heel strike of the other foot
        if s == bad:
            off += asym * 0.5 * Ts  # longer stance on the affected side
        sg = 1.0 if s == "r" else -1.0
        yaw = -sg * toe_out
        heel_x = np.interp(on, g.t, com[:, 0]) + lead
        ankle = np.array([heel_x, 0.0, sg * half_w]) + b.heel_back * b.foot_length * _fwd(yaw)
        ankle[1] = b.ankle_height
        stances[s].append(_Stance(on, off, ankle, yaw, p_td=p_td, p_to=p_to, f1=ctx.u(0.13, 0.17),
                                  f2=ctx.u(0.4, 0.48), clear=clear, lift=lift, lift_peak=0.25))
    feet = {s: _foot_track(b, g, stances[s]) for s in ("r", "l")}
    # --- pelvis, trunk, arms: c_r = +1 when the right foot is forward (right heel strike)
    c_r = sgn0 * np.cos(np.pi * phi)
    c_arm = sgn0 * np.cos(np.pi * (phi - 0.08))  # arms lag the legs slightly
    prot = ctx.u(3, 7) * DEG
    plist = ctx.u(2, 5) * DEG
    pelvis = np.zeros((len(g.t), 3))
    pelvis[:, 0] = -ctx.u(0, 6) * DEG + 1.0 * DEG * c2
    pelvis[:, 1] = -plist * lat  # the swing-side hip drops
    pelvis[:, 2] = prot * c_r
    upper = {c: np.zeros(len(g.t)) for c in UPPER_COORDS}
    trunk = ctx.u(0, 6) * DEG
    if ctx.fault == "trunk_lean":
        trunk = ctx.u(15, 25) * DEG
    upper["lumbar_extension"] = -trunk + 1.0 * DEG * c2
    upper["lumbar_rotation"] = -0.6 * prot * c_r
    upper["lumbar_bending"] = 0.5 * plist * lat
    arm_amp = ctx.u(12, 25) * DEG * (0.7 + 0.3 * v / 1.3)
    arm_mean, elbow = ctx.u(-5, 3) * DEG, ctx.u(12, 30) * DEG
    for s, sg in (("r", -1.0), ("l", 1.0)):  # right arm back when the right foot is forward
        upper[f"arm_flex_{s}"] = arm_mean + sg * arm_amp * c_arm
        upper[f"elbow_flex_{s}"] = elbow + 0.5 * sg * arm_amp * c_arm + 0.3 * arm_amp
        upper[f"arm_add_{s}"] = np.full(len(g.t), -ctx.u(4, 10) * DEG)
    # shift so the clip starts with the CoM at x = 0
    dx = com[g.i0, 0]
    com[:, 0] -= dx
    for f in feet.values():
        f.pos[:, 0] -= dx
    ev = {f"heel_strikes_{s}": [float(t) for t, sd in zip(hs_t, sides) if sd == s and 0 <= t < ctx.duration]
          for s in ("r", "l")}
    style = {"speed_mps": v, "cadence_steps_s": cad, "double_support_frac": ds, "asymmetry": asym,
             "affected_side": bad if ctx.fault == "asymmetric_gait" else None,
             "com_oscillation_m": A_y, "sway_m": A_z, "half_width_m": half_w}
    target = ctx.u(0.975, 0.98)
    return _finish(ctx, g, "walk", com, pelvis, upper, feet, style, ev, target, sigma_s=ctx.u(0.06, 0.08))
