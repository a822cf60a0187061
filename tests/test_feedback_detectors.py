"""biomech.feedback's scalar detectors (landmark knee valgus, landing knee flexion), their flags and
how evaluation.feedback counts them; serving.analyze.clip_segments (segments cut to the video)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.camera import MEDIAPIPE_LANDMARKS
from biomech.feedback import (FEEDBACK_JOINTS, Reference, build_reference, detector_reference, detector_z,
                              knee_medial_offset, landing_flexion, load_references, save_references,
                              segment_feedback, touchdowns, valgus_index)

I = {n: k for k, n in enumerate(MEDIAPIPE_LANDMARKS)}


def _legs(n: int, knee_in_r: np.ndarray, knee_in_l: np.ndarray) -> np.ndarray:
    """(n, 33, 3) y-up: hips 0.2 m apart at y 1, ankles below them at y 0.1, knees half-way, moved
    towards the other leg (z is the right side) by knee_in_* metres."""
    P = np.zeros((n, 33, 3))
    for side, z, inward in (("right", 0.1, -1.0), ("left", -0.1, 1.0)):
        P[:, I[f"{side}_hip"]] = [0.0, 1.0, z]
        P[:, I[f"{side}_ankle"]] = [0.0, 0.1, z]
        P[:, I[f"{side}_knee"], 1] = 0.55
        P[:, I[f"{side}_knee"], 2] = z + inward * (knee_in_r if side == "right" else knee_in_l)
    return P


def test_medial_offset_is_positive_for_a_knee_inside_the_hip_ankle_line_on_either_leg():
    P = _legs(3, np.array([0.09, -0.045, 0.0]), np.array([0.0, 0.09, -0.09]))
    off = knee_medial_offset(P)
    np.testing.assert_allclose(off[:, 0], [0.1, -0.05, 0.0], atol=1e-9)   # 0.09 m of a 0.9 m hip-ankle line
    np.testing.assert_allclose(off[:, 1], [0.0, 0.1, -0.1], atol=1e-9)


def test_valgus_index_takes_the_more_medial_knee_inside_the_time_window():
    n = 100
    t = np.arange(n) / 50.0
    r = np.where(t >= 1.0, 0.09, 0.0)        # the right knee collapses in the second half only
    P = _legs(n, r, np.zeros(n))
    assert valgus_index(t, P) == pytest.approx(0.1)
    assert valgus_index(t, P, 0.0, 0.9) == pytest.approx(0.0)
    assert valgus_index(t, P, 1.0, None, percentile=50) == pytest.approx(0.1)
    assert valgus_index(t, P, 5.0, 6.0) is None


def test_touchdown_after_a_flight_and_the_knee_excursion_after_it():
    fs, mass = 1000.0, 70.0
    t = np.arange(0, 2.0, 1 / fs)
    bw = 9.81 * mass
    total = np.where((t >= 0.8) & (t < 1.1), 0.0, bw)          # flight 0.8-1.1 s: touchdown at 1.1 s
    f = np.stack([total / 2, total / 2], 1)
    td = touchdowns(t, f, mass)
    assert td.tolist() == pytest.approx([1.1])
    tk = np.arange(0, 2.0, 0.01)
    knee = 10.0 + 40.0 * np.clip((tk - 1.1) / 0.2, 0, 1) * (tk >= 1.1)   # 10 deg at touchdown, 50 deg at 1.3 s
    assert landing_flexion(tk, knee, knee, td) == pytest.approx(40.0, abs=0.5)
    assert landing_flexion(tk, knee, knee, np.array([])) is None
    assert touchdowns(t, np.full_like(f, bw / 2), mass).size == 0              # no flight: no touchdown


def _ref(**detectors) -> Reference:
    rng = np.random.default_rng(1)
    clips = [np.sin(np.linspace(0, np.pi, 30))[:, None] * 50 + rng.normal(0, 1, (30, len(FEEDBACK_JOINTS)))
             for _ in range(3)]
    return build_reference("squat", clips, 25.0, detectors=detectors)


def test_detector_reference_is_median_and_robust_sd_and_z_points_towards_the_fault():
    r = detector_reference([0.08, 0.10, 0.12, None, float("nan")])
    assert r["clips"] == 3 and r["median"] == pytest.approx(0.10) and r["sd"] == pytest.approx(1.4826 * 0.02)
    assert detector_reference([0.1, 0.2]) is None
    ref = _ref(valgus_index=[0.08, 0.10, 0.12], landing_flexion=[30.0, 40.0, 50.0])
    assert detector_z("valgus_index", 0.10 + 3 * ref.detectors["valgus_index"]["sd"], ref) == pytest.approx(3.0)
    assert detector_z("landing_flexion", 40.0 - 2 * ref.detectors["landing_flexion"]["sd"], ref) == pytest.approx(2.0)
    assert detector_z("landing_flexion", 60.0, ref) < 0         # a softer landing than the clean ones is no fault
    assert detector_z("valgus_index", None, ref) is None


def test_segment_feedback_flags_a_detector_beyond_its_z_and_the_reference_file_keeps_them(tmp_path):
    ref = _ref(valgus_index=[0.08, 0.10, 0.12], landing_flexion=[30.0, 40.0, 50.0])
    seg = ref.mean.copy()
    fb = segment_feedback(seg, ref, detectors={"valgus_index": 0.25, "landing_flexion": 35.0}, valgus_z=3.0,
                          landing_z=2.0)
    assert fb["detectors"]["valgus_index"]["flagged"] and not fb["detectors"]["landing_flexion"]["flagged"]
    assert any("hip-ankle line" in m for m in fb["messages"])
    assert not any("touchdown" in m for m in fb["messages"])
    assert segment_feedback(seg, ref, detectors={"valgus_index": None})["detectors"] == {}
    refs, _ = load_references(save_references(tmp_path / "r.npz", {"squat": ref}))
    assert refs["squat"].detectors == ref.detectors


def test_evaluation_counts_a_detector_hit_for_its_fault_and_a_clean_clip_it_flags_as_false_trigger():
    from evaluation.feedback import rates

    def row(fault, z):
        return {"action": "squat", "fault": fault, "deviation_deg": {j: 0.0 for j in FEEDBACK_JOINTS},
                "detector_z": {"valgus_index": z, "landing_flexion": None}}

    rows = [row("knee_valgus", 4.0), row("knee_valgus", 1.0), row("none", 3.5), row("none", 0.0)]
    at3 = rates(rows, 9.0, z_at={"valgus_index": 3.0, "landing_flexion": 2.0})
    v = at3["per_fault"]["knee_valgus"]
    assert (v["hits"], v["detector_hits"], v["false_triggers"]) == (1, 1, 1)
    assert at3["false_trigger_rate"] == pytest.approx(0.5) and at3["detector_false_triggers"] == 1
    off = rates(rows, 9.0)                                        # no z thresholds: the detectors are off
    assert off["per_fault"]["knee_valgus"]["hits"] == 0 and off["false_trigger_rate"] == 0
    assert rates(rows, 9.0, z_at={"valgus_index": 5.0, "landing_flexion": 2.0})["hit_rate"] == 0


def test_segments_are_cut_to_the_video():
    from serving.analyze import clip_segments
    from serving.schemas import Segment

    segs = [Segment(action="squat", t_start_s=0.0, t_end_s=1.28, probability=0.9),
            Segment(action="run", t_start_s=0.7, t_end_s=1.28, probability=0.6)]
    out = clip_segments(segs, 0.6667)
    assert [(s.action, s.t_start_s, s.t_end_s) for s in out] == [("squat", 0.0, 0.6667)]
    assert clip_segments(segs[:1], 2.0)[0].t_end_s == 1.28
