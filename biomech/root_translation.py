"""The root (hip-centre midpoint) trajectory in the lab from one calibrated camera's landmarks.

MediaPipe's world landmarks are metric but hip-centred (no translation); its image landmarks
are in pixels. With the camera calibrated (intrinsics K, extrinsics R, t: X_cam = R X_lab + t,
as a lab calibrates its cameras), the hip midpoint's position in the camera frame is the
translation T that best projects the metric skeleton onto the detected pixels:

    u_i = fx (X_i + Tx) / (Z_i + Tz) + cx,   v_i = fy (Y_i + Ty) / (Z_i + Tz) + cy

which is linear in T after multiplying out (a perspective-n-point problem with the rotation
known, solved per frame by weighted least squares), then T is taken to the lab frame and
low-passed. Its error grows with the distance to the camera (depth from the skeleton's size).
This replaces the generator's pelvis translation (privileged) in the joint-moment path from video.
"""
from __future__ import annotations

import numpy as np

from sigproc.filters import butter_lowpass
from sigproc.gaps import resample_uniform

__all__ = ["root_in_camera", "root_in_lab"]

HIPS = (23, 24)  # MediaPipe left / right hip


def root_in_camera(world: np.ndarray, image: np.ndarray, K: np.ndarray, width: int, height: int,
                   visibility: np.ndarray | None = None, min_visibility: float = 0.3) -> np.ndarray:
    """(T, 3) hip-midpoint position in the camera frame (m; NaN where a frame has < 4 usable
    landmarks) from world landmarks (T, 33, 3: camera axes, hip-centred, m) and image landmarks
    (T, 33, >= 2: x, y normalised by width, height)."""
    world = np.asarray(world, dtype=float)
    image = np.asarray(image, dtype=float)
    if world.shape[:2] != image.shape[:2] or world.shape[-1] != 3:
        raise ValueError(f"world {world.shape} and image {image.shape} landmarks must be (T, 33, 3) alike")
    fx, fy, cx, cy = K[0][0], K[1][1], K[0][2], K[1][2]
    X = world - world[:, list(HIPS)].mean(1, keepdims=True)  # exactly hip-centred
    u, v = image[..., 0] * width - cx, image[..., 1] * height - cy
    w = np.ones(world.shape[:2]) if visibility is None else np.asarray(visibility, dtype=float)
    out = np.full((len(world), 3), np.nan)
    for k in range(len(world)):
        ok = np.isfinite(X[k]).all(1) & np.isfinite(u[k]) & np.isfinite(v[k]) & (w[k] >= min_visibility)
        if ok.sum() < 4:
            continue
        Xk, uk, vk, wk = X[k, ok], u[k, ok], v[k, ok], np.sqrt(w[k, ok])
        n = len(Xk)
        A = np.zeros((2 * n, 3))
        b = np.zeros(2 * n)
        A[:n, 0], A[:n, 2], b[:n] = fx, -uk, uk * Xk[:, 2] - fx * Xk[:, 0]
        A[n:, 1], A[n:, 2], b[n:] = fy, -vk, vk * Xk[:, 2] - fy * Xk[:, 1]
        ww = np.concatenate([wk, wk])
        out[k] = np.linalg.lstsq(A * ww[:, None], b * ww, rcond=None)[0]
    return out


def root_in_lab(time: np.ndarray, world: np.ndarray, image: np.ndarray, camera: dict, t_out: np.ndarray,
                visibility: np.ndarray | None = None, cutoff_hz: float | None = 6.0) -> np.ndarray:
    """(len(t_out), 3) hip-midpoint trajectory in the lab frame (m) at times t_out, from a clip's
    landmarks and its camera calibration (`camera`: K, R, t, width, height and an optional dolly
    `track` (one row per delivered frame, 3), as in meta.json video.camera: X_cam = R (X_lab -
    track[k]) + t for landmark row k); frames without a solution are filled by the
    spline, then the low-pass."""
    T = root_in_camera(world, image, np.asarray(camera["K"]), int(camera["width"]), int(camera["height"]),
                       visibility)
    R, tc = np.asarray(camera["R"], dtype=float), np.asarray(camera["t"], dtype=float)
    lab = (T - tc) @ R  # R^T (T - t), row-wise
    if camera.get("track") is not None:
        track = np.asarray(camera["track"], dtype=float)
        if len(track) < len(lab):
            raise ValueError(f"camera track has {len(track)} rows for {len(lab)} landmark frames")
        lab = lab + track[:len(lab)]
    ok = np.isfinite(lab).all(1)
    if ok.sum() < 8:
        raise ValueError(f"root from landmarks: only {int(ok.sum())} frames with a solution (need >= 8)")
    rate = 1.0 / float(np.median(np.diff(time)))
    out, _ = resample_uniform(np.asarray(time)[ok], lab[ok], t_out, kind="cubic", nominal_hz=rate)
    if cutoff_hz:
        out_rate = 1.0 / float(np.median(np.diff(t_out)))
        out = butter_lowpass(out, out_rate, cutoff_hz, 4)
    return out
