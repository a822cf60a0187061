"""Foot tracks of the gaits (walk, run, sprint start): planted stances joined by C2 swings.

Gaits are designed on an extended time grid (`Grid`) that starts before and ends after the
clip, so the motion is already under way when the clip starts. Each foot is a sequence of
`Stance`s: the foot is planted on the floor (`stance_eval`: pitch about the heel or the toe,
computed with `ankle_from_pivot`, so a planted foot never slides) and between two stances it
swings (`foot_track`):

* lift-off: the swing continues the stance's motion (position, velocity and acceleration of
  the ankle and of the foot pitch: the heel may still be rising at toe-off), so the track is
  C2 through toe-off;
* clearance peak at `peak` (fraction of the swing): the ankle `clear` above the higher of the
  lift-off and touchdown ankle heights, `via_rel` fore-aft of the CoM (negative = behind: the
  foot passes under the body), moving at `via_speed` x the mean swing speed;
* late swing: shortly (d2 <= 60 ms) before touchdown the foot still moves forward at
  `late_speed` x the CoM's speed, `late_drop` x the clearance above the floor, then lands at
  rest: the leg never reaches far ahead of the body before the heel or forefoot strikes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from biomech.actions.common import DEG, ActionContext
from biomech.kinematics import FootTrack, ankle_from_pivot
from biomech.trajectory import Knot, piecewise_quintic, smoothstep

__all__ = ["Grid", "make_grid", "Stance", "ease_out", "floor_points", "stance_eval", "foot_track", "clip_track"]


@dataclass
class Grid:
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


def make_grid(ctx: ActionContext, pre: float, post: float) -> Grid:
    """The clip's time grid extended by `pre` s before and `post` s after it."""
    n0, n1 = int(round(pre * ctx.fs)), int(round(post * ctx.fs))
    return Grid(np.arange(-n0, ctx.n + n1) / ctx.fs, n0, ctx.n, ctx.fs)


@lru_cache(maxsize=64)
def _ease_coefficients(k: float) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.linalg.solve([[1, 1, 1], [3, 4, 5], [6, 12, 20]], [1.0, k, 0.0]))


def ease_out(x: np.ndarray, k: float) -> np.ndarray:
    """0 -> 1 on [0,1], C2 start (zero slope, curvature), slope k and zero curvature at 1
    (k = 0: smoothstep; k > 0: back-loaded, still rising at the end)."""
    a, b, c = _ease_coefficients(float(k))
    x = np.clip(x, 0.0, 1.0)
    return x ** 3 * (a + b * x + c * x * x)


@dataclass
class Stance:
    """One planted stance of a foot and the swing that follows it."""

    on: float
    off: float
    ankle_flat: np.ndarray  # (3,) ankle centre of the flat foot (defines heel/toe floor points)
    yaw: float
    mode: str = "toe"  # "toe": forefoot contact, toe pivot; "heel": heel strike -> flat -> toe
    p_td: float = 0.0  # pitch at touchdown (rad; + toe up)
    p_mid: float = 0.0  # toe mode: pitch at f1
    p_to: float = 35 * DEG  # heel-rise pitch at toe-off (positive number)
    f1: float = 0.15  # heel mode: foot flat at f1; toe mode: mid pitch at f1
    f2: float = 0.55  # heel mode: heel off at f2
    k_to: float = 0.0  # slope of the last pitch ramp at toe-off (0: the heel rise ends at rest)
    swivel: float = 0.0  # leg swivel (rad, + = knee medial) at mid-stance, sin^2 over the stance
    # the swing that follows this stance
    clear: float = 0.08  # ankle clearance at the peak, m
    peak: float = 0.5  # where in the swing the clearance peaks
    via_rel: float = 0.0  # ankle X relative to the CoM at the clearance peak, m
    via_speed: float = 1.3  # forward speed there, relative to the mean swing speed
    late_drop: float = 0.35  # foot height d2 before the next touchdown, fraction of the clearance
    late_speed: float = 1.0  # forward speed d2 before the next touchdown, x the CoM's


def floor_points(body, st: Stance) -> tuple[np.ndarray, np.ndarray]:
    """Heel and toe floor points (3,) of the stance's flat foot."""
    d = np.array([np.cos(st.yaw), 0.0, -np.sin(st.yaw)])
    base = np.array([st.ankle_flat[0], 0.0, st.ankle_flat[2]])
    heel = base - body.heel_back * body.foot_length * d
    toe = base + (1 - body.heel_back) * body.foot_length * d
    return heel, toe


def stance_eval(body, st: Stance, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ankle centre (n,3) and foot pitch (n,) of a planted foot at times tt.

    heel mode: heel strike with the toe up (p_td), rolling about the heel to foot flat at f1,
    flat, heel rise about the toe from f2 to toe-off (p_to; `ease_out` with slope k_to).
    toe mode: forefoot strike (p_td < 0: heel up), the heel drops to p_mid by f1 and rises
    again about the toe to toe-off."""
    tau = np.clip((tt - st.on) / (st.off - st.on), 0.0, 1.0)
    heel, toe = floor_points(body, st)
    yaw = np.full(tt.shape, st.yaw)
    if st.mode == "heel":
        pitch = st.p_td * (1 - smoothstep(tau / st.f1)) - st.p_to * ease_out((tau - st.f2) / (1 - st.f2), st.k_to)
        ph = ankle_from_pivot(body, np.tile(heel, (len(tt), 1)), yaw, pitch, "heel")
        pt = ankle_from_pivot(body, np.tile(toe, (len(tt), 1)), yaw, pitch, "toe")
        pos = np.where((tau < st.f2)[:, None], ph, pt)
    else:
        pitch = (st.p_td + (st.p_mid - st.p_td) * smoothstep(tau / st.f1)
                 + (-st.p_to - st.p_mid) * ease_out((tau - st.f1) / (1 - st.f1), st.k_to))
        pos = ankle_from_pivot(body, np.tile(toe, (len(tt), 1)), yaw, pitch, "toe")
    return pos, pitch


def _swing(body, g: Grid, s0: Stance, s1: Stance, tt: np.ndarray, com: np.ndarray, end0, end1):
    """Ankle position (n,3) and pitch (n,) of the swing from stance s0 to s1 at times tt."""
    q0, a0 = end0
    q1, a1 = end1
    # lift-off state: C2 continuation of the stance (one-sided differences)
    h = 1e-3
    pe, ae = stance_eval(body, s0, np.array([s0.off - 2 * h, s0.off - h, s0.off]))
    vel = (3 * pe[2] - 4 * pe[1] + pe[0]) / (2 * h)
    acc = (pe[2] - 2 * pe[1] + pe[0]) / h ** 2
    pv = (3 * ae[2] - 4 * ae[1] + ae[0]) / (2 * h)
    pa = (ae[2] - 2 * ae[1] + ae[0]) / h ** 2
    # clearance peak: the foot passes via_rel fore-aft of the CoM
    tm = s0.off + s0.peak * (s1.on - s0.off)
    xm = g.at(com[:, 0], tm) + s0.via_rel
    # late swing: the foot still moves forward at the CoM's speed shortly before touchdown and
    # stops on the floor (no long reach ahead of the body)
    d2 = min(0.06, 0.3 * (s1.on - tm))
    w2 = s0.late_speed * g.at(np.gradient(com[:, 0], 1 / g.fs), s1.on - d2)
    x2 = q1[0] - 0.5 * w2 * d2
    vm = s0.via_speed * (x2 - q0[0]) / (s1.on - d2 - s0.off)
    pos = np.empty((len(tt), 3))
    pos[:, 0] = piecewise_quintic(tt, [Knot(s0.off, q0[0], vel[0], acc[0]), Knot(tm, xm, vm, 0.0),
                                       Knot(s1.on - d2, x2, w2, 0.0), Knot(s1.on, q1[0])])
    # vertical: up to the clearance peak, then the foot is still above the floor while it
    # reaches ahead of its touchdown point (the leg stays within reach), lands at rest
    ym = max(q0[1], q1[1]) + s0.clear
    h2 = s0.late_drop * (ym - q1[1])
    pos[:, 1] = piecewise_quintic(tt, [Knot(s0.off, q0[1], vel[1], acc[1]), Knot(tm, ym),
                                       Knot(s1.on - d2, q1[1] + h2, -1.6 * h2 / d2, 0.0), Knot(s1.on, q1[1])])
    # lateral: smoothstep from the lift-off to the touchdown position
    pos[:, 2] = q0[2] + (q1[2] - q0[2]) * smoothstep((tt - s0.off) / (s1.on - s0.off))
    tp = s0.off + 0.3 * (s1.on - s0.off)
    pitch = piecewise_quintic(tt, [Knot(s0.off, a0, pv, pa), Knot(tp, a0 - 5 * DEG), Knot(s1.on, a1)])
    return pos, pitch


def foot_track(body, g: Grid, stances: list[Stance], com: np.ndarray) -> FootTrack:
    """A foot's track on the extended grid: planted `stances` joined by C2 swings (see the
    module docstring); `com` (T,3) is the CoM on the same grid. Before the first and after the
    last stance the foot holds its pose."""
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
        p, a = stance_eval(body, st, t[m])
        pos[m], pitch[m], yaw[m] = p, a, st.yaw
        contact[m] = True
        tau = (t[m] - st.on) / (st.off - st.on)
        swivel[m] = st.swivel * np.sin(np.pi * tau) ** 2
        p0, a0 = stance_eval(body, st, np.array([st.on, st.off]))
        ends.append((p0, a0))
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
        end0 = (ends[k][0][1], ends[k][1][1])
        end1 = (ends[k + 1][0][0], ends[k + 1][1][0])
        pos[m], pitch[m] = _swing(body, g, s0, s1, t[m], com, end0, end1)
        yaw[m] = s0.yaw + (s1.yaw - s0.yaw) * smoothstep((t[m] - s0.off) / (s1.on - s0.off))
    return FootTrack(pos=pos, yaw=yaw, pitch=pitch, swivel=swivel, contact=contact)


def clip_track(g: Grid, f: FootTrack) -> FootTrack:
    """The clip's part of a track designed on the extended grid (copies)."""
    return FootTrack(pos=g.clip(f.pos).copy(), yaw=g.clip(f.yaw).copy(), pitch=g.clip(f.pitch).copy(),
                     swivel=g.clip(f.swivel).copy(), contact=g.clip(f.contact).copy(),
                     load=None if f.load is None else g.clip(f.load).copy())
