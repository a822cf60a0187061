"""Shared building blocks: helpers -> blocks -> encoders/fusion/heads -> ``MotionModel`` base.

Every torch architecture subclasses :class:`MotionModel`: it implements ``extract_features(batch)``
returning ``{"features": (B, T, D), ...extras}``; ``forward`` adds the heads and returns
``{"logits": (B, K), "frame_logits": (B, T, K), ["angles": (B, T, 23)], ["fault_logits": (B, F)],
"temporal_attention", "modality_attention", ...}`` (``fault_logits`` when built with ``num_faults``).

Missing modalities: :meth:`MotionModel.prepare` zeroes every tensor whose ``modality_mask`` entry
is False (so nothing downstream can see its content) and the fusion blocks mask those modalities
out (attention weight exactly 0), so a missing modality is ignored, not merely zero-filled.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biomech.conventions import IMU_SENSORS, MODALITIES

# The batch contract's IMU tensor has 9 channels per sensor: acc xyz, gyro xyz, attitude euler xyz.
# (biomech.conventions.IMU_CHANNELS lists only the 6 acc/gyro names.)
IMU_FEATURES_PER_SENSOR = 9
GRF_PLATES = 2
GRF_FEATURES_PER_PLATE = 7
LANDMARK_NODES = 33
LANDMARK_FEATURES = 4
MODALITY_INDEX: dict[str, int] = {m: i for i, m in enumerate(MODALITIES)}
TIME_SERIES = ("landmarks", "imu", "grf")


# ----------------------------------------------------------------------------------- helpers
def check_modalities(modalities: Sequence[str], allowed: Sequence[str] = MODALITIES) -> tuple[str, ...]:
    modalities = tuple(modalities)
    bad = [m for m in modalities if m not in allowed]
    if bad or not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(f"bad modalities {list(modalities)} (unknown: {bad}); allowed: {list(allowed)}")
    return modalities


def sequence_length(batch: Mapping[str, Tensor]) -> int:
    """T of the common timeline: from the first time-series modality tensor in the batch."""
    for key in TIME_SERIES + ("frame_label",):
        if key in batch:
            return int(batch[key].shape[1])
    raise KeyError("batch has none of 'landmarks', 'imu', 'grf', 'frame_label': cannot infer T")


def batch_size(batch: Mapping[str, Tensor]) -> int:
    for key in MODALITIES + ("modality_mask",):
        if key in batch:
            return int(batch[key].shape[0])
    raise KeyError("batch has no modality tensor")


def same_padding_1d(x: Tensor, kernel_size: int, dilation: int, causal: bool) -> Tensor:
    """Pad (B, C, T) on the time axis so a stride-1 conv keeps length T (causal: left only)."""
    total = (kernel_size - 1) * dilation
    left = total if causal else total // 2
    return F.pad(x, (left, total - left))


def interpolate_time(x: Tensor, length: int) -> Tensor:
    """(B, t, D) -> (B, length, D), linear interpolation along time (identity when t == length)."""
    if x.shape[1] == length:
        return x
    return F.interpolate(x.transpose(1, 2), size=length, mode="linear", align_corners=False).transpose(1, 2)


def run_on_present(fn, x: Tensor, present: Tensor, out_shape_tail: Sequence[int] | None = None) -> Tensor:
    """Apply ``fn`` to the samples of ``x`` (B, ...) where ``present`` (B,) is True and scatter the
    results into zeros; samples that lack the modality cost nothing and do not enter BatchNorm stats."""
    if bool(present.all()):
        return fn(x)
    idx = present.nonzero(as_tuple=True)[0]
    if idx.numel() == 0:
        if out_shape_tail is None:
            raise ValueError("run_on_present: nothing present and no output shape given")
        return x.new_zeros((x.shape[0], *out_shape_tail))
    y = fn(x[idx])
    out = y.new_zeros((x.shape[0], *y.shape[1:]))
    return out.index_copy(0, idx, y)


# ------------------------------------------------------------------------------------ blocks
class SEBlock(nn.Module):
    """Squeeze-and-excitation on (B, C, *spatial): channel gates from the global average."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        s = x.flatten(2).mean(-1)
        g = self.fc(s)
        return x * g.view(*g.shape, *([1] * (x.dim() - 2)))


class TemporalBlock(nn.Module):
    """Residual dilated temporal block on (B, C, T): 2 x [conv(k, d) -> BN -> ReLU -> dropout].
    ``causal=True`` pads on the left only (output t sees inputs <= t), else centred ("same")."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1,
                 causal: bool = False, dropout: float = 0.0):
        super().__init__()
        if not causal and kernel_size % 2 == 0:
            raise ValueError("non-causal (same) padding needs an odd kernel_size")
        self.kernel_size, self.dilation, self.causal = kernel_size, dilation, causal
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.drop = nn.Dropout(dropout)
        self.down = (nn.Identity() if in_channels == out_channels
                     else nn.Conv1d(in_channels, out_channels, 1, bias=False))

    @property
    def receptive_field(self) -> int:
        return 1 + 2 * (self.kernel_size - 1) * self.dilation

    def forward(self, x: Tensor) -> Tensor:
        k, d, c = self.kernel_size, self.dilation, self.causal
        y = self.drop(F.relu(self.bn1(self.conv1(same_padding_1d(x, k, d, c)))))
        y = self.drop(self.bn2(self.conv2(same_padding_1d(y, k, d, c))))
        return F.relu(y + self.down(x))


class TCN(nn.Module):
    """Stack of :class:`TemporalBlock` on (B, C, T); ``channels`` is the network shape as data,
    dilations default to 1, 2, 4, ... (one per block)."""

    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int = 3,
                 dilations: Sequence[int] | None = None, causal: bool = False, dropout: float = 0.0):
        super().__init__()
        dilations = tuple(dilations) if dilations is not None else tuple(2 ** i for i in range(len(channels)))
        if len(dilations) != len(channels):
            raise ValueError(f"TCN: {len(channels)} channels but {len(dilations)} dilations")
        chans = (in_channels, *channels)
        self.blocks = nn.Sequential(*(TemporalBlock(chans[i], chans[i + 1], kernel_size, dilations[i], causal, dropout)
                                      for i in range(len(channels))))
        self.out_channels = chans[-1]

    @property
    def receptive_field(self) -> int:
        return 1 + sum(b.receptive_field - 1 for b in self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


# ---------------------------------------------------------------------------------- encoders
class FrameEncoder(nn.Module):
    """(B, T, *feature_dims) -> (B, T, dim): per-frame Linear + LayerNorm (per-sample, so samples
    lacking the modality do not disturb others) + one residual temporal block."""

    def __init__(self, in_features: int, dim: int, kernel_size: int = 3, dropout: float = 0.0,
                 causal: bool = False):
        super().__init__()
        self.in_features = in_features
        self.stem = nn.Sequential(nn.Linear(in_features, dim), nn.LayerNorm(dim), nn.ReLU(inplace=True))
        self.temporal = TemporalBlock(dim, dim, kernel_size, 1, causal, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(2)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"FrameEncoder expects {self.in_features} features per frame, got {x.shape[-1]}")
        return self.temporal(self.stem(x).transpose(1, 2)).transpose(1, 2)


def modality_in_features(modality: str, *, landmark_nodes: int = LANDMARK_NODES,
                         imu_channels: int = IMU_FEATURES_PER_SENSOR, imu_sensors: int = len(IMU_SENSORS)) -> int:
    return {"landmarks": landmark_nodes * LANDMARK_FEATURES,
            "imu": imu_sensors * imu_channels,
            "grf": GRF_PLATES * GRF_FEATURES_PER_PLATE}[modality]


def sensor_encoders(modalities: Sequence[str], dim: int, *, dropout: float = 0.0, causal: bool = False,
                    landmark_nodes: int = LANDMARK_NODES, imu_channels: int = IMU_FEATURES_PER_SENSOR,
                    imu_sensors: int = len(IMU_SENSORS)) -> nn.ModuleDict:
    """One :class:`FrameEncoder` per time-series modality (landmarks / imu / grf); the IMU encoder
    reads ``imu_sensors`` sensors (a model that selects a placement subset passes its size)."""
    return nn.ModuleDict({m: FrameEncoder(modality_in_features(m, landmark_nodes=landmark_nodes,
                                                               imu_channels=imu_channels, imu_sensors=imu_sensors),
                                          dim, dropout=dropout, causal=causal)
                          for m in modalities if m in TIME_SERIES})


# ------------------------------------------------------------------------------------ fusion
class MaskedModalityFusion(nn.Module):
    """Modality-attention fusion: per frame, score_m = w^T tanh(W f_m + e_m) (e_m a learned modality
    embedding), softmax over the modalities PRESENT for that sample (missing ones get weight exactly
    0), fused = sum_m a_m f_m. Input (B, T, M, D) + mask (B, M) -> (B, T, D), weights (B, T, M)."""

    def __init__(self, dim: int, num_modalities: int, hidden: int | None = None, attention: bool = True):
        super().__init__()
        hidden = hidden or dim
        self.attention = attention          # False (ablation): equal weights over the present modalities
        if attention:
            self.embed = nn.Parameter(torch.zeros(num_modalities, dim))
            self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, feats: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = (self.score(feats + self.embed).squeeze(-1) if self.attention
                  else feats.new_zeros(feats.shape[:-1]))  # (B, T, M)
        m = mask[:, None, :].expand_as(scores)
        scores = scores.masked_fill(~m, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1) * m  # rows with nothing present -> all 0
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
        fused = (weights.unsqueeze(-1) * feats).sum(-2)
        return fused, weights


# ------------------------------------------------------------------------------------- heads
class AttentionPool(nn.Module):
    """Temporal attention pooling (B, T, D) -> (B, D), weights (B, T)."""

    def __init__(self, dim: int, attention: bool = True):
        super().__init__()
        self.attention = attention          # False (ablation): the plain mean over time
        if attention:
            self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s = self.score(x).squeeze(-1) if self.attention else x.new_zeros(x.shape[:2])
        w = torch.softmax(s, dim=1)
        return (w.unsqueeze(-1) * x).sum(1), w


class FrameHead(nn.Module):
    """Per-frame linear head (B, T, D) -> (B, T, out) * scale."""

    def __init__(self, dim: int, out_features: int, dropout: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, out_features)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(x)) * self.scale


class MotionHeads(nn.Module):
    """Window head (temporal attention pool + linear), per-frame heads (classes, optional angles)
    and an optional technique-fault head on the pooled features (``num_faults`` classes, index 0
    = "none", the dataset's ``faults`` vocabulary) -> ``fault_logits`` (B, num_faults). The fault
    head has its own attention pool: a fault lives in a phase (the landing, the bottom of a
    squat), not where the action is most recognisable. Angles are predicted in radians
    internally and returned in degrees (the batch convention)."""

    def __init__(self, dim: int, num_classes: int, num_angles: int = 0, dropout: float = 0.0, num_faults: int = 0,
                 attention: bool = True):
        super().__init__()
        if num_faults == 1 or num_faults < 0:
            raise ValueError(f"num_faults = {num_faults}: expected 0 (no fault head) or >= 2 ('none' + faults)")
        self.pool = AttentionPool(dim, attention)
        self.window = FrameHead(dim, num_classes, dropout)
        self.frame = FrameHead(dim, num_classes, dropout)
        self.angles = FrameHead(dim, num_angles, dropout, scale=180.0 / math.pi) if num_angles else None
        self.fault_pool = AttentionPool(dim, attention) if num_faults else None
        self.fault = FrameHead(dim, num_faults, dropout) if num_faults else None

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        pooled, w = self.pool(x)
        out = {"logits": self.window(pooled), "frame_logits": self.frame(x), "temporal_attention": w}
        if self.angles is not None:
            out["angles"] = self.angles(x)
        if self.fault is not None:
            out["fault_logits"] = self.fault(self.fault_pool(x)[0])
        return out


# -------------------------------------------------------------------------------- base model
class MotionModel(nn.Module):
    """Base class. Subclasses set ``self.modalities`` (those they read) and implement
    ``extract_features(batch) -> {"features": (B, T, D), ...}``."""

    modalities: tuple[str, ...] = ()

    def __init__(self, dim: int, num_classes: int, num_angles: int = 0, dropout: float = 0.0, num_faults: int = 0,
                 attention: bool = True):
        super().__init__()
        if num_angles < 0:
            raise ValueError(f"num_angles must be >= 0, got {num_angles}")
        self.num_classes, self.num_angles, self.num_faults, self.dim = num_classes, num_angles, num_faults, dim
        self.heads = MotionHeads(dim, num_classes, num_angles, dropout, num_faults, attention)

    def prepare(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Inputs of ``self.modalities`` with missing samples zeroed, and the (B, 4) bool mask."""
        B = batch_size(batch)
        ref = next(batch[m] for m in MODALITIES if m in batch)
        mask = batch.get("modality_mask")
        mask = (torch.ones(B, len(MODALITIES), dtype=torch.bool, device=ref.device) if mask is None
                else mask.to(device=ref.device, dtype=torch.bool))
        inputs = {}
        for m in self.modalities:
            if m not in batch:
                raise KeyError(f"{type(self).__name__} needs batch[{m!r}] (zeros + mask False if missing)")
            x = batch[m].float()
            keep = mask[:, MODALITY_INDEX[m]].view(B, *([1] * (x.dim() - 1)))
            inputs[m] = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
        return inputs, mask

    def encode_present(self, x: Mapping[str, Tensor], mask: Tensor, T: int) -> tuple[Tensor, Tensor]:
        """Per-modality features (B, T, M, dim) of ``self.modalities`` (each encoder runs only on
        the samples that have its modality; video is interpolated to T) and their (B, M) mask.
        Fusion models set ``self.encoders`` and, if they read video, ``encode_video``."""
        feats = []
        for m in self.modalities:
            present = mask[:, MODALITY_INDEX[m]]
            if m == "video":
                v = run_on_present(self.encode_video, x[m], present, (x[m].shape[1], self.dim))
                feats.append(interpolate_time(v, T))
            else:
                feats.append(run_on_present(self.encoders[m], x[m], present, (T, self.dim)))
        return torch.stack(feats, dim=2), mask[:, [MODALITY_INDEX[m] for m in self.modalities]]

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = dict(self.extract_features(batch))
        feats = out.pop("features")
        out.update(self.heads(feats))
        return out


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
