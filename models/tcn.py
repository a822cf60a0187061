"""Baselines ``tcn`` and ``tcn_lstm``: per-modality frame encoders (landmarks + IMU by default),
masked modality-attention fusion, dilated TCN, optionally followed by an LSTM."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .blocks import (MODALITY_INDEX, TCN, MaskedModalityFusion, MotionModel, TIME_SERIES, check_modalities,
                     run_on_present, sensor_encoders, sequence_length)
from .registry import register_model


class TCNNet(MotionModel):
    def __init__(self, *, num_classes: int, modalities: tuple[str, ...], dim: int, channels: tuple[int, ...],
                 dilations: tuple[int, ...] | None, kernel_size: int, causal: bool, dropout: float,
                 lstm_layers: int, bidirectional: bool, num_angles: int, num_faults: int, landmark_nodes: int, imu_channels: int):
        super().__init__(dim, num_classes, num_angles, dropout, num_faults)
        self.modalities = check_modalities(modalities, TIME_SERIES)
        self.encoders = sensor_encoders(self.modalities, dim, causal=causal, landmark_nodes=landmark_nodes,
                                        imu_channels=imu_channels)
        self.fusion = MaskedModalityFusion(dim, len(self.modalities))
        self.tcn = TCN(dim, channels, kernel_size, dilations, causal, dropout)
        c = self.tcn.out_channels
        if lstm_layers:
            if causal and bidirectional:
                raise ValueError("a causal model cannot use a bidirectional LSTM")
            self.lstm = nn.LSTM(c, dim // 2 if bidirectional else dim, lstm_layers, batch_first=True,
                                bidirectional=bidirectional, dropout=dropout if lstm_layers > 1 else 0.0)
            self.proj = nn.Identity()
        else:
            self.lstm = None
            self.proj = nn.Identity() if c == dim else nn.Linear(c, dim)

    @property
    def temporal_receptive_field(self) -> int:
        return self.tcn.receptive_field

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.prepare(batch)
        T = sequence_length(batch)
        feats = torch.stack([run_on_present(self.encoders[m], x[m], mask[:, MODALITY_INDEX[m]], (T, self.dim))
                             for m in self.modalities], dim=2)
        fused, weights = self.fusion(feats, mask[:, [MODALITY_INDEX[m] for m in self.modalities]])
        h = self.tcn(fused.transpose(1, 2)).transpose(1, 2)
        h = self.lstm(h)[0] if self.lstm is not None else self.proj(h)
        return {"features": h, "modality_attention": weights}


def _tcn(**kwargs) -> TCNNet:
    return TCNNet(**kwargs)


@register_model("tcn")
def tcn(*, num_classes: int = 12, modalities: tuple[str, ...] = ("landmarks", "imu"), dim: int = 64,
        channels: tuple[int, ...] = (64, 64, 64, 64), dilations: tuple[int, ...] | None = None,
        kernel_size: int = 3, causal: bool = False, dropout: float = 0.2, num_angles: int = 0, num_faults: int = 0,
        landmark_nodes: int = 33, imu_channels: int = 9) -> TCNNet:
    """Dilated TCN (dilations 1, 2, 4, ... by default) on fused landmark + IMU features."""
    return _tcn(lstm_layers=0, bidirectional=False, **{k: v for k, v in locals().items()})


@register_model("tcn_lstm")
def tcn_lstm(*, num_classes: int = 12, modalities: tuple[str, ...] = ("landmarks", "imu"), dim: int = 64,
             channels: tuple[int, ...] = (64, 64), dilations: tuple[int, ...] | None = None,
             kernel_size: int = 3, causal: bool = False, dropout: float = 0.2, lstm_layers: int = 1,
             bidirectional: bool = True, num_angles: int = 0, num_faults: int = 0, landmark_nodes: int = 33,
             imu_channels: int = 9) -> TCNNet:
    """TCN followed by an LSTM (bidirectional unless ``causal``)."""
    return _tcn(**{k: v for k, v in locals().items()})
