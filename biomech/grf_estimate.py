"""Ground reaction forces and centres of pressure estimated from kinematics (no force plate).

For consumer clips and video-only analysis: the external force and moment the motion needs,
F = sum_i m_i (a_i - g) and its moment (`biomech.dynamics.whole_body_wrench`, from the body model's
exact recursive segment kinematics on spline derivatives), are zero when no foot touches the floor
and otherwise split between the feet in contact with `biomech.dynamics.split_ground_reaction`
(COP where the wrench has no horizontal moment, load shared by where the COP lies between the
feet, each foot's COP clamped to its sole). Contacts come from the feet's kinematics: the lower
of heel and toe within `height_m` of the floor (the floor is the clip's 2nd-percentile sole
height) and moving slower than `speed_ms`.

On the generated data the split is the generator's own model (with detected contacts and without
its planned load shares): the figures it gives there are optimistic; see the README.
Contacts: sole height with hysteresis on low-passed sole points, gated by the vertical force
the motion needs (no foot in contact in a free fall, at least the lower foot otherwise), so that
IK feet a few centimetres off or through the floor still carry the body.
"""
from __future__ import annotations

import numpy as np
import torch

from biomech.body import Body
from biomech.dynamics import body_state, kinematics_from_state, split_ground_reaction, whole_body_wrench
from biomech.inverse_dynamics import spline_derivatives
from sigproc.filters import butter_lowpass

__all__ = ["detect_contacts", "estimate_grf"]


def _sole_points(body: Body, pose, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    lf, hb, ah = body.foot_length, body.heel_back, body.ankle_height
    return pose.point(f"foot_{side}", (-hb * lf, -ah, 0.0)), pose.point(f"foot_{side}", ((1 - hb) * lf, -ah, 0.0))


def _hysteresis(enter: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """(T,) bool: on from a frame where `enter` holds, as long as `stay` holds."""
    out = np.zeros(len(enter), dtype=bool)
    on = False
    for i in range(len(enter)):
        on = stay[i] and (on or enter[i])
        out[i] = on
    return out


def _drop_short(c: np.ndarray, n: int) -> np.ndarray:
    c = c.copy()
    edges = np.diff(np.concatenate([[0], c.astype(int), [0]]))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if (b - a) < n:
            c[a:b] = False
    return c


def detect_contacts(body: Body, t: np.ndarray, pose, height_m: float = 0.025, speed_ms: float = 1.2,
                    min_s: float = 0.03, required_fy: np.ndarray | None = None, release_m: float = 0.06,
                    smooth_hz: float | None = 8.0, need_bw: float = 0.5, double_m: float = 0.04
                    ) -> dict[str, np.ndarray]:
    """{side: (T,) bool} foot contact from the sole points (heel, toe) of `pose`.

    A foot touches down when its lower sole point is within `height_m` of the floor (the clip's
    2nd-percentile sole height) and moving slower than `speed_ms`, and stays down until it rises
    above `release_m` (hysteresis: noisy IK feet flicker across a single threshold); the sole
    points are low-passed at `smooth_hz` first. Given the vertical force the motion requires
    (`required_fy`, (T,) N), that force decides whether anyone is on the ground: below `need_bw`
    body weights (a free fall) no foot is in contact, above it at least the lower foot is, and
    so is the other foot when its sole is within `double_m` of the lower one's and slower than
    `speed_ms`. Contacts shorter
    than `min_s` are dropped."""
    rate = 1.0 / float(np.median(np.diff(t)))
    pts = {s: [p.numpy() for p in _sole_points(body, pose, s)] for s in ("r", "l")}
    if smooth_hz and smooth_hz < 0.5 * rate:
        pts = {s: [butter_lowpass(p, rate, smooth_hz, 2) for p in v] for s, v in pts.items()}
    floor = np.percentile(np.concatenate([np.minimum(h[:, 1], k[:, 1]) for h, k in pts.values()]), 2)
    height, speed, out = {}, {}, {}
    for s, (heel, toe) in pts.items():
        height[s] = np.minimum(heel[:, 1], toe[:, 1]) - floor
        # the slower of heel and toe: a foot rolling over its toe keeps the toe still
        speed[s] = np.minimum(*(np.linalg.norm(np.gradient(p, t, axis=0), axis=1) for p in (heel, toe)))
        out[s] = _hysteresis((height[s] < height_m) & (speed[s] < speed_ms),
                             (height[s] < release_m) & (speed[s] < 2 * speed_ms))
    if required_fy is not None:
        bw = body.total_mass * 9.80665
        need = np.asarray(required_fy, dtype=float)
        if smooth_hz and smooth_hz < 0.5 * rate:
            need = butter_lowpass(need, rate, smooth_hz, 2)
        need = _hysteresis(need > need_bw * bw, need > 0.5 * need_bw * bw)
        lower = np.minimum(height["r"], height["l"])
        for s in ("r", "l"):
            other = "l" if s == "r" else "r"
            is_lower = height[s] <= height[other]
            near = (height[s] - lower < double_m) & (speed[s] < speed_ms)  # a slow foot level with the lower one
            out[s] = need & (out[s] | is_lower | near)
    n = int(round(min_s * rate))
    return {s: _drop_short(c, n) for s, c in out.items()}


def estimate_grf(body: Body, t: np.ndarray, q: np.ndarray, contacts: dict[str, np.ndarray] | None = None,
                 height_m: float = 0.025, speed_ms: float = 1.2, use_force_need: bool = True,
                 cutoff_hz: float | None = None) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-foot force (T,3) N, COP (T,3) m and free moment (T,) N m estimated from coordinates q
    (T, 29) at times t (already filtered as wanted), and the contacts used (:func:`detect_contacts`;
    with `use_force_need` the required vertical force decides flight and support). `cutoff_hz`
    low-passes q first (zero lag): the whole-body acceleration from IK angles on detected
    landmarks needs a lower band than the joint moments (see the README's torque section)."""
    q = np.asarray(q, dtype=float)
    if cutoff_hz:
        q = butter_lowpass(q, 1.0 / float(np.median(np.diff(t))), cutoff_hz, 4)
    q, qd, qdd = spline_derivatives(t, q)
    with torch.no_grad():
        st = body_state(body, torch.as_tensor(q), torch.as_tensor(qd), torch.as_tensor(qdd))
        F, N = whole_body_wrench(body, st.pose, kinematics_from_state(body, st))
        if contacts is None:
            contacts = detect_contacts(body, t, st.pose, height_m, speed_ms,
                                       required_fy=F[:, 1].numpy() if use_force_need else None)
        rate = 1.0 / float(np.median(np.diff(t)))
        g = split_ground_reaction(body, st.pose, F, N, contacts, None, contact_rate_hz=rate)
    grf = {s: {k: g[s][k].numpy() for k in ("force", "cop", "free_moment")} for s in ("r", "l")}
    return grf, contacts
