"""Viewpoint helpers on stored (scaled) landmark windows, for evaluation and tests.

The preprocess stage view-normalises every landmark window with
``sigproc.normalize.normalize_view`` before z-scoring it (the service does the same on live
landmarks). :func:`rotate_scaled_landmarks` answers "what would the stored window be had the
camera stood ``angle_deg`` further round the athlete": un-scale, rotate about the vertical,
view-normalise again, re-scale.
"""
from __future__ import annotations

import numpy as np

from sigproc.normalize import ChannelScaler, normalize_view, rotate_about_vertical

__all__ = ["landmark_scaler", "rotate_scaled_landmarks"]


def landmark_scaler(scalers) -> ChannelScaler:
    """The landmark ChannelScaler from a ChannelScaler, scalers.json's dict, or its "landmarks" entry."""
    if isinstance(scalers, ChannelScaler):
        return scalers
    if not isinstance(scalers, dict):
        raise TypeError(f"scalers must be a ChannelScaler or the scalers.json dict, got {type(scalers).__name__}")
    d = scalers.get("landmarks", scalers)
    if "center" not in d:
        raise ValueError("scalers: no fitted landmark scaler (expected scalers.json's 'landmarks' entry with "
                         "'center' and 'scale')")
    return ChannelScaler.from_dict(d)


def rotate_scaled_landmarks(landmarks, angle_deg, scalers, present=None, view_normalize: bool = True) -> np.ndarray:
    """Stored landmark windows (N, T, 33, 4) seen from a camera turned by ``angle_deg`` about the
    vertical: un-scale xyz, :func:`~sigproc.normalize.rotate_about_vertical`, re-apply
    :func:`~sigproc.normalize.normalize_view` (unless ``view_normalize`` is False: a dataset built
    with ``preprocess.landmarks.view_normalize: false``), re-scale. Visibility (channel 4) is kept.

    ``angle_deg`` is a scalar or (N,); ``scalers`` as in :func:`landmark_scaler`; ``present`` (N,)
    bool marks windows that have landmarks (default: any non-zero value); the others (absent
    modality, stored as zeros) are returned unchanged. Returns a new float32 array."""
    lm = np.asarray(landmarks)
    if lm.ndim != 4 or lm.shape[-1] != 4:
        raise ValueError(f"landmarks must be stored windows (N, T, 33, 4), got shape {lm.shape}")
    sc = landmark_scaler(scalers)
    if sc.n_channels != 3:
        raise ValueError(f"the landmark scaler has {sc.n_channels} channels, expected 3 (x, y, z)")
    present = np.any(lm != 0, axis=(1, 2, 3)) if present is None else np.asarray(present, bool)
    if present.shape != (lm.shape[0],):
        raise ValueError(f"present has shape {present.shape}, expected ({lm.shape[0]},)")
    out = np.array(lm, dtype=np.float32)
    if not present.any():
        return out
    angle = np.broadcast_to(np.asarray(angle_deg, float), (lm.shape[0],))[present]
    xyz = sc.inverse_transform(lm[present][..., :3])
    xyz = rotate_about_vertical(xyz, angle)
    if view_normalize:
        xyz, _ = normalize_view(xyz)
    out[present, ..., :3] = sc.transform(xyz)
    return out
