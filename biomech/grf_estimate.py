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
"""
from __future__ import annotations

import numpy as np
import torch

from biomech.body import Body
from biomech.dynamics import body_state, kinematics_from_state, split_ground_reaction, whole_body_wrench
from biomech.inverse_dynamics import spline_derivatives

__all__ = ["detect_contacts", "estimate_grf"]


def _sole_points(body: Body, pose, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    lf, hb, ah = body.foot_length, body.heel_back, body.ankle_height
    return pose.point(f"foot_{side}", (-hb * lf, -ah, 0.0)), pose.point(f"foot_{side}", ((1 - hb) * lf, -ah, 0.0))


def detect_contacts(body: Body, t: np.ndarray, pose, height_m: float = 0.025, speed_ms: float = 1.2,
                    min_s: float = 0.03) -> dict[str, np.ndarray]:
    """{side: (T,) bool} foot contact from the sole points' height above the floor and speed."""
    rate = 1.0 / float(np.median(np.diff(t)))
    pts = {s: [p.numpy() for p in _sole_points(body, pose, s)] for s in ("r", "l")}
    floor = np.percentile(np.concatenate([np.minimum(h[:, 1], k[:, 1]) for h, k in pts.values()]), 2)
    out = {}
    for s, (heel, toe) in pts.items():
        height = np.minimum(heel[:, 1], toe[:, 1]) - floor
        # the slower of heel and toe: a foot rolling over its toe keeps the toe still
        speed = np.minimum(*(np.linalg.norm(np.gradient(p, t, axis=0), axis=1) for p in (heel, toe)))
        c = (height < height_m) & (speed < speed_ms)
        # drop contacts shorter than min_s (a foot brushing the floor in swing)
        edges = np.diff(np.concatenate([[0], c.astype(int), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if (b - a) < min_s * rate:
                c[a:b] = False
        out[s] = c
    return out


def estimate_grf(body: Body, t: np.ndarray, q: np.ndarray, contacts: dict[str, np.ndarray] | None = None,
                 height_m: float = 0.025, speed_ms: float = 1.2
                 ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-foot force (T,3) N, COP (T,3) m and free moment (T,) N m estimated from coordinates q
    (T, 29) at times t (already filtered as wanted), and the contacts used."""
    q, qd, qdd = spline_derivatives(t, np.asarray(q, dtype=float))
    with torch.no_grad():
        st = body_state(body, torch.as_tensor(q), torch.as_tensor(qd), torch.as_tensor(qdd))
        F, N = whole_body_wrench(body, st.pose, kinematics_from_state(body, st))
        if contacts is None:
            contacts = detect_contacts(body, t, st.pose, height_m, speed_ms)
        rate = 1.0 / float(np.median(np.diff(t)))
        g = split_ground_reaction(body, st.pose, F, N, contacts, None, contact_rate_hz=rate)
    grf = {s: {k: g[s][k].numpy() for k in ("force", "cop", "free_moment")} for s in ("r", "l")}
    return grf, contacts
