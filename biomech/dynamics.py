"""Rigid-body dynamics of the athlete: segment kinematics, ground contact, Newton-Euler.

One implementation, in torch (float64 for the generator, differentiable for the torque
estimator):

* `segment_kinematics`: world CoM accelerations, angular velocities and accelerations of every
  segment from the segment poses sampled at a uniform rate (central differences).
* `whole_body_wrench`: the external force and moment the ground must supply for the observed
  motion, F = sum_i m_i (a_i - g) and N_O = sum_i [r_i x m_i (a_i - g) + I_i alpha_i +
  w_i x I_i w_i] (the "sum m_i (a_i - g)" contact model: ground reaction = whole-body dynamics).
* `split_ground_reaction`: centre of pressure (the point on the floor where the ground wrench
  has no horizontal moment), split between the feet in contact, clamped to each foot's sole.
* `newton_euler_leg_moments`: net hip / knee / ankle moments from the feet up, with each foot's
  GRF, COP and free moment as the boundary condition, projected on the joint axes of the
  coordinates in `MOMENT_COORDINATES` (same signs as OpenSim's generalized forces).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from biomech.body import JOINT_OF_CHILD, SEGMENTS, Body, Pose, axis_rotation, q_index
from biomech.conventions import GRAVITY, MOMENT_COORDINATES

G_VEC = (0.0, -GRAVITY, 0.0)


@dataclass
class SegmentKinematics:
    com: dict[str, torch.Tensor]  # (T,3) world CoM position
    acc: dict[str, torch.Tensor]  # (T,3) world CoM acceleration
    omega: dict[str, torch.Tensor]  # (T,3) world angular velocity
    alpha: dict[str, torch.Tensor]  # (T,3) world angular acceleration


def _diff(x: torch.Tensor, fs: float) -> torch.Tensor:
    """Derivative along time (axis 0): fourth-order central differences inside, second-order
    one-sided at the two samples next to each end."""
    d = torch.empty_like(x)
    d[2:-2] = (x[:-4] - 8 * x[1:-3] + 8 * x[3:-1] - x[4:]) * (fs / 12)
    d[1] = (x[2] - x[0]) * (fs / 2)
    d[-2] = (x[-1] - x[-3]) * (fs / 2)
    d[0] = (-3 * x[0] + 4 * x[1] - x[2]) * (fs / 2)
    d[-1] = (3 * x[-1] - 4 * x[-2] + x[-3]) * (fs / 2)
    return d


def _vee(S: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.stack([S[..., 2, 1] - S[..., 1, 2], S[..., 0, 2] - S[..., 2, 0],
                              S[..., 1, 0] - S[..., 0, 1]], -1)


def angular_velocity(R: torch.Tensor, fs: float) -> torch.Tensor:
    """World angular velocity (T,3) of rotation matrices R (T,3,3) sampled at fs."""
    return _vee(_diff(R, fs) @ R.transpose(-1, -2))


def segment_kinematics(body: Body, pose: Pose, fs: float) -> SegmentKinematics:
    com, acc, omega, alpha = {}, {}, {}, {}
    for n in SEGMENTS:
        c = pose.point(n, body.segments[n].com)
        com[n] = c
        acc[n] = _diff(_diff(c, fs), fs)
        omega[n] = angular_velocity(pose.R[n], fs)
        alpha[n] = _diff(omega[n], fs)
    return SegmentKinematics(com, acc, omega, alpha)


@dataclass
class BodyState:
    """Exact kinematics of every segment from q, qd, qdd (recursive, no differencing)."""

    pose: Pose
    vel: dict[str, torch.Tensor]  # (T,3) world velocity of each segment frame origin
    acc: dict[str, torch.Tensor]  # (T,3) world acceleration of each segment frame origin
    omega: dict[str, torch.Tensor]  # (T,3) world angular velocity
    alpha: dict[str, torch.Tensor]  # (T,3) world angular acceleration

    def point_acceleration(self, segment: str, local) -> torch.Tensor:
        """World acceleration (T,3) of a point fixed in a segment."""
        R = self.pose.R[segment]
        r = (R @ torch.as_tensor(np.asarray(local, dtype=np.float64), dtype=R.dtype).unsqueeze(-1)).squeeze(-1)
        w, al = self.omega[segment], self.alpha[segment]
        return self.acc[segment] + torch.linalg.cross(al, r) + torch.linalg.cross(w, torch.linalg.cross(w, r))


def body_state(body: Body, q: torch.Tensor, qd: torch.Tensor, qdd: torch.Tensor) -> BodyState:
    """Recursive forward kinematics with velocities and accelerations (exact for the given
    generalized coordinates, speeds and accelerations; differentiable)."""
    from biomech.body import JOINTS

    ti = [q_index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    R, p, v, a, w, al = {}, {}, {}, {}, {}, {}
    zero = torch.zeros(q.shape[0], 3, dtype=q.dtype)
    for joint in JOINTS:
        if joint.parent is None:
            Rc, pc, vc, ac, wc, alc = (torch.eye(3, dtype=q.dtype).expand(q.shape[0], 3, 3),
                                       q[:, ti], qd[:, ti], qdd[:, ti], zero, zero)
        else:
            Rp = R[joint.parent]
            off = torch.as_tensor(body.joint_offsets[joint.child], dtype=q.dtype)
            r = (Rp @ off.unsqueeze(-1)).squeeze(-1)
            wp, alp = w[joint.parent], al[joint.parent]
            Rc, pc = Rp, p[joint.parent] + r
            vc = v[joint.parent] + torch.linalg.cross(wp, r)
            ac = a[joint.parent] + torch.linalg.cross(alp, r) + torch.linalg.cross(wp, torch.linalg.cross(wp, r))
            wc, alc = wp, alp
        for coord, axis in joint.axes:
            k = q_index(coord)
            ax = torch.as_tensor(axis, dtype=q.dtype)
            e = (Rc @ ax.unsqueeze(-1)).squeeze(-1)
            alc = alc + e * qdd[:, k:k + 1] + torch.linalg.cross(wc, e) * qd[:, k:k + 1]
            wc = wc + e * qd[:, k:k + 1]
            Rc = Rc @ axis_rotation(axis, q[:, k])
        R[joint.child], p[joint.child], v[joint.child], a[joint.child] = Rc, pc, vc, ac
        w[joint.child], al[joint.child] = wc, alc
    return BodyState(Pose(R, p), v, a, w, al)


def kinematics_from_state(body: Body, st: BodyState) -> SegmentKinematics:
    com, acc = {}, {}
    for n in SEGMENTS:
        c_local = body.segments[n].com
        com[n] = st.pose.point(n, c_local)
        acc[n] = st.point_acceleration(n, c_local)
    return SegmentKinematics(com, acc, dict(st.omega), dict(st.alpha))


def _inertia_world(body: Body, pose: Pose, n: str) -> torch.Tensor:
    # R diag(I) R^T as (R * I) @ R^T: a (T,3,3) @ (3,3) product takes torch's slow broadcast path
    # (~1000x slower for T = 64 in float64)
    R = pose.R[n]
    return (R * torch.as_tensor(body.segments[n].inertia, dtype=R.dtype)) @ R.transpose(-1, -2)


def _euler_term(body: Body, pose: Pose, kin: SegmentKinematics, n: str) -> torch.Tensor:
    """dH/dt about the segment CoM in the world frame: I alpha + w x I w."""
    I = _inertia_world(body, pose, n)
    w = kin.omega[n]
    Iw = (I @ w.unsqueeze(-1)).squeeze(-1)
    return (I @ kin.alpha[n].unsqueeze(-1)).squeeze(-1) + torch.linalg.cross(w, Iw)


def whole_body_wrench(body: Body, pose: Pose, kin: SegmentKinematics) -> tuple[torch.Tensor, torch.Tensor]:
    """External force (T,3) and moment about the world origin (T,3) the motion requires."""
    g = torch.as_tensor(G_VEC, dtype=kin.acc["pelvis"].dtype)
    F = 0.0
    N = 0.0
    for n in SEGMENTS:
        m = body.segments[n].mass
        f = m * (kin.acc[n] - g)
        F = F + f
        N = N + torch.linalg.cross(kin.com[n], f) + _euler_term(body, pose, kin, n)
    return F, N


def sole_polygon(body: Body) -> tuple[float, float, float]:
    """Foot sole in the foot frame: (x_heel, x_toe, half width), metres."""
    lf, hb = body.foot_length, body.heel_back
    return -hb * lf, (1 - hb) * lf, 0.045 * body.height / 1.75


def contact_envelope(contact: np.ndarray, fs: float, fade_s: float = 0.04) -> np.ndarray:
    """0..1 per sample: 1 in contact, C2-faded in over `fade_s` after each touchdown and out
    over `fade_s` before each lift-off (shorter contacts fade over half their length)."""
    c = np.asarray(contact, dtype=bool)
    env = np.zeros(len(c))
    edges = np.diff(np.concatenate([[0], c.astype(int), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for a, b in zip(starts, ends):
        n = b - a
        k = max(1, min(int(round(fade_s * fs)), n // 2))
        i = np.arange(n)
        x_in = np.clip((i + 1) / k, 0, 1)
        x_out = np.clip((n - i) / k, 0, 1)
        sm = lambda x: x * x * x * (10 - 15 * x + 6 * x * x)  # noqa: E731
        env[a:b] = np.minimum(sm(x_in), sm(x_out))
    return env


def split_ground_reaction(body: Body, pose: Pose, F: torch.Tensor, N: torch.Tensor,
                          contact: dict[str, np.ndarray], load: dict[str, np.ndarray] | None = None,
                          min_force: float = 1.0, contact_rate_hz: float = 1000.0
                          ) -> dict[str, dict[str, torch.Tensor]]:
    """Per-foot ground reaction: force (T,3), COP (T,3) on the floor, free moment about Y (T,).

    The total wrench (F, N) is zeroed where no foot is in contact (flight) and where it would pull
    the body down (F_y <= 0: no floor can). The centre of
    pressure is where the wrench has no horizontal moment: cx = N_z / F_y, cz = -N_x / F_y.
    The vertical load is shared by the feet in contact in proportion to how close the COP is
    to each foot (or by `load` shares when given); each foot's COP is its own sole centre
    shifted by the common COP offset and clamped to its sole.
    """
    dtype = F.dtype
    # The floor pushes, it cannot pull: where a planned contact would need a downward ground force
    # (the body falling faster than g, e.g. a landing's last frames before touch-down), the foot
    # is unloaded, as a force plate would read it; the unmatched wrench is a pelvis residual, as in flight.
    pushing = F[:, 1].detach().cpu().numpy() > 0
    contact = {s: np.asarray(contact[s], dtype=bool) & pushing for s in ("r", "l")}
    cr = torch.as_tensor(contact["r"], dtype=torch.bool)
    cl = torch.as_tensor(contact["l"], dtype=torch.bool)
    any_c = (cr | cl).unsqueeze(-1)
    F = torch.where(any_c, F, torch.zeros_like(F))
    N = torch.where(any_c, N, torch.zeros_like(N))
    Fy = F[:, 1]
    safe = torch.where(Fy.abs() > min_force, Fy, torch.full_like(Fy, np.inf))
    cop = torch.stack([N[:, 2] / safe, torch.zeros_like(Fy), -N[:, 0] / safe], -1)
    x0, x1, hw = sole_polygon(body)
    mid_local = torch.tensor([(x0 + x1) / 2, -body.ankle_height, 0.0], dtype=dtype)
    mid = {s: pose.point(f"foot_{s}", mid_local.numpy()) * torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
           for s in ("r", "l")}
    # Share of the vertical load carried by the right foot in double support: the COP's
    # position between the two feet (or the plan's `load` shares), faded in after each
    # touchdown and out before each lift-off so that no plate force jumps.
    d = mid["r"] - mid["l"]
    w_geo = (((cop - mid["l"]) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-9)).clamp(0.05, 0.95)
    if load is not None:
        w_geo = torch.as_tensor(load["r"], dtype=dtype).clamp(0.0, 1.0)
    fs = contact_rate_hz
    e_r = torch.as_tensor(contact_envelope(contact["r"], fs), dtype=dtype)
    e_l = torch.as_tensor(contact_envelope(contact["l"], fs), dtype=dtype)
    num = e_r * w_geo
    den = (num + e_l * (1 - w_geo)).clamp_min(1e-12)
    w_r = torch.where(cr & cl, num / den, cr.to(dtype))
    w = {"r": w_r, "l": torch.where(cr | cl, 1 - w_r, torch.zeros_like(w_r))}
    blend = w["r"].unsqueeze(-1) * mid["r"] + w["l"].unsqueeze(-1) * mid["l"]
    loaded = Fy.abs() > min_force
    shift = torch.where(loaded.unsqueeze(-1), cop - blend, torch.zeros_like(cop))
    # free moment about the vertical through the COP
    Ty = N[:, 1] - (cop[:, 2] * F[:, 0] - cop[:, 0] * F[:, 2])
    Ty = torch.where(loaded, Ty, torch.zeros_like(Ty))
    out = {}
    lf, hb, ah = body.foot_length, body.heel_back, body.ankle_height
    for s in ("r", "l"):
        c = mid[s] + shift
        # clamp to the part of the sole on the floor, in the floor plane: heel..toe when the
        # foot is flat, only the forefoot when the heel is up
        heel = pose.point(f"foot_{s}", (-hb * lf, -ah, 0.0))
        toe = pose.point(f"foot_{s}", ((1 - hb) * lf, -ah, 0.0))
        f = (toe - heel) * torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
        length = f.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        f = f / length
        lat = torch.linalg.cross(f, torch.tensor([0.0, 1.0, 0.0], dtype=dtype).expand_as(f))
        heel_up = heel[:, 1] - toe[:, 1]
        back = torch.where(heel_up > 0.01, torch.full_like(heel_up, 0.25 * lf), length.squeeze(-1))
        d = c - toe
        along = torch.minimum(torch.maximum((d * f).sum(-1), -back), torch.zeros_like(back))
        side = (d * lat).sum(-1).clamp(-hw, hw)
        c = toe + along.unsqueeze(-1) * f + side.unsqueeze(-1) * lat
        c = c * torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
        out[s] = {"force": w[s].unsqueeze(-1) * F, "cop": c, "free_moment": w[s] * Ty,
                  "share": w[s]}
    return out


def coordinate_axis_world(pose: Pose, q: torch.Tensor, coordinate: str) -> torch.Tensor:
    """World direction (T,3) of a coordinate's rotation axis at its place in the sequence."""
    for joint in JOINT_OF_CHILD.values():
        names = [c for c, _ in joint.axes]
        if coordinate in names:
            k = names.index(coordinate)
            R = pose.R[joint.parent]
            for c, ax in joint.axes[:k]:
                R = R @ axis_rotation(ax, q[:, q_index(c)])
            axis = torch.as_tensor(joint.axes[k][1], dtype=q.dtype)
            return (R @ axis.unsqueeze(-1)).squeeze(-1)
    raise KeyError(f"coordinate {coordinate!r} is not a rotational joint coordinate")


def newton_euler_leg_moments(body: Body, pose: Pose, kin: SegmentKinematics, q: torch.Tensor,
                             grf: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Net joint moments (T,) for `MOMENT_COORDINATES`, computed from the feet up.

    For each segment (foot, shank, thigh) with distal load (F_d at P_d, M_d):
    F_p = m (a - g) - F_d_applied, M_p = dH/dt - (P_p - c) x F_p - (P_d - c) x F_d - M_d.
    """
    g = torch.as_tensor(G_VEC, dtype=q.dtype)
    moments: dict[str, torch.Tensor] = {}
    for s in ("r", "l"):
        # external load on the foot: GRF at the COP plus the free moment about Y
        F_ext = grf[s]["force"]
        zeros = torch.zeros_like(grf[s]["free_moment"])
        M_ext = torch.stack([zeros, grf[s]["free_moment"], zeros], -1)
        P_ext = grf[s]["cop"]
        joint_wrench = {}
        for seg in (f"foot_{s}", f"shank_{s}", f"thigh_{s}"):
            m = body.segments[seg].mass
            c = kin.com[seg]
            Pp = pose.p[seg]  # proximal joint centre
            Fp = m * (kin.acc[seg] - g) - F_ext
            Mp = (_euler_term(body, pose, kin, seg) - torch.linalg.cross(Pp - c, Fp)
                  - torch.linalg.cross(P_ext - c, F_ext) - M_ext)
            joint_wrench[seg] = (Fp, Mp)
            # the distal load on the next segment up is the reaction: -Fp at Pp, -Mp
            F_ext, P_ext, M_ext = -Fp, Pp, -Mp
        owner = {"hip": f"thigh_{s}", "knee": f"shank_{s}", "ankle": f"foot_{s}"}
        for coord in MOMENT_COORDINATES:
            if not coord.endswith(f"_{s}"):
                continue
            joint = coord.split("_")[0]
            _, Mp = joint_wrench[owner[joint]]
            axis = coordinate_axis_world(pose, q, coord)
            moments[coord] = (Mp * axis).sum(-1)
    return moments
