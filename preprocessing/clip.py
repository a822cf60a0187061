"""One raw clip -> synchronised, filtered, resampled, windowed arrays (the per-worker work).

Pipeline of :func:`process_clip` (every filter switchable in ``PreprocessParams.filters``); step 1
is :func:`read_clip`, steps 2-8 :func:`process_streams`, which the service calls on a request's
arrays in memory through :func:`process_recording` (one implementation for both):

1. ``verify_clip`` (manifest sha256) and reading: ``meta.json`` without its ``synthetic_truth``
   block (:func:`load_meta` deletes it on read), ``keypoints.npz``, ``imu.npz``, ``grf.npz``
   (pro only), ``angles.mot``, ``moments.sto``, ``video.mp4`` (``biomech.render.read_mp4``).
2. Synchronisation to the video clock (:mod:`preprocessing.sync`): cross-correlation of
   landmark-derived vs sensor signals, then DTW refinement; the IMU / plate stamps get the
   recovered offset added (``t_video = t_stamp + offset``).
3. Common timeline: ``timeline_hz`` (default 50 Hz) over the span every present stream covers.
4. IMU: cubic-spline gap filling on the native uniform grid, IQR outlier removal (Tukey fences,
   k=1.5, on the high-pass residual ``x - lowpass(x)`` so real movement peaks are not clipped),
   zero-phase Butterworth anti-alias low-pass, resampling to an attitude grid (an integer
   multiple of the timeline rate), complementary (or Kalman) attitude -> Euler angles, then the
   timeline and Kalman/RTS smoothing of acc and gyro -> (T, 6, 9) = acc(3) + gyro(3) + euler(3).
5. Force plates: gap filling, zero-drift correction from unloaded samples (|Fy| < 20 N),
   Butterworth low-pass, timeline; force / body weight, centre of pressure (nearest sample,
   0 when unloaded), free moment -> (T, 2, 7).
6. Landmarks (``landmarks.source``: ``world``, the detector's MediaPipe world landmarks, or the
   privileged noise-free ``world_true``): frames without a detection (NaN rows) gap-filled at the
   video rate (counted; too few detected frames stop the clip), exponential smoothing (alpha
   0.6), timeline, root-relative / trunk-length normalisation + visibility -> (T, 33, 4).
7. Targets: joint angles (23) and moments (10) Savitzky-Golay smoothed and resampled; energy
   phases (preparation/core/recovery, :func:`clip_phases`) from the IMU's gyroscope energy against an
   absolute floor (``phases.source: imu``), else from the normalised landmarks.
8. Windows of ``window.length`` samples every ``window.stride``; landmark windows view-normalised
   (``sigproc.normalize.normalize_view``: rotated about the vertical so the window's mean hip line
   has one heading); ``window.video_frames`` frames per window (nearest delivered frame, resized
   with cv2 INTER_AREA, uint8).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from biomech.conventions import ACTIONS, GRAVITY, IMU_SENSORS, JOINT_ANGLES, MODALITIES, MOMENTS, ROOT_COORDINATES
from biomech.io import RawDataError, read_json, read_mot, read_npz, verify_clip
from biomech.render import VideoReadError, read_mp4
from ingest.quality import check_gap_length
from sigproc import attitude as att
from sigproc.filters import butter_lowpass, exp_smooth, iqr_outliers, kalman_rts_smooth, savgol, zero_drift_correct
from sigproc.gaps import resample_uniform, uniform_grid
from sigproc.normalize import normalize_skeleton, normalize_view
from sigproc.phases import CORE, angular_energy, segment_energy, segment_phases

from .params import PhaseParams, PreprocessParams
from .sync import recover_offsets

N_LANDMARKS = 33


class ClipError(RuntimeError):
    """A clip cannot be preprocessed; the message names the clip directory or file."""


@dataclass(frozen=True)
class ClipJob:
    dataset_dir: str
    athlete_id: str
    clip_id: str
    rows: tuple  # manifest rows (dicts) of this clip
    split: str

    @property
    def clip_dir(self) -> Path:
        return Path(self.dataset_dir) / self.athlete_id / self.clip_id


def camera_azimuth(meta: dict) -> float:
    """meta.json ``video.camera.azimuth_deg`` (evaluation metadata only), NaN when not stated."""
    az = ((meta.get("video") or {}).get("camera") or {}).get("azimuth_deg")
    return float(az) if az is not None else float("nan")


def load_meta(path: Path) -> dict:
    """meta.json without the ``synthetic_truth`` block (preprocessing never sees true offsets)."""
    meta = read_json(path)
    meta.pop("synthetic_truth", None)
    return meta


def _fill_nan(x2: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Linear interpolation over flagged samples, per channel of (T, C) (a channel with no unflagged
    sample is left as it is). One ``np.interp`` for all channels: channel k's samples sit at
    ``k (T + 2) + 1 + i``, between its first and last unflagged values repeated at ``k (T + 2)`` and
    ``k (T + 2) + T + 1`` (np.interp's hold at the ends, per channel); the positions are exact
    integers, so every value is the per-channel ``np.interp``'s."""
    out = x2.copy()
    cols = np.flatnonzero(bad.any(0) & (~bad).any(0))
    if not cols.size:
        return out
    T, K = x2.shape[0], len(cols)
    b = bad[:, cols].T                       # (K, T)
    v = x2[:, cols].T
    good = ~b
    rows = np.arange(K)
    first, last = v[rows, good.argmax(1)], v[rows, T - 1 - good[:, ::-1].argmax(1)]
    P = (rows[:, None] * (T + 2) + np.arange(T + 2)).astype(float)
    V = np.concatenate([first[:, None], v, last[:, None]], 1)
    keep = np.concatenate([np.ones((K, 1), bool), good, np.ones((K, 1), bool)], 1)
    filled = v.copy()
    filled[b] = np.interp(P[:, 1:-1][b], P[keep], V[keep])
    out[:, cols] = filled.T
    return out


def block_iqr_outliers(x2: np.ndarray, k: float, block: int) -> np.ndarray:
    """Tukey-fence outlier mask of (T, C) with quartiles per block of ``block`` samples.

    Blocks make the fences follow the non-stationary signal level (quiet standing vs landing)
    at the cost of one vectorised percentile call (``sigproc.filters.iqr_outliers`` along the
    block axis); the tail shorter than a block is judged with the last full block's window."""
    T = x2.shape[0]
    block = max(4, min(int(block), T))
    nb = T // block
    mask = np.zeros(x2.shape, bool)
    mask[:nb * block] = iqr_outliers(x2[:nb * block].reshape(nb, block, -1), k, axis=1).reshape(nb * block, -1)
    if nb * block < T:
        mask[T - block:] |= iqr_outliers(x2[T - block:], k, axis=0)
    return mask


def _uniform(t: np.ndarray, x: np.ndarray, rate: float, method: str):
    grid = uniform_grid(t[0], t[-1], rate)
    xu, filled = resample_uniform(t, x, grid, kind=method, nominal_hz=rate)
    return grid, xu, filled


# ---------------- the per-stream steps of process_streams (also called by serving.timeline) ----------------
# Each takes arrays already on a uniform grid and may be given several recordings at once: extra
# channels (imu_filtered, landmarks_smoothed: per-channel filters), extra sensors (imu_features)
# or a leading batch axis after time (plates_filtered, plate_features).

def imu_filtered(Xu: np.ndarray, rate: float, p: PreprocessParams) -> tuple[np.ndarray, float | None]:
    """IMU (T, C) on its native uniform grid: IQR outliers (Tukey fences per block on the high-pass
    residual ``x - lowpass(x)``) replaced by linear interpolation, then the zero-phase Butterworth
    low-pass; returns (filtered, outlier fraction or None when the IQR step is off). Per channel."""
    f = p.filters
    cut = min(f.butterworth.imu_cutoff_hz, 0.45 * rate)
    frac = None
    if f.iqr.enabled:
        resid = Xu - butter_lowpass(Xu, rate, cut, f.butterworth.order)
        bad = block_iqr_outliers(resid, f.iqr.k, int(round(f.iqr.block_s * rate)))
        frac = float(bad.mean())
        Xu = _fill_nan(Xu, bad)
    if f.butterworth.enabled:
        Xu = butter_lowpass(Xu, rate, cut, f.butterworth.order)
    return Xu, frac


def attitude_factor(p: PreprocessParams) -> int:
    """m: the attitude grid is ``m x timeline_hz`` (an integer multiple of the timeline)."""
    return max(1, int(round(p.attitude.rate_hz / float(p.timeline_hz))))


def imu_features(Xa: np.ndarray, S: int, p: PreprocessParams) -> np.ndarray:
    """(T, S, 9) acc(3) + gyro(3) + Euler(3, deg) on the timeline from ``Xa`` ((T - 1) m + 1, 6 S) =
    [acc of the S sensors, gyro of the S sensors] on the attitude grid: attitude, decimation by m,
    Kalman/RTS smoothing of acc and gyro."""
    f = p.filters
    fs = float(p.timeline_hz)
    m = attitude_factor(p)
    A = Xa[:, :3 * S].reshape(-1, S, 3)
    G = Xa[:, 3 * S:].reshape(-1, S, 3)
    if p.attitude.method == "complementary":
        R = att.complementary_attitude_multi(A, G, fs * m, gain=p.attitude.gain, acc_gate=p.attitude.acc_gate,
                                             init_s=p.attitude.init_s)
    else:
        R = np.stack([att.kalman_attitude(A[:, s], G[:, s], fs * m, p.attitude.gyro_noise,
                                          p.attitude.acc_noise) for s in range(S)], 1)
    eul = att.to_euler(R[::m], p.attitude.euler_seq)  # (T, S, 3) degrees
    A, G = A[::m], G[::m]
    if f.kalman_imu.enabled:
        k = f.kalman_imu
        if np.isclose(k.acc_process_noise * k.gyro_measurement_noise, k.gyro_process_noise * k.acc_measurement_noise):
            # equal q/r: one smoother pass over acc and scaled gyro (the CV smoother is linear and
            # scale-equivariant: smoothing c*x with (c^2 q, c^2 r) gives c * smooth(x, q, r))
            c = np.sqrt(k.acc_measurement_noise / k.gyro_measurement_noise)
            AG = kalman_rts_smooth(np.concatenate([A, G * c], 1), fs, k.acc_process_noise, k.acc_measurement_noise)
            A, G = AG[:, :S], AG[:, S:] / c
        else:
            A = kalman_rts_smooth(A, fs, k.acc_process_noise, k.acc_measurement_noise)
            G = kalman_rts_smooth(G, fs, k.gyro_process_noise, k.gyro_measurement_noise)
    return np.concatenate([A, G, eul], 2).astype(np.float32)


def plates_filtered(Fu: np.ndarray, rate: float, p: PreprocessParams) -> tuple[np.ndarray, int | None]:
    """Plates (T, ..., 12) = [force (2 x 3), free moment (2), floor moments (2 x 2)] on the native
    uniform grid: zero-drift correction of each plate's force from its unloaded samples, then the
    Butterworth low-pass; returns (filtered, plates whose drift was fitted, None when that step is
    off). Leading axes after time are independent recordings."""
    f = p.filters
    drift_fit = None
    if f.zero_drift.enabled:
        drift_fit = 0
        F3 = Fu.reshape(len(Fu), -1, 12)
        for b in range(F3.shape[1]):
            for k in range(2):
                fc, info = zero_drift_correct(F3[:, b, 3 * k:3 * k + 3], rate, f.zero_drift.unloaded_threshold_n,
                                              f.zero_drift.order, vertical_channel=1)
                F3[:, b, 3 * k:3 * k + 3] = fc
                drift_fit += int(info["corrected"].all())
        Fu = F3.reshape(Fu.shape)
    if f.butterworth.enabled:
        Fu = butter_lowpass(Fu, rate, min(f.butterworth.grf_cutoff_hz, 0.45 * rate), f.butterworth.order)
    return Fu, drift_fit


def plate_features(Ft: np.ndarray, mass, p: PreprocessParams) -> tuple[np.ndarray, np.ndarray]:
    """(T, ..., 2, 7) plate features on the timeline from (T, ..., 12): force / body weight, COP
    (recovered from the floor moments, 0 when unloaded), free moment; and the total vertical force
    (T, ...). ``mass`` (kg): a number, or one per recording of the leading axes."""
    thr = p.filters.zero_drift.unloaded_threshold_n
    lead = Ft.shape[:-1]
    force_t = Ft[..., :6].reshape(*lead, 2, 3)
    loaded = force_t[..., 1] > thr
    # below the threshold a plate reads zero (force, COP, free moment): noise, not load
    cop_t = cop_from_moments(force_t, Ft[..., 8:12].reshape(*lead, 2, 2), loaded)
    force_t = np.where(loaded[..., None], force_t, 0.0)
    free_t = np.where(loaded, Ft[..., 6:8], 0.0)
    fy_total = force_t[..., 1].sum(-1)
    bw = np.asarray(mass, dtype=float)[..., None, None] * GRAVITY
    return np.concatenate([force_t / bw, cop_t, free_t[..., None]], -1).astype(np.float32), fy_total


def landmarks_smoothed(Cu: np.ndarray, p: PreprocessParams) -> np.ndarray:
    """Exponential smoothing of landmark coordinates (T, C) at the video rate (per channel)."""
    f = p.filters
    return exp_smooth(Cu, f.exp_smoothing.alpha) if f.exp_smoothing.enabled else Cu


def skeleton_normalized(Ct: np.ndarray, p: PreprocessParams) -> np.ndarray:
    """(T, 33, 3) timeline landmarks of one recording, root-relative in trunk lengths (the
    recording's mean trunk length)."""
    return normalize_skeleton(Ct, root=p.landmarks.root, ref=tuple(p.landmarks.ref))[0]


def drop_mask(n: int, fraction: float, rng: np.random.Generator, max_burst: int = 4) -> np.ndarray:
    """Keep-mask with about ``fraction`` of n samples dropped in bursts of 1..max_burst, never
    the first/last sample (as the generator drops samples; biomech.sensors.drop_mask, copied
    here so the preprocessing processes do not import torch)."""
    keep = np.ones(n, dtype=bool)
    target = int(round(fraction * n))
    dropped = guard = 0
    while dropped < target and guard < 10 * n:
        guard += 1
        start = int(rng.integers(1, max(2, n - 1)))
        seg = keep[start:start + int(rng.integers(1, max_burst + 1))]
        dropped += int(seg.sum())
        seg[:] = False
    keep[0] = keep[-1] = True
    return keep


def gapfill_terms(t, x, rate: float, frac: float, rng, method: str) -> tuple[float, int]:
    """Re-insertion test: drop ``frac`` of the delivered samples (bursts of 1-4, never the
    ends), fill them from the rest with the gap filler, return (sum of squared errors, count)."""
    if frac <= 0 or len(t) < 16:
        return 0.0, 0
    keep = drop_mask(len(t), frac, rng)
    if keep.all():
        return 0.0, 0
    x2 = x.reshape(len(t), -1)
    est, _ = resample_uniform(t[keep], x2[keep], t[~keep], kind=method, nominal_hz=rate)
    err = est - x2[~keep]
    return float(np.sum(err * err)), int(err.size)


def plate_moments(force: np.ndarray, cop: np.ndarray) -> np.ndarray:
    """(N, P, 2) horizontal moments [M_x, M_z] about the floor origin of plates' (N, P, 3) force
    at (N, P, 3) COP on the floor (y = 0): M_x = -cop_z F_y, M_z = cop_x F_y (N m)."""
    return np.stack([-cop[..., 2] * force[..., 1], cop[..., 0] * force[..., 1]], -1)


def cop_from_moments(force: np.ndarray, moments: np.ndarray, loaded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`plate_moments` where ``loaded`` (N, P): COP (N, P, 3) on the floor, 0 elsewhere."""
    fy = np.where(loaded, force[..., 1], 1.0)
    cop = np.stack([moments[..., 1] / fy, np.zeros_like(fy), -moments[..., 0] / fy], -1)
    return np.where(loaded[..., None], cop, 0.0)


def moving_windows(phase_windows: np.ndarray, min_core_fraction: float) -> np.ndarray:
    """(N,) bool: the windows of (N, L) per-frame phases (``sigproc.phases``; a processed split's or
    the service's ``phase`` field) where the athlete moves, by the rule that cuts the training
    windows: at least ``min_core_fraction`` of the frames in the core phase (all, when it is <= 0)."""
    ph = np.asarray(phase_windows)
    if ph.ndim != 2:
        raise ValueError(f"phase_windows must have shape (N, L), got {ph.shape}")
    if min_core_fraction <= 0:
        return np.ones(len(ph), dtype=bool)
    return np.mean(ph == CORE, axis=1) >= min_core_fraction


def active_window_starts(phase: np.ndarray, starts: np.ndarray, length: int,
                         min_core_fraction: float) -> tuple[np.ndarray, int]:
    """The window starts whose windows have at least ``min_core_fraction`` of their frames in the
    core phase (``sigproc.phases.CORE``), and how many were dropped. A person standing still before
    or after the action gives no clue which action it is (a standing long jump and a countermovement
    jump start from the same quiet stance), so such idle windows are not labelled with the action.
    At least the most active window of a clip is kept."""
    if min_core_fraction <= 0:
        return starts, 0
    frac = np.array([np.mean(phase[s:s + length] == CORE) for s in starts])
    keep = frac >= min_core_fraction
    if not keep.any():
        keep[int(np.argmax(frac))] = True
    return starts[keep], int((~keep).sum())


def clip_phases(coords: np.ndarray | None, imu: np.ndarray | None, fs: float, p: PhaseParams,
                n_frames: int | None = None) -> np.ndarray:
    """(T,) preparation / core / recovery per timeline frame (``sigproc.phases``) from the in-use
    inputs: the gyroscope rates of the (T, S, 9) ``imu`` (channels 3:6, rad/s) against the absolute
    floor ``p.imu_min_energy`` when present and ``p.source`` is "imu", else the (T, 33, 3)
    landmark ``coords`` against ``p.core_threshold`` of the clip's max (without landmarks: the IMU's
    attitude angles against it, the earlier rule; without either: all ``n_frames`` preparation). The gyroscopes tell a still athlete from a moving one; the landmarks barely can: the
    detector's jitter moves a still athlete's landmarks about as fast as a slow squat moves them."""
    if imu is not None and p.source == "imu":
        return segment_energy(angular_energy(imu[:, :, 3:6]), fs, 0.0, p.smooth_s, p.imu_min_energy)
    if coords is not None:
        return segment_phases(coords, fs, p.core_threshold, p.smooth_s)
    if imu is None:
        return np.zeros(int(n_frames), int)
    # source "landmarks" on a clip without them: the earlier rule, attitude angles as the "keypoints"
    return segment_phases(np.radians(imu[:, :, 6:9]), fs, p.core_threshold, p.smooth_s)


def _windows(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    need = int(starts[-1]) + length
    if x.shape[0] < need:
        x = np.concatenate([x, np.repeat(x[-1:], need - x.shape[0], 0)])
    return np.stack([x[s:s + length] for s in starts])


def detected_frames(kp: dict) -> np.ndarray:
    """(T,) bool: video frames with a pose detection (finite ``world`` and ``image`` landmarks;
    a detector that found no person leaves NaN rows, see the keypoints.npz contract)."""
    ok = np.isfinite(kp["world"]).all(axis=(1, 2))
    if "image" in kp:
        ok &= np.isfinite(kp["image"]).all(axis=(1, 2))
    return ok


def landmarks_on_timeline(kp: dict, tl: np.ndarray, fps: float, p: PreprocessParams, rng, gap: dict, path: Path):
    """Landmarks of ``p.landmarks.source`` on the timeline ``tl``: frames without a detection
    gap-filled (``filters.gap_fill``), exponential smoothing, root-relative / trunk-length
    normalisation (clip level). Returns (coords (T, 33, 3), visibility (T, 33), qc dict) and adds
    the re-insertion test terms to ``gap``. Raises ClipError (naming ``path``) when the source is
    absent or too few frames have a detection (``landmarks.min_detected_fraction``)."""
    f = p.filters
    src_name = p.landmarks.source
    if src_name not in kp:
        raise ClipError(f"{path}: no {src_name!r} landmarks (preprocess.landmarks.source: {src_name}; "
                        "'world_true' is privileged, noise-free synthetic data only: use 'world', the detector's)")
    src = kp[src_name].astype(float)
    if src.shape[1:] != (N_LANDMARKS, 3):
        raise RawDataError(f"{path}: {src_name} has shape {src.shape}, expected (T, 33, 3)")
    t = kp["time"].astype(float)
    det = detected_frames(kp)
    n_det = int(det.sum())
    if n_det < max(4, p.landmarks.min_detected_fraction * len(t)):
        raise ClipError(f"{path}: only {n_det} of {len(t)} video frames have a pose detection "
                        f"({n_det / max(len(t), 1):.0%}); preprocess.landmarks.min_detected_fraction is "
                        f"{p.landmarks.min_detected_fraction:g}")
    check_gap_length(path, "landmarks (frames without a pose detection)", t, det, fps, f.gap_fill.max_gap_s,
                     "preprocess.filters.gap_fill.max_gap_s")
    if src_name != "world":  # privileged coordinates exist in every frame; the detector's gaps still apply
        src[~det] = np.nan
    world = kp["world"].astype(float)
    gap["landmarks"] = gapfill_terms(t[det], world[det], fps, f.gap_fill.rmse_drop_fraction, rng, f.gap_fill.method)
    grid, Cu, filled = _uniform(t, src.reshape(len(t), -1), fps, f.gap_fill.method)  # NaN rows are gaps
    Cu = landmarks_smoothed(Cu, p)
    Ct, _ = resample_uniform(grid, Cu, tl, kind="cubic", nominal_hz=fps)
    coords = skeleton_normalized(Ct.reshape(len(tl), N_LANDMARKS, 3), p)
    v = np.where(det[:, None], np.nan_to_num(kp["visibility"].astype(float), nan=0.0), 0.0)
    vis = np.clip(np.stack([np.interp(tl, t, v[:, j]) for j in range(N_LANDMARKS)], 1), 0, 1)
    qc = {"landmarks_missing_frames": len(t) - n_det, "landmarks_detected_fraction": n_det / len(t),
          "landmarks_filled_fraction": float(filled.mean())}
    return coords, vis, qc


IK_TARGET_HZ = 100.0   # IK angles (video rate) are splined onto this rate, the generator's ground-truth rate


def ik_angles(kp: dict | None, meta: dict, min_visibility: float, path: Path,
              source: str = "world") -> tuple[np.ndarray, list[str], np.ndarray, float]:
    """(time (F,), OpenSim coordinate names, degrees (F, C) with pelvis translations in m, median
    per-frame RMS marker error m) from OpenSim IK
    (biomech.ik, the ingest-video / service path) on the clip's ``source`` landmarks (the ones the
    recognizers read, ``preprocess.landmarks.source``: detector-like ``world`` by default),
    frames with a detection only, the person's model scaled from the stated anthropometrics and
    the landmarks; landmarks below ``min_visibility`` are left out, unless no frame then shows both
    hips and a shoulder (the IK's start), when every landmark is used. Raises ClipError naming
    ``path`` when there are no landmarks to fit."""
    from biomech.conventions import COORDINATES, TRANSLATIONS
    from biomech.ik import calibrate_body, mediapipe_world_to_ylab, solve_ik

    if kp is None:
        raise ClipError(f"{path.parent}: no keypoints.npz, so preprocess.angles.source: ik has nothing to fit "
                        "(use source: generator for this dataset)")
    det = detected_frames(kp)
    if det.sum() < 4:
        raise ClipError(f"{path}: {int(det.sum())} frames with a pose detection: too few for inverse kinematics "
                        "(preprocess.angles.source: ik)")
    a = meta["athlete"]
    sex = str(a.get("sex") or "male").lower()
    pts = mediapipe_world_to_ylab(kp[source][det].astype(float))
    vis = kp["visibility"][det].astype(float)
    body = calibrate_body(pts, vis, sex=sex if sex in ("male", "female") else "male", height=float(a["height_m"]),
                          mass=float(a["mass_kg"]), min_visibility=min_visibility)
    t = kp["time"][det].astype(float)
    try:
        res = solve_ik(body, t, pts, vis, min_visibility=min_visibility, progress=False)
    except ValueError:
        # no frame with both hips and a shoulder visible (a side view hides the far hip): the
        # detector's estimates of the hidden landmarks are used too, rather than losing the clip
        try:
            res = solve_ik(body, t, pts, vis, min_visibility=0.0, progress=False)
        except ValueError as exc:
            raise ClipError(f"{path}: inverse kinematics failed ({exc})") from None
    deg = res.degrees()
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    deg[:, rot] = np.degrees(np.unwrap(np.radians(deg[:, rot]), axis=0))   # continuous: no 271 for -89
    ok = np.isfinite(deg).all(1)
    return res.time[ok], list(COORDINATES), deg[ok], float(np.nanmedian(res.marker_error_rms))


@dataclass
class ClipStreams:
    """One clip's streams in memory, as read from the raw layout (or sent to the service).

    ``path`` names the clip in error messages (the clip directory; the service passes a
    ``request`` placeholder). ``targets`` maps ``angles.mot`` / ``moments.sto`` to their
    ``biomech.io.read_mot`` tuples (time, columns, data, header) when the clip has them."""
    athlete_id: str
    clip_id: str
    split: str
    path: Path
    meta: dict
    kp: dict | None = None
    imu: dict | None = None
    grf: dict | None = None
    frames: np.ndarray | None = None
    targets: dict | None = None


def read_clip(job: ClipJob, p: PreprocessParams) -> ClipStreams:
    """Verify (manifest sha256) and read one raw clip's files (step 1 of the module docstring)."""
    d = job.clip_dir
    verify_clip(job.dataset_dir, list(job.rows))
    files = {r["file"] for r in job.rows}
    if "meta.json" not in files:
        raise RawDataError(f"{d / 'meta.json'}: not listed in the manifest")
    s = ClipStreams(job.athlete_id, job.clip_id, job.split, d, load_meta(d / "meta.json"), targets={})
    if "keypoints.npz" in files:
        _, s.kp = read_npz(d / "keypoints.npz", ("time", "world", "visibility"))
    if "imu.npz" in files:
        _, s.imu = read_npz(d / "imu.npz", ("time", "acc", "gyro"))
    if "grf.npz" in files:
        _, s.grf = read_npz(d / "grf.npz", ("time", "force", "cop", "free_moment"))
    if "video.mp4" in files:
        s.frames, _ = read_mp4(d / "video.mp4")
    for fname in ("angles.mot", "moments.sto"):
        if fname in files and not (fname == "angles.mot" and p.angles.source == "ik"):
            s.targets[fname] = read_mot(d / fname)
    return s


def _guarded(where: Path, run):
    """``run()`` with every failure as a ClipError naming ``where``."""
    try:
        return run()
    except (RawDataError, VideoReadError, FileNotFoundError) as exc:
        raise ClipError(str(exc)) from exc
    except ClipError:
        raise
    except Exception as exc:  # a numerical failure inside one clip: name the clip
        raise ClipError(f"{where}: preprocessing failed ({type(exc).__name__}: {exc})") from exc


def process_clip(job: ClipJob, p: PreprocessParams) -> dict:
    """Read and process one clip; raises ClipError (naming the path) for missing/corrupt/unusable data."""
    def run():
        tic = time.perf_counter()
        s = read_clip(job, p)
        return process_streams(s, p, read_s=time.perf_counter() - tic, tic=tic)

    return _guarded(job.clip_dir, run)


def process_recording(s: ClipStreams, p: PreprocessParams) -> dict:
    """:func:`process_clip` on streams already in memory (the service's path: no files)."""
    return _guarded(s.path, lambda: process_streams(s, p))


def process_streams(cs: ClipStreams, p: PreprocessParams, read_s: float = 0.0, tic: float | None = None) -> dict:
    """Steps 2-8 of the module docstring on one clip's streams (errors unwrapped: use
    :func:`process_clip` / :func:`process_recording`)."""
    tic = time.perf_counter() if tic is None else tic
    timing = {"read_s": read_s}
    d, meta, kp, imu, grf, frames = cs.path, cs.meta, cs.kp, cs.imu, cs.grf, cs.frames
    f = p.filters
    fs = float(p.timeline_hz)
    rng = np.random.default_rng(np.random.SeedSequence([p.seed, *map(ord, cs.clip_id)]))
    fps = float(meta["rates_hz"]["video"])
    mass = float(meta["athlete"]["mass_kg"])
    height = float(meta["athlete"]["height_m"])
    female = {"female": 1.0, "male": 0.0}.get(str(meta["athlete"].get("sex", "")).lower(), 0.5)  # 0.5: not stated
    action = meta["action"]
    if action not in ACTIONS:
        raise RawDataError(f"{d / 'meta.json'}: unknown action {action!r}")
    fault = str(meta.get("fault", "none"))

    # ---------------- synchronisation ----------------
    t1 = time.perf_counter()
    sync = recover_offsets(kp, imu, grf, mass, fps, meta, p.sync)
    timing["sync_s"] = time.perf_counter() - t1
    off_imu = sync["imu"]["offset_s"] if imu is not None else 0.0
    off_grf = sync["grf"]["offset_s"] if grf is not None else 0.0

    # ---------------- common timeline ----------------
    spans = []
    if kp is not None:
        spans.append((kp["time"][0], kp["time"][-1]))
        frame_t = kp["time"].astype(float)
    else:
        frame_t = np.arange(len(frames)) / fps if frames is not None else None
    if frames is not None:
        if len(frame_t) != len(frames):
            raise RawDataError(f"{d / 'video.mp4'}: {len(frames)} frames but keypoints.npz has {len(frame_t)} rows")
        spans.append((frame_t[0], frame_t[-1]))
    if imu is not None:
        spans.append((imu["time"][0] + off_imu, imu["time"][-1] + off_imu))
    if grf is not None:
        spans.append((grf["time"][0] + off_grf, grf["time"][-1] + off_grf))
    if not spans:
        raise RawDataError(f"{d}: no video, keypoints or IMU stream")
    ta = max(s[0] for s in spans)
    tb = min(s[1] for s in spans)
    ta = np.ceil(ta * fs - 1e-9) / fs
    if tb - ta < 4.0 / fs:
        raise ClipError(f"{d}: the streams overlap for only {max(tb - ta, 0):.3f} s after synchronisation")
    tl = uniform_grid(ta, tb, fs)
    T = len(tl)
    gap = {}

    # ---------------- IMU ----------------
    t1 = time.perf_counter()
    imu_tl = np.zeros((T, len(IMU_SENSORS), 9), np.float32)
    qc = {}
    if imu is not None:
        rate = float(meta["rates_hz"].get("imu") or 1.0 / np.median(np.diff(imu["time"])))
        t = imu["time"].astype(float)
        acc = imu["acc"].astype(float)
        gyr = imu["gyro"].astype(float)
        S = acc.shape[1]
        check_gap_length(d / "imu.npz", "the IMU stream", t, np.isfinite(acc).all((1, 2)) & np.isfinite(gyr).all((1, 2)),
                         rate, f.gap_fill.max_gap_s, "preprocess.filters.gap_fill.max_gap_s")
        # re-insertion test on the pelvis and trunk IMUs (cost: one spline fit per stream)
        gap["imu_acc"] = gapfill_terms(t, acc[:, :2], rate, f.gap_fill.rmse_drop_fraction, rng, f.gap_fill.method)
        gap["imu_gyro"] = gapfill_terms(t, gyr[:, :2], rate, f.gap_fill.rmse_drop_fraction, rng, f.gap_fill.method)
        X = np.concatenate([acc.reshape(len(t), -1), gyr.reshape(len(t), -1)], 1)
        grid, Xu, filled = _uniform(t, X, rate, f.gap_fill.method)
        qc["imu_filled_fraction"] = float(filled.mean())
        Xu, outliers = imu_filtered(Xu, rate, p)
        if outliers is not None:
            qc["imu_outlier_fraction"] = outliers
        m = attitude_factor(p)
        ta_grid = tl[0] + np.arange((T - 1) * m + 1) / (fs * m)
        Xa, _ = resample_uniform(grid + off_imu, Xu, ta_grid, kind="cubic", nominal_hz=rate)
        imu_tl = imu_features(Xa, S, p)
    timing["imu_s"] = time.perf_counter() - t1

    # ---------------- force plates ----------------
    t1 = time.perf_counter()
    grf_tl = np.zeros((T, 2, 7), np.float32)
    fy_total = None
    if grf is not None:
        rate = float(meta["rates_hz"].get("grf") or 1.0 / np.median(np.diff(grf["time"])))
        t = grf["time"].astype(float)
        force = grf["force"].astype(float)
        check_gap_length(d / "grf.npz", "the force plates", t, np.isfinite(force).all((1, 2)), rate,
                         f.gap_fill.max_gap_s, "preprocess.filters.gap_fill.max_gap_s")
        gap["grf_force"] = gapfill_terms(t, force, rate, f.gap_fill.rmse_drop_fraction, rng, f.gap_fill.method)
        # the COP is carried as the plate moment about the floor origin (M = COP x F: smooth, and zero
        # when unloaded) and recovered from the filtered force and moment, as plate software does;
        # filtering or interpolating the COP itself rings across touch-down and lift-off
        F = np.concatenate([force.reshape(len(t), -1), grf["free_moment"].astype(float),
                            plate_moments(force, grf["cop"].astype(float)).reshape(len(t), -1)], 1)  # (N, 12)
        grid, Fu, _ = _uniform(t, F, rate, f.gap_fill.method)
        Fu, drift_fit = plates_filtered(Fu, rate, p)
        if drift_fit is not None:
            qc["plates_drift_corrected"] = drift_fit
        Ft, _ = resample_uniform(grid + off_grf, Fu, tl, kind="cubic", nominal_hz=rate)
        grf_tl, fy_total = plate_features(Ft, mass, p)
    timing["grf_s"] = time.perf_counter() - t1

    # ---------------- landmarks ----------------
    t1 = time.perf_counter()
    lm_tl = np.zeros((T, N_LANDMARKS, 4), np.float32)
    coords = None
    if kp is not None:
        coords, vis, lm_qc = landmarks_on_timeline(kp, tl, fps, p, rng, gap, d / "keypoints.npz")
        qc.update(lm_qc)
        lm_tl = np.concatenate([coords, vis[..., None]], 2).astype(np.float32)
    timing["landmarks_s"] = time.perf_counter() - t1

    # ---------------- targets ----------------
    t1 = time.perf_counter()
    angles = np.zeros((T, len(JOINT_ANGLES)), np.float32)
    root = np.zeros((T, len(ROOT_COORDINATES)), np.float32)
    moments = np.zeros((T, len(MOMENTS)), np.float32)
    targets = {}
    for fname, names, out in (("angles.mot", ROOT_COORDINATES + JOINT_ANGLES, None), ("moments.sto", MOMENTS, moments)):
        from_ik = fname == "angles.mot" and p.angles.source == "ik"
        stored = (cs.targets or {}).get(fname)
        targets[fname] = "ik" if from_ik else stored is not None
        if from_ik:
            t_ik = time.perf_counter()
            tt, cols, data, qc["ik_marker_error_rms_median_m"] = ik_angles(
                kp, meta, p.angles.min_visibility, d / "keypoints.npz", p.landmarks.source)
            qc["ik_s"] = round(time.perf_counter() - t_ik, 3)
            grid = uniform_grid(tt[0], tt[-1], IK_TARGET_HZ)  # video-rate IK onto the targets' rate (as the
            tt, data = grid, resample_uniform(tt, data, grid, kind="cubic")[0]  # service does) before smoothing
        elif stored is None:
            continue
        else:
            tt, cols, data, _ = stored
        missing = [c for c in names if c not in cols]
        if missing:
            raise RawDataError(f"{d / fname}: missing columns {missing[:5]}")
        data = data[:, [cols.index(c) for c in names]]
        rate = 1.0 / float(np.median(np.diff(tt)))
        if f.savgol.enabled:
            data = savgol(data, rate, f.savgol.window_s, f.savgol.polyorder)
        res = resample_uniform(tt, data, tl, kind="cubic", nominal_hz=rate)[0]
        if out is None:  # angles.mot: pelvis pose (root) + joint angles
            root[:], angles[:] = res[:, :len(ROOT_COORDINATES)], res[:, len(ROOT_COORDINATES):]
        else:
            out[:] = res
    phase = clip_phases(coords, imu_tl if imu is not None else None, fs, p.phases, T)
    timing["targets_s"] = time.perf_counter() - t1

    # ---------------- windows ----------------
    t1 = time.perf_counter()
    L, stride, Tv = p.window.length, p.window.stride, p.window.video_frames
    starts = np.arange(0, T - L + 1, stride) if T >= L else np.array([0])
    starts, n_idle = active_window_starts(phase, starts, L, p.window.min_core_fraction)
    qc["idle_windows_dropped"] = n_idle
    nw = len(starts)
    H, W = p.video.height, p.video.width
    video = np.zeros((nw, Tv, 3, H, W), np.uint8)
    if frames is not None:
        sub = np.round(np.linspace(0, L - 1, Tv)).astype(int)
        cache = {}
        for i, s in enumerate(starts):
            for j, o in enumerate(sub):
                tq = tl[min(s + o, T - 1)]
                k = int(np.clip(np.searchsorted(frame_t, tq), 1, len(frame_t) - 1))
                k = k - 1 if abs(frame_t[k - 1] - tq) <= abs(frame_t[k] - tq) else k
                if k not in cache:
                    img = frames[k]
                    if img.shape[:2] != (H, W):
                        img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
                    cache[k] = img.transpose(2, 0, 1)
                video[i, j] = cache[k]
    label = ACTIONS.index(action)
    mask = np.array([frames is not None, kp is not None, imu is not None, grf is not None])
    lm_w = _windows(lm_tl, starts, L)
    heading = np.full(nw, np.nan)
    if coords is not None and p.landmarks.view_normalize:
        xyz, heading = normalize_view(lm_w[..., :3])
        lm_w[..., :3] = xyz
    arrays = {
        "video": video,
        "landmarks": lm_w,
        "imu": _windows(imu_tl, starts, L),
        "grf": _windows(grf_tl, starts, L),
        "modality_mask": np.repeat(mask[None], nw, 0),
        "label": np.full(nw, label, np.int64),
        "frame_label": np.full((nw, L), label, np.int64),
        "angles": _windows(angles, starts, L),
        "root": _windows(root, starts, L),
        "moments": _windows(moments, starts, L),
        "phase": _windows(phase.astype(np.int64), starts, L),
        "fault": np.zeros(nw, np.int64),  # index into the dataset's fault vocabulary, set by the main process
        "anthro": np.repeat(np.array([[mass, height, female]], np.float32), nw, 0),
    }
    timing["windows_s"] = time.perf_counter() - t1
    timing["total_s"] = time.perf_counter() - tic
    return {
        "clip_id": cs.clip_id, "athlete_id": cs.athlete_id, "split": cs.split, "action": action,
        "fault": fault, "preset": meta.get("preset"), "fps": fps, "n_timeline": T,
        "camera_azimuth_deg": camera_azimuth(meta), "view_heading_deg": heading,
        "t0_s": float(tl[0]), "starts": starts.astype(np.int32), "arrays": arrays,
        "modalities": dict(zip(MODALITIES, map(bool, mask))), "sync": sync, "gapfill": gap, "qc": qc,
        "targets": targets, "timing": timing,
        "fy_bw_mean": None if fy_total is None else float(fy_total.mean() / (mass * GRAVITY)),
    }
