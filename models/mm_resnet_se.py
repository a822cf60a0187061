"""``mm_resnet_se``: multimodal CNN (per-frame SE-ResNet on video + landmark/IMU/GRF encoders,
masked modality-attention fusion, spatiotemporal module with dilated temporal convolutions).

Video path: torchvision ResNet-18/50 (random init; optional local state_dict) with an SE block after
each stage, applied per frame to (B*Tv, 3, H, W); a (2+1)D spatiotemporal block (2D spatial 1x3x3
conv + 3D temporal 3x1x1 conv, BatchNorm) at Tv; spatial pooling; linear interpolation Tv -> T.
Fusion: :class:`MaskedModalityFusion` over the present modalities; then a dilated TCN on the common
timeline (``temporal_receptive_field`` frames, >= 15 by default), BatchNorm, dropout 0.5.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from .blocks import (TCN, MaskedModalityFusion, MotionModel, SEBlock, check_modalities, sensor_encoders,
                     sequence_length)
from .registry import register_model

# torchvision is imported when a video trunk is built: stages that only import the registry
# (sklearn models, package, reference) skip its ~2 s start-up
_RESNETS = {"resnet18": 512, "resnet50": 2048}


def _load_backbone_weights(net: nn.Module, path: str) -> None:
    """Load a torchvision ResNet state_dict from a local file (the classifier 'fc.*' may be absent)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    unexpected = [k for k in unexpected if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"backbone weights {path!r} do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")


class SEResNet(nn.Module):
    """torchvision ResNet trunk with a :class:`SEBlock` appended after every stage (no fc)."""

    def __init__(self, backbone: str = "resnet18", weights_path: str | None = None, se_reduction: int = 16):
        super().__init__()
        if backbone not in _RESNETS:
            raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(_RESNETS)}")
        from torchvision.models import resnet

        self.out_channels = _RESNETS[backbone]
        net = getattr(resnet, backbone)(weights=None)
        if weights_path:
            _load_backbone_weights(net, weights_path)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        stages = []
        for name in ("layer1", "layer2", "layer3", "layer4"):
            layer = getattr(net, name)
            channels = layer[-1].bn2.num_features if backbone == "resnet18" else layer[-1].bn3.num_features
            stages.append(nn.Sequential(layer, SEBlock(channels, se_reduction)))
        self.stages = nn.Sequential(*stages)

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))


class SpatioTemporalBlock(nn.Module):
    """(2+1)D residual block on (B, C, t, h, w): 1x3x3 spatial conv, then 3x1x1 dilated temporal conv."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.spatial = nn.Sequential(nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1), bias=False),
                                     nn.BatchNorm3d(channels), nn.ReLU(inplace=True))
        self.temporal = nn.Sequential(nn.Conv3d(channels, channels, (3, 1, 1), padding=(dilation, 0, 0),
                                                dilation=(dilation, 1, 1), bias=False),
                                      nn.BatchNorm3d(channels))
        self.dilation = dilation

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.temporal(self.spatial(x)))


class MMResNetSE(MotionModel):
    def __init__(self, *, num_classes: int, modalities: tuple[str, ...], backbone: str, backbone_weights: str | None,
                 dim: int, video_dim: int, st_dilations: tuple[int, ...], tcn_channels: tuple[int, ...],
                 tcn_dilations: tuple[int, ...], kernel_size: int, causal: bool, dropout: float, num_angles: int, num_faults: int,
                 se_reduction: int, landmark_nodes: int, imu_channels: int):
        super().__init__(dim, num_classes, num_angles, dropout, num_faults)
        self.modalities = check_modalities(modalities)
        self.video_dim = video_dim
        if "video" in self.modalities:
            self.backbone = SEResNet(backbone, backbone_weights, se_reduction)
            self.video_proj = nn.Sequential(nn.Conv2d(self.backbone.out_channels, video_dim, 1, bias=False),
                                            nn.BatchNorm2d(video_dim), nn.ReLU(inplace=True))
            self.spatiotemporal = nn.Sequential(*(SpatioTemporalBlock(video_dim, d) for d in st_dilations))
            self.video_out = nn.Linear(video_dim, dim)
        self.encoders = sensor_encoders(self.modalities, dim, dropout=0.0, causal=causal,
                                        landmark_nodes=landmark_nodes, imu_channels=imu_channels)
        self.fusion = MaskedModalityFusion(dim, len(self.modalities))
        self.fused_norm = nn.BatchNorm1d(dim)
        self.drop = nn.Dropout(dropout)
        self.temporal = TCN(dim, tcn_channels, kernel_size, tcn_dilations, causal, dropout)
        self.out_proj = nn.Identity() if self.temporal.out_channels == dim else nn.Linear(self.temporal.out_channels, dim)

    @property
    def temporal_receptive_field(self) -> int:
        """Frames of the common timeline seen by one output frame of the fused temporal module."""
        return self.temporal.receptive_field

    def encode_video(self, video: Tensor) -> Tensor:
        """(b, Tv, 3, H, W) -> (b, Tv, dim)."""
        b, tv = video.shape[:2]
        f = self.video_proj(self.backbone(video.flatten(0, 1)))  # (b*Tv, C, h, w)
        f = f.view(b, tv, *f.shape[1:]).transpose(1, 2)  # (b, C, Tv, h, w)
        f = self.spatiotemporal(f).mean((-2, -1)).transpose(1, 2)  # (b, Tv, C)
        return self.video_out(f)

    def extract_features(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x, mask = self.prepare(batch)
        T = sequence_length(batch)
        feats, sub_mask = self.encode_present(x, mask, T)
        fused, weights = self.fusion(feats, sub_mask)
        h = self.drop(torch.relu(self.fused_norm(fused.transpose(1, 2))))
        h = self.out_proj(self.temporal(h).transpose(1, 2))
        return {"features": h, "modality_attention": weights}


def _mm_resnet_se(**kwargs) -> MMResNetSE:
    return MMResNetSE(**kwargs)


@register_model("mm_resnet_se")
def mm_resnet_se(*, num_classes: int = 12, modalities: tuple[str, ...] = ("video", "landmarks", "imu", "grf"),
                 backbone: str = "resnet18", backbone_weights: str | None = None, dim: int = 64,
                 video_dim: int = 64, st_dilations: tuple[int, ...] = (1, 2),
                 tcn_channels: tuple[int, ...] = (64, 64, 64), tcn_dilations: tuple[int, ...] = (1, 2, 4),
                 kernel_size: int = 3, causal: bool = False, dropout: float = 0.5, num_angles: int = 0, num_faults: int = 0,
                 se_reduction: int = 16, landmark_nodes: int = 33, imu_channels: int = 9) -> MMResNetSE:
    """Multimodal SE-ResNet; ``backbone`` "resnet18" | "resnet50"; ``backbone_weights`` a local
    torchvision ResNet state_dict path (no download); ``num_angles=23`` adds an angle head."""
    return _mm_resnet_se(**{k: v for k, v in locals().items()})
