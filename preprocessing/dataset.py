"""torch Dataset over a processed split, in the model zoo's batch contract, and its loader."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from biomech.conventions import MODALITIES

DEFAULT_ROOT = Path("data/processed/synth")
_FLOAT = ("landmarks", "imu", "grf", "angles", "root", "moments", "anthro")
_LONG = ("label", "frame_label", "phase", "fault")


def mask_modalities(batch: dict[str, torch.Tensor], keep) -> dict[str, torch.Tensor]:
    """Only the modalities ``keep`` present (the others zeroed, mask False), as at inference time
    without those sensors (the robustness stage's modality masking and the training loop's masked
    validation views, ``train.val_views``). A new dict; video is left as it is (its mask says absent)."""
    mask = batch["modality_mask"].clone()
    out = dict(batch)
    for i, m in enumerate(MODALITIES):
        if m not in keep:
            mask[:, i] = False
            if m in out and m != "video":
                out[m] = torch.zeros_like(out[m])
    out["modality_mask"] = mask
    return out


def drop_imu_sensors(batch: dict[str, torch.Tensor], sensors) -> dict[str, torch.Tensor]:
    """The IMU ``sensors`` missing, as a missing sensor is represented everywhere (training's
    ``train.augment.imu_sensor_dropout``, the robustness stage's IMU-dropout curves): zeros (the
    z-scored centre) in the sensor's 9 channels over the whole window; a window left with none of
    its six sensors has no IMU stream (``modality_mask`` False). ``sensors``: indices into
    ``biomech.conventions.IMU_SENSORS`` (the same for every window), a function of the window index
    giving them, or a bool tensor (B, 6) of the sensors to drop per window. A new dict."""
    imu = batch["imu"]
    B, S = imu.shape[0], imu.shape[2]
    if isinstance(sensors, torch.Tensor):
        drop = sensors.bool()
        if tuple(drop.shape) != (B, S):
            raise ValueError(f"IMU sensor drop mask of shape {tuple(drop.shape)}: expected ({B}, {S})")
    else:
        drop = torch.zeros(B, S, dtype=torch.bool)
        for i in range(B):
            idx = sorted(set(int(s) for s in (sensors(i) if callable(sensors) else sensors)))
            if any(s < 0 or s >= S for s in idx):
                raise ValueError(f"IMU sensor index out of range 0..{S - 1}: {idx}")
            drop[i, idx] = True
    mask = batch["modality_mask"].clone()
    mask[drop.all(1), MODALITIES.index("imu")] = False
    return {**batch, "imu": imu.masked_fill(drop[:, None, :, None], 0.0), "modality_mask": mask}


class WindowDataset(Dataset):
    """Windows of ``<root>/<split>/`` as dicts of tensors (per item, no batch axis):

    ``video`` float32 (Tv, 3, H, W) (uint8 on disk, /255 then z-scored per RGB channel with the
    train statistics of scalers.json; zeros when absent), ``landmarks`` (T, 33, 4),
    ``imu`` (T, 6, 9), ``grf`` (T, 2, 7), ``modality_mask`` bool (4,) [video, landmarks, imu, grf],
    ``label`` long, ``frame_label`` long (T,), ``angles`` (T, 23) deg, ``root`` (T, 6) pelvis pose
    (deg, m; datasets from format 1.1 on), ``moments`` (T, 10) N m,
    ``phase`` long (T,), ``fault`` long, ``anthro`` (3,) [kg, m, female 1 / male 0 / not stated 0.5].
    Arrays are memory-mapped (``np.load(mmap_mode='r')``), so opening a split costs nothing.

    ``video=False``: items carry no ``video`` key, for models that read no pixels. Decoding a window's
    video (98 KB of uint8 to 393 KB of float32, z-scored) is most of an item's cost: a batch of 32
    collates in ~2-3 ms without it, ~150 ms with it (README "Pipeline timing")."""

    def __init__(self, root: str | Path = DEFAULT_ROOT, split: str = "train", mmap: bool = True, video: bool = True):
        self.root, self.video = Path(root), video
        d = self.root / split
        if not (d / "index.json").is_file():
            raise FileNotFoundError(f"{d / 'index.json'}: not a processed split (run the preprocess stage)")
        self.index = json.loads((d / "index.json").read_text())
        self.arrays = {f: np.load(d / f"{f}.npy", mmap_mode="r" if mmap else None)
                       for f in self.index["fields"]}
        sc = json.loads((self.root / "scalers.json").read_text()).get("video", {})
        self._vmean = self._vstd = None
        if "center" in sc:
            self._vmean = torch.tensor(sc["center"], dtype=torch.float32).view(1, 3, 1, 1)
            self._vstd = torch.tensor(sc["scale"], dtype=torch.float32).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return int(self.index["n_windows"])

    @property
    def sample_weights(self) -> np.ndarray:
        return np.array(self.arrays["sample_weights"], dtype=np.float64)  # a writable copy

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a = self.arrays
        mask = torch.from_numpy(np.array(a["modality_mask"][i], dtype=bool))
        item = {"video": self._video(i, bool(mask[0])), "modality_mask": mask} if self.video else {"modality_mask": mask}
        for f in _FLOAT:
            if f in a:
                item[f] = torch.from_numpy(np.array(a[f][i], dtype=np.float32))
        for f in _LONG:
            item[f] = torch.as_tensor(np.array(a[f][i], dtype=np.int64))
        return item

    def _video(self, i: int, present: bool) -> torch.Tensor:
        video = torch.from_numpy(np.array(self.arrays["video"][i], dtype=np.float32)) / 255.0
        if present and self._vmean is not None:
            video = (video - self._vmean) / self._vstd
        elif not present:
            video.zero_()
        return video


def grf_to_physical(grf: torch.Tensor, root: str | Path = DEFAULT_ROOT) -> torch.Tensor:
    """Undo the train-split z-score of ``grf`` (..., 2, 7) -> force / body weight, COP m, free
    moment N m (the units the torque estimators take). Reads ``<root>/scalers.json``."""
    from sigproc.normalize import ChannelScaler

    sc = json.loads((Path(root) / "scalers.json").read_text()).get("grf", {})
    if not sc or sc.get("fitted") is False:
        return grf
    s = ChannelScaler.from_dict(sc)
    flat = grf.reshape(*grf.shape[:-2], -1)
    center = torch.as_tensor(s.center_, dtype=grf.dtype)
    scale = torch.as_tensor(s.scale_, dtype=grf.dtype)
    return (flat * scale + center).reshape(grf.shape)


def make_loader(split: str, batch_size: int, balanced: bool = True, root: str | Path = DEFAULT_ROOT,
                num_workers: int = 0, seed: int = 0, drop_last: bool = False, video: bool = True) -> DataLoader:
    """DataLoader over a split. ``balanced`` (train only): ``WeightedRandomSampler`` with the saved
    inverse-frequency sampling weights (each class drawn equally often, with replacement, one
    epoch = len(split) draws); otherwise train is shuffled and val/test keep their order.
    ``video=False``: batches without the ``video`` key (``WindowDataset``)."""
    ds = WindowDataset(root, split, video=video)
    g = torch.Generator().manual_seed(int(seed))
    if balanced and split == "train" and len(ds) > 0:
        sampler = WeightedRandomSampler(torch.as_tensor(ds.sample_weights), num_samples=len(ds),
                                        replacement=True, generator=g)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=drop_last)
    return DataLoader(ds, batch_size=batch_size, shuffle=split == "train", generator=g,
                      num_workers=num_workers, drop_last=drop_last)
