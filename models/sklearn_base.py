"""What the zoo's scikit-learn models (``features_svm``, ``minirocket``) share: numpy views of
batch-like inputs, the per-window modality presence, joblib save/load with a type check, and
``classes_`` from the fitted pipeline. Each model keeps only its features and classifier."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import joblib
import numpy as np

from biomech.conventions import MODALITIES


def as_numpy(x: Any) -> np.ndarray:
    """A numpy view of a numpy array or a (detached, CPU) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def presence(data: Mapping[str, Any], modality: str) -> np.ndarray:
    """(N,) bool: which windows carry ``modality`` (``modality_mask`` column; all when absent)."""
    n = as_numpy(data[modality]).shape[0]
    if "modality_mask" not in data:
        return np.ones(n, bool)
    return as_numpy(data["modality_mask"]).astype(bool)[:, MODALITIES.index(modality)]


class SklearnModel:
    """Base of the sklearn-kind models; subclasses set ``self.pipeline`` (a fitted sklearn Pipeline)."""

    kind = "sklearn"
    pipeline: Any

    @property
    def classes_(self) -> np.ndarray:
        return self.pipeline.classes_

    def save(self, path: str | Path) -> None:
        joblib.dump(self, path)

    @classmethod
    def load(cls, path: str | Path):
        obj = joblib.load(path)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} does not hold a {cls.__name__}")
        return obj
