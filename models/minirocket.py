"""``minirocket`` (kind="sklearn"): MiniRocket features + ridge, the standard peer baseline of
time-series classification (Dempster et al. 2021), from sktime.

Input is batch-like numpy (or torch) arrays, as for ``features_svm``: ``{"imu": (N, T, 6, 9),
"landmarks": (N, T, 33, 4), ["grf": (N, T, 2, 7)], ["modality_mask": (N, 4)]}``. The used
modalities' channels (default IMU + landmarks: 54 + 132) are stacked into one (N, C, T) panel;
``sktime``'s ``MiniRocketMultivariate`` (``num_kernels`` kernels, default 10,000, each over a random
channel subset) turns it into PPV features; a 0/1 indicator per modality is appended (a missing
modality is zeros, as everywhere in the zoo); ``StandardScaler`` -> ``RidgeClassifierCV`` (alphas
10^-3..10^3, as in the MiniRocket paper) classifies.

``predict_proba`` is the softmax of the ridge decision values: scores, not calibrated
probabilities (the evaluate stage fits a temperature on val for every model). ``features(data)``
gives the MiniRocket + indicator features and ``pipeline`` the scaler + ridge, which is what the
MLflow sklearn flavour logs (as for ``features_svm``). Built through the registry:
``build_model("minirocket", cfg)``.

Technique faults (``faults=True``, when the training data has a ``fault`` field): a second
scaler + ridge on the same features predicts the window's clip fault (``predict_fault``; index 0
= "none"), so MiniRocket's fault macro-F1 sits beside the torch recognizers' fault heads.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .registry import register_model
from .sklearn_base import SklearnModel, as_numpy, presence

TIME_SERIES = ("landmarks", "imu", "grf")


def panel(data: Mapping[str, Any], modalities: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, T) float64 panel of the modalities' channels (missing ones zeroed) and the (N, M)
    presence indicators."""
    chans, present = [], []
    for m in modalities:
        x = as_numpy(data[m]).astype(np.float64)
        x = x.reshape(x.shape[0], x.shape[1], -1)  # (N, T, C_m)
        p = presence(data, m)
        chans.append(x * p[:, None, None])
        present.append(p.astype(np.float64))
    return np.concatenate(chans, axis=2).transpose(0, 2, 1).copy(), np.stack(present, axis=1)


class MiniRocketRidge(SklearnModel):
    trusted_types: list[str] = []  # skops: scaler + ridge are default-trusted sklearn types

    def __init__(self, *, modalities: tuple[str, ...] = ("imu", "landmarks"), num_kernels: int = 10000,
                 max_dilations_per_kernel: int = 32, alphas: tuple[float, ...] = tuple(np.logspace(-3, 3, 10)),
                 seed: int = 0, n_jobs: int = 1, faults: bool = True):
        bad = [m for m in modalities if m not in TIME_SERIES]
        if bad or not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"minirocket: bad modalities {list(modalities)}; allowed: {list(TIME_SERIES)}")
        if num_kernels < 84:
            raise ValueError(f"minirocket: num_kernels = {num_kernels}, expected >= 84 (one kernel set)")
        from sktime.transformations.panel.rocket import MiniRocketMultivariate

        self.modalities = tuple(modalities)
        self.rocket = MiniRocketMultivariate(num_kernels=num_kernels, max_dilations_per_kernel=max_dilations_per_kernel,
                                             random_state=seed, n_jobs=n_jobs)
        self.alphas, self.faults = np.asarray(alphas, dtype=np.float64), faults
        self.pipeline = self._ridge()
        self.fault_pipeline: Pipeline | None = None

    def _ridge(self) -> Pipeline:
        return Pipeline([("scale", StandardScaler()), ("ridge", RidgeClassifierCV(alphas=self.alphas))])

    def features(self, data: Mapping[str, Any]) -> np.ndarray:
        x, present = panel(data, self.modalities)
        f = np.asarray(self.rocket.transform(x), dtype=np.float64)
        return np.concatenate([f, present], axis=1)

    def fit(self, data: Mapping[str, Any], y: Any = None) -> "MiniRocketRidge":
        y = as_numpy(data["label"] if y is None else y)
        x, _ = panel(data, self.modalities)
        self.rocket.fit(x)
        feats = self.features(data)
        self.pipeline.fit(feats, y)
        if self.faults and "fault" in data and len(np.unique(as_numpy(data["fault"]))) >= 2:
            self.fault_pipeline = self._ridge().fit(feats, as_numpy(data["fault"]))
        return self

    def predict_fault(self, data: Mapping[str, Any]) -> np.ndarray:
        """The window's technique fault (index into the dataset's ``faults``, 0 = "none")."""
        if self.fault_pipeline is None:
            raise ValueError("minirocket: no fault classifier (trained without >= 2 fault labels or faults=False)")
        return self.fault_pipeline.predict(self.features(data))

    def decision_function(self, data: Mapping[str, Any]) -> np.ndarray:
        d = self.pipeline.decision_function(self.features(data))
        return d[:, None] * np.array([-1.0, 1.0]) if d.ndim == 1 else d  # two classes: one column

    def predict(self, data: Mapping[str, Any]) -> np.ndarray:
        return self.classes_[self.decision_function(data).argmax(1)]

    def predict_proba(self, data: Mapping[str, Any]) -> np.ndarray:
        d = self.decision_function(data)
        e = np.exp(d - d.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    @property
    def n_params(self) -> int:
        """Learned numbers: the ridge's coefficients and intercepts (the kernels are fixed)."""
        r = self.pipeline.named_steps["ridge"]
        return int(r.coef_.size + np.size(r.intercept_))

    @property
    def alpha_(self) -> float:
        return float(self.pipeline.named_steps["ridge"].alpha_)


@register_model("minirocket", kind="sklearn")
def minirocket(*, modalities: tuple[str, ...] = ("imu", "landmarks"), num_kernels: int = 10000,
               max_dilations_per_kernel: int = 32, alphas: tuple[float, ...] = tuple(np.logspace(-3, 3, 10)),
               seed: int = 0, n_jobs: int = 1, faults: bool = True) -> MiniRocketRidge:
    """MiniRocket (sktime MiniRocketMultivariate) + StandardScaler + RidgeClassifierCV."""
    return MiniRocketRidge(**{k: v for k, v in locals().items()})
