"""A live recording (landmarks / IMU / plates at their own rates) -> the model's z-scored windows.

The service runs the preprocess stage's own per-clip path on the request's arrays in memory,
``preprocessing.clip.process_recording`` (the steps of ``process_clip`` after reading the files:
synchronisation, gap filling, IQR outliers, Butterworth, attitude, Kalman smoothing, the 50 Hz
timeline, skeleton and view normalisation, phases, windows), never a copy of it; no file is written.
The windows are then z-scored with the train-split scalers that travel in the bundle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech.conventions import ACTIONS

__all__ = ["Recording", "Windows", "recording_windows", "request_params", "streams", "warm_up"]


@dataclass
class Recording:
    """Arrays of one recording in the raw-layout units (see serving/schemas.py for the API form)."""
    mass_kg: float
    height_m: float
    sex: str | None
    landmarks_hz: float | None = None
    landmarks_t: np.ndarray | None = None  # (T,) frame times (default i / rate)
    world: np.ndarray | None = None        # (T, 33, 3) MediaPipe world landmarks, m, camera axes
    visibility: np.ndarray | None = None   # (T, 33) in [0, 1]
    image: np.ndarray | None = None        # (T, 33, 3) image-normalised landmarks (enables synchronisation)
    image_size: tuple[int, int] | None = None  # (width, height) px of the video the image landmarks came from
    imu_hz: float | None = None
    acc: np.ndarray | None = None          # (N, 6, 3) m/s^2 specific force, sensor frame
    gyro: np.ndarray | None = None         # (N, 6, 3) rad/s
    imu_t0_s: float = 0.0
    imu_t: np.ndarray | None = None
    grf_hz: float | None = None
    force: np.ndarray | None = None        # (M, 2, 3) N per plate
    cop: np.ndarray | None = None          # (M, 2, 3) m
    free_moment: np.ndarray | None = None  # (M, 2) N m
    grf_t0_s: float = 0.0
    grf_t: np.ndarray | None = None
    synchronise: bool = True


@dataclass
class Windows:
    batch: dict                 # model inputs (numpy, window-major): landmarks, imu, grf, modality_mask (+ video
                                # zeros when the model reads video: a request has no pixels)
    t_start_s: np.ndarray       # (N,) start of each window on the video clock
    timeline_hz: float
    phase: np.ndarray           # (N, T) preparation / core / recovery index per frame (sigproc.phases)
    sync: dict                  # recovered clock offsets (preprocessing.sync.recover_offsets)
    qc: dict


def _times(t, t0: float, n: int, rate: float) -> np.ndarray:
    return t if t is not None else t0 + np.arange(n) / rate


REQUEST = Path("request")   # names the request in preprocessing's error messages (stripped by serving.inference)


def streams(rec: Recording):
    """The request as ``preprocessing.clip.ClipStreams`` (the raw layout's arrays and meta.json fields)."""
    from preprocessing.clip import ClipStreams

    s = ClipStreams("a", "c", "request", REQUEST, meta={})
    rates = {}
    if rec.world is not None:
        T = len(rec.world)
        s.kp = {"time": _times(rec.landmarks_t, 0.0, T, rec.landmarks_hz), "frame_index": np.arange(T),
                "world": rec.world,
                "visibility": rec.visibility if rec.visibility is not None else np.ones(rec.world.shape[:2])}
        if rec.image is not None:
            s.kp["image"] = rec.image
        rates["video"] = rec.landmarks_hz
    if rec.acc is not None:
        s.imu = {"time": _times(rec.imu_t, rec.imu_t0_s, len(rec.acc), rec.imu_hz), "acc": rec.acc, "gyro": rec.gyro}
        rates["imu"] = rec.imu_hz
    if rec.force is not None:
        s.grf = {"time": _times(rec.grf_t, rec.grf_t0_s, len(rec.force), rec.grf_hz), "force": rec.force,
                 "cop": rec.cop, "free_moment": rec.free_moment}
        rates["grf"] = rec.grf_hz
    rates.setdefault("video", rec.landmarks_hz or 50.0)  # process_streams reads it; no landmarks: unused
    w, h = rec.image_size or (1, 1)
    # the preprocessing reads a label from meta; a request has none: the placeholder feeds only the
    # (ignored) target fields, never a model input
    s.meta = {"clip_id": "c", "athlete_id": "a", "action": ACTIONS[0], "fault": "none", "preset": "request",
              "athlete": {"mass_kg": rec.mass_kg, "height_m": rec.height_m, "sex": rec.sex or "not stated"},
              "rates_hz": rates, "video": {"width": w, "height": h}}
    return s


def warm_up() -> None:
    """Load the compiled kernels of the preprocessing (numba's on-disk cache, or compile them) at
    start-up, so that the first request does not pay for it."""
    from sigproc.attitude import complementary_attitude_multi
    from sigproc.filters import kalman_rts_smooth
    from sigproc.sync import dtw_path

    x = np.linspace(0.0, 1.0, 16)[:, None]
    dtw_path(x, x[::-1], window=2)
    kalman_rts_smooth(x, 50.0, 1.0, 1.0)
    acc = np.tile([0.0, 9.81, 0.0], (16, 1, 1)) + 0.1 * x[:, :, None]
    complementary_attitude_multi(acc, 0.1 * acc, 100.0, gain=0.02)


_PARAMS: dict = {}   # (id of the bundle's params, synchronise) -> (those params, the request's)


def request_params(p, synchronise: bool):
    """The preprocess params of a request, derived once per bundle (not per request): clock
    synchronisation only when asked and possible; every window kept (``min_core_fraction`` 0: idle
    windows of a live recording are classified too, the phases mark them); no gap-fill re-insertion
    test (``rmse_drop_fraction`` 0: a dataset QC figure that feeds no model input)."""
    key = (id(p), bool(synchronise))
    if key not in _PARAMS:
        f = p.filters
        update = {"sync": p.sync.model_copy(update={"enabled": p.sync.enabled and bool(synchronise)}),
                  "filters": f.model_copy(update={"gap_fill": f.gap_fill.model_copy(update={"rmse_drop_fraction": 0.0})})}
        if hasattr(p.window, "min_core_fraction"):
            update["window"] = p.window.model_copy(update={"min_core_fraction": 0.0})
        _PARAMS[key] = (p, p.model_copy(update=update))   # holding p keeps its id unique
    return _PARAMS[key][1]


def recording_windows(rec: Recording, bundle) -> Windows:
    """Windows of ``rec`` exactly as the preprocess stage makes them, z-scored with the bundle's scalers.
    Raises preprocessing.clip.ClipError / biomech.io.RawDataError for unusable data (the caller
    turns them into a 4xx)."""
    from preprocessing.clip import process_recording

    from .bundle import scaled

    p = request_params(bundle.preprocess, rec.synchronise and rec.image is not None)
    out = process_recording(streams(rec), p)
    a = out["arrays"]
    mask = a["modality_mask"]
    batch = {
        "landmarks": scaled(bundle, "landmarks", a["landmarks"], 3) if mask[0, 1] else a["landmarks"],
        "imu": scaled(bundle, "imu", a["imu"]) if mask[0, 2] else a["imu"],
        "grf": scaled(bundle, "grf", a["grf"]) if mask[0, 3] else a["grf"],
        "modality_mask": mask,
        "anthro": a["anthro"],
    }
    t_start = out["t0_s"] + out["starts"] / p.timeline_hz
    if "video" in getattr(bundle, "modalities", ()):   # no pixels in a request: zeros, masked
        batch["video"] = np.zeros(a["video"].shape, np.float32)
    return Windows(batch, t_start, float(p.timeline_hz), a["phase"], out["sync"], out["qc"])
