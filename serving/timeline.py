"""/recognize's path for recordings already on the model's timeline, vectorised over a batch.

A request is *on the timeline* (:func:`on_timeline`) when no clock synchronisation runs for it
(``synchronise: false``, or no image landmarks), every stream it sends is at the timeline rate
(``preprocess.timeline_hz``, 50 Hz), has the same T >= ``preprocess.window.length`` (64) samples,
no gap (every value finite) and the same sample times, on the timeline's grid (``t0 * timeline_hz``
an integer). For such a request the general path's clock-offset estimation and its resamplings are
identities: the gap-filling spline onto the stream's own uniform grid, the landmarks' and plates'
spline onto the timeline and the visibility's interpolation all evaluate an interpolant at its own
knots, and the sync step returns offset 0. :func:`timeline_windows` skips exactly those and runs
every other step with the preprocess stage's own functions (``preprocessing.clip``'s
``imu_filtered``, ``attitude_factor`` + ``sigproc.gaps.resample_uniform`` onto the attitude grid,
``imu_features``, ``plates_filtered``, ``plate_features``, ``landmarks_smoothed``,
``skeleton_normalized``, ``clip_phases``, ``sigproc.normalize.normalize_view``, the bundle's
scalers), on all the batch's recordings at once where the step is per channel (filters, spline,
attitude, Kalman, scalers) and recording by recording where it is per recording (plate drift,
trunk length, phases). ``tests/test_serving_timeline.py`` checks that the model inputs equal the
general path's (``serving.windows.recording_windows``) for such requests and that any other
request takes the general path.

Edge effects: the preprocess stage filters a whole clip and then cuts its 64-sample training
windows, so a training window's filters (Butterworth padding, attitude start-up, Kalman start,
exponential-smoothing start), trunk length and phases saw the clip around it. A 64-sample request
has nothing around it: both serving paths filter the window alone, so its edges differ from a
training window cut from the middle of a clip (the same holds for a one-window request on the
general path; ``serving.benchmark.timeline_skew`` measures how often the answer changes). To match
the training windows, send the context: a longer on-timeline recording is processed whole, like a
clip, and cut into windows every ``window.stride`` samples, like the training windows.
"""
from __future__ import annotations

import numpy as np

from .windows import Recording, Windows, request_params

__all__ = ["on_timeline", "timeline_windows"]

TIME_TOL_S = 1e-9   # sample times that equal the timeline grid to within this are on it


def _stream_times(rec: Recording):
    """(rate, explicit times or None, t0, samples, arrays that must be finite) of each stream sent."""
    out = []
    if rec.world is not None:
        arrays = [rec.world] + ([rec.visibility] if rec.visibility is not None else [])
        out.append((rec.landmarks_hz, rec.landmarks_t, 0.0, len(rec.world), arrays))
    if rec.acc is not None:
        out.append((rec.imu_hz, rec.imu_t, rec.imu_t0_s, len(rec.acc), [rec.acc, rec.gyro]))
    if rec.force is not None:
        out.append((rec.grf_hz, rec.grf_t, rec.grf_t0_s, len(rec.force), [rec.force, rec.cop, rec.free_moment]))
    return out


def timeline_start(rec: Recording, p) -> float | None:
    """The first timeline time of ``rec`` when every stream is on one grid ``t0 + k / timeline_hz``,
    k = 0..T - 1 with T >= window.length (the same T for every stream), t0 on the timeline
    (``t0 * timeline_hz`` an integer); else None."""
    fs, L = float(p.timeline_hz), int(p.window.length)
    t0 = None
    lengths = {n for _, _, _, n, _ in _stream_times(rec)}
    if len(lengths) != 1 or min(lengths) < L:
        return None
    for rate, t, t0_s, n, _ in _stream_times(rec):
        if rate is None or abs(rate - fs) > 1e-9:
            return None
        first = float(t[0]) if t is not None else float(t0_s)
        if t0 is None:
            t0 = first
            if abs(round(t0 * fs) - t0 * fs) > TIME_TOL_S * fs:
                return None
        if t is None:   # t0_s + k / rate with the timeline's rate: on the grid iff it starts at t0
            if abs(float(t0_s) - t0) > TIME_TOL_S:
                return None
        elif len(t) != n or np.max(np.abs(np.asarray(t, float) - (t0 + np.arange(n) / fs))) > TIME_TOL_S:
            return None
    return t0


def on_timeline(rec: Recording, bundle) -> bool:
    """Whether ``rec`` can take the timeline path (module docstring): no synchronisation, every
    stream at the timeline rate, the same T >= window.length samples on one timeline grid, every
    value finite."""
    p = request_params(bundle.preprocess, rec.synchronise and rec.image is not None)
    streams = _stream_times(rec)
    if not streams or p.sync.enabled or p.landmarks.source != "world":
        return False
    if timeline_start(rec, p) is None:
        return False
    return all(np.isfinite(a).all() for *_, arrays in streams for a in arrays)


def _female(sex: str | None) -> float:
    return {"female": 1.0, "male": 0.0}.get(str(sex or "not stated").lower(), 0.5)  # as process_streams


def _imu(recs: list[Recording], p) -> np.ndarray:
    """(T, B, S, 9) IMU features of B recordings (acc, gyro (T, S, 3) each), all at once."""
    from preprocessing.clip import attitude_factor, imu_features, imu_filtered
    from sigproc.gaps import resample_uniform

    fs = float(p.timeline_hz)
    B, (T, S, _) = len(recs), recs[0].acc.shape
    X = np.stack([np.concatenate([r.acc.reshape(T, -1), r.gyro.reshape(T, -1)], 1) for r in recs], 1)  # (T, B, 6S)
    Xu, _ = imu_filtered(X.reshape(T, -1).astype(float), fs, p)
    m = attitude_factor(p)
    t = np.arange(T) / fs
    Xa, _ = resample_uniform(t, Xu, np.arange((T - 1) * m + 1) / (fs * m), kind="cubic", nominal_hz=fs)
    Xa = Xa.reshape(len(Xa), B, 2, 3 * S)                 # [acc | gyro] per recording
    Xa = np.concatenate([Xa[:, :, 0].reshape(len(Xa), -1), Xa[:, :, 1].reshape(len(Xa), -1)], 1)
    return imu_features(Xa, B * S, p).reshape(T, B, S, 9)   # the B recordings' sensors as B * S sensors


def _plates(recs: list[Recording], p) -> np.ndarray:
    """(T, B, 2, 7) plate features of B recordings."""
    from preprocessing.clip import plate_features, plate_moments, plates_filtered

    T = len(recs[0].force)
    F = np.stack([np.concatenate([r.force.reshape(T, -1), r.free_moment, plate_moments(r.force, r.cop).reshape(T, -1)],
                                 1) for r in recs], 1).astype(float)  # (T, B, 12)
    Fu, _ = plates_filtered(F, float(p.timeline_hz), p)
    return plate_features(Fu, np.array([r.mass_kg for r in recs], float), p)[0]


def _landmarks(recs: list[Recording], p) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, 33, 3) normalised coordinates and (B, T, 33) visibility of B recordings."""
    from preprocessing.clip import landmarks_smoothed, skeleton_normalized

    B, T = len(recs), len(recs[0].world)
    C = landmarks_smoothed(np.stack([r.world.reshape(T, -1) for r in recs], 1).reshape(T, -1).astype(float), p)
    C = C.reshape(T, B, -1, 3)
    coords = np.stack([skeleton_normalized(C[:, b], p) for b in range(B)])
    vis = np.stack([np.clip(r.visibility.astype(float), 0, 1) if r.visibility is not None else np.ones(r.world.shape[:2])
                    for r in recs])
    return coords, vis


def _group_windows(recs: list[Recording], bundle, p) -> list[Windows]:
    """Windows of B on-timeline recordings that send the same streams with the same number of samples
    T: each recording processed whole (as the preprocess stage processes a clip), then cut into
    windows of window.length every window.stride (every window kept, as on the general path)."""
    from biomech.conventions import IMU_SENSORS
    from preprocessing.clip import N_LANDMARKS, clip_phases
    from preprocessing.sync import recover_offsets
    from sigproc.normalize import normalize_view

    from .bundle import scaled

    B, L, fs = len(recs), int(p.window.length), float(p.timeline_hz)
    r0 = recs[0]
    has = (r0.world is not None, r0.acc is not None, r0.force is not None)
    T = len(r0.world if has[0] else r0.acc if has[1] else r0.force)
    lm = np.zeros((B, T, N_LANDMARKS, 4), np.float32)
    imu = np.zeros((B, T, len(IMU_SENSORS), 9), np.float32)
    grf = np.zeros((B, T, 2, 7), np.float32)
    coords = None
    if has[1]:
        imu = np.ascontiguousarray(_imu(recs, p).transpose(1, 0, 2, 3))
    if has[2]:
        grf = np.ascontiguousarray(_plates(recs, p).transpose(1, 0, 2, 3))
    if has[0]:
        coords, vis = _landmarks(recs, p)
        lm = np.concatenate([coords, vis[..., None]], -1).astype(np.float32)
    phase = np.stack([clip_phases(None if coords is None else coords[b], imu[b] if has[1] else None, fs, p.phases, T)
                      for b in range(B)]).astype(np.int64)
    starts = np.arange(0, T - L + 1, int(p.window.stride))
    cut = starts[:, None] + np.arange(L)               # (N, L): the windows' samples
    lm, imu, grf, phase = lm[:, cut], imu[:, cut], grf[:, cut], phase[:, cut]   # (B, N, L, ...)
    if has[0] and p.landmarks.view_normalize:
        lm[..., :3] = normalize_view(lm[..., :3])[0]
    N = len(starts)
    mask = np.repeat(np.array([False, *has])[None], N, 0)
    lm = scaled(bundle, "landmarks", lm, 3) if has[0] else lm
    imu = scaled(bundle, "imu", imu) if has[1] else imu
    grf = scaled(bundle, "grf", grf) if has[2] else grf
    sync = recover_offsets(None, {} if has[1] else None, {} if has[2] else None, r0.mass_kg, fs, {}, p.sync)
    video = "video" in getattr(bundle, "modalities", ())
    out = []
    for b, r in enumerate(recs):
        batch = {"landmarks": lm[b], "imu": imu[b], "grf": grf[b], "modality_mask": mask,
                 "anthro": np.repeat(np.array([[r.mass_kg, r.height_m, _female(r.sex)]], np.float32), N, 0)}
        if video:   # no pixels in a request: zeros, masked
            batch["video"] = np.zeros((N, p.window.video_frames, 3, p.video.height, p.video.width), np.float32)
        out.append(Windows(batch, timeline_start(r, p) + starts / fs, fs, phase[b],
                           {k: dict(v) for k, v in sync.items()}, {"path": "timeline"}))
    return out


def timeline_windows(recs: list[Recording], bundle) -> list[Windows]:
    """Windows of on-timeline recordings (:func:`on_timeline`), one per recording, computed together
    for the recordings that send the same streams. Raises what the preprocess steps raise (a
    degenerate skeleton, a zero accelerometer sample, ...): the caller then takes the general path,
    whose error names the field."""
    p = request_params(bundle.preprocess, False)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(recs):
        n = len(r.world if r.world is not None else r.acc if r.acc is not None else r.force)
        groups.setdefault((r.world is not None, r.acc is not None, r.force is not None, n), []).append(i)
    out: list = [None] * len(recs)
    for idx in groups.values():
        for i, w in zip(idx, _group_windows([recs[i] for i in idx], bundle, p)):
            out[i] = w
    return out
