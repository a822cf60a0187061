"""``sta_c3d_lstm``: spatio-temporal-attention C3D + LSTM (3D-CNN paper) with a sensor branch.

Video (B, Tv, 3, H, W) -> dual-stream C3D: a feature stream F and an attention stream A
(sigmoid), fused element-wise (``fusion="attention"``: F * A) or by factorised bilinear pooling
(``fusion="bilinear"``: P((U F) * (V A)), low rank) -> spatial attention (softmax over h x w per
frame) -> LSTM over the Tv frames -> linear interpolation to T. Sensor branch: IMU / GRF (and
optionally landmarks) frame encoders. Video and sensor features are fused with masked modality
attention before the classifier; the window classifier uses temporal attention pooling.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .blocks import MaskedModalityFusion, MotionModel, check_modalities, sensor_encoders, sequence_length
from .registry import register_model


def c3d_stream(channels: tuple[int, ...]) -> nn.Sequential:
    """C3D-style stack on (B, 3, t, H, W): 3x3x3 conv -> BN -> ReLU -> 1x2x2 max-pool per stage
    (time is kept at full rate, space halves per stage)."""
    layers, c_in = [], 3
    for c in channels:
        layers += [nn.Conv3d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm3d(c), nn.ReLU(inplace=True),
                   nn.MaxPool3d((1, 2, 2))]
        c_in = c
    return nn.Sequential(*layers)


class DualStreamC3D(nn.Module):
    def __init__(self, channels: tuple[int, ...], fusion: str = "attention", bilinear_rank: int = 64):
        super().__init__()
        if fusion not in ("attention", "bilinear"):
            raise ValueError(f"unknown C3D stream fusion {fusion!r}; use 'attention' or 'bilinear'")
        c = channels[-1]
        self.fusion = fusion
        self.feature = c3d_stream(channels)
        self.attention = nn.Sequential(c3d_stream(channels), nn.Conv3d(c, c, 1), nn.Sigmoid())
        if fusion == "bilinear":
            self.u = nn.Conv3d(c, bilinear_rank, 1)
            self.v = nn.Conv3d(c, bilinear_rank, 1)
            self.p = nn.Sequential(nn.Conv3d(bilinear_rank, c, 1), nn.BatchNorm3d(c), nn.ReLU(inplace=True))
        self.out_channels = c

    def forward(self, x: Tensor) -> Tensor:
        f, a = self.feature(x), self.attention(x)
        if self.fusion == "attention":
            return f * a
        return self.p(self.u(f) * self.v(a))


class SpatialAttentionPool(nn.Module):
    """(B, C, t, h, w) -> (B, t, C) with per-frame softmax attention over h*w; weights (B, t, h*w)."""

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Conv3d(channels, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        w = torch.softmax(self.score(x).flatten(3), dim=-1)  # (B, 1, t, hw)
        pooled = (x.flatten(3) * w).sum(-1)  # (B, C, t)
        return pooled.transpose(1, 2), w.squeeze(1)


class STAC3DLSTM(MotionModel):
    def __init__(self, *, num_classes: int, modalities: tuple[str, ...], c3d_channels: tuple[int, ...],
                 fusion: str, bilinear_rank: int, dim: int, lstm_layers: int, bidirectional: bool,
                 dropout: float, num_angles: int, num_faults: int, landmark_nodes: int, imu_channels: int):
        super().__init__(dim, num_classes, num_angles, dropout, num_faults)
        self.modalities = check_modalities(modalities)
        if "video" in self.modalities:
            self.c3d = DualStreamC3D(c3d_channels, fusion, bilinear_rank)
            self.spatial_attention = SpatialAttentionPool(self.c3d.out_channels)
            hidden = dim // 2 if bidirectional else dim
            self.lstm = nn.LSTM(self.c3d.out_channels, hidden, lstm_layers, batch_first=True,
                                bidirectional=bidirectional, dropout=dropout if lstm_layers > 1 else 0.0)
        self.encoders = sensor_encoders(self.modalities, dim, landmark_nodes=landmark_nodes, imu_channels=imu_channels)
        self.fusion = MaskedModalityFusion(dim, len(self.modalities))
        self.drop = nn.Dropout(dropout)

    def encode_video(self, video: Tensor) -> Tensor:
        """(b, Tv, 3, H, W) -> (b, Tv, dim)."""
        f = self.c3d(video.transpose(1, 2))  # (b, C, Tv, h, w)
        f, _ = self.spatial_attention(f)
        return self.lstm(f)[0]

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.prepare(batch)
        T = sequence_length(batch)
        feats, sub_mask = self.encode_present(x, mask, T)
        fused, weights = self.fusion(feats, sub_mask)
        return {"features": self.drop(fused), "modality_attention": weights}


def _sta_c3d_lstm(**kwargs) -> STAC3DLSTM:
    return STAC3DLSTM(**kwargs)


@register_model("sta_c3d_lstm")
def sta_c3d_lstm(*, num_classes: int = 12, modalities: tuple[str, ...] = ("video", "imu", "grf"),
                 c3d_channels: tuple[int, ...] = (16, 32, 64), fusion: str = "attention", bilinear_rank: int = 64,
                 dim: int = 64, lstm_layers: int = 1, bidirectional: bool = True, dropout: float = 0.3,
                 num_angles: int = 0, num_faults: int = 0, landmark_nodes: int = 33, imu_channels: int = 9) -> STAC3DLSTM:
    """Dual-stream C3D (``fusion`` "attention" | "bilinear") + spatial attention + LSTM, with an
    IMU+GRF sensor branch fused (masked modality attention) before the classifier."""
    return _sta_c3d_lstm(**{k: v for k, v in locals().items()})
