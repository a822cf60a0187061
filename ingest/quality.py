"""Quality gates of real inputs: each failure names the file, the figure seen, the limit and what
to do (`QualityError`, an `IngestError`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest import IngestError


class QualityError(IngestError):
    """An input is readable but fails a quality gate; the message says how to fix it."""


def check_pose_fraction(path: str | Path, frames_with_pose: int, n_frames: int, min_fraction: float) -> float:
    """Fail when MediaPipe found a person in fewer than `min_fraction` of the frames."""
    frac = frames_with_pose / max(n_frames, 1)
    if frac < min_fraction:
        raise QualityError(
            f"{path}: a person was found in only {frames_with_pose} of {n_frames} frames "
            f"({100 * frac:.0f} %, below the limit ingest.min_pose_fraction = {100 * min_fraction:.0f} %). "
            "Film the whole body in frame and well lit, trim the clip to the movement, or lower "
            "ingest.min_pose_fraction.")
    return frac


def check_marker_error(path: str | Path, marker_error_rms: np.ndarray, max_rms_m: float) -> float:
    """Fail when the median per-frame RMS IK marker error exceeds `max_rms_m` (m)."""
    med = float(np.nanmedian(marker_error_rms)) if np.isfinite(marker_error_rms).any() else float("inf")
    if med > max_rms_m:
        raise QualityError(
            f"{path}: inverse kinematics marker error (median per-frame RMS) is {1000 * med:.0f} mm, "
            f"above the limit ingest.max_marker_error_mm = {1000 * max_rms_m:.0f} mm. Check the "
            "stated height / sex in the labels CSV, that one person is in view, and the landmarks "
            "(keypoints.npz); or raise ingest.max_marker_error_mm.")
    return med


def check_anthropometry(path: str | Path, measured: dict[str, float], expected: dict[str, float],
                        stated_height: float, tolerance: float = 0.35) -> float:
    """Fail when the legs measured on the landmarks (hip-knee + knee-ankle, median over frames)
    differ from the stated height's table value by more than `tolerance` (fraction).

    `measured` / `expected`: `biomech.ik.measured_lengths` / `model_lengths` dicts (m).
    """
    legs = [measured[f"thigh_{s}"] + measured[f"shank_{s}"] for s in ("r", "l")]
    legs = [v for v in legs if np.isfinite(v)]
    if not legs:
        raise QualityError(f"{path}: no frame shows a hip, knee and ankle of the same side with "
                           "visibility >= ingest.min_visibility, so the person cannot be scaled. Film "
                           "the whole body (legs included).")
    leg = float(np.median(legs))
    ref = 0.5 * sum(expected[f"thigh_{s}"] + expected[f"shank_{s}"] for s in ("r", "l"))
    ratio = leg / ref
    if abs(ratio - 1.0) > tolerance:
        implied = stated_height * ratio
        raise QualityError(
            f"{path}: the legs measure {100 * leg:.0f} cm (hip to ankle) on the landmarks, but a person "
            f"of the stated height {stated_height:.2f} m has {100 * ref:.0f} cm (ratio {ratio:.2f}, "
            f"allowed {1 - tolerance:.2f}-{1 + tolerance:.2f}; the landmarks look like a "
            f"{implied:.2f} m person). Check height_m in the labels CSV (metres, not cm) and that "
            "one whole person is in view.")
    return ratio
