"""The serving speed-ups of the shared signal library change no number: each fast path is compared
bit for bit with the scipy call it replaces, on random inputs of the shapes the service sees."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sigproc.filters import butter_lowpass


@pytest.mark.parametrize("shape,axis,fs,fc", [((1400, 12), 0, 1000.0, 20.0), ((280, 36), 0, 200.0, 20.0),
                                              ((70,), 0, 50.0, 8.0), ((3, 300, 2), 1, 250.0, 8.0),
                                              ((40, 5), 0, 100.0, 8.0)])
def test_butter_lowpass_equals_scipy_sosfiltfilt_bit_for_bit(shape, axis, fs, fc):
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).cumsum(axis) + 5.0
    sos = signal.butter(4, fc, btype="low", fs=fs, output="sos")
    n = x.shape[axis]
    padlen = min(max(3 * (2 * len(sos) + 1), int(np.ceil(3.0 * fs / fc))), n - 1)
    want = signal.sosfiltfilt(sos, x, axis=axis, padlen=padlen)
    for _ in range(2):   # the second call uses the cached design and initial state
        got = butter_lowpass(x, fs, fc, order=4, axis=axis)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, x)   # it filtered
