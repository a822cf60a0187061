"""Losses: weighted CE, focal, KL temporal smoothing (multimodal-CNN eq. 7), attention-weighted
angle loss (TCN+GAT eq. 16), the technique-fault loss, and ``compute_losses(outputs, batch, cfg)``."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from biomech.conventions import JOINT_ANGLES

__all__ = ["weighted_cross_entropy", "focal_loss", "kl_temporal_smoothing", "weighted_angle_loss",
           "compute_losses", "LOSS_DEFAULTS", "admissible_fault_mask", "mask_fault_logits"]


def _flatten(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(B, K) / (B, T, K) logits with (B,) / (B, T) targets -> (N, K), (N,)."""
    return logits.reshape(-1, logits.shape[-1]), target.reshape(-1)


def _as_weight(weight: Tensor | Sequence[float] | None, like: Tensor) -> Tensor | None:
    if weight is None:
        return None
    return torch.as_tensor(weight, dtype=like.dtype, device=like.device)


def weighted_cross_entropy(logits: Tensor, target: Tensor, weight: Tensor | Sequence[float] | None = None,
                           ignore_index: int = -100) -> Tensor:
    """Class-weighted CE (weighted mean, as torch), for window (B, K) or frame (B, T, K) logits."""
    logits, target = _flatten(logits, target)
    return F.cross_entropy(logits, target, weight=_as_weight(weight, logits), ignore_index=ignore_index)


def focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0, weight: Tensor | Sequence[float] | None = None,
               ignore_index: int = -100) -> Tensor:
    """Focal loss sum_i w_{y_i} (1 - p_i)^gamma (-log p_i) / sum_i w_{y_i} (gamma = 0 -> weighted CE)."""
    logits, target = _flatten(logits, target)
    valid = target != ignore_index
    t = torch.where(valid, target, torch.zeros_like(target))
    logp = F.log_softmax(logits.float(), dim=-1).gather(1, t[:, None]).squeeze(1)
    loss = -logp if gamma == 0 else -((1 - logp.exp()).clamp_min(0) ** gamma) * logp
    w = _as_weight(weight, loss)
    w = w[t] if w is not None else torch.ones_like(loss)
    w = w * valid
    return (w * loss).sum() / w.sum().clamp_min(1e-12)


def kl_temporal_smoothing(frame_logits: Tensor) -> Tensor:
    """mean over b and t = 1..T-1 of KL(p_t || p_{t+1}) for per-frame logits (B, T, K)."""
    if frame_logits.shape[1] < 2:
        return frame_logits.sum() * 0
    logp = F.log_softmax(frame_logits.float(), dim=-1)
    kl = (logp[:, :-1].exp() * (logp[:, :-1] - logp[:, 1:])).sum(-1)
    return kl.mean()


def weighted_angle_loss(pred: Tensor, target: Tensor, weights: Tensor | Sequence[float] | None = None,
                        scale: float = math.pi / 180.0) -> Tensor:
    """mean over (b, t, j) of w_j * (scale * (pred - target))^2; ``weights`` (J,) or (B, J) are
    normalised to mean 1 over joints (uniform if None); non-finite targets are ignored. Degrees in,
    radians^2 out by default (``scale``)."""
    valid = torch.isfinite(target)
    err = torch.where(valid, (pred - torch.nan_to_num(target)) * scale, torch.zeros_like(pred)) ** 2
    if weights is None:
        w = torch.ones(pred.shape[-1], dtype=pred.dtype, device=pred.device)
    else:
        w = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    w = w / w.mean(-1, keepdim=True).clamp_min(1e-12)
    w = w.unsqueeze(-2) if w.dim() == 2 else w  # (B, 1, J) or (J,)
    return (w * err).sum() / valid.sum().clamp_min(1)


def admissible_fault_mask(label, fault, num_classes: int, num_faults: int):
    """(K, F) bool numpy array: ``[k, f]`` is True when fault ``f`` occurs with action ``k`` in the
    given (training) windows; "none" (index 0) is admissible for every action. The one definition of
    "the faults an action can have", used by the fault loss, the evaluation and the service."""
    import numpy as np

    label, fault = np.asarray(label, dtype=np.int64), np.asarray(fault, dtype=np.int64)
    mask = np.zeros((num_classes, num_faults), dtype=bool)
    mask[:, 0] = True
    ok = (label >= 0) & (label < num_classes) & (fault >= 0) & (fault < num_faults)
    mask[label[ok], fault[ok]] = True
    return mask


def mask_fault_logits(fault_logits: Tensor, action: Tensor, admissible) -> Tensor:
    """Fault logits (B, F) with the faults not admissible for each sample's action (B,) set to a
    large negative value: the fault is recognised *given the action* (a squat cannot overstride)."""
    m = torch.as_tensor(admissible, dtype=torch.bool, device=fault_logits.device)[action.long()]
    return fault_logits.masked_fill(~m, -1e4)


LOSS_DEFAULTS: dict[str, Any] = {
    "classifier": "ce",            # "ce" | "focal"
    "focal_gamma": 2.0,
    "class_weights": None,         # list of K floats or None
    "window_weight": 1.0,          # window-level classification
    "frame_weight": 1.0,           # per-frame classification (frame_label)
    "kl_weight": 0.1,              # KL temporal smoothing of per-frame predictions
    "angle_weight": 1.0,           # angle regression (only if outputs has "angles")
    "angle_joint_weights": "auto", # "auto" (model's attention if given, else uniform) | "uniform" | list of 23
    "fault_weight": 0.5,           # technique-fault classification (only if outputs has "fault_logits")
    "fault_class_weights": None,   # list of F floats (index 0 = "none") or None
    "fault_admissible": None,      # (K, F) bools (admissible_fault_mask): the fault loss given the true action
    "ignore_index": -100,
}


def _classifier_loss(c: Mapping[str, Any], class_weights):
    """(logits, target) -> loss: the cfg's classifier ("ce" | "focal") with ``class_weights``."""
    if c["classifier"] == "ce":
        return lambda lo, ta: weighted_cross_entropy(lo, ta, class_weights, c["ignore_index"])
    if c["classifier"] == "focal":
        return lambda lo, ta: focal_loss(lo, ta, c["focal_gamma"], class_weights, c["ignore_index"])
    raise ValueError(f"compute_losses: unknown classifier loss {c['classifier']!r}")


def compute_losses(outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor],
                   cfg: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
    """Named losses ("window", "frame", "kl", ["angle"], ["fault"]) and their weighted sum "total".
    "fault": the classifier loss (``classifier``) of ``fault_logits`` (B, F) against the window's
    clip fault ``batch["fault"]`` (0 = "none": clips without a fault), ``fault_class_weights``; with
    ``fault_admissible`` the softmax runs over the faults admissible for the window's true action.
    ``cfg`` keys: see ``LOSS_DEFAULTS`` (unknown keys raise, naming them)."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(LOSS_DEFAULTS))
    if unknown:
        raise KeyError(f"compute_losses: unknown cfg key(s) {unknown}; allowed {sorted(LOSS_DEFAULTS)}")
    c = {**LOSS_DEFAULTS, **cfg}
    cls = _classifier_loss(c, c["class_weights"])
    losses: dict[str, Tensor] = {}
    weights: dict[str, float] = {}
    if c["window_weight"] and "label" in batch:
        losses["window"], weights["window"] = cls(outputs["logits"], batch["label"]), c["window_weight"]
    if c["frame_weight"] and "frame_label" in batch:
        losses["frame"], weights["frame"] = cls(outputs["frame_logits"], batch["frame_label"]), c["frame_weight"]
    if c["kl_weight"]:
        losses["kl"], weights["kl"] = kl_temporal_smoothing(outputs["frame_logits"]), c["kl_weight"]
    if c["angle_weight"] and "angles" in outputs and "angles" in batch:
        jw = c["angle_joint_weights"]
        if isinstance(jw, str):
            if jw not in ("auto", "uniform", "attention"):
                raise ValueError(f"compute_losses: bad angle_joint_weights {jw!r}")
            if jw == "attention" and "angle_weights" not in outputs:
                raise KeyError("angle_joint_weights='attention' but the model returns no 'angle_weights'")
            jw = outputs["angle_weights"].detach() if jw != "uniform" and "angle_weights" in outputs else None
        elif len(jw) != len(JOINT_ANGLES):
            raise ValueError(f"angle_joint_weights needs {len(JOINT_ANGLES)} values, got {len(jw)}")
        losses["angle"] = weighted_angle_loss(outputs["angles"], batch["angles"].to(outputs["angles"].dtype), jw)
        weights["angle"] = c["angle_weight"]
    if c["fault_weight"] and "fault_logits" in outputs and "fault" in batch:
        fl = outputs["fault_logits"]
        if c["fault_admissible"] is not None and "label" in batch:
            fl = mask_fault_logits(fl, batch["label"], c["fault_admissible"])
        fault = _classifier_loss(c, c["fault_class_weights"])(fl, batch["fault"])
        losses["fault"], weights["fault"] = fault, c["fault_weight"]
    if not losses:
        raise ValueError("compute_losses: nothing to compute (all weights 0 or targets missing)")
    losses["total"] = sum(weights[k] * v for k, v in losses.items())
    return losses
