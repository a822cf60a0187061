"""Activity gating of windows: idle stretches before/after the action are not cut."""
from __future__ import annotations

import numpy as np

from preprocessing.clip import active_window_starts
from sigproc.phases import CORE, PREPARATION, RECOVERY


def _phase(n_prep: int, n_core: int, n_rec: int) -> np.ndarray:
    return np.r_[np.full(n_prep, PREPARATION), np.full(n_core, CORE), np.full(n_rec, RECOVERY)]


def test_idle_windows_are_dropped_and_counted():
    phase = _phase(100, 40, 60)              # quiet stance, a jump, standing again
    starts = np.arange(0, 200 - 64 + 1, 32)  # 0, 32, 64, 96, 128
    kept, dropped = active_window_starts(phase, starts, 64, 0.25)
    # core frames per window: 0, 0, 28, 40, 12 -> fractions 0, 0, .44, .62, .19
    assert kept.tolist() == [64, 96] and dropped == 3
    kept, dropped = active_window_starts(phase, starts, 64, 0.05)
    assert kept.tolist() == [64, 96, 128] and dropped == 2


def test_gating_off_keeps_every_window_and_a_clip_keeps_its_most_active_window():
    phase = _phase(100, 10, 90)
    starts = np.arange(0, 200 - 64 + 1, 32)
    kept, dropped = active_window_starts(phase, starts, 64, 0.0)
    assert kept.tolist() == starts.tolist() and dropped == 0
    kept, dropped = active_window_starts(phase, starts, 64, 0.9)  # no window qualifies
    assert kept.tolist() == [64] and dropped == len(starts) - 1
