"""Energy-based movement-phase segmentation (TCN+GAT paper, eqs. 1-2).

Keypoints are time-first, shape (T, J, C): T frames, J joints, C coordinates (2 or 3).
Labels: 0 = preparation, 1 = core, 2 = recovery.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from ._checks import as_float_array, check_positive

__all__ = ["PREPARATION", "CORE", "RECOVERY", "PHASE_NAMES", "motion_energy", "boundary_score", "segment_phases"]

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


def segment_phases(keypoints, fs_hz: float, core_threshold: float = 0.3, smooth_s: float = 0.1) -> np.ndarray:
    """Label every frame as preparation (0), core (1) or recovery (2).

    1. ``E = motion_energy(keypoints, fs_hz)``;
    2. smooth ``E`` with a centred moving average of ``round(smooth_s * fs_hz)`` frames
       (``scipy.ndimage.uniform_filter1d``, edge-replicated; no smoothing if that is < 2 frames);
    3. core = frames from the first to the last frame where smoothed ``E > core_threshold * max(E)``;
       frames before are preparation, frames after are recovery.

    A clip with no motion (max energy 0) is labelled entirely preparation.

    Returns
    -------
    numpy.ndarray of int, shape (T,)
    """
    kp = _check_kp(keypoints)
    thr = float(core_threshold)
    if not 0.0 < thr < 1.0:
        raise ValueError(f"core_threshold={core_threshold} must be in (0, 1)")
    fs = check_positive(fs_hz, "fs_hz")
    smooth_s = float(smooth_s)
    if smooth_s < 0:
        raise ValueError(f"smooth_s={smooth_s} must be >= 0")
    E = motion_energy(kp, fs)
    size = int(round(smooth_s * fs))
    Es = uniform_filter1d(E, size=size, mode="nearest") if size >= 2 else E
    labels = np.zeros(E.shape[0], dtype=int)
    mx = Es.max()
    if not mx > 0:
        return labels
    idx = np.flatnonzero(Es > thr * mx)
    first, last = int(idx[0]), int(idx[-1])
    labels[first : last + 1] = CORE
    labels[last + 1 :] = RECOVERY
    return labels
