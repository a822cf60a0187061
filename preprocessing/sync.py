"""Clock-offset recovery of the IMU and force-plate streams against the video clock.

No true offset is read: the offsets come from the data alone (meta.json's synthetic_truth is
removed before this module sees meta). Kinematically comparable signal pairs:

* IMU: landmark-derived pelvis (hip-midpoint) specific force magnitude ``|a_hip - g|`` vs the
  pelvis IMU's specific-force magnitude ``|acc|`` (orientation-free, so the unknown sensor
  attitude does not matter), plus (``use_shanks``) the same for both shanks (a point 45 % from
  knee to ankle vs the shank IMUs) as extra correlation channels: the pelvis alone is
  ambiguous when the pelvis barely accelerates or rotates strongly (sprint starts);
* force plates: body mass x vertical acceleration of the whole-body centre of mass estimated
  from the landmarks (de Leva segment masses, :data:`COM_WEIGHTS`) + body weight,
  ``m (a_y + g)``, vs total vertical GRF ``Fy_r + Fy_l`` (Newton's second law); with
  ``grf_use_com: false`` the hip midpoint is the proxy.

Both sides are gap-filled onto uniform grids and low-passed to the same band (``lowpass_hz``,
8 Hz: the landmark side is differentiated twice, so higher bands are noise), then
``sigproc.sync.estimate_offset_xcorr`` gives a coarse offset (parabolic sub-sample peak) and
``sigproc.sync.refine_offset_dtw`` refines it; a DTW correction larger than ``dtw_max_shift_s``
is rejected (kept as xcorr). Convention (sigproc.sync / generator): a stream sample stamped t
was measured at video time t + offset.

Landmark source (``sync.landmark_source``): ``image`` (default, the real case: a detector's image
landmarks in pixels, y flipped, scaled to metres by the ratio of the trunk length in ``world`` to
that in pixels; a static camera is assumed; frames without a detection are gaps) or ``ground``
(the generator's noise-free lab-frame landmarks, Y up: privileged, no real dataset has them).
MediaPipe ``world`` landmarks cannot be used: their origin *is* the hip midpoint.
"""
from __future__ import annotations

import numpy as np

from biomech.conventions import GRAVITY
from sigproc.filters import butter_lowpass
from sigproc.gaps import resample_uniform, uniform_grid
from sigproc.sync import estimate_offset_xcorr, refine_offset_dtw, signal_fits

__all__ = ["COM_WEIGHTS", "image_landmarks_metric", "landmark_accelerations", "recover_offsets"]


def _com_weights() -> np.ndarray:
    """(33,) weights: whole-body centre of mass as a fixed combination of MediaPipe landmarks,
    segment masses of de Leva (1996), segment centres at the landmark midpoints."""
    w = np.zeros(33)
    parts = [(0.0694, (7, 8)), (0.4346, (11, 12, 23, 24))]
    for a, b, m in ((11, 13, 0.0271), (13, 15, 0.0162), (23, 25, 0.1416), (25, 27, 0.0433), (29, 31, 0.0137)):
        parts += [(m, (a, b)), (m, (a + 1, b + 1))]  # left, right
    parts += [(0.0061, (15,)), (0.0061, (16,))]
    for m, ids in parts:
        w[list(ids)] += m / len(ids)
    return w / w.sum()


COM_WEIGHTS = _com_weights()
SHANK_IMUS = (4, 5)  # shank_l, shank_r in biomech.conventions.IMU_SENSORS


def _lowpass(x, fs, fc):
    return butter_lowpass(x, fs, min(fc, 0.4 * fs), order=4)


def image_landmarks_metric(kp: dict, meta: dict) -> np.ndarray:
    """(T, 33, 3) image landmarks in an upright camera-plane frame: pixels with y flipped (up),
    z = 0, scaled to metres by the ratio of the median trunk length in ``world`` to that in
    pixels (a static camera is assumed). Frames without a detection stay NaN (gaps)."""
    W = float(meta.get("video", {}).get("width", 1))
    H = float(meta.get("video", {}).get("height", 1))
    px = kp["image"].astype(float)[..., :2] * [W, H]
    trunk_px = np.linalg.norm(px[:, [11, 12]].mean(1) - px[:, [23, 24]].mean(1), axis=1)
    w = kp["world"].astype(float)
    trunk_m = np.linalg.norm(w[:, [11, 12]].mean(1) - w[:, [23, 24]].mean(1), axis=1)
    if not (np.isfinite(trunk_px).any() and np.isfinite(trunk_m).any()):
        raise ValueError("no frame with a pose detection: image landmarks are NaN in every frame")
    scale = float(np.nanmedian(trunk_m) / max(np.nanmedian(trunk_px), 1e-9))
    return np.concatenate([px[..., :1], -px[..., 1:2], np.zeros_like(px[..., :1])], -1) * scale


def landmark_accelerations(kp: dict, fps: float, meta: dict, source: str, lowpass_hz: float):
    """(uniform video-rate grid, accelerations (T, 4, 3) in a Y-up frame, m/s^2) of: the hip
    midpoint (pelvis IMU), the left / right shank points 45 % of the way from knee to ankle
    (shank IMUs), and the whole-body centre of mass (:data:`COM_WEIGHTS`, force plates)."""
    t = kp["time"].astype(float)
    if source == "ground":
        if "ground" not in kp:
            raise ValueError("keypoints.npz has no 'ground' landmarks (privileged lab-frame markers of synthetic "
                             "data; use preprocess.sync.landmark_source: image)")
        L = kp["ground"].astype(float)
    elif source == "image":
        L = image_landmarks_metric(kp, meta)
    else:
        raise ValueError(f"sync.landmark_source={source!r}: expected 'image' or 'ground'")
    P = np.stack([L[:, [23, 24]].mean(1), 0.55 * L[:, 25] + 0.45 * L[:, 27], 0.55 * L[:, 26] + 0.45 * L[:, 28],
                  np.einsum("j,tjc->tc", COM_WEIGHTS, L)], 1).reshape(len(t), 12)
    grid = uniform_grid(t[0], t[-1], fps)
    Pu, _ = resample_uniform(t, P, grid, kind="cubic", nominal_hz=fps)
    Pu = _lowpass(Pu, fps, lowpass_hz)
    acc = np.gradient(np.gradient(Pu, 1.0 / fps, axis=0), 1.0 / fps, axis=0)
    return grid, acc.reshape(len(grid), 4, 3)


def _stream(t, x, lowpass_hz, rate=None):
    t = t.astype(float)
    rate = rate or 1.0 / float(np.median(np.diff(t)))
    grid = uniform_grid(t[0], t[-1], rate)
    xu, _ = resample_uniform(t, x, grid, kind="cubic", nominal_hz=rate)
    return grid, _lowpass(xu, rate, lowpass_hz)


def _estimate(ref_t, ref, sig_t, sig, sp) -> dict:
    fits = signal_fits(ref_t, ref, sig_t, sig)   # one spline fit per side for both estimates
    xc = estimate_offset_xcorr(ref_t, ref, sig_t, sig, max_lag_s=sp.max_lag_s, fs_hz=sp.xcorr_rate_hz, fits=fits)
    out = {"offset_s": xc.offset_s, "xcorr_s": xc.offset_s, "confidence": xc.confidence,
           "at_boundary": xc.at_boundary, "dtw_s": None, "dtw_rejected": False, "method": "xcorr"}
    if sp.dtw:
        try:
            o = refine_offset_dtw(ref_t, ref, sig_t, sig, xc.offset_s, search_s=sp.dtw_search_s,
                                  fs_hz=sp.dtw_rate_hz, fits=fits)
        except ValueError:
            o = None
        out["dtw_s"] = o
        if o is not None and abs(o - xc.offset_s) <= sp.dtw_max_shift_s:
            out["offset_s"], out["method"] = o, "xcorr+dtw"
        else:
            out["dtw_rejected"] = True
    return out


def recover_offsets(kp, imu, grf, mass: float, fps: float, meta: dict, sp) -> dict:
    """Offsets (add to the stream's stamps) of the IMU and plate clocks vs the video clock.

    Returns {"imu": {...}, "grf": {...}} with ``offset_s``, ``xcorr_s``, ``dtw_s``,
    ``confidence``, ``method`` ("xcorr+dtw", "xcorr", or "none" when sync is disabled or
    impossible, e.g. no landmarks; then ``offset_s`` = 0 and ``error`` says why)."""
    none = {"offset_s": 0.0, "xcorr_s": None, "dtw_s": None, "confidence": None, "method": "none"}
    out = {}
    if not sp.enabled or kp is None:
        why = "sync disabled" if not sp.enabled else "no landmarks"
        return {k: {**none, "error": why} for k, s in (("imu", imu), ("grf", grf)) if s is not None}
    if sp.landmark_source == "ground" and "ground" not in kp:  # a setting that cannot work: stop, do not skip
        raise ValueError("keypoints.npz has no 'ground' landmarks (privileged lab-frame markers of synthetic data); "
                         "set preprocess.sync.landmark_source: image")
    try:
        ref_t, acc = landmark_accelerations(kp, fps, meta, sp.landmark_source, sp.lowpass_hz)
    except ValueError as exc:
        return {k: {**none, "error": str(exc)} for k, s in (("imu", imu), ("grf", grf)) if s is not None}
    up = np.array([0.0, GRAVITY, 0.0])
    if imu is not None:
        try:
            sensors = (0,) + (SHANK_IMUS if sp.use_shanks else ())
            st, sig = _stream(imu["time"], np.linalg.norm(imu["acc"][:, sensors].astype(float), axis=2),
                              sp.lowpass_hz, meta.get("rates_hz", {}).get("imu"))
            ref = np.linalg.norm(acc[:, :len(sensors)] + up, axis=2)
            out["imu"] = _estimate(ref_t, ref, st, sig, sp)
        except ValueError as exc:
            out["imu"] = {**none, "error": str(exc)}
    if grf is not None:
        try:
            st, sig = _stream(grf["time"], grf["force"][:, :, 1].astype(float).sum(1), sp.lowpass_hz,
                              meta.get("rates_hz", {}).get("grf"))
            out["grf"] = _estimate(ref_t, mass * (acc[:, 3 if sp.grf_use_com else 0, 1] + GRAVITY), st, sig, sp)
        except ValueError as exc:
            out["grf"] = {**none, "error": str(exc)}
    return out
