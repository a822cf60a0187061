"""``features_svm`` (kind="sklearn"): hand-crafted window features + PCA + SVC (IMU paper).

Per channel of each used modality (default IMU: 6 sensors x 9 channels) and window: mean, max, min,
std, variance, median, range, slope (least-squares, per frame), absolute energy (sum of squares).
Pipeline: StandardScaler -> PCA keeping ``pca_variance`` (default 92 %) of the variance -> SVC
(``probability=True``: wrapped in CalibratedClassifierCV(ensemble=False), so predict = argmax of the
calibrated probabilities; needs >= ``calibration_folds`` samples per class).
Input is batch-like numpy (or torch) arrays: ``{"imu": (N, T, 6, 9), ["grf"|"landmarks"], ["modality_mask": (N, 4)]}``;
a missing modality's features are zeroed and a 0/1 indicator per modality is appended.
Built through the shared registry: ``build_model("features_svm", cfg)``; ``model_kind(...) == "sklearn"``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from .registry import register_model
from .sklearn_base import SklearnModel, as_numpy, presence

FEATURE_NAMES = ("mean", "max", "min", "std", "var", "median", "range", "slope", "abs_energy")


def window_features(x: np.ndarray) -> np.ndarray:
    """(N, T, *channels) -> (N, C * 9) statistics over time, feature-major per channel."""
    x = as_numpy(x).astype(np.float64).reshape(x.shape[0], x.shape[1], -1)
    t = np.arange(x.shape[1], dtype=np.float64)
    tc = t - t.mean()
    slope = np.einsum("t,ntc->nc", tc, x - x.mean(1, keepdims=True)) / max((tc ** 2).sum(), 1e-12)
    mx, mn = x.max(1), x.min(1)
    feats = [x.mean(1), mx, mn, x.std(1), x.var(1), np.median(x, 1), mx - mn, slope, (x ** 2).sum(1)]
    return np.stack(feats, axis=-1).reshape(x.shape[0], -1)


class FeatureSVM(SklearnModel):
    # the calibrated SVC uses sklearn-internal classes that skops does not trust by default; they
    # are sklearn's own, so the MLflow logger lists them explicitly
    trusted_types = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]

    def __init__(self, *, modalities: tuple[str, ...] = ("imu",), pca_variance: float = 0.92, C: float = 10.0,
                 kernel: str = "rbf", gamma: str | float = "scale", class_weight: str | None = "balanced",
                 probability: bool = True, calibration_folds: int = 3, seed: int = 0):
        bad = [m for m in modalities if m not in ("landmarks", "imu", "grf")]
        if bad or not modalities:
            raise ValueError(f"features_svm: bad modalities {list(modalities)}")
        self.modalities = tuple(modalities)
        self.pipeline = Pipeline([
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=pca_variance, svd_solver="full", random_state=seed)),
            ("svc", self._classifier(SVC(C=C, kernel=kernel, gamma=gamma, class_weight=class_weight,
                                         random_state=seed), probability, calibration_folds)),
        ])

    @staticmethod
    def _classifier(svc: SVC, probability: bool, folds: int):
        # SVC(probability=True) is deprecated since scikit-learn 1.9; its replacement is a
        # cross-validated sigmoid (Platt) calibration of one SVC fitted on all data.
        return CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False) if probability else svc

    def features(self, data: Mapping[str, Any]) -> np.ndarray:
        cols = []
        for m in self.modalities:
            present = presence(data, m)
            cols.append(window_features(as_numpy(data[m])) * present[:, None])
            cols.append(present[:, None].astype(np.float64))
        return np.concatenate(cols, axis=1)

    def fit(self, data: Mapping[str, Any], y: Any = None) -> "FeatureSVM":
        y = as_numpy(data["label"] if y is None else y)
        self.pipeline.fit(self.features(data), y)
        return self

    def predict(self, data: Mapping[str, Any]) -> np.ndarray:
        return self.pipeline.predict(self.features(data))

    def predict_proba(self, data: Mapping[str, Any]) -> np.ndarray:
        return self.pipeline.predict_proba(self.features(data))

    @property
    def n_components_(self) -> int:
        return int(self.pipeline.named_steps["pca"].n_components_)

    @property
    def n_params(self) -> int:
        """What the training report calls params for this model: the PCA components kept."""
        return self.n_components_


@register_model("features_svm", kind="sklearn")
def features_svm(*, modalities: tuple[str, ...] = ("imu",), pca_variance: float = 0.92, C: float = 10.0,
                 kernel: str = "rbf", gamma: str | float = "scale", class_weight: str | None = "balanced",
                 probability: bool = True, calibration_folds: int = 3, seed: int = 0) -> FeatureSVM:
    return FeatureSVM(**{k: v for k, v in locals().items()})
