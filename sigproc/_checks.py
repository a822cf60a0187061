"""Small argument-validation helpers shared by the sigproc modules (private)."""

from __future__ import annotations

import numpy as np

__all__ = ["as_float_array", "check_positive", "check_fs_cutoff", "check_axis"]


def as_float_array(x, name: str = "x", min_ndim: int = 1) -> np.ndarray:
    """Return ``x`` as a float64 ndarray, raising a ValueError naming ``name`` if unusable."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:  # pragma: no cover - message only
        raise ValueError(f"{name} must be numeric array-like, got {type(x).__name__}") from exc
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    return arr


def check_positive(value: float, name: str) -> float:
    """Return ``value`` as float, requiring it to be finite and > 0."""
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    return v


def check_fs_cutoff(fs_hz: float, cutoff_hz: float) -> tuple[float, float]:
    """Validate a sampling rate and a cut-off frequency (0 < cutoff < fs/2)."""
    fs = check_positive(fs_hz, "fs_hz")
    fc = check_positive(cutoff_hz, "cutoff_hz")
    nyq = fs / 2.0
    if fc >= nyq:
        raise ValueError(f"cutoff_hz={cutoff_hz:g} must be below Nyquist (fs_hz/2 = {nyq:g})")
    return fs, fc


def check_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Normalise a possibly-negative axis index, raising a clear ValueError if out of range."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return axis % ndim
