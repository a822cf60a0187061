"""Viewpoint helpers on stored (scaled) landmark windows, for evaluation and tests.

The preprocess stage view-normalises every landmark window with
``sigproc.normalize.normalize_view`` before z-scoring it (the service does the same on live
landmarks). :func:`rotate_scaled_landmarks` answers "what would the stored window be had the
camera stood ``angle_deg`` further round the athlete": un-scale, rotate about the vertical,
view-normalise again, re-scale. :func:`clip_landmark_windows` builds a clip's landmark windows
from other keypoints (e.g. the same clip re-derived from another camera azimuth,
``biomech.synth.landmarks_from_viewpoints``) exactly as the stage built the stored ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from biomech.io import read_json, read_npz
from sigproc.gaps import uniform_grid
from sigproc.normalize import ChannelScaler, normalize_view, rotate_about_vertical

from .clip import _windows, landmarks_on_timeline
from .params import PreprocessParams

__all__ = ["landmark_scaler", "rotate_scaled_landmarks", "clip_landmark_windows"]


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


def clip_landmark_windows(clip_dir: str | Path, keypoints: Sequence[dict], starts, t0_s: float, offsets: dict,
                          p: PreprocessParams, scalers) -> list[np.ndarray]:
    """One clip's landmark windows (nw, L, 33, 4) float32, scaled, for each keypoints dict in
    ``keypoints`` (``time``, ``world``, ``image``, ``visibility`` as in keypoints.npz), built as
    the preprocess stage built the stored ones (``preprocessing.clip.landmarks_on_timeline``,
    windows, ``normalize_view``, the train landmark scaler) on the clip's stored timeline:
    ``starts`` (timeline samples) and ``t0_s`` from the split's index.json, the timeline's end
    from the clip's IMU / plate stamps shifted by the stage's recovered clock ``offsets``
    ({"imu": s, "grf": s}, reports/preprocess/sync_offsets.json). Synchronisation is not
    re-estimated per keypoints set. ``p``: the params the dataset was built with (dataset.json
    ``params``); ``scalers`` as in :func:`landmark_scaler`. The gap-filling re-insertion test of
    the stage (a report figure) is not run."""
    d = Path(clip_dir)
    meta = read_json(d / "meta.json")
    fps, fs = float(meta["rates_hz"]["video"]), float(p.timeline_hz)
    starts = np.asarray(starts, dtype=np.int64)
    if starts.ndim != 1 or starts.size == 0:
        raise ValueError(f"{d}: starts must be a non-empty 1-D list of timeline samples, got shape {starts.shape}")
    t_kp = np.asarray(keypoints[0]["time"], dtype=np.float64)
    ends = [t_kp[-1]]
    for stream in ("imu", "grf"):
        if (d / f"{stream}.npz").is_file():
            if stream not in offsets:
                raise ValueError(f"{d}: no recovered {stream} clock offset (offsets has {sorted(offsets)})")
            ends.append(float(read_npz(d / f"{stream}.npz", ("time",))[1]["time"][-1]) + float(offsets[stream]))
    t0 = round(float(t0_s) * fs) / fs
    tl = uniform_grid(t0, min(ends), fs)
    if int(starts.max()) >= len(tl):
        raise ValueError(f"{d}: window start {int(starts.max())} is past the timeline ({len(tl)} samples)")
    f = p.filters
    no_test = p.model_copy(update={"filters": f.model_copy(update={
        "gap_fill": f.gap_fill.model_copy(update={"rmse_drop_fraction": 0.0})})})
    sc = landmark_scaler(scalers)
    out = []
    for kp in keypoints:
        coords, vis, _ = landmarks_on_timeline(kp, tl, fps, no_test, None, {}, d / "keypoints.npz")
        lm = _windows(np.concatenate([coords, vis[..., None]], 2).astype(np.float32), starts, p.window.length)
        if p.landmarks.view_normalize:
            lm[..., :3], _ = normalize_view(lm[..., :3])
        lm[..., :3] = sc.transform(lm[..., :3].reshape(-1, 3)).astype(np.float32).reshape(lm[..., :3].shape)
        out.append(lm)
    return out
