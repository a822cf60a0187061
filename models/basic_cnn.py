"""Baseline ``basic_cnn``: a plain 5-layer 1D CNN over the concatenated sensor channels.

Missing modalities: their channels are zeroed and one indicator channel per modality (1 = present)
is appended, so the network can tell "missing" from "zero signal" (a plain CNN has no fusion stage
to mask; the indicator is the masking)."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .blocks import MODALITY_INDEX, MotionModel, TIME_SERIES, check_modalities, modality_in_features
from .registry import register_model


class BasicCNN(MotionModel):
    def __init__(self, *, num_classes: int, modalities: tuple[str, ...], channels: tuple[int, ...],
                 kernel_size: int, dropout: float, num_angles: int, num_faults: int, landmark_nodes: int,
                 imu_channels: int):
        super().__init__(channels[-1], num_classes, num_angles, dropout, num_faults)
        self.modalities = check_modalities(modalities, TIME_SERIES)
        c_in = sum(modality_in_features(m, landmark_nodes=landmark_nodes, imu_channels=imu_channels)
                   for m in self.modalities) + len(self.modalities)
        layers = []
        for c in channels:
            layers += [nn.Conv1d(c_in, c, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm1d(c), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            c_in = c
        self.net = nn.Sequential(*layers)

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.prepare(batch)
        parts = [x[m].flatten(2) for m in self.modalities]
        B, T = parts[0].shape[:2]
        ind = mask[:, [MODALITY_INDEX[m] for m in self.modalities]].float()
        parts.append(ind[:, None, :].expand(B, T, -1))
        h = self.net(torch.cat(parts, dim=-1).transpose(1, 2)).transpose(1, 2)
        return {"features": h}


def _basic_cnn(**kwargs) -> BasicCNN:
    return BasicCNN(**kwargs)


@register_model("basic_cnn")
def basic_cnn(*, num_classes: int = 12, modalities: tuple[str, ...] = ("imu", "grf"),
              channels: tuple[int, ...] = (64, 64, 128, 128, 128), kernel_size: int = 5, dropout: float = 0.2,
              num_angles: int = 0, num_faults: int = 0, landmark_nodes: int = 33, imu_channels: int = 9) -> BasicCNN:
    """5 x (Conv1d -> BN -> ReLU -> dropout) over concatenated IMU + GRF channels (+ mask indicators)."""
    if len(channels) != 5:
        raise ValueError(f"basic_cnn is a 5-layer CNN: channels needs 5 entries, got {len(channels)}")
    return _basic_cnn(**{k: v for k, v in locals().items()})
