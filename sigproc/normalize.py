"""Skeleton normalisation and per-channel feature scaling.

MediaPipe Pose (33 landmarks) indices used by default: 11 left_shoulder, 12 right_shoulder,
23 left_hip, 24 right_hip.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ._checks import as_float_array

__all__ = ["normalize_skeleton", "ChannelScaler"]

Index = Union[int, Sequence[int]]


def _midpoint(lm: np.ndarray, idx: Index, name: str) -> np.ndarray:
    """Mean position of the landmark(s) ``idx`` per frame -> (T, C)."""
    ids = np.atleast_1d(np.asarray(idx, dtype=int))
    J = lm.shape[1]
    if ids.size == 0 or ids.min() < -J or ids.max() >= J:
        raise ValueError(f"{name}={idx!r} has landmark indices out of range for {J} landmarks")
    return lm[:, ids, :].mean(axis=1)


def normalize_skeleton(
    landmarks,
    root: Index = (23, 24),
    ref: tuple[Index, Index] = ((11, 12), (23, 24)),
    eps: float = 1e-6,
):
    """Translate and scale a landmark sequence so it is position- and body-size invariant.

    ``out = (landmarks - root_t) / scale`` where ``root_t`` is the per-frame midpoint of the
    ``root`` landmarks (default hip midpoint, 23 left_hip / 24 right_hip) and ``scale`` is the
    clip mean (ignoring NaN frames) of the distance between the midpoints of ``ref[0]`` and
    ``ref[1]`` (default shoulder midpoint to hip midpoint: trunk length).

    Parameters
    ----------
    landmarks : array_like, shape (T, J, C) or (J, C)
        Coordinates (C = 2 or 3; pass only coordinates, not visibility). Units arbitrary
        (normalised image units or metres); the output is in trunk lengths.
    root : int or sequence of int
        Landmark(s) whose midpoint becomes the origin.
    ref : pair of (int or sequence of int)
        Two landmark groups whose midpoint distance defines the unit length.
    eps : float
        Minimum acceptable scale; smaller raises ValueError (degenerate skeleton).

    Returns
    -------
    normalized : numpy.ndarray, same shape as ``landmarks``
    scale : float
        Reference length in input units.
    """
    lm = as_float_array(landmarks, "landmarks", min_ndim=2)
    single = lm.ndim == 2
    if single:
        lm = lm[None]
    if lm.ndim != 3:
        raise ValueError(f"landmarks must have shape (T, J, C) or (J, C), got {np.shape(landmarks)}")
    if len(ref) != 2:
        raise ValueError(f"ref={ref!r} must be a pair of landmark groups")
    origin = _midpoint(lm, root, "root")
    a = _midpoint(lm, ref[0], "ref[0]")
    b = _midpoint(lm, ref[1], "ref[1]")
    d = np.linalg.norm(a - b, axis=1)
    if not np.isfinite(d).any():
        raise ValueError("cannot compute the reference length: ref landmarks are NaN in every frame")
    scale = float(np.nanmean(d))
    if not scale > eps:
        raise ValueError(f"reference length {scale:g} is below eps={eps:g}; check ref={ref!r}")
    out = (lm - origin[:, None, :]) / scale
    return (out[0] if single else out), scale


class ChannelScaler:
    """Per-channel z-score or min-max scaler with JSON-serialisable state.

    Channels are the last axis; statistics are pooled over all leading axes (e.g. (N, T, C) ->
    one mean/std per C). NaNs are ignored when fitting. Fit on the training split only, then
    ``to_dict()`` / ``from_dict()`` to persist and reload.

    Parameters
    ----------
    method : {"zscore", "minmax"}
        ``zscore``: ``(x - mean) / std``; ``minmax``: ``(x - min) / (max - min)`` -> [0, 1].
    eps : float
        Channels whose std (or range) is <= eps get scale 1 (they are only centred).
    """

    METHODS = ("zscore", "minmax")

    def __init__(self, method: str = "zscore", eps: float = 1e-8):
        if method not in self.METHODS:
            raise ValueError(f"method={method!r} must be one of {self.METHODS}")
        self.method = method
        self.eps = float(eps)
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    @property
    def n_channels(self) -> int | None:
        return None if self.center_ is None else int(self.center_.size)

    def fit(self, x) -> "ChannelScaler":
        """Estimate per-channel statistics from ``x`` (..., C). Returns self."""
        a = as_float_array(x, "x")
        flat = a.reshape(-1, a.shape[-1])
        if flat.shape[0] == 0:
            raise ValueError(f"x has no samples to fit (shape {a.shape})")
        finite_any = np.isfinite(flat).any(axis=0)
        if not finite_any.all():
            raise ValueError(f"channel(s) {np.flatnonzero(~finite_any).tolist()} have no finite values")
        if self.method == "zscore":
            center = np.nanmean(flat, axis=0)
            scale = np.nanstd(flat, axis=0)
        else:
            center = np.nanmin(flat, axis=0)
            scale = np.nanmax(flat, axis=0) - center
        scale = np.where(scale > self.eps, scale, 1.0)
        self.center_, self.scale_ = center, scale
        return self

    def _check(self, a: np.ndarray) -> None:
        if self.center_ is None:
            raise ValueError("ChannelScaler is not fitted; call fit(x) or from_dict(d) first")
        if a.shape[-1] != self.center_.size:
            raise ValueError(f"x has {a.shape[-1]} channel(s) on its last axis; scaler was fitted on {self.center_.size}")

    def transform(self, x) -> np.ndarray:
        """Scale ``x`` (..., C) with the fitted statistics."""
        a = as_float_array(x, "x")
        self._check(a)
        return (a - self.center_) / self.scale_

    def inverse_transform(self, x) -> np.ndarray:
        """Undo :meth:`transform`."""
        a = as_float_array(x, "x")
        self._check(a)
        return a * self.scale_ + self.center_

    def fit_transform(self, x) -> np.ndarray:
        return self.fit(x).transform(x)

    def to_dict(self) -> dict:
        """JSON-serialisable state (plain Python floats/lists)."""
        if self.center_ is None:
            raise ValueError("ChannelScaler is not fitted; nothing to serialise")
        return {
            "method": self.method,
            "eps": self.eps,
            "center": [float(v) for v in self.center_],
            "scale": [float(v) for v in self.scale_],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelScaler":
        """Rebuild a fitted scaler from :meth:`to_dict` output."""
        missing = {"method", "center", "scale"} - set(d)
        if missing:
            raise ValueError(f"scaler dict is missing key(s) {sorted(missing)}")
        obj = cls(method=d["method"], eps=d.get("eps", 1e-8))
        center = np.asarray(d["center"], dtype=float)
        scale = np.asarray(d["scale"], dtype=float)
        if center.shape != scale.shape or center.ndim != 1:
            raise ValueError(f"center and scale must be 1-D of equal length, got {center.shape} and {scale.shape}")
        if not np.all(scale > 0):
            raise ValueError("scale values must all be > 0")
        obj.center_, obj.scale_ = center, scale
        return obj

    def __repr__(self) -> str:
        return f"ChannelScaler(method={self.method!r}, n_channels={self.n_channels})"
