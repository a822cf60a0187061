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


def longest_gap(t: np.ndarray, valid: np.ndarray, nominal_hz: float) -> tuple[float, float]:
    """(duration s, start time s) of the longest stretch without data inside a stream: missing
    samples (``valid`` False, e.g. NaN rows or frames without a pose) and dropped timestamps
    alike, between the first and the last valid sample. (0, nan) when nothing is missing."""
    t = np.asarray(t, dtype=float)
    tv = t[np.asarray(valid, dtype=bool)]
    if len(tv) < 2:
        return (float(t[-1] - t[0]) if len(t) > 1 else 0.0), (float(t[0]) if len(t) else float("nan"))
    missing = np.diff(tv) - 1.0 / nominal_hz       # time between two valid samples beyond one period
    k = int(np.argmax(missing))
    if missing[k] <= 0.5 / nominal_hz:              # jitter, not a gap
        return 0.0, float("nan")
    return float(missing[k]), float(tv[k] + 1.0 / nominal_hz)


def check_gap_length(path: str | Path, stream: str, t: np.ndarray, valid: np.ndarray, nominal_hz: float,
                     max_gap_s: float | None, param: str) -> float:
    """Fail when ``stream`` of ``path`` has a gap longer than ``max_gap_s`` (the gap-fill limit,
    params key ``param``; None: no limit). Returns the longest gap in s."""
    gap, start = longest_gap(t, valid, nominal_hz)
    if max_gap_s is not None and gap > max_gap_s:
        raise QualityError(
            f"{path}: {stream} has no data for {1000 * gap:.0f} ms from t = {start:.2f} s (about "
            f"{int(round(gap * nominal_hz))} samples at {nominal_hz:g} Hz), longer than the gap-fill limit "
            f"{param} = {1000 * max_gap_s:.0f} ms: filling it would invent the movement. Trim the clip to "
            f"the part with data, re-record it, or raise {param}.")
    return gap
