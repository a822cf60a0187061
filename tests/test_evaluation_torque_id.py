"""The torque evaluation's plate quality check and clip selection (evaluation.torque_id)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomech.inverse_dynamics import Plate
from biomech.io import RawDataError
from evaluation.torque_id import QC_NEGATIVE_N, dataset_clips, plate_qc, report_markdown


def _plate(fy):
    n = len(fy)
    return Plate(np.arange(n) / 1000.0, np.stack([np.zeros(n), fy, np.zeros(n)], 1), np.zeros((n, 3)), np.zeros(n))


def test_plate_qc_flags_a_vertical_pull_only():
    fy = np.r_[np.zeros(100), np.full(300, 600.0), np.random.default_rng(0).normal(0, 1.5, 100)]
    assert plate_qc({"r": _plate(fy), "l": _plate(fy)}) is None
    pulled = fy.copy()
    pulled[420:430] = -2 * QC_NEGATIVE_N
    why = plate_qc({"r": _plate(fy), "l": _plate(pulled)})
    assert why is not None and "plate l" in why and "-100 N" in why


def test_dataset_clips_keeps_the_split_test_clips(tmp_path):
    rows = [{"athlete_id": "a0", "clip_id": c, "file": f} for c, f in
            (("c1", "grf.npz"), ("c1", "imu.npz"), ("c2", "grf.npz"), ("c3", "imu.npz"))]
    (tmp_path / "manifest.csv").write_text("athlete_id,clip_id,file\n" + "".join(
        f"{r['athlete_id']},{r['clip_id']},{r['file']}\n" for r in rows))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"clips": {"test": ["c2", "c3"]}}))
    assert dataset_clips(tmp_path) == [("a0", "c1"), ("a0", "c2")]
    assert dataset_clips(tmp_path, split) == [("a0", "c2")]
    split.write_text(json.dumps({"clips": {"test": ["c3"]}}))
    with pytest.raises(RawDataError, match="no clip with force plates"):
        dataset_clips(tmp_path, split)


def test_report_lists_every_condition_and_the_qc_failures():
    m = {"rmse": 1.5, "icc_2_1": 0.99, "icc_3_1": 0.995, "n": 10}
    row = {"n_clips": 2, **{f"{c}_moment": m for c in ("knee_angle_r", "knee_angle_l", "hip_flexion_r",
                                                         "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")}}
    res = {"n_clips": 3, "clips": "test split", "plate_clock_error_ms": {"median": 0.1, "p95": 1.0, "max": 2.0},
           "qc_failed": {"clip9": {"action": "standing_long_jump", "reason": "plate r reads -90 N vertical"}},
           "per_action": {"all": row, "walk": row}, "per_phase": {"stance_r": {"knee_angle_r_moment": m,
                                                                               "hip_flexion_r_moment": m,
                                                                               "ankle_angle_r_moment": m}}}
    md = report_markdown({"estimated_sync_c0": res, "lab_clock_c0": res}, "python -m evaluation.torque_id X")
    assert md.count("| walk | 2 | 1.50 / 0.990 / 0.995") == 2
    assert "clip9 (standing_long_jump: plate r reads -90 N vertical)" in md
    assert "true clock" in md and "| stance_r | 10 | 1.50 |" in md
