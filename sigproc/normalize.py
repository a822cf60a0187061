"""Skeleton normalisation (position, size, viewpoint) and per-channel feature scaling.

MediaPipe Pose (33 landmarks) indices used by default: 11 left_shoulder, 12 right_shoulder,
23 left_hip, 24 right_hip.

Viewpoint: MediaPipe world landmarks are in camera axes (x right, y down, z away from the
camera). :func:`normalize_view` takes the camera's -y as up (the camera elevation is small) and
rotates each window about that vertical so that its mean hip line (left hip -> right hip) points
along -x: every window then looks as if the athlete faced the camera (forward = -z), whatever
the camera azimuth. Only the heading is removed; trunk lean and the vertical stay as seen (as
PYSKL's ``PreNormalize3D`` aligns the hip line, but without its per-sequence spine alignment).
"""

from __future__ import annotations

import warnings
from typing import Sequence, Union

import numpy as np

from ._checks import as_float_array

__all__ = ["normalize_skeleton", "normalize_view", "rotate_about_vertical", "fit_landmark_scaler", "ChannelScaler"]

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


def rotate_about_vertical(landmarks, angle_deg) -> np.ndarray:
    """Rotate (..., T, J, 3) camera-axes coordinates about the vertical (y) axis by ``angle_deg``
    (a scalar, or an array of shape ``landmarks.shape[:-3]``: one angle per window).

    ``x' = cos a x + sin a z``, ``z' = -sin a x + cos a z``, ``y`` unchanged: a proper rotation
    (no mirroring). Seen from above with y down, positive angles turn +x towards -z."""
    lm = as_float_array(landmarks, "landmarks", min_ndim=2)
    if lm.shape[-1] != 3:
        raise ValueError(f"landmarks must have 3 coordinates on the last axis, got shape {lm.shape}")
    a = np.radians(np.asarray(angle_deg, dtype=float))[..., None, None]
    c, s = np.cos(a), np.sin(a)
    x, y, z = lm[..., 0], lm[..., 1], lm[..., 2]
    return np.stack(np.broadcast_arrays(c * x + s * z, y, -s * x + c * z), -1)


def normalize_view(landmarks, left_hip: int = 23, right_hip: int = 24, eps: float = 1e-6):
    """Remove the camera azimuth: rotate each window about the vertical so that its mean hip line
    (``left_hip`` -> ``right_hip``, projected on the horizontal x-z plane) points along -x.

    Parameters
    ----------
    landmarks : array_like, shape (..., T, J, 3)
        Windows of camera-axes coordinates (x right, y down, z away from the camera: MediaPipe
        world landmarks, or those after :func:`normalize_skeleton`); one heading per window
        (the leading axes). NaN frames are ignored when the hip line is averaged.
    left_hip, right_hip : int
        Landmark indices of the hip line.
    eps : float
        A window whose mean horizontal hip line is shorter than ``eps`` (or NaN in every frame,
        e.g. an absent modality stored as zeros) has no heading: it is returned unrotated and its
        heading is NaN.

    Returns
    -------
    normalized : numpy.ndarray, same shape as ``landmarks``
        Rotated windows (y and trunk lean unchanged; left and right are not swapped).
    heading_deg : numpy.ndarray, shape ``landmarks.shape[:-3]``
        The rotation applied (degrees, :func:`rotate_about_vertical` convention), NaN where
        undefined.
    """
    lm = as_float_array(landmarks, "landmarks", min_ndim=3)
    if lm.shape[-1] != 3:
        raise ValueError(f"landmarks must have shape (..., T, J, 3), got {lm.shape}")
    J = lm.shape[-2]
    for name, j in (("left_hip", left_hip), ("right_hip", right_hip)):
        if not -J <= j < J:
            raise ValueError(f"{name}={j} is out of range for {J} landmarks")
    hip = lm[..., right_hip, :] - lm[..., left_hip, :]          # (..., T, 3)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)           # all-NaN windows: handled below
        hx = np.nanmean(hip[..., 0], axis=-1)
        hz = np.nanmean(hip[..., 2], axis=-1)
    defined = np.isfinite(hx) & np.isfinite(hz) & (np.hypot(hx, hz) > eps)
    # rotate_about_vertical by a turns a horizontal vector at angle phi = atan2(z, x) to phi - a:
    # a = phi_hip - 180 deg puts the hip line on -x
    angle = np.degrees(np.arctan2(np.where(defined, hz, 0.0), np.where(defined, hx, -1.0))) - 180.0
    angle = (angle + 180.0) % 360.0 - 180.0
    out = rotate_about_vertical(lm, np.where(defined, angle, 0.0))
    return out, np.where(defined, angle, np.nan)


def fit_landmark_scaler(coords) -> "ChannelScaler":
    """Z-score scaler of (..., 3) view-normalised landmark coordinates that commutes with
    rotations about the vertical: x and z share centre 0 and one scale (the RMS of the horizontal
    coordinates), y gets its own mean and std. A rotation about the vertical (augmentation,
    :func:`rotate_about_vertical`) is then the same rotation of the scaled values. NaNs ignored."""
    a = as_float_array(coords, "coords")
    if a.shape[-1] != 3:
        raise ValueError(f"coords must have 3 channels (x, y, z) on the last axis, got shape {a.shape}")
    sc = ChannelScaler("zscore").fit(a)
    flat = a.reshape(-1, 3)
    horizontal = float(np.sqrt(np.nanmean(flat[:, [0, 2]] ** 2)))
    h = horizontal if horizontal > sc.eps else 1.0
    sc.center_ = np.array([0.0, sc.center_[1], 0.0])
    sc.scale_ = np.array([h, sc.scale_[1], h])
    return sc


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
