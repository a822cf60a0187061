"""Joint-moment (torque) estimators, registry kind ``"torque"``: ``forward(batch) -> {"moments"}``.

Inputs (batch contract, models.testing): ``angles`` (B,T,23) degrees in JOINT_ANGLES order,
(optional ``root`` (B,T,6): pelvis tilt/list/rotation deg + tx/ty/tz m; torque_ne then skips the
root anchoring below and uses it),
``grf`` (B,T,2,7) plates (r,l) x [force / body weight xyz, COP xyz (m, ground frame), free
moment (N m)], ``anthro`` (B,2) [mass kg, height m] or (B,3) [.., female: 1 / male: 0 / not stated:
0.5]. Output ``moments`` (B,T,10) N m in MOMENTS
order. Both models take *physical* units (not z-scored windows).

* ``torque_ne`` (two stages, as the multimodal-CNN paper): a BiLSTM predicts corrections to the
  temporal derivatives (qd, qdd) of the generalized coordinates obtained by finite differences of
  the (lightly smoothed) angle sequence; the corrected (q, qd, qdd) go through THE Newton-Euler
  implementation of the generator (biomech.dynamics.body_state -> kinematics_from_state ->
  newton_euler_leg_moments), differentiably. With ``moment_residual`` (default) a second
  zero-initialised head adds a learned correction to the physics moments (N m / kg, times the
  mass): it absorbs what the kinematic residuals cannot (force-plate filtering at impacts, the
  body model's approximations). Both heads are zero-initialised, so an untrained model returns
  the plain physics answer.
* ``torque_direct``: the ablation baseline, a BiLSTM from (angles, grf, anthro) straight to
  moments (predicted in N m / kg, times the mass).

Approximations of the physics path (see :func:`root_anchored_q`):
  * the windows are root-relative (no pelvis global pose). The pelvis is rebuilt with
    list = rotation = 0, a tilt that keeps the loaded feet flat on the floor, and a translation
    that keeps the loaded feet's ankles still at ankle height, horizontally anchored so the
    window's mean loaded-sole centre lies on the window's mean COP. Exact for flat-footed
    in-place stances (squat, standing); wrong in heel-up/toe-off and in flight (where the GRF is
    zero, so only the leg segments' inertial terms are affected). The LSTM residuals on the
    pelvis qd/qdd can learn part of the difference.
  * the body is de Leva's table of the sample's sex (``anthro[:, 2]`` = 1: female; the male
    table for 0, for 0.5 "not stated" and when it is not given) scaled to its height and mass
    (clamped to build_body's range).
    The wrong table moves the joint centres by centimetres: on quasi-static squats the knee
    moment error was ~3 N m with the right table and ~11 N m with the other one.
  * qd, qdd are 4th-order central differences at the window rate ``fs`` (default 50 Hz).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from biomech.body import Body, build_body, forward_kinematics, q_index
from biomech.conventions import COORDINATES, GRAVITY, JOINT_ANGLES, MOMENT_COORDINATES, MOMENTS
from biomech.dynamics import _diff, sole_polygon
from biomech.inverse_dynamics import physics_moments as _physics

from .registry import register_model

__all__ = ["TorqueNE", "TorqueDirect", "moment_loss", "torque_metrics", "icc", "root_anchored_q",
           "physics_moments"]

N_Q = len(COORDINATES)
_JOINT_COLS = [q_index(n) for n in JOINT_ANGLES]
_PELVIS = {n: q_index(n) for n in ("pelvis_tilt", "pelvis_tx", "pelvis_ty", "pelvis_tz")}


# --------------------------------------------------------------------------------------
# physics path
# --------------------------------------------------------------------------------------
def body_for(mass: float, height: float, female: float = 0.0) -> Body:
    """de Leva's table of the sex scaled to (height, mass), clamped to build_body's supported range.
    ``female``: 1 female table; 0 (male) or 0.5 (not stated) the male table."""
    sex = "female" if female > 0.5 else "male"
    return build_body(sex, float(np.clip(height, 1.2, 2.3)), float(np.clip(mass, 30.0, 160.0)))


def _sex(batch: dict[str, Tensor]) -> Tensor:
    """(B,) female indicator, 0 (male table) when anthro has no third column."""
    a = batch["anthro"]
    return a[:, 2].float() if a.shape[1] > 2 else torch.zeros(a.shape[0], device=a.device)


def _smooth(x: Tensor, sigma: float) -> Tensor:
    """Gaussian smoothing along axis 0 (T, ...), replicate padding; sigma in samples."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, -1)
    T = x.shape[0]
    flat = x.reshape(T, -1).T.unsqueeze(1)  # (C,1,T)
    flat = torch.nn.functional.pad(flat, (r, r), mode="replicate")
    return torch.nn.functional.conv1d(flat, k).squeeze(1).T.reshape(x.shape)


def _foot_weights(grf_n: Tensor, body_weight: float) -> dict[str, Tensor]:
    """Share (T,) of each foot in the anchoring: vertical load share, 50/50 when unloaded."""
    eps = 0.02 * body_weight
    fy = {s: grf_n[:, i, 1].clamp_min(0) for i, s in enumerate(("r", "l"))}
    tot = fy["r"] + fy["l"] + 2 * eps
    return {s: (fy[s] + eps) / tot for s in ("r", "l")}


def root_anchored_q(body: Body, angles_deg: Tensor, grf_n: Tensor, smooth_sigma: float = 0.0) -> Tensor:
    """Generalized coordinates q (T,29) (radians, metres) for one root-relative window.

    angles_deg (T,23) JOINT_ANGLES order; grf_n (T,2,7) with the force in newtons. Pelvis list and
    rotation are 0; tilt keeps the loaded feet flat; translation keeps the loaded ankles still at
    ankle height with the window-mean sole centre on the window-mean COP (see module docstring).
    """
    dt = torch.float64
    a = _smooth(angles_deg.to(dt), smooth_sigma) * (math.pi / 180.0)
    T = a.shape[0]
    q = torch.zeros(T, N_Q, dtype=dt)
    q[:, _JOINT_COLS] = a
    with torch.no_grad():
        grf_n = grf_n.to(dt)
        w = _foot_weights(grf_n, body.total_mass * GRAVITY)
        pose = forward_kinematics(body, q)
        # tilt: rotate about Z so that the weighted foot pitch is zero
        pitch = {s: torch.atan2(pose.R[f"foot_{s}"][:, 1, 0], pose.R[f"foot_{s}"][:, 0, 0]) for s in ("r", "l")}
        q[:, _PELVIS["pelvis_tilt"]] = -(w["r"] * pitch["r"] + w["l"] * pitch["l"])
        pose = forward_kinematics(body, q)
        x0, x1, _ = sole_polygon(body)
        ankle = w["r"].unsqueeze(-1) * pose.p["foot_r"] + w["l"].unsqueeze(-1) * pose.p["foot_l"]
        sole = (w["r"].unsqueeze(-1) * pose.point("foot_r", ((x0 + x1) / 2, -body.ankle_height, 0.0))
                + w["l"].unsqueeze(-1) * pose.point("foot_l", ((x0 + x1) / 2, -body.ankle_height, 0.0)))
        cop = w["r"].unsqueeze(-1) * grf_n[:, 0, 3:6] + w["l"].unsqueeze(-1) * grf_n[:, 1, 3:6]
        loaded = (grf_n[:, :, 1].clamp_min(0).sum(-1) > 0.05 * body.total_mass * GRAVITY).to(dt)
        if loaded.sum() > 0:
            lw = loaded / loaded.sum()
            # horizontal anchor: window-mean sole centre (relative to the ankle) on the mean COP
            anchor = ((cop - (sole - ankle)) * lw.unsqueeze(-1)).sum(0)
        else:
            anchor = torch.zeros(3, dtype=dt)
        t = torch.empty(T, 3, dtype=dt)
        t[:, 0] = anchor[0] - ankle[:, 0]
        t[:, 2] = anchor[2] - ankle[:, 2]
        t[:, 1] = body.ankle_height - ankle[:, 1]
        for i, n in enumerate(("pelvis_tx", "pelvis_ty", "pelvis_tz")):
            q[:, _PELVIS[n]] = t[:, i]
    return q


def _q_with_root(angles_deg: Tensor, root: Tensor, smooth_sigma: float) -> Tensor:
    """q (T,29) from joint angles (T,23) deg and a known pelvis pose (T,6): tilt, list,
    rotation (deg), tx, ty, tz (m, the GRF's ground frame)."""
    dt = torch.float64
    full = torch.cat([root.to(dt), angles_deg.to(dt)], -1)
    full = _smooth(full, smooth_sigma)
    rad = torch.ones(N_Q, dtype=dt) * (math.pi / 180.0)
    rad[3:6] = 1.0
    return full * rad


def derivatives(q: Tensor, fs: float) -> tuple[Tensor, Tensor]:
    """qd, qdd (T,29) by 4th-order central differences at fs (biomech.dynamics._diff)."""
    qd = _diff(q, fs)
    return qd, _diff(qd, fs)


def grf_dict(grf_n: Tensor) -> dict[str, dict[str, Tensor]]:
    """(T,2,7) newtons -> newton_euler_leg_moments' grf argument."""
    return {s: {"force": grf_n[:, i, 0:3], "cop": grf_n[:, i, 3:6], "free_moment": grf_n[:, i, 6]}
            for i, s in enumerate(("r", "l"))}


def physics_moments(body: Body, q: Tensor, qd: Tensor, qdd: Tensor, grf_n: Tensor) -> Tensor:
    """(T,10) moments in MOMENTS order from a window's (q, qd, qdd) and plates (T,2,7) in newtons:
    biomech.inverse_dynamics.physics_moments (exact recursive kinematics + Newton-Euler)."""
    return _physics(body, q, qd, qdd, grf_dict(grf_n.to(q.dtype)))


def _grf_newtons(grf: Tensor, mass: Tensor) -> Tensor:
    """Batch grf (B,T,2,7) with force in body weights -> force in newtons."""
    bw = (mass * GRAVITY).view(-1, 1, 1, 1).to(grf.dtype)
    return torch.cat([grf[..., 0:3] * bw, grf[..., 3:]], -1)


def _features(batch: dict[str, Tensor]) -> Tensor:
    """Per-frame network inputs (B,T,F): angles (rad), GRF (BW; COP relative to the window mean
    of the loaded COP, m; free moment / (BW * height)), mass/75, height/1.75, female."""
    ang = batch["angles"].float() * (math.pi / 180.0)
    grf = batch["grf"].float()
    mass, height = batch["anthro"][:, 0].float(), batch["anthro"][:, 1].float()
    B, T = ang.shape[:2]
    fy = grf[..., 1].clamp_min(0)  # (B,T,2)
    wsum = fy.sum((1, 2)).clamp_min(1e-6)
    cop_mean = (grf[..., 3:6] * fy.unsqueeze(-1)).sum((1, 2)) / wsum.unsqueeze(-1)  # (B,3)
    cop = (grf[..., 3:6] - cop_mean.view(B, 1, 1, 3)) * (fy.unsqueeze(-1) > 0.01)
    free = grf[..., 6:7] / (mass * GRAVITY * height).view(B, 1, 1, 1)
    g = torch.cat([grf[..., 0:3], cop, free], -1).reshape(B, T, 14)
    anth = torch.stack([mass / 75.0, height / 1.75, _sex(batch)], -1).unsqueeze(1).expand(B, T, 3)
    return torch.cat([ang, g, anth], -1)


N_FEATURES = len(JOINT_ANGLES) + 14 + 3


class TorqueNE(nn.Module):
    """BiLSTM residuals on (qd, qdd) + differentiable Newton-Euler (biomech.dynamics)."""

    kind = "torque"

    def __init__(self, hidden: int = 64, layers: int = 1, fs: float = 50.0, smooth_sigma: float = 0.0,
                 qd_scale: float = 1.0, qdd_scale: float = 20.0, dropout: float = 0.0,
                 moment_residual: bool = True):
        super().__init__()
        self.fs, self.smooth_sigma = float(fs), float(smooth_sigma)
        self.qd_scale, self.qdd_scale = float(qd_scale), float(qdd_scale)
        # physics-derived derivatives are inputs too (scaled to O(1))
        self.lstm = nn.LSTM(N_FEATURES + 2 * N_Q, hidden, num_layers=layers, batch_first=True,
                            bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, 2 * N_Q)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.moment_head = nn.Linear(2 * hidden, len(MOMENTS)) if moment_residual else None
        if self.moment_head is not None:
            nn.init.zeros_(self.moment_head.weight)
            nn.init.zeros_(self.moment_head.bias)
        self._bodies: dict[tuple[float, float], Body] = {}

    def _body(self, mass: float, height: float, female: float) -> Body:
        key = (round(mass, 4), round(height, 4), female > 0.5)
        if key not in self._bodies:
            self._bodies[key] = body_for(mass, height, female)
        return self._bodies[key]

    def physics_inputs(self, batch: dict[str, Tensor]) -> tuple[list[Body], Tensor, Tensor, Tensor, Tensor]:
        """Bodies, q, qd, qdd (B,T,29) float64 and grf in newtons (B,T,2,7) float64."""
        mass, height, female = batch["anthro"][:, 0], batch["anthro"][:, 1], _sex(batch)
        grf_n = _grf_newtons(batch["grf"].detach().to(torch.float64), mass.detach().to(torch.float64))
        bodies, qs, qds, qdds = [], [], [], []
        for b in range(batch["angles"].shape[0]):
            body = self._body(float(mass[b]), float(height[b]), float(female[b]))
            if batch.get("root") is not None:  # optional pelvis global pose: exact root, no anchoring
                q = _q_with_root(batch["angles"][b].detach(), batch["root"][b].detach(), self.smooth_sigma)
            else:
                q = root_anchored_q(body, batch["angles"][b].detach(), grf_n[b], self.smooth_sigma)
            qd, qdd = derivatives(q, self.fs)
            bodies.append(body), qs.append(q), qds.append(qd), qdds.append(qdd)
        return bodies, torch.stack(qs), torch.stack(qds), torch.stack(qdds), grf_n

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        bodies, q, qd, qdd, grf_n = self.physics_inputs(batch)
        x = torch.cat([_features(batch), (qd / 10.0).float(), (qdd / 200.0).float()], -1)
        h, _ = self.lstm(x)
        res = self.head(h).to(torch.float64)  # (B,T,58)
        qd = qd + self.qd_scale * res[..., :N_Q]
        qdd = qdd + self.qdd_scale * res[..., N_Q:]
        out = torch.stack([physics_moments(bodies[b], q[b], qd[b], qdd[b], grf_n[b])
                           for b in range(len(bodies))]).float()
        if self.moment_head is not None:
            out = out + self.moment_head(h) * batch["anthro"][:, 0].float().view(-1, 1, 1)
        return {"moments": out,
                "qd_residual": res[..., :N_Q] * self.qd_scale, "qdd_residual": res[..., N_Q:] * self.qdd_scale}


class TorqueDirect(nn.Module):
    """BiLSTM from (angles, grf, anthro) straight to moments (N m / kg, times the mass)."""

    kind = "torque"

    def __init__(self, hidden: int = 64, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.lstm = nn.LSTM(N_FEATURES, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, len(MOMENTS))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h, _ = self.lstm(_features(batch))
        mass = batch["anthro"][:, 0].float().view(-1, 1, 1)
        return {"moments": self.head(h) * mass}


@register_model("torque_ne", kind="torque")
def build_torque_ne(*, hidden: int = 64, layers: int = 1, fs: float = 50.0, smooth_sigma: float = 0.0,
                    qd_scale: float = 1.0, qdd_scale: float = 20.0, dropout: float = 0.0,
                    moment_residual: bool = True) -> TorqueNE:
    return TorqueNE(hidden, layers, fs, smooth_sigma, qd_scale, qdd_scale, dropout, moment_residual)


@register_model("torque_direct", kind="torque")
def build_torque_direct(*, hidden: int = 64, layers: int = 2, dropout: float = 0.1) -> TorqueDirect:
    return TorqueDirect(hidden, layers, dropout)


# --------------------------------------------------------------------------------------
# loss and metrics
# --------------------------------------------------------------------------------------
def moment_loss(pred: Tensor, target: Tensor, mass: Tensor) -> Tensor:
    """RMSE of body-mass-normalised moments (N m / kg) over every sample, frame and joint.
    pred, target (B,T,10) N m; mass (B,) kg."""
    m = mass.to(pred.dtype).view(-1, *([1] * (pred.dim() - 1)))
    return torch.sqrt(torch.mean(((pred - target.to(pred.dtype)) / m) ** 2) + 1e-12)


def icc(y: np.ndarray) -> dict[str, float]:
    """ICC(1,1), ICC(2,1) and ICC(3,1) of ``y`` (n subjects, k raters), NaN when undefined."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"icc needs (n >= 2 subjects, k >= 2 raters), got shape {y.shape}")
    n, k = y.shape
    gm = y.mean()
    ss_r = k * ((y.mean(1) - gm) ** 2).sum()
    ss_c = n * ((y.mean(0) - gm) ** 2).sum()
    ss_t = ((y - gm) ** 2).sum()
    ss_e = ss_t - ss_r - ss_c
    ms_r, ms_c = ss_r / (n - 1), ss_c / (k - 1)
    ms_e = ss_e / ((n - 1) * (k - 1))
    ms_w = (ss_c + ss_e) / (n * (k - 1))

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den > 0 else float("nan")

    return {"icc_3_1": ratio(ms_r - ms_e, ms_r + (k - 1) * ms_e),
            "icc_2_1": ratio(ms_r - ms_e, ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n),
            "icc_1_1": ratio(ms_r - ms_w, ms_r + (k - 1) * ms_w)}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def torque_metrics(pred, target, names: tuple[str, ...] = MOMENTS) -> dict:
    """Per joint RMSE (N m), ICC(3,1) (pred vs target as two raters, frames as subjects) and
    Pearson r over all frames of pred, target (..., 10). Returns {"rmse": {name: v}, "icc": ...,
    "pearson": ..., "mean_rmse", "mean_icc", "mean_pearson"}."""
    p = np.asarray(pred.detach().cpu() if isinstance(pred, Tensor) else pred, dtype=np.float64)
    t = np.asarray(target.detach().cpu() if isinstance(target, Tensor) else target, dtype=np.float64)
    p, t = p.reshape(-1, p.shape[-1]), t.reshape(-1, t.shape[-1])
    out: dict = {"rmse": {}, "icc": {}, "pearson": {}}
    for j, name in enumerate(names):
        out["rmse"][name] = float(np.sqrt(np.mean((p[:, j] - t[:, j]) ** 2)))
        out["icc"][name] = icc(np.stack([t[:, j], p[:, j]], 1))["icc_3_1"]
        out["pearson"][name] = _pearson(p[:, j], t[:, j])
    for key in ("rmse", "icc", "pearson"):
        out[f"mean_{key}"] = float(np.nanmean(list(out[key].values())))
    return out
