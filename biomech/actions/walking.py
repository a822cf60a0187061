"""Walking: a double-support gait designed foot-first on an extended grid.

The walk is designed on a time grid that extends the clip on both sides, so the motion is
already under way when the clip starts. Feet are planted stances (heel / toe pivots computed
with `ankle_from_pivot`, so a planted foot never slides) joined by C2 swings
(`biomech.actions.feet`, shared with run and sprint start). The horizontal CoM is an analytic
C-infinity function of a smooth step phase (`_phase`: a C2 monotone curve through the heel
strikes). Its height follows the legs' reach (`_fit_ceiling`): per frame the highest CoM with
every loaded leg at 0.99-0.995 x (thigh + shank) (easing to 0.95, knee ~35 deg, as the
trailing leg unloads in double support) and the swinging leg at most 0.997 (extended in
terminal swing), made smooth with bounded vertical acceleration (GRF 1 +- 0.38 BW): the
inverted pendulum, highest at mid-stance. In double support `FootTrack.load` (read by the
generator to split the vertical load between the plates) hands the vertical load smoothly
(smoothstep, C2) from the foot that is about to lift to the one that just landed.

heel strike (toe up) -> foot flat -> heel off shortly before the other heel strike -> most of
the heel rise in double support -> toe off; arm swing opposite to the legs, small pelvis
rotation / list. Faults: trunk_lean (forward trunk flexion 15-25 deg), asymmetric_gait (one
side: shorter step, longer stance).

Stance knee flexion (12 seeds, 1.55-1.95 m): ~23 deg at heel strike, ~23-33 deg mean over
single support (real gait ~5-20 deg; the soft reach limit of `kinematics.legs_ik` and the
bounded GRF keep it a few degrees above), ~45 deg at toe-off.
"""
from __future__ import annotations

import numpy as np

from biomech.actions import register_action
from biomech.actions.common import DEG, ActionContext, standing_com_height
from biomech.actions.feet import Grid, Stance, clip_track, foot_track, make_grid
from biomech.conventions import GRAVITY
from biomech.kinematics import SIDES, UPPER_COORDS, MotionPlan, MotionSolver
from biomech.trajectory import Knot, piecewise_quintic, smoothstep

__all__ = ["walk", "load_shares"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
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


def _fwd(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw), 0.0, -np.sin(yaw)])


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


def _reach_limits(plan: MotionPlan, target: float, swing_max: float, pre_swing: float = 0.95) -> np.ndarray:
    """Largest hip-ankle distance / (thigh + shank) per frame and leg (T, 2): `target` for a
    loaded stance leg, easing to `pre_swing` (knee ~35 deg) as the trailing leg unloads in
    double support (pre-swing: the knee flexes before toe-off), `swing_max` in swing."""
    c = np.stack([plan.feet[s].contact for s in ("r", "l")], 1)
    load = np.stack([plan.feet[s].load for s in ("r", "l")], 1)
    unloading = c & (np.gradient(load, axis=0) < 0)
    stance = np.where(unloading, target - (target - pre_swing) * (1 - load), target)
    return np.where(c, stance, swing_max)


def _fit_height(reach: _Reach, target: float, swing_max: float = 0.982, iters: int = 4) -> float:
    """Shift the CoM path vertically (a constant: the GRF is unchanged) until the longest
    stance leg reaches `target` x (thigh + shank) (swing legs at most `swing_max`).
    Returns the shift (m)."""
    plan = reach.plan
    shift = 0.0
    lim = _reach_limits(plan, target, swing_max)
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


def _fit_ceiling(reach: _Reach, target: float, swing_max: float, sigma_s: float, iters: int = 3,
                 a_max: float = 0.38 * GRAVITY) -> None:
    """Vertical CoM path under the legs' reach: in every frame the highest CoM at which each
    planted leg is at `target` x (thigh + shank) and a swinging leg (terminal swing: the knee
    extends before heel strike) at most `swing_max`, made smooth: Gaussian (`sigma_s`), then
    smooth local dips (Gaussian-spread) wherever it still pokes above that ceiling; both wider
    (x1.2, x1.45, ...) where the vertical acceleration would exceed `a_max` (GRF 1 +- 0.38 BW). The
    result is the inverted pendulum: an arc over each single support, a smooth valley in
    double support, touching the legs' reach instead of sagging under a global offset."""
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    plan = reach.plan
    lim = _reach_limits(plan, target, swing_max)
    sig = sigma_s * plan.fs
    for _ in range(iters):
        r, dr = reach.geometry()
        with np.errstate(divide="ignore", invalid="ignore"):
            allow = np.where(dr > 1e-3, (lim - r) / dr, np.inf)
        ceil = plan.com[:, 1] + allow.min(1)
        ceil = np.where(np.isfinite(ceil), ceil, np.nan)
        ceil = np.interp(np.arange(len(ceil)), np.flatnonzero(~np.isnan(ceil)), ceil[~np.isnan(ceil)])
        for widen in (1.0, 1.2, 1.45, 1.75, 2.1, 2.5, 3.0):  # wider where needed: vertical GRF within 1 +- a_max / g
            s_ = widen * sig
            y = gaussian_filter1d(ceil, s_, mode="nearest")
            for _ in range(12):
                over = np.maximum(y - ceil, 0.0)
                if over.max() < 1e-5:
                    break
                y = y - gaussian_filter1d(maximum_filter1d(over, int(2 * s_) | 1, mode="nearest"), s_, mode="nearest")
            y -= max(0.0, float((y - ceil).max()))
            if np.abs(np.diff(y, 2)).max() * plan.fs ** 2 <= a_max:
                break
        plan.com[:, 1] = y


def _finish(ctx, g: Grid, action: str, com, pelvis, upper, feet, style, events, target,
            sigma_s: float = 0.0, swing_limit: float = 0.985) -> MotionPlan:
    clip = lambda a: g.clip(a).copy()  # noqa: E731
    tracks = {s: clip_track(g, f) for s, f in feet.items()}
    load = load_shares(g.t, {s: f.contact for s, f in feet.items()})
    for s in tracks:
        tracks[s].load = clip(load[s])
    plan = MotionPlan(action, ctx.fs, clip(com), clip(pelvis), {k: clip(v) for k, v in upper.items()},
                      tracks, fault=ctx.fault, style=style, events=events)
    reach = _Reach(ctx, plan)
    if sigma_s:
        _fit_ceiling(reach, target, swing_limit, sigma_s)
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
    g = make_grid(ctx, 1.6, 1.2)
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
    # --- feet: heel strike (toe up) -> foot flat -> heel off shortly before the other foot's heel
    # strike, most of the heel rise in double support (pre-swing), toe-off with the heel still
    # rising; swing (biomech.actions.feet): the ankle peaks early in the swing (knee flexion),
    # passes behind the CoM, and in terminal swing still moves at ~2x the CoM's speed, so the
    # leg extends but never reaches far ahead of the body before heel strike
    half_w = ctx.u(0.045, 0.07) * hs
    toe_out = ctx.u(3, 12) * DEG
    p_td = ctx.u(14, 22) * DEG
    p_to = ctx.u(38, 46) * DEG
    clear = ctx.u(0.04, 0.07) * hs  # ankle rise above the toe-off ankle height early in the swing
    lead = ctx.u(0.36, 0.42) * v * Ts  # heel ahead of the CoM at heel strike
    via = -ctx.u(0.15, 0.25) * ctx.leg_length  # ankle behind the CoM at the swing's peak
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
        heel_off = hs_t[k + 1] - ctx.u(0.15, 0.25) * Ts
        # a longer stance (asymmetric gait) keeps the heel rising at the same rate: higher at toe-off
        p_to_k = p_to * (1 + (off - hs_t[k + 1] - dsT) / (off - heel_off))
        stances[s].append(Stance(on, off, ankle, yaw, mode="heel", p_td=p_td, p_to=p_to_k, f1=ctx.u(0.13, 0.17),
                                 f2=(heel_off - on) / (off - on), k_to=1.5, clear=clear, peak=0.3, via_rel=via,
                                 via_speed=1.0, late_drop=0.15, late_speed=2.0))
    feet = {s: foot_track(b, g, stances[s], com) for s in ("r", "l")}
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
    # stance legs up to 0.99-0.995 x (thigh + shank) (knee ~10-16 deg; the IK's soft reach limit
    # costs ~1 mm there), the swinging leg up to 0.997 (fully extended in terminal swing)
    target = ctx.u(0.99, 0.995)
    return _finish(ctx, g, "walk", com, pelvis, upper, feet, style, ev, target, sigma_s=ctx.u(0.08, 0.1),
                   swing_limit=0.997)
