"""A tiny processed dataset in the on-disk format of preprocessing (data/processed/<dataset>/),
written directly from models.testing.make_batch samples with a learnable class signal and a
learnable technique-fault signal (half the windows of every class carry the fault)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from models.testing import make_batch
from preprocessing.split import class_weights

CLASSES = ["a", "b", "c", "d"]
FAULTS = ["none", "knee_valgus"]
FIELDS = ("video", "landmarks", "imu", "grf", "modality_mask", "label", "frame_label", "angles", "root",
          "moments", "phase", "fault", "anthro")


def write_tiny_dataset(root: Path, n=(32, 12, 12), T=32, Tv=4, HW=32, seed=0) -> Path:
    root = Path(root)
    K = len(CLASSES)
    for si, (split, size) in enumerate(zip(("train", "val", "test"), n)):
        b = make_batch(size, T, Tv=Tv, H=HW, W=HW, num_classes=K, seed=seed + si)
        y = torch.arange(size) % K
        b["label"], b["frame_label"] = y, y[:, None].expand(size, T).clone()
        b["imu"][:, :, 0, 0] += 2.0 * y[:, None].float()            # class signal on IMU ...
        b["landmarks"][:, :, 0, 1] += 0.5 * y[:, None].float()      # ... and on landmarks
        b["fault"] = (torch.arange(size) // K) % 2                  # every class with and without the fault
        b["imu"][:, :, 1, :] += 2.0 * b["fault"][:, None, None].float()  # a fault signal on another IMU sensor
        b["modality_mask"][:, 3] = torch.arange(size) % 3 != 0     # some windows without force plates
        b["grf"] = b["grf"] * b["modality_mask"][:, 3].view(size, 1, 1, 1)
        d = root / split
        d.mkdir(parents=True, exist_ok=True)
        arrays = {f: b[f].numpy() for f in FIELDS}
        arrays["video"] = np.clip(arrays["video"] * 40 + 128, 0, 255).astype(np.uint8)
        for f in ("landmarks", "imu", "grf", "angles", "root", "moments", "anthro"):
            arrays[f] = arrays[f].astype(np.float32)
        counts = np.bincount(arrays["label"], minlength=K).astype(np.float64)
        w = 1.0 / counts[arrays["label"]]
        arrays["sample_weights"] = w / w.sum()
        fields = {}
        for f, a in arrays.items():
            np.save(d / f"{f}.npy", np.ascontiguousarray(a))
            fields[f] = {"shape": list(a.shape), "dtype": str(a.dtype)}
        (d / "index.json").write_text(json.dumps({"split": split, "n_windows": size, "fields": fields,
                                                  "windows": [{"clip_id": f"clip{i:05d}"} for i in range(size)]}))
        if split == "train":
            counts, cw = class_weights(arrays["label"], K)
            (root / "class_weights.json").write_text(json.dumps({"classes": CLASSES, "counts_train_windows":
                                                                 counts.tolist(), "class_weights": cw.tolist()}))
    (root / "dataset.json").write_text(json.dumps({"classes": CLASSES, "faults": FAULTS}))
    (root / "split.json").write_text(json.dumps({"seed": seed, "windows": dict(zip(("train", "val", "test"), n))}))
    (root / "scalers.json").write_text(json.dumps({}))
    return root
