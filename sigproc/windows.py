"""Fixed-length sliding windows over time-first arrays."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_axis

__all__ = ["window_starts", "sliding_windows"]


def _check_len_stride(length: int, stride: int) -> tuple[int, int]:
    length, stride = int(length), int(stride)
    if length < 1:
        raise ValueError(f"length={length} must be >= 1")
    if stride < 1:
        raise ValueError(f"stride={stride} must be >= 1")
    return length, stride


def window_starts(n: int, length: int, stride: int, pad_last: bool = False) -> np.ndarray:
    """Start indices of windows of ``length`` samples every ``stride`` samples over ``n`` samples.

    Without ``pad_last`` only complete windows are returned (``start + length <= n``). With
    ``pad_last``, if samples at the end are not covered, one more start (the next stride
    position, or 0 if ``n < length``) is appended; that window runs past ``n`` and the caller
    must pad it (``sliding_windows(..., pad_last=True)`` does, by edge replication).

    Returns
    -------
    numpy.ndarray of int
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    length, stride = _check_len_stride(length, stride)
    if n >= length:
        starts = np.arange(0, n - length + 1, stride)
    else:
        starts = np.zeros(0, dtype=int)
    if pad_last and n > 0:
        covered = starts[-1] + length if starts.size else 0
        if covered < n:
            nxt = starts[-1] + stride if starts.size else 0
            starts = np.append(starts, nxt)
    return starts.astype(int)


def sliding_windows(x, length: int, stride: int, axis: int = 0, pad_last: bool = False) -> np.ndarray:
    """Stack windows of ``x`` along ``axis``.

    Output shape is ``x.shape[:axis] + (n_windows, length) + x.shape[axis+1:]``; for the default
    ``axis=0`` and ``x`` of shape (T, C...), that is (n_windows, length, C...). Without ``pad_last``
    the result is a read-only strided view of ``x`` (no copy); copy it before writing. With
    ``pad_last`` the tail is edge-padded so the last partial window is included (a copy).
    """
    x = np.asarray(x)
    axis = check_axis(axis, x.ndim)
    length, stride = _check_len_stride(length, stride)
    n = x.shape[axis]
    starts = window_starts(n, length, stride, pad_last=pad_last)
    if starts.size and starts[-1] + length > n:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, int(starts[-1] + length - n))
        x = np.pad(x, pad, mode="edge")
    if starts.size == 0:
        shape = x.shape[:axis] + (0, length) + x.shape[axis + 1 :]
        return np.empty(shape, dtype=x.dtype)
    v = sliding_window_view(x, length, axis=axis)  # window dim appended last
    v = np.take(v, starts, axis=axis) if pad_last else v[(slice(None),) * axis + (slice(0, None, stride),)]
    v = v[(slice(None),) * axis + (slice(0, starts.size),)]
    return np.moveaxis(v, -1, axis + 1)
