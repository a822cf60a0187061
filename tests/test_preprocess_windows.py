"""Activity gating of windows: idle stretches before/after the action are not cut."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.io import read_manifest, read_mot, write_manifest
from biomech.synth import ClipSpec, write_clip
from evaluation.window_content import window_motion
from preprocessing.clip import ClipJob, active_window_starts, moving_windows, process_clip
from preprocessing.params import PhaseParams, WindowParams
from sigproc.phases import CORE, PREPARATION, RECOVERY
from stages.params import load_raw

from .preprocess_fixtures import CFG, CONSUMER, PRO, _params


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


def test_moving_windows_applies_the_same_rule_to_cut_windows():
    phase = _phase(100, 40, 60)
    starts = np.arange(0, 200 - 64 + 1, 32)
    windows = np.stack([phase[s:s + 64] for s in starts])
    kept, _ = active_window_starts(phase, starts, 64, 0.25)
    assert starts[moving_windows(windows, 0.25)].tolist() == kept.tolist() == [64, 96]
    assert moving_windows(windows, 0.0).all()


# ---- the filter on generated clips: a still athlete's windows dropped, moving ones kept ----------
LONG_CLIPS = [("countermovement_jump", "pro", 2011), ("standing_long_jump", "consumer", 2012), ("lunge", "pro", 2013)]


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """Three 5 s clips (the action takes 2-3 s of them: the athlete stands still before or after)."""
    root = tmp_path_factory.mktemp("idle_raw") / "tiny"
    rows = []
    for i, (action, preset, seed) in enumerate(LONG_CLIPS):
        spec = ClipSpec(clip_id=f"clip{i:05d}", athlete_id="athlete0000", sex="male", height=1.80, mass=78.0,
                        action=action, fault="none", preset=preset, duration=5.0, seed=seed)
        rows += write_clip(spec, PRO if preset == "pro" else CONSUMER, CFG, root)["rows"]
    write_manifest(root, rows)
    return root


def _kept_by_motion(root, p):
    """[(ground-truth joint range deg, pelvis travel m, kept)] of every window start of every clip."""
    rows = read_manifest(root)
    out = []
    for i in range(len(LONG_CLIPS)):
        clip = f"clip{i:05d}"
        res = process_clip(ClipJob(str(root), "athlete0000", clip, tuple(r for r in rows if r["clip_id"] == clip),
                                   "train"), p)
        t, cols, data, _ = read_mot(root / "athlete0000" / clip / "angles.mot")
        kept = set(res["starts"].tolist())
        for s in range(0, res["n_timeline"] - 64 + 1, 32):
            m = window_motion(t, cols, data, res["t0_s"] + s / p.timeline_hz, 64 / p.timeline_hz)
            out.append((m["joint_range_deg"], m["travel_m"], s in kept))
    return out


def test_still_windows_are_dropped_and_moving_ones_kept(long_clips, tmp_path):
    """With params.yaml's phases (IMU gyro energy against an absolute floor) and fraction: every window where the athlete stands still (ground truth: joints within
    1 deg, pelvis within 1 cm) is dropped, every window with > 10 deg of joint motion kept. (The
    earlier rule, the landmark energy relative to the clip's max, kept 1 of 5 moving windows of the
    countermovement jump and the lunge's still last window.)"""
    pre = load_raw()["preprocess"]
    p = _params(long_clips.parent, tmp_path, window=WindowParams(min_core_fraction=pre["window"]["min_core_fraction"]),
                phases=PhaseParams(**pre["phases"]))
    res = _kept_by_motion(long_clips, p)
    still = [k for r, m, k in res if r < 1.0 and m < 0.01]
    moving = [k for r, m, k in res if r > 10.0]
    assert len(still) >= 3 and len(moving) >= 10
    assert not any(still), res
    assert all(moving), res
