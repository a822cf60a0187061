"""Baselines ``tcn`` and ``tcn_lstm``: per-modality frame encoders (landmarks + IMU by default),
masked modality-attention fusion, dilated TCN, optionally followed by an LSTM."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from biomech.conventions import IMU_SENSORS

from .blocks import (MODALITY_INDEX, TCN, MaskedModalityFusion, MotionModel, TIME_SERIES, check_modalities,
                     run_on_present, sensor_encoders, sequence_length)
from .registry import register_model


class TCNNet(MotionModel):
    def __init__(self, *, num_classes: int, modalities: tuple[str, ...], dim: int, channels: tuple[int, ...],
                 dilations: tuple[int, ...] | None, kernel_size: int, causal: bool, dropout: float,
                 lstm_layers: int, bidirectional: bool, num_angles: int, num_faults: int, landmark_nodes: int, imu_channels: int,
                 imu_sensors: tuple[str, ...] | None = None, attention: bool = True):
        super().__init__(dim, num_classes, num_angles, dropout, num_faults, attention)
        self.modalities = check_modalities(modalities, TIME_SERIES)
        self.imu_sensors = imu_sensor_subset(imu_sensors, "imu" in self.modalities)
        self.register_buffer("imu_sensor_idx", torch.tensor([IMU_SENSORS.index(s) for s in self.imu_sensors]),
                             persistent=False)
        self.encoders = sensor_encoders(self.modalities, dim, causal=causal, landmark_nodes=landmark_nodes,
                                        imu_channels=imu_channels, imu_sensors=len(self.imu_sensors))
        self.fusion = MaskedModalityFusion(dim, len(self.modalities), attention=attention)
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
        if "imu" in x and len(self.imu_sensors) != x["imu"].shape[2]:
            x["imu"] = x["imu"].index_select(2, self.imu_sensor_idx)    # the IMU placement this model reads
        T = sequence_length(batch)
        feats = torch.stack([run_on_present(self.encoders[m], x[m], mask[:, MODALITY_INDEX[m]], (T, self.dim))
                             for m in self.modalities], dim=2)
        fused, weights = self.fusion(feats, mask[:, [MODALITY_INDEX[m] for m in self.modalities]])
        h = self.tcn(fused.transpose(1, 2)).transpose(1, 2)
        h = self.lstm(h)[0] if self.lstm is not None else self.proj(h)
        return {"features": h, "modality_attention": weights}


def imu_sensor_subset(names: Sequence[str] | None, reads_imu: bool) -> tuple[str, ...]:
    """The IMU sensors a model reads (``imu_sensors`` cfg key; None = all of
    ``biomech.conventions.IMU_SENSORS``), checked by name."""
    if names is None:
        return tuple(IMU_SENSORS)
    names = tuple(names)
    bad = [n for n in names if n not in IMU_SENSORS]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"imu_sensors {list(names)}: expected distinct names from {list(IMU_SENSORS)} "
                         f"(unknown: {bad}); no IMU at all = leave 'imu' out of modalities")
    if not reads_imu:
        raise ValueError(f"imu_sensors {list(names)} given but 'imu' is not among the modalities")
    return tuple(s for s in IMU_SENSORS if s in names)     # the batch's sensor order


def _tcn(**kwargs) -> TCNNet:
    return TCNNet(**kwargs)


@register_model("tcn")
def tcn(*, num_classes: int = 12, modalities: tuple[str, ...] = ("landmarks", "imu"), dim: int = 64,
        channels: tuple[int, ...] = (64, 64, 64, 64), dilations: tuple[int, ...] | None = None,
        kernel_size: int = 3, causal: bool = False, dropout: float = 0.2, num_angles: int = 0, num_faults: int = 0,
        landmark_nodes: int = 33, imu_channels: int = 9, imu_sensors: tuple[str, ...] | None = None,
        attention: bool = True) -> TCNNet:
    """Dilated TCN (dilations 1, 2, 4, ... by default) on fused landmark + IMU features.
    Ablation switches: ``imu_sensors`` (the IMU placement read, e.g. ``[wrist_l, wrist_r]``; None =
    all six), ``attention: false`` (equal-weight modality fusion and mean pooling over time
    instead of the modality and temporal attention)."""
    return _tcn(lstm_layers=0, bidirectional=False, **{k: v for k, v in locals().items()})


@register_model("tcn_lstm")
def tcn_lstm(*, num_classes: int = 12, modalities: tuple[str, ...] = ("landmarks", "imu"), dim: int = 64,
             channels: tuple[int, ...] = (64, 64), dilations: tuple[int, ...] | None = None,
             kernel_size: int = 3, causal: bool = False, dropout: float = 0.2, lstm_layers: int = 1,
             bidirectional: bool = True, num_angles: int = 0, num_faults: int = 0, landmark_nodes: int = 33,
             imu_channels: int = 9, imu_sensors: tuple[str, ...] | None = None, attention: bool = True) -> TCNNet:
    """TCN followed by an LSTM (bidirectional unless ``causal``)."""
    return _tcn(**{k: v for k, v in locals().items()})
