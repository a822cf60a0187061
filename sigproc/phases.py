"""Energy-based movement-phase segmentation (TCN+GAT paper, eqs. 1-2).

Keypoints are time-first, shape (T, J, C): T frames, J joints, C coordinates (2 or 3); gyroscope
rates (T, S, 3): S body-worn sensors, rad/s.
Labels: 0 = preparation, 1 = core, 2 = recovery.

Two energies feed the same segmentation (:func:`segment_energy`): the landmarks' kinetic-energy
proxy (:func:`motion_energy`, the paper's) and the body segments' rotational one from IMU gyroscopes
(:func:`angular_energy`). Only an absolute floor (``min_energy``) tells a still athlete from a
moving one: a threshold relative to the clip's maximum calls the detector's jitter "core" in a
clip whose maximum is small and a whole movement "preparation" in one with a landing impact or a
left/right label swap (measured: ``README.md``, windows).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from ._checks import as_float_array, check_positive

__all__ = ["PREPARATION", "CORE", "RECOVERY", "PHASE_NAMES", "motion_energy", "angular_energy", "boundary_score",
           "segment_energy", "segment_phases"]

PREPARATION, CORE, RECOVERY = 0, 1, 2
PHASE_NAMES = ("preparation", "core", "recovery")


def _check_kp(keypoints) -> np.ndarray:
    kp = as_float_array(keypoints, "keypoints")
    if kp.ndim == 2:
        kp = kp[:, :, None]
    if kp.ndim != 3:
        raise ValueError(f"keypoints must have shape (T, J, C) (or (T, J)), got {kp.shape}")
    if kp.shape[0] < 2:
        raise ValueError(f"keypoints needs at least 2 frames, got {kp.shape[0]}")
    return kp


def motion_energy(keypoints, fs_hz: float) -> np.ndarray:
    """Per-frame kinetic-energy proxy ``E_t = sum_j ||v_{j,t}||^2`` (eq. 1).

    Velocities are central differences (``numpy.gradient``) in (keypoint units)/s, so ``E`` is in
    units^2/s^2. Joints with NaN coordinates in a frame contribute 0 to that frame.

    Parameters
    ----------
    keypoints : array_like, shape (T, J, C)
    fs_hz : float
        Frame rate, Hz.

    Returns
    -------
    numpy.ndarray, shape (T,)
    """
    kp = _check_kp(keypoints)
    fs = check_positive(fs_hz, "fs_hz")
    v = np.gradient(kp, 1.0 / fs, axis=0)
    return np.nansum(np.sum(v * v, axis=2), axis=1)


def angular_energy(gyro) -> np.ndarray:
    """Per-frame rotational-energy proxy ``E_t = sum_s ||omega_{s,t}||^2`` of body-worn gyroscopes.

    Parameters
    ----------
    gyro : array_like, shape (T, S, 3)
        Angular rate of S sensors, rad/s. A sensor's NaN samples contribute 0 to that frame.

    Returns
    -------
    numpy.ndarray, shape (T,), rad^2/s^2. A segment turning at 0.32 rad/s (18 deg/s) alone gives 0.1.
    """
    g = as_float_array(gyro, "gyro")
    if g.ndim != 3 or g.shape[2] != 3:
        raise ValueError(f"gyro must have shape (T, S, 3) (rad/s), got {g.shape}")
    return np.nansum(g * g, axis=(1, 2))


def boundary_score(E, fs_hz: float | None = None) -> np.ndarray:
    """Normalised phase-boundary score (eq. 2): ``B_t = |dE/dt|_t / max_t |dE/dt|`` in [0, 1].

    ``dE/dt`` is the central difference (``numpy.gradient``), per frame or per second if ``fs_hz``
    is given (the normalisation makes the result unit-free either way). Peaks mark rapid energy
    changes, i.e. candidate phase transitions. An all-constant ``E`` gives all zeros.
    """
    E = as_float_array(E, "E")
    if E.ndim != 1 or E.size < 2:
        raise ValueError(f"E must be 1-D with at least 2 samples, got shape {E.shape}")
    spacing = 1.0 if fs_hz is None else 1.0 / check_positive(fs_hz, "fs_hz")
    d = np.abs(np.gradient(E, spacing))
    mx = np.nanmax(d)
    if not mx > 0:
        return np.zeros_like(d)
    return d / mx


def segment_energy(E, fs_hz: float, core_threshold: float = 0.3, smooth_s: float = 0.1,
                   min_energy: float = 0.0) -> np.ndarray:
    """Label every frame of a motion-energy series ``E`` (T,) as preparation (0), core (1) or recovery (2).

    1. smooth ``E`` with a centred moving average of ``round(smooth_s * fs_hz)`` frames
       (``scipy.ndimage.uniform_filter1d``, edge-replicated; no smoothing if that is < 2 frames);
    2. core = frames from the first to the last frame where the smoothed ``E`` exceeds
       ``max(core_threshold * max(E), min_energy)`` (``core_threshold`` 0: the absolute floor alone);
       frames before are preparation, frames after are recovery.

    A clip with no frame above the threshold (an athlete standing still) is labelled entirely
    preparation.

    Returns
    -------
    numpy.ndarray of int, shape (T,)
    """
    E = as_float_array(E, "E")
    if E.ndim != 1 or E.size < 2:
        raise ValueError(f"E must be 1-D with at least 2 samples, got shape {E.shape}")
    thr = float(core_threshold)
    if not 0.0 <= thr < 1.0:
        raise ValueError(f"core_threshold={core_threshold} must be in [0, 1)")
    floor = float(min_energy)
    if not floor >= 0.0:
        raise ValueError(f"min_energy={min_energy} must be >= 0")
    if thr == 0.0 and floor == 0.0:
        raise ValueError("core_threshold and min_energy are both 0: every frame with any motion would be core")
    fs = check_positive(fs_hz, "fs_hz")
    smooth_s = float(smooth_s)
    if smooth_s < 0:
        raise ValueError(f"smooth_s={smooth_s} must be >= 0")
    size = int(round(smooth_s * fs))
    Es = uniform_filter1d(E, size=size, mode="nearest") if size >= 2 else E
    labels = np.zeros(E.shape[0], dtype=int)
    mx = Es.max()
    if not mx > 0:
        return labels
    idx = np.flatnonzero(Es > max(thr * mx, floor))
    if idx.size == 0:
        return labels
    first, last = int(idx[0]), int(idx[-1])
    labels[first : last + 1] = CORE
    labels[last + 1 :] = RECOVERY
    return labels


def segment_phases(keypoints, fs_hz: float, core_threshold: float = 0.3, smooth_s: float = 0.1,
                   min_energy: float = 0.0) -> np.ndarray:
    """Label every frame of a keypoint sequence as preparation (0), core (1) or recovery (2):
    :func:`segment_energy` of ``motion_energy(keypoints, fs_hz)`` (``min_energy`` in keypoint
    units^2/s^2).

    Returns
    -------
    numpy.ndarray of int, shape (T,)
    """
    kp = _check_kp(keypoints)
    fs = check_positive(fs_hz, "fs_hz")
    return segment_energy(motion_energy(kp, fs), fs, core_threshold, smooth_s, min_energy)
