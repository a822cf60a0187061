"""Synthetic batches following the batch contract (for tests, smoke runs and benchmarks)."""
from __future__ import annotations

import torch
from torch import Tensor

from biomech.conventions import IMU_SENSORS, JOINT_ANGLES, MODALITIES, MOMENTS, ROOT_COORDINATES


def make_batch(batch_size: int = 8, T: int = 64, *, Tv: int = 8, H: int = 64, W: int = 64, num_classes: int = 12,
               landmark_nodes: int = 33, imu_channels: int = 9, seed: int = 0,
               modality_mask: Tensor | None = None) -> dict[str, Tensor]:
    """Random batch with every key of the contract; masked-out modalities are zeros."""
    g = torch.Generator().manual_seed(seed)
    B = batch_size
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    label = torch.randint(0, num_classes, (B,), generator=g)
    batch = {
        "video": r(B, Tv, 3, H, W),
        "landmarks": torch.cat([r(B, T, landmark_nodes, 3) * 0.3, torch.rand(B, T, landmark_nodes, 1, generator=g)], -1),
        "imu": r(B, T, len(IMU_SENSORS), imu_channels),
        "grf": r(B, T, 2, 7),
        "modality_mask": torch.ones(B, len(MODALITIES), dtype=torch.bool) if modality_mask is None
        else modality_mask.clone().bool(),
        "label": label,
        "frame_label": label[:, None].expand(B, T).clone(),
        "angles": r(B, T, len(JOINT_ANGLES)) * 30.0,
        "root": torch.cat([r(B, T, 3) * 5.0, r(B, T, len(ROOT_COORDINATES) - 3) * 0.05 + torch.tensor([0.0, 0.95, 0.0])], -1),
        "moments": r(B, T, len(MOMENTS)) * 50.0,
        "phase": torch.div(torch.arange(T) * 3, T, rounding_mode="floor").expand(B, T).clone(),
        "fault": torch.randint(0, 2, (B,), generator=g),
        "anthro": torch.stack([60 + 30 * torch.rand(B, generator=g), 1.5 + 0.4 * torch.rand(B, generator=g),
                               (torch.rand(B, generator=g) < 0.5).float()], -1),
    }
    for i, m in enumerate(MODALITIES):
        batch[m] = batch[m] * batch["modality_mask"][:, i].view(B, *([1] * (batch[m].dim() - 1)))
    return batch
