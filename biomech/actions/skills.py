"""Sport skills and exercises: lunge, tennis serve, jumping jack, soccer kick.

Feet are designed as *toe tracks*: the toe tip's position (on the floor while planted), the
foot's yaw and pitch; the ankle centre follows from `ankle_from_pivot`. A planted foot therefore
never slides, and any pitch while planted is a heel rise about the toe. Swing feet move between
touchdown poses with C2 (smoothstep) interpolation plus a C2 clearance bump.

The CoM heights of contact phases are set against `_com_ceiling`, the highest CoM the planted
legs reach at a given fraction of full extension, so tall and short athletes, wide stances and
raised arms all stay within reach.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biomech.actions import register_action
from biomech.actions.common import (
    DEG, ActionContext, heel_raise, neutral_upper, stance_width, standing_com_height,
)
from biomech.body import forward_kinematics, q_index, whole_body_com
from biomech.conventions import COORDINATES, GRAVITY
from biomech.kinematics import (
    SIDES, FootTrack, MotionPlan, MotionSolver, ankle_from_pivot, solve_motion,
)
from biomech.trajectory import Knot, ballistic_knot, bump, interp_knots, piecewise_quintic, ramp, smoothstep

__all__ = ["lunge", "tennis_serve", "jumping_jack", "soccer_kick"]


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _lift(s: np.ndarray) -> np.ndarray:
    """C2 bump 0 -> 1 -> 0 on s in [0, 1] (zero value, slope and curvature at both ends)."""
    s = np.clip(s, 0.0, 1.0)
    return 64.0 * (s * (1.0 - s)) ** 3


def _key_path(t: np.ndarray, times, values, vels=None) -> np.ndarray:
    """C2 piecewise quintic through key values; velocities default to Catmull-Rom slopes
    (zero at the first and last key), accelerations are zero at the keys."""
    times = np.asarray(times, float)
    values = np.asarray(values, float)
    if values.ndim > 1:
        return np.stack([_key_path(t, times, values[:, j], None if vels is None else np.asarray(vels)[:, j])
                         for j in range(values.shape[1])], axis=-1)
    if vels is None:
        vels = np.zeros_like(values)
        vels[1:-1] = (values[2:] - values[:-2]) / (times[2:] - times[:-2])
    return piecewise_quintic(t, [Knot(a, b, c) for a, b, c in zip(times, values, vels)])


@dataclass
class _Toe:
    """A foot designed by its toe tip: toe (T,3), yaw, pitch (T,) rad, contact (T,) bool."""

    toe: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    contact: np.ndarray
    swivel: np.ndarray

    def track(self, ctx: ActionContext) -> FootTrack:
        pos = ankle_from_pivot(ctx.body, self.toe, self.yaw, self.pitch, "toe")
        return FootTrack(pos=pos, yaw=self.yaw.copy(), pitch=self.pitch.copy(),
                         swivel=self.swivel.copy(), contact=self.contact.copy())


def _toe_of(ctx: ActionContext, ankle_xz, yaw: float) -> np.ndarray:
    """Toe tip (3,) of a flat foot whose ankle centre is above (x, z) with yaw."""
    a = (1 - ctx.body.heel_back) * ctx.body.foot_length
    return np.array([ankle_xz[0] + a * np.cos(yaw), 0.0, ankle_xz[1] - a * np.sin(yaw)])


def _standing_toe(ctx: ActionContext, ankle_xz, yaw: float) -> _Toe:
    n = ctx.n
    return _Toe(np.tile(_toe_of(ctx, ankle_xz, yaw), (n, 1)), np.full(n, yaw), np.zeros(n),
                np.ones(n, dtype=bool), np.zeros(n))


def _swing(ctx: ActionContext, f: _Toe, t0: float, t1: float, toe1, yaw1: float, clear: float,
           y_extra: np.ndarray | None = None) -> None:
    """Lift the foot at t0 and put it down at t1 with toe tip `toe1` and `yaw1` (in place)."""
    t = ctx.t
    i0 = min(int(np.searchsorted(t, t0)), ctx.n - 1)
    p0, w0 = f.toe[i0].copy(), f.yaw[i0]
    s = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    m = (t > t0) & (t < t1)
    after = t >= t1
    sm = smoothstep(s)[m, None]
    toe1 = np.asarray(toe1, float)
    f.toe[m] = p0 + sm * (toe1 - p0)
    f.toe[m, 1] += clear * _lift(s[m])
    if y_extra is not None:
        f.toe[m, 1] += y_extra[m]
    f.toe[after] = toe1
    f.yaw[m] = w0 + smoothstep(s[m]) * (yaw1 - w0)
    f.yaw[after] = yaw1
    f.contact[m] = False


def _com_ceiling(ctx: ActionContext, com_xz: np.ndarray, pelvis_rot: np.ndarray,
                 upper: dict[str, np.ndarray], feet: dict[str, FootTrack], ext: float,
                 sides=("r", "l"), all_frames: bool = False) -> np.ndarray:
    """Highest CoM height (T,) with which every planted foot of `sides` is reached with the
    hip-ankle distance at `ext` x full leg length (legs otherwise straight)."""
    b = ctx.body
    T = ctx.n
    q = torch.zeros(T, len(COORDINATES), dtype=torch.float64)
    for i, name in enumerate(("pelvis_tilt", "pelvis_list", "pelvis_rotation")):
        q[:, q_index(name)] = torch.as_tensor(pelvis_rot[:, i])
    for name, v in upper.items():
        q[:, q_index(name)] = torch.as_tensor(v)
    pose = forward_kinematics(b, q)
    off = (whole_body_com(b, pose) - pose.p["pelvis"]).numpy()
    R = pose.R["pelvis"].numpy()
    px = com_xz[:, 0] - off[:, 0]
    pz = com_xz[:, 1] - off[:, 2]
    ceil = np.full(T, np.inf)
    for s in sides:
        f = feet[s]
        hip = R @ b.joint_offsets[f"thigh_{s}"]
        r = ext * (b.segments[f"thigh_{s}"].length + b.segments[f"shank_{s}"].length)
        dx = px + hip[:, 0] - f.pos[:, 0]
        dz = pz + hip[:, 2] - f.pos[:, 2]
        py = f.pos[:, 1] - hip[:, 1] + np.sqrt(np.clip(r * r - dx * dx - dz * dz, 0.0, None))
        ceil = np.where(f.contact | all_frames, np.minimum(ceil, py + off[:, 1]), ceil)
    return ceil


def _ext_safe(ctx: ActionContext) -> float:
    """Largest hip-ankle distance (fraction of leg length) that legs_ik's soft reach limit
    (0.999 L, 10 mm softplus) meets with under ~4 mm foot error."""
    L = ctx.body.segments["thigh_r"].length + ctx.body.segments["shank_r"].length
    return 0.999 - 0.009 / L


def _stand_height(ctx: ActionContext, com_xz, pelvis_rot, upper, feet, knee_deg: float = 6.0,
                  frame: int = 0) -> float:
    """CoM height of quiet standing (knees bent `knee_deg`) with this frame's upper body/feet."""
    Lt, Ls = ctx.body.segments["thigh_r"].length, ctx.body.segments["shank_r"].length
    ext = min(np.sqrt(Lt ** 2 + Ls ** 2 + 2 * Lt * Ls * np.cos(knee_deg * DEG)) / (Lt + Ls), _ext_safe(ctx))
    sl = slice(frame, frame + 1)
    one = ActionContext(ctx.body, ctx.rng, ctx.fs, 1.0 / ctx.fs, ctx.fault)
    ft = {s: FootTrack(f.pos[sl], f.yaw[sl], f.pitch[sl], f.swivel[sl], np.ones(1, bool)) for s, f in feet.items()}
    return float(_com_ceiling(one, np.asarray(com_xz)[sl], pelvis_rot[sl], {k: v[sl] for k, v in upper.items()},
                              ft, ext)[0])


def _mirror(plan: MotionPlan) -> MotionPlan:
    """Left-right mirror image of a plan (Z -> -Z, sides swapped)."""
    com = plan.com * np.array([1.0, 1.0, -1.0])
    pr = plan.pelvis_rot * np.array([1.0, -1.0, -1.0])
    up = {}
    for k, v in plan.upper.items():
        if k in ("lumbar_bending", "lumbar_rotation"):
            up[k] = -v
        elif k.endswith("_r"):
            up[k[:-2] + "_l"] = v
        elif k.endswith("_l"):
            up[k[:-2] + "_r"] = v
        else:
            up[k] = v
    feet = {}
    for s, o in (("r", "l"), ("l", "r")):
        f = plan.feet[o]
        feet[s] = FootTrack(pos=f.pos * np.array([1.0, 1.0, -1.0]), yaw=-f.yaw, pitch=f.pitch,
                            swivel=f.swivel, contact=f.contact,
                            load=None if f.load is None else f.load)
    return MotionPlan(plan.action, plan.fs, com, pr, up, feet, fault=plan.fault,
                      style=dict(plan.style), events=dict(plan.events))


def _frame_solve(ctx: ActionContext, plan: MotionPlan, i: int, xy0, target, iters: int = 5):
    """Adjust the CoM (x, y) of frame i of `plan` until `target(pose) -> (ex, ey)` (m) vanishes
    (unit-slope fixed-point iteration on a one-frame plan). Returns the CoM (x, y)."""
    sl = slice(i, i + 1)
    one = MotionPlan(plan.action, plan.fs, plan.com[sl].copy(), plan.pelvis_rot[sl],
                     {k: v[sl] for k, v in plan.upper.items()},
                     {s: FootTrack(f.pos[sl], f.yaw[sl], f.pitch[sl], f.swivel[sl], f.contact[sl])
                      for s, f in plan.feet.items()})
    solver = MotionSolver(ctx.body, one)
    xy = np.array(xy0, float)
    for _ in range(iters):
        one.com[0, :2] = xy
        q, _ = solver.solve(one.com)
        e = np.asarray(target(forward_kinematics(ctx.body, torch.as_tensor(q))), float)
        xy = xy - e
        if np.abs(e).max() < 5e-4:
            break
    return xy


def _reach_excess(ctx: ActionContext, plan: MotionPlan, ext: float, solver: MotionSolver | None = None) -> np.ndarray:
    """How much (m, >= 0) the CoM must come down at each frame so that every foot is within
    `ext` x leg length: from `_com_ceiling` (cheap, solver None) or exactly from the hips of a
    full solve (`solver`: a MotionSolver of this plan's feet, pelvis and upper body)."""
    if solver is None:
        ceil = _com_ceiling(ctx, plan.com[:, [0, 2]], plan.pelvis_rot, plan.upper, plan.feet, ext,
                            all_frames=True)
        return np.clip(plan.com[:, 1] - ceil, 0.0, None)
    b = ctx.body
    _, info = solver.solve(plan.com)
    hips = solver.hip_centres(info["pelvis_origin"])
    out = np.zeros(plan.n)
    for k, s in enumerate(SIDES):
        f = plan.feet[s]
        r = ext * (b.segments[f"thigh_{s}"].length + b.segments[f"shank_{s}"].length)
        v = hips[k] - f.pos
        dh2 = v[:, 0] ** 2 + v[:, 2] ** 2
        need = v[:, 1] - np.sqrt(np.clip(r * r - dh2, 0.0, None))
        out = np.maximum(out, 1.15 * need)  # legs bending lowers the CoM less than the hips
    return out


def _fit_under(ctx: ActionContext, plan: MotionPlan, ext: float | None = None, width: float = 0.4,
               margin: float = 0.002, keep: np.ndarray | None = None) -> None:
    """Lower plan.com[:, 1] with smooth (C2, flat-topped) dips wherever a foot would be out of
    reach. Frames where `keep` is True (flight) are untouched: a dip never overlaps them."""
    t = ctx.t
    ext = _ext_safe(ctx) if ext is None else ext
    solver = None
    for exact in (False, True, True):
        if exact and solver is None:
            solver = MotionSolver(ctx.body, plan)  # feet, pelvis and upper body stay as they are
        exc = _reach_excess(ctx, plan, ext, solver if exact else None)
        if keep is not None:
            exc[keep] = 0.0  # flight is ballistic: reach there is the swing design's business
        if exc.max() <= 1e-4:
            continue
        idx = np.flatnonzero(exc > 1e-4)
        gap = np.diff(idx) > int(0.1 * ctx.fs)
        if keep is not None:
            ck = np.concatenate([[0], np.cumsum(keep)])
            gap |= (ck[idx[1:]] - ck[idx[:-1]]) > 0
        splits = np.flatnonzero(gap)
        for seg in np.split(idx, splits + 1):
            t0, t1 = t[seg[0]], t[seg[-1]]
            lo, hi = t0 - width, t1 + width
            if keep is not None:
                k = np.flatnonzero(keep)
                before, after = k[t[k] < t0], k[t[k] > t1]
                if len(before):
                    lo = max(lo, t[before[-1]] + 1.0 / ctx.fs)
                if len(after):
                    hi = min(hi, t[after[0]] - 1.0 / ctx.fs)
            if min(t0 - lo, hi - t1) < 0.06:  # no room for a smooth dip (between flights)
                continue
            w = np.minimum(smoothstep((t - lo) / max(t0 - lo, 1e-3)),
                           1.0 - smoothstep((t - t1) / max(hi - t1, 1e-3)))
            w[(t < lo) | (t > hi)] = 0.0
            plan.com[:, 1] -= (exc[seg].max() + margin) * w


# ------------------------------------------------------------------------------------------
# lunge
# ------------------------------------------------------------------------------------------
@register_action("lunge", faults=("knee_valgus", "trunk_lean", "shallow_lunge"))
def lunge(ctx: ActionContext) -> MotionPlan:
    """Forward lunge: step forward, lower until the rear knee nearly touches the floor (rear heel
    up about the toe), rise, step back; 1-2 reps. CoM between the feet at the bottom."""
    b, t, n = ctx.body, ctx.t, ctx.n
    h0 = standing_com_height(b)
    H = b.height
    Lt, Ls = b.segments["thigh_r"].length, b.segments["shank_r"].length
    half = stance_width(ctx)
    lead = "r" if ctx.rng.random() < 0.6 else "l"
    alternate = ctx.rng.random() < 0.5
    knee_h = ctx.u(0.07, 0.12) * H / 1.75  # rear knee centre above the floor at the bottom
    heel_p = ctx.u(45, 60) * DEG
    thigh_lean = ctx.u(-0.04, 0.03) * H / 1.75  # hip ahead of the rear knee at the bottom
    front_shank = ctx.u(0.5, 0.75)  # front ankle ahead of the hip, x thigh length
    t_step, t_down, t_hold, t_up = ctx.u(0.35, 0.5), ctx.u(0.5, 0.8), ctx.u(0.05, 0.3), ctx.u(0.5, 0.8)
    rest = ctx.u(0.15, 0.4)
    start = ctx.u(0.15, 0.45)
    want = 2 if ctx.rng.random() < 0.6 else 1
    toe_out = ctx.u(0, 10) * DEG
    lean = ctx.u(0, 8) * DEG
    trunk = ctx.u(-5, 5) * DEG
    valgus = ctx.u(-3, 3) * DEG
    arms = "hips" if ctx.rng.random() < 0.5 else "hang"
    arm_draw = [ctx.u(0, 1) for _ in range(5)]
    x_s = ctx.u(0.15, 0.25) * b.foot_length
    # faults
    depth_knee_h = knee_h
    if ctx.fault == "shallow_lunge":
        depth_knee_h = ctx.u(0.30, 0.36) * H / 1.75
    if ctx.fault == "trunk_lean":
        lean, trunk = ctx.u(22, 32) * DEG, -ctx.u(12, 22) * DEG
    if ctx.fault == "knee_valgus":
        valgus = ctx.u(12, 18) * DEG
    heel_used = heel_p if ctx.fault != "shallow_lunge" else 0.45 * heel_p

    rep = 2 * t_step + t_down + t_hold + t_up
    avail = ctx.duration - start - 0.1
    n_reps = 2 if (want == 2 and 2 * rep + rest <= avail) else 1
    scale = min(1.0, avail / (n_reps * rep + (n_reps - 1) * rest))
    t_step, t_down, t_hold, t_up, rest = (x * scale for x in (t_step, t_down, t_hold, t_up, rest))

    # bottom geometry (normal technique): rear knee under the hip, front shank near vertical
    yaw0 = {"r": -toe_out, "l": toe_out}
    zs = {"r": half, "l": -half}
    toe_r = _toe_of(ctx, (0.0, 0.0), 0.0)
    ank_b = ankle_from_pivot(b, toe_r[None], np.zeros(1), np.array([-heel_p]), "toe")[0]
    x_knee = ank_b[0] + np.sqrt(max(Ls ** 2 - (ank_b[1] - knee_h) ** 2, 0.0))
    hip_x = x_knee + thigh_lean
    d = float(np.clip(hip_x + front_shank * Lt, 0.38 * H, 0.46 * H))
    if ctx.fault == "shallow_lunge":
        d *= ctx.u(0.8, 0.9)

    feet = {s: _standing_toe(ctx, (0.0, zs[s]), yaw0[s]) for s in ("r", "l")}
    kx_t, kx, kz = [0.0], [x_s], [0.0]
    ky_t, ky, kyv = [0.0], [0.0], [0.0]
    kp_t, kp = [0.0], [0.0]
    events, reps = {}, []
    ts = start
    for k in range(n_reps):
        f = lead if (k == 0 or not alternate) else ("l" if lead == "r" else "r")
        rr = "l" if f == "r" else "r"
        zr = zs[rr]
        t_lo, t_td = ts, ts + t_step
        t_bot = t_td + t_down
        t_he = t_bot + t_hold
        t_lo2 = t_he + t_up
        t_td2 = t_lo2 + t_step
        a = min(0.2, 0.45 * (t_lo - kx_t[-1]))
        a2 = min(0.25, 0.45 * (rest if k < n_reps - 1 else ctx.duration - t_td2))
        _swing(ctx, feet[f], t_lo, t_td, _toe_of(ctx, (d, zs[f]), yaw0[f]), yaw0[f], ctx.u(0.04, 0.07))
        _swing(ctx, feet[f], t_lo2, t_td2, _toe_of(ctx, (0.0, zs[f]), yaw0[f]), yaw0[f], ctx.u(0.04, 0.07))
        kx_t += [t_lo - a, t_lo, t_td, t_bot, t_he, t_lo2, t_td2, t_td2 + a2]
        kx += [x_s, x_s + 0.03, "td", "xb", "xb", "lo2", x_s, x_s]
        kz += [0.0, 0.35 * zr, 0.2 * zr, 0.05 * zr, 0.05 * zr, 0.2 * zr, 0.1 * zr, 0.0]
        ky_t += [t_lo - a, t_td, t_bot, t_he, t_lo2, t_td2]
        ky += [0.0, 0.5, 1.0, 1.0, 0.5, 0.0]
        kyv += [0.0, 1.2 / (t_bot - t_lo), 0.0, 0.0, -1.2 / (t_td2 - t_he), 0.0]
        kp_t += [t_td - 0.5 * t_step, t_bot, t_he, t_td2]
        kp += [0.0, 1.0, 1.0, 0.0]
        reps.append((f, rr, t_lo - a, t_td2 + a2))
        events.update({f"rep{k + 1}_touchdown": t_td, f"rep{k + 1}_bottom": t_bot,
                       f"rep{k + 1}_return": t_td2})
        ts = t_td2 + rest
    end = max(ctx.duration, kx_t[-1] + 0.05)
    kx_t.append(end), kx.append(x_s), kz.append(0.0)
    ky_t.append(end), ky.append(0.0), kyv.append(0.0)
    kp_t.append(end), kp.append(0.0)
    depth_f = _key_path(t, ky_t, ky, kyv)
    pitch_f = np.clip(_key_path(t, kp_t, kp, np.zeros(len(kp))), 0.0, None)
    for f, rr, lo, hi in reps:
        w = ((t >= lo) & (t <= hi)).astype(float)
        feet[rr].pitch = feet[rr].pitch - heel_used * pitch_f * w
        feet[f].swivel = feet[f].swivel + valgus * np.clip(depth_f, 0, None) * w
    pelvis = np.zeros((n, 3))
    pelvis[:, 0] = -lean * depth_f
    up = neutral_upper(ctx)
    up["lumbar_extension"] = trunk * depth_f
    if arms == "hips":
        for s in ("r", "l"):
            up[f"arm_add_{s}"] = np.full(n, -(30 + 10 * arm_draw[0]) * DEG)
            up[f"elbow_flex_{s}"] = np.full(n, (95 + 20 * arm_draw[1]) * DEG)
            up[f"arm_flex_{s}"] = np.full(n, -(10 + 10 * arm_draw[2]) * DEG)
            up[f"arm_rot_{s}"] = np.full(n, (20 + 15 * arm_draw[3]) * DEG)
    else:
        for s in ("r", "l"):
            up[f"arm_flex_{s}"] = up[f"arm_flex_{s}"] + (10 + 15 * arm_draw[4]) * DEG * depth_f
    track_feet = {s: feet[s].track(ctx) for s in ("r", "l")}
    kz_a = np.array(kz)
    h0 = _stand_height(ctx, np.array([[x_s, 0.0]]), pelvis, up, track_feet)

    def make(xb: float, yb: float) -> MotionPlan:
        sub = {"xb": xb, "td": x_s + 0.55 * (xb - x_s), "lo2": x_s + 0.55 * (xb - x_s)}
        xs = [sub.get(x, 0.0) if isinstance(x, str) else x for x in kx]
        com = np.zeros((n, 3))
        com[:, 0] = _key_path(t, kx_t, xs)
        com[:, 1] = h0 - (h0 - yb) * depth_f
        com[:, 2] = _key_path(t, kx_t, kz_a)
        return MotionPlan("lunge", ctx.fs, com, pelvis, up, track_feet, fault=ctx.fault)

    f0, r0 = reps[0][0], reps[0][1]
    ib = min(int(round(events["rep1_bottom"] * ctx.fs)), n - 1)
    hip_target = hip_x if ctx.fault != "shallow_lunge" else hip_x - 0.3 * (depth_knee_h - knee_h)

    def err(pose):
        hip = float(pose.p["pelvis"][0, 0])
        return hip - hip_target, float(pose.p[f"shank_{r0}"][0, 1]) - depth_knee_h

    xb, yb = _frame_solve(ctx, make(hip_x + 0.05, h0 - 0.4 * ctx.leg_length), ib,
                          (hip_x + 0.05, h0 - 0.4 * ctx.leg_length), err)
    plan = make(float(xb), float(yb))
    _fit_under(ctx, plan)
    plan.style = {"step_m": float(d), "depth_m": float(h0 - yb), "reps": n_reps, "lead": lead,
                  "arms": arms, "rear_knee_height_m": depth_knee_h}
    plan.events = events
    return plan


# ------------------------------------------------------------------------------------------
# jumping jack
# ------------------------------------------------------------------------------------------
@register_action("jumping_jack", faults=("asymmetric_landing", "stiff_landing"))
def jumping_jack(ctx: ActionContext) -> MotionPlan:
    """Continuous small hops (1.5-2 Hz): feet land alternately wide and together, arms abduct
    overhead at the wide landings and come down at the narrow ones. Ballistic flights, a
    parabola-like vertical GRF in each contact (quintic CoM through the contact phase)."""
    b, t, n = ctx.body, ctx.t, ctx.n
    H = b.height
    half_t = stance_width(ctx, 0.8)
    half_w = ctx.u(0.17, 0.23) * H
    toe_w = ctx.u(5, 15) * DEG
    period, tf = 1.0 / ctx.u(1.5, 2.0), ctx.u(0.12, 0.25)
    p_edge = ctx.u(18, 28) * DEG  # heel pitch at touchdown / take-off (forefoot contact)
    p_mid = ctx.u(0.35, 0.7) * p_edge  # heels sink towards the floor at mid-contact
    if ctx.fault == "stiff_landing":
        period, tf = ctx.u(0.45, 0.5), ctx.u(0.2, 0.25)
        p_mid = 0.9 * p_edge
    tc = max(period - tf, 0.2)
    arm_up, arm_down = ctx.u(150, 172) * DEG, ctx.u(8, 15) * DEG
    elbow = ctx.u(5, 25) * DEG
    t0 = ctx.u(0.1, 0.25)
    t_cm, t_push = ctx.u(0.3, 0.4), ctx.u(0.18, 0.24)
    t_abs, t_rec = ctx.u(0.2, 0.3), ctx.u(0.25, 0.4)
    fixed = t0 + t_cm + t_push + t_abs + t_rec + 0.05
    n_f = max(2, 2 * int((ctx.duration - fixed + tc) / (2 * (tf + tc))))
    while fixed + n_f * tf + (n_f - 1) * tc > ctx.duration and n_f > 2:
        n_f -= 2
    if fixed + n_f * tf + (n_f - 1) * tc > ctx.duration:  # short clip: faster hops
        tc = max(0.2, (ctx.duration - fixed - n_f * tf) / (n_f - 1))
    to = [t0 + t_cm + t_push]
    td = []
    for i in range(n_f):
        td.append(to[-1] + tf)
        if i < n_f - 1:
            to.append(td[-1] + tc)
    wide = [i % 2 == 0 for i in range(n_f)]  # landing i: wide, together, wide, ...

    feet = {s: _standing_toe(ctx, (0.0, half_t if s == "r" else -half_t), 0.0) for s in ("r", "l")}
    clear = GRAVITY * tf * tf / 8 + ctx.u(0.02, 0.04)
    for s, m in (("r", 1.0), ("l", -1.0)):
        for i in range(n_f):
            z, yaw = (half_w, toe_w) if wide[i] else (half_t, 0.0)
            _swing(ctx, feet[s], to[i], td[i], _toe_of(ctx, (0.0, m * z), -m * yaw), -m * yaw, clear)
        # heel pitch: up for the push-off, forefoot contacts, down after the last landing
        pitch = -p_edge * ramp(t, to[0] - 0.8 * t_push, to[0]) * (1 - ramp(t, td[-1], td[-1] + t_abs))
        for i in range(n_f - 1):
            pitch += (p_edge - p_mid) * _lift((t - td[i]) / tc)
        pitch -= 0.15 * p_edge * sum(_lift((t - to[i]) / tf) for i in range(n_f))
        feet[s].pitch = pitch
    flight = np.zeros(n, dtype=bool)
    for a_, b_ in zip(to, td):
        flight |= (t > a_) & (t < b_)

    load_side, share = None, 0.5
    com = np.zeros((n, 3))
    com[:, 0] = ctx.u(0.15, 0.25) * b.foot_length
    pelvis = np.zeros((n, 3))
    active = ramp(t, t0, to[0]) * (1 - ramp(t, td[-1], td[-1] + t_abs + t_rec))
    if ctx.fault == "asymmetric_landing":
        load_side = "r" if ctx.rng.random() < 0.5 else "l"
        share = ctx.u(0.66, 0.76)
        sgn = 1.0 if load_side == "r" else -1.0
        com[:, 2] = sgn * ctx.u(0.015, 0.03) * active
        pelvis[:, 1] = sgn * ctx.u(1.5, 3) * DEG * active
    # arms: overhead at wide contacts, down at narrow ones
    keys_t = [0.0, to[0] - 0.5 * t_push]
    keys_a = [arm_down, arm_down]
    for i in range(n_f):
        keys_t.append(td[i] + 0.5 * tc if i < n_f - 1 else td[i] + 0.5 * t_abs)
        keys_a.append(arm_up if wide[i] else arm_down)
    keys_t.append(max(ctx.duration, keys_t[-1] + 0.1))
    keys_a.append(arm_down)
    arm = interp_knots(t, keys_t, keys_a)
    frac = (arm - arm_down) / (arm_up - arm_down)
    up = neutral_upper(ctx)
    for s in ("r", "l"):
        up[f"arm_add_{s}"] = -arm
        up[f"elbow_flex_{s}"] = elbow + 0.2 * (1 - frac)
        up[f"arm_rot_{s}"] = -0.3 * frac  # palms turn in overhead
    up["lumbar_extension"] = -ctx.u(3, 8) * DEG * active
    pelvis[:, 0] = -ctx.u(3, 8) * DEG * active

    tracks = {s: feet[s].track(ctx) for s in ("r", "l")}
    h0 = _stand_height(ctx, com[:, [0, 2]], pelvis, up, tracks)
    ext = _ext_safe(ctx) - 0.004
    ceil = _com_ceiling(ctx, com[:, [0, 2]], pelvis, up, tracks, ext)
    idx = lambda tt: min(int(round(tt * ctx.fs)), n - 1)  # noqa: E731
    y_w = min(ceil[idx(td[i])] for i in range(n_f) if wide[i]) - 0.04
    y_n = min([ceil[idx(td[i])] for i in range(n_f) if not wide[i]] + [ceil[idx(to[0])]]) - 0.04
    y_w, y_n = min(y_w, h0 + 0.03), min(y_n, h0 + 0.03)
    href = [y_w if w else y_n for w in wide]
    # take-off velocities so that each flight lands at the next contact's height
    v_to = [(href[i] - (y_n if i == 0 else href[i - 1])) / tf + GRAVITY * tf / 2 for i in range(n_f)]
    L = ctx.leg_length
    dip0 = ctx.u(0.05, 0.08) * L
    land_dip = ctx.u(0.08, 0.14) * L if ctx.fault != "stiff_landing" else ctx.u(0.02, 0.04) * L
    knots = [Knot(0.0, h0), Knot(t0, h0), Knot(t0 + t_cm, h0 - dip0, 0.0, 0.7 * GRAVITY)]
    for i in range(n_f):
        k_to = Knot(to[i], y_n if i == 0 else href[i - 1], v_to[i], -GRAVITY)
        knots += [k_to, ballistic_knot(k_to, td[i])]
    knots += [Knot(td[-1] + t_abs, h0 - land_dip, 0.0, 1.0 * GRAVITY), Knot(td[-1] + t_abs + t_rec, h0),
              Knot(max(ctx.duration, td[-1] + t_abs + t_rec) + 1.0, h0)]
    com[:, 1] = piecewise_quintic(t, knots)
    # the feet rise with the body in flight: add the CoM's hump above its take-off/landing chord
    for i in range(n_f):
        s_ = (t - to[i]) / tf
        m = (s_ > 0) & (s_ < 1)
        y0_, y1_ = com[idx(to[i]), 1], com[idx(td[i]), 1]
        hump = com[m, 1] - (y0_ + (y1_ - y0_) * s_[m])
        win = smoothstep(s_[m] / 0.06) * smoothstep((1 - s_[m]) / 0.06)
        for s in ("r", "l"):
            feet[s].toe[m, 1] += np.clip(hump, 0.0, None) * win
    tracks = {s: feet[s].track(ctx) for s in ("r", "l")}
    if load_side is not None:
        other = "l" if load_side == "r" else "r"
        contact_w = 1 - ramp(t, to[0] - 0.3, to[0] - 0.1) * (1 - ramp(t, td[-1] + t_abs, td[-1] + t_abs + t_rec))
        tracks[load_side].load = 0.5 + (share - 0.5) * (1 - contact_w)
        tracks[other].load = 1 - tracks[load_side].load
    plan = MotionPlan("jumping_jack", ctx.fs, com, pelvis, up, tracks, fault=ctx.fault,
                      style={"hop_period_s": tf + tc, "flight_time_s": tf, "contact_time_s": tc,
                             "hops": n_f, "wide_half_m": half_w})
    _fit_under(ctx, plan, keep=flight, width=0.5 * tc)
    plan.events = {"takeoffs": to, "landings": td}
    if load_side is not None:
        plan.style["landing_load_share"] = {load_side: share, ("l" if load_side == "r" else "r"): 1 - share}
    return plan


# ------------------------------------------------------------------------------------------
# shared: support points, knee-bend reach
# ------------------------------------------------------------------------------------------
_EXT_CAP = 0.994  # legs_ik reaches hip-ankle distances up to ~0.995 (thigh + shank) within ~1 mm


def _ext_of_knee(ctx: ActionContext, knee_deg: float) -> float:
    """Hip-ankle distance (fraction of thigh + shank) of a leg with the knee bent knee_deg,
    at most _EXT_CAP (knee ~12 deg: quiet standing)."""
    Lt, Ls = ctx.body.segments["thigh_r"].length, ctx.body.segments["shank_r"].length
    d = np.sqrt(Lt ** 2 + Ls ** 2 + 2 * Lt * Ls * np.cos(knee_deg * DEG)) / (Lt + Ls)
    return float(min(d, _EXT_CAP))


def _support_point(ctx: ActionContext, f: _Toe, heel_frac: np.ndarray) -> np.ndarray:
    """Floor point (T,2: x, z) under which a planted foot carries its load: the sole centre
    when flat, moving to the ball of the foot as the heel rises (heel_frac 0 -> 1)."""
    lf = ctx.body.foot_length
    back = (0.5 * lf) * (1 - heel_frac) + 0.12 * lf * heel_frac  # distance behind the toe tip
    d = np.stack([np.cos(f.yaw), -np.sin(f.yaw)], -1)
    return f.toe[:, [0, 2]] - back[:, None] * d


def _soft_min(a: np.ndarray, b: np.ndarray, tau: float) -> np.ndarray:
    """Smooth minimum of a and b (scale tau): equals min(a, b) - tau ln 2 where a == b."""
    m = np.minimum(a, b)
    return m - tau * np.log(np.exp(-(a - m) / tau) + np.exp(-(b - m) / tau))


def _heights_at(ctx: ActionContext, plan: MotionPlan, idx, knee_target, sides=("r", "l"),
               mean: bool = False, k: int = 24, rounds: int = 5) -> np.ndarray:
    """CoM heights at frames idx of `plan` for which the soft minimum (scale 3 deg; the mean
    with mean=True) of the knee flexions of `sides` equals knee_target (deg, one per frame);
    every other input of the plan is kept. The knee flexion falls monotonically with the CoM
    height: a k-ary search (k trial heights per frame solved at once, `rounds` times, each
    round narrowing the bracket to one of k + 1 intervals; ~0.3 um after 5 rounds)."""
    idx = np.asarray(idx, int)
    rep = np.repeat(idx, k)
    sub = MotionPlan(plan.action, plan.fs, plan.com[rep].copy(), plan.pelvis_rot[rep],
                     {kk: v[rep] for kk, v in plan.upper.items()},
                     {s: FootTrack(f.pos[rep], f.yaw[rep], f.pitch[rep], f.swivel[rep], f.contact[rep])
                      for s, f in plan.feet.items()})
    solver = MotionSolver(ctx.body, sub)
    y0 = standing_com_height(ctx.body)
    lo = np.full(len(idx), y0 - 0.35 * ctx.leg_length)
    hi = np.full(len(idx), y0 + 0.15 * ctx.leg_length)
    tgt = np.broadcast_to(np.asarray(knee_target, float), lo.shape)[:, None]
    frac = np.arange(1, k + 1) / (k + 1)
    rows = np.arange(len(idx))
    for _ in range(rounds):
        y = lo[:, None] + frac * (hi - lo)[:, None]  # (n, k) interior trial heights
        sub.com[:, 1] = y.ravel()
        q, _ = solver.solve(sub.com)
        kn = [q[:, q_index(f"knee_angle_{s}")].reshape(len(idx), k) / DEG for s in sides]
        km = kn[0] if len(kn) == 1 else (0.5 * (kn[0] + kn[1]) if mean else _soft_min(kn[0], kn[1], 3.0))
        n_up = (km > tgt).sum(1)  # trial heights still too bent (the answer lies above them)
        new_lo = np.where(n_up > 0, y[rows, np.maximum(n_up - 1, 0)], lo)
        hi = np.where(n_up < k, y[rows, np.minimum(n_up, k - 1)], hi)
        lo = new_lo
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------------------------------
# tennis serve
# ------------------------------------------------------------------------------------------
@register_action("tennis_serve", faults=("no_leg_drive", "trunk_lean"))
def tennis_serve(ctx: ActionContext) -> MotionPlan:
    """Platform serve without a jump (right-handed 85 %, a left-hander is the mirror image).

    Staggered stance turned sideways (front foot turned 45-70 deg towards the net post), both
    feet stay on the floor. Ball toss while the weight rocks onto the rear foot, trophy position
    (knees bent 15-35 deg, trunk extended and bent towards the racket side, racket arm abducted
    ~90 deg, externally rotated, elbow ~90 deg), leg drive up onto the toes (heels rise 20-35 deg
    about the toes while the knees extend and the CoM rises), trunk rotation, racket arm
    extended overhead at contact (arm flexion 160-178 deg) then across the body, weight onto the
    front foot (load share 0.8-0.9), heels down, recovery (weight back towards the middle).
    Faults: no_leg_drive (the knees bend < 8 deg more than in the stance (mean of both), no heel
    rise, little weight transfer), trunk_lean (over-arched trophy, jack-knifed follow-through).
    The CoM heights at the key frames come from the posture (knee flexion targets solved for);
    a quintic with bounded accelerations joins them."""
    lefty = ctx.rng.random() >= 0.85
    plan = _serve_right(ctx)
    plan.style["hand"] = "l" if lefty else "r"
    return _mirror(plan) if lefty else plan


def _serve_right(ctx: ActionContext) -> MotionPlan:
    b, t, n = ctx.body, ctx.t, ctx.n
    sc = b.height / 1.75
    drive = ctx.fault != "no_leg_drive"
    # ---- style (fixed draw order: same seed -> same plan)
    sl, sw = ctx.u(0.26, 0.36) * sc, ctx.u(0.08, 0.16) * sc
    yaw_f, yaw_r = -ctx.u(45, 70) * DEG, -ctx.u(65, 85) * DEG
    rot0 = -ctx.u(50, 65) * DEG
    knee = ctx.u(22, 32)  # trophy knee flexion of the straighter leg (quiet standing ~14 deg)
    heel = ctx.u(20, 33) * DEG
    t1, t_toss, t_drive, t_rec = ctx.u(0.15, 0.35), ctx.u(0.75, 1.0), ctx.u(0.38, 0.5), ctx.u(0.5, 0.8)
    s0, s_b, s_c, s_end = ctx.u(0.45, 0.55), ctx.u(0.3, 0.4), ctx.u(0.55, 0.68), ctx.u(0.8, 0.9)
    s_fin = ctx.u(0.55, 0.68)  # recovery: the weight comes back towards the middle
    arm_c, toss_up = ctx.u(160, 178), ctx.u(150, 170)
    ext_t, bend_t, rot_t = ctx.u(12, 22), ctx.u(8, 15), ctx.u(15, 25)
    bend_c, flex_ft = ctx.u(8, 15), ctx.u(15, 25)
    rot_end = ctx.u(20, 30) * DEG
    knee_low = ctx.u(3, 8)  # extra knee flexion as the heels come down
    if ctx.fault == "trunk_lean":
        ext_t, bend_t = ext_t + ctx.u(20, 28), bend_t + ctx.u(6, 10)
        flex_ft, bend_c = flex_ft + ctx.u(12, 18), bend_c + ctx.u(6, 10)
    if not drive:
        knee, heel, knee_low, rot_end = 14.0 + ctx.u(1, 4), 0.0, 0.0, 0.6 * rot_end
        s_b, s_c, s_end = s0 - 0.05, s0 + 0.05, s_end - 0.1  # little weight transfer either
    # ---- timing (compress the toss and the recovery when the clip is short)
    fixed = t1 + t_drive + 0.25 + 0.05
    k = min(1.0, max(0.4, (ctx.duration - fixed) / (t_toss + t_rec)))
    t_toss, t_rec = t_toss * k, t_rec * k
    t_bot = t1 + t_toss
    t_c = t_bot + t_drive
    t_drop, t_ft = t_c - 0.17, t_c + 0.25
    t_set = t_c + 0.3 + 0.4 * t_rec
    t_end = t_ft + t_rec
    T_end = max(ctx.duration, t_end) + 1.0
    # ---- upper body: toss arm up, trophy, racket drop, contact, across the body
    K = [0.0, t1, t1 + 0.45 * t_toss, t_bot, t_drop, t_c, t_ft, t_end, T_end]
    up = neutral_upper(ctx)
    up["arm_flex_r"] = _key_path(t, K, [10, 10, -15, 20, 40, arm_c, 60, 15, 15]) * DEG
    up["arm_add_r"] = _key_path(t, K, [-8, -8, -30, -88, -80, -15, 20, -10, -8]) * DEG
    up["arm_rot_r"] = _key_path(t, K, [0, 0, -10, -60, -90, 0, 40, 0, 0]) * DEG
    up["elbow_flex_r"] = _key_path(t, K, [15, 15, 30, 90, 110, 15, 40, 20, 15]) * DEG
    up["arm_flex_l"] = interp_knots(t, K, [10, 10, 70, toss_up, 140, 40, 20, 10, 10]) * DEG
    up["arm_add_l"] = interp_knots(t, K, [-8, -8, -10, -10, -15, 20, 10, -8, -8]) * DEG
    up["elbow_flex_l"] = interp_knots(t, K, [15, 15, 10, 5, 20, 90, 70, 20, 15]) * DEG
    up["lumbar_extension"] = interp_knots(t, K, [0, 0, 5, ext_t, 0.7 * ext_t, 0, -flex_ft, -5, 0]) * DEG
    up["lumbar_bending"] = interp_knots(t, K, [0, 0, 3, bend_t, 0.5 * bend_t, -bend_c, -5, 0, 0]) * DEG
    up["lumbar_rotation"] = interp_knots(t, K, [0, 0, -5, -rot_t, -0.5 * rot_t, 15, 25, 0, 0]) * DEG
    pelvis = np.zeros((n, 3))
    pelvis[:, 2] = rot0 + interp_knots(t, K, np.array([0, 0, -3, -10, -5, 0.5, 1.0, 0.8, 0.8])
                                       * np.array([DEG] * 4 + [DEG] + [rot_end] * 4))
    pelvis[:, 0] = interp_knots(t, K, [0, 0, 0, 5, 3, -6, -10, -3, 0]) * DEG
    # ---- feet (toe tracks): rear = right, front = left; heels rise about the toes in the drive
    fr = _standing_toe(ctx, (-0.5 * sl, 0.5 * sw), yaw_r)
    fl = _standing_toe(ctx, (0.5 * sl, -0.5 * sw), yaw_f)
    hk = [0.0, t_bot + 0.1 * t_drive, t_c, t_c + 0.06, t_set, T_end]
    hf = interp_knots(t, hk, [0, 0, 1, 1, 0, 0])
    fr.pitch = -heel * hf
    fl.pitch = -0.9 * heel * hf
    tracks = {"r": fr.track(ctx), "l": fl.track(ctx)}
    # ---- CoM horizontal: on the line between the feet's support points, at the load share
    ks = [0.0, t1, t_bot, t_c, t_set, t_end, T_end]
    share = _key_path(t, ks, [s0, s0, s_b, s_c, s_end, s_fin, s_fin])
    pr, pl = _support_point(ctx, fr, hf), _support_point(ctx, fl, hf)
    ik = [min(int(round(x * ctx.fs)), n - 1) for x in ks]
    com = np.zeros((n, 3))
    com[:, [0, 2]] = _key_path(t, ks, (pr + share[:, None] * (pl - pr))[ik])
    tracks["l"].load = share
    tracks["r"].load = 1.0 - share
    # ---- CoM vertical: key heights from the posture (knees ~14 deg standing, bent into the
    # trophy, extended on the toes at contact, a little bent as the heels come down), quintic
    # in between with bounded accelerations (GRF 0.7-1.3 BW from the legs; the arms add theirs)
    plan = MotionPlan("tennis_serve", ctx.fs, com, pelvis, up, tracks, fault=ctx.fault)
    fi = lambda tt: min(int(round(tt * ctx.fs)), n - 1)  # noqa: E731
    keys = [0.0, t_bot, t_c, t_set, ctx.duration]
    h_s, h_bot, h_c, h_set, h_e = _heights_at(
        ctx, plan, [fi(x) for x in keys], [14.0, knee, 11.0, 14.0 + knee_low, 14.0])
    if not drive:  # the more bent knee stays within a few degrees of quiet standing
        com[0, 1] = h_s
        q0, _ = solve_motion(b, MotionPlan("probe", ctx.fs, com[:1], pelvis[:1], {k_: v[:1] for k_, v in up.items()},
                                           {s_: FootTrack(f.pos[:1], f.yaw[:1], f.pitch[:1], f.swivel[:1], f.contact[:1])
                                            for s_, f in tracks.items()}))
        k0 = 0.5 * (q0[0, q_index("knee_angle_r")] + q0[0, q_index("knee_angle_l")]) / DEG
        hx = _heights_at(ctx, plan, [fi(t_bot), fi(t_c)], [k0 + knee - 14.0, k0], mean=True)
        h_bot = hx[0]
        h_c = min(hx[1], h_bot + 0.01)
    a = min(0.3 * GRAVITY, 6 * abs(h_c - h_bot) / t_drive ** 2)
    yk = [Knot(0.0, h_s), Knot(t_bot - 0.6 * t_toss, h_s), Knot(t_bot, h_bot, 0.0, a),
          Knot(t_c, h_c, 0.0, -a), Knot(t_set, h_set), Knot(t_end, h_e), Knot(T_end, h_e)]
    com[:, 1] = piecewise_quintic(t, yk)
    plan = MotionPlan("tennis_serve", ctx.fs, com, pelvis, up, tracks, fault=ctx.fault,
                      style={"knee_bend_deg": knee, "heel_rise_deg": heel / DEG, "stance_length_m": sl,
                             "front_foot_yaw_deg": -yaw_f / DEG, "trunk_extension_deg": ext_t,
                             "front_load_share_end": s_end},
                      events={"toss": t1, "trophy": t_bot, "contact": t_c, "follow_through": t_ft,
                              "heels_down": t_set, "end": t_end})
    _fit_under(ctx, plan, ext=_EXT_CAP + 0.002, width=0.3)
    return plan
