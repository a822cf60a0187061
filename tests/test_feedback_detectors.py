"""biomech.feedback's scalar detectors (landmark knee valgus angle, plate landing loading rate), their flags and
how evaluation.feedback counts them; serving.analyze.clip_segments (segments cut to the video)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.camera import MEDIAPIPE_LANDMARKS
from biomech.feedback import (FEEDBACK_JOINTS, Reference, build_reference, detector_reference, detector_z,
                              knee_offsets, landing_load_rate, load_references, save_references, segment_feedback,
                              touchdowns, trunk_inclination, trunk_lean_change, valgus_angle)

I = {n: k for k, n in enumerate(MEDIAPIPE_LANDMARKS)}


def _legs(n: int, swivel_deg: np.ndarray, lift_l: float = 0.0) -> np.ndarray:
    """(n, 33, 3) y-up, facing +z (the right hip at -x): hips 0.2 m apart at y 1, ankles below them at
    y 0.1 (the left one ``lift_l`` higher), knees bent 0.3 m off the hip-ankle line, forward rotated
    medially by ``swivel_deg`` (per frame) on both legs."""
    P = np.zeros((n, 33, 3))
    a = np.radians(swivel_deg)
    for side, x, medial in (("right", -0.1, 1.0), ("left", 0.1, -1.0)):   # medial: towards the other hip
        P[:, I[f"{side}_hip"]] = [x, 1.0, 0.0]
        P[:, I[f"{side}_ankle"]] = [x, 0.1 + (lift_l if side == "left" else 0.0), 0.0]
        P[:, I[f"{side}_knee"], 0] = x + medial * 0.3 * np.sin(a)
        P[:, I[f"{side}_knee"], 1] = 0.55
        P[:, I[f"{side}_knee"], 2] = 0.3 * np.cos(a)
    return P


def test_knee_offsets_split_the_offset_into_medial_and_forward_on_either_leg():
    o = knee_offsets(_legs(2, np.array([0.0, 30.0])))
    np.testing.assert_allclose(o["forward"][0], [0.3, 0.3], atol=1e-9)
    np.testing.assert_allclose(o["medial"][1], [0.15, 0.15], atol=1e-9)        # 0.3 m x sin 30 deg, both legs
    np.testing.assert_allclose(o["ratio"][0], [1 / 3, 1 / 3], atol=1e-9)         # 0.3 m of a 0.9 m hip-ankle line
    assert o["stance"].all()
    assert not knee_offsets(_legs(1, np.zeros(1), lift_l=0.2))["stance"][0, 1]   # the lifted leg swings


def test_valgus_angle_is_the_knee_direction_inside_the_window_and_none_for_straight_legs():
    n = 100
    t = np.arange(n) / 50.0
    P = _legs(n, np.where(t >= 1.0, 20.0, -5.0))        # the knees turn in during the second second only
    assert valgus_angle(t, P, 1.0, None) == pytest.approx(20.0)
    assert valgus_angle(t, P, 0.0, 0.9) == pytest.approx(-5.0)
    assert valgus_angle(t, P, 0.0, 0.04) is None          # fewer than 4 frames
    straight = P.copy()
    straight[:, [I["right_knee"], I["left_knee"]]] = 0.5 * (P[:, [I["right_hip"], I["left_hip"]]]
                                                            + P[:, [I["right_ankle"], I["left_ankle"]]])
    assert valgus_angle(t, straight) is None


def test_trunk_tilt_from_the_starting_posture_either_way():
    n = 100
    t = np.arange(n) / 50.0
    lean = np.where(t >= 1.0, 30.0, 5.0)                    # stands 5 deg forwards, then leans to 30 deg
    P = _legs(n, np.zeros(n))
    a = np.radians(lean)
    for side, x in (("right", -0.1), ("left", 0.1)):       # shoulders 0.5 m from the hips, tilted forwards (+z)
        P[:, I[f"{side}_shoulder"]] = np.stack([np.full(n, x), 1.0 + 0.5 * np.cos(a), 0.5 * np.sin(a)], 1)
    np.testing.assert_allclose(trunk_inclination(P), lean, atol=1e-9)
    assert trunk_lean_change(t, P) == pytest.approx(25.0)
    back = P.copy()
    back[..., 2] *= np.where(np.arange(33) < 13, -1.0, 1.0)[None, :]   # the shoulders tilt backwards instead
    assert trunk_inclination(back)[0] == pytest.approx(-5.0)
    assert trunk_lean_change(t, back) == pytest.approx(25.0)
    assert trunk_lean_change(t, P, 0.0, 0.9) == pytest.approx(0.0)
    assert trunk_lean_change(t, P, 5.0, 6.0) is None


def _landing(t: np.ndarray, bw: float, rise_s: float) -> np.ndarray:
    """Two plates' vertical forces (T, 2): standing, a flight 0.8-1.1 s, then 3 body weights reached
    ``rise_s`` after touchdown, back to 1 body weight over 0.3 s."""
    total = np.where(t < 0.8, bw, 0.0)
    up = t >= 1.1
    total = np.where(up, 3.0 * bw * np.clip((t - 1.1) / rise_s, 0, 1), total)
    total = np.where(t >= 1.1 + rise_s, bw * (3.0 - 2.0 * np.clip((t - 1.1 - rise_s) / 0.3, 0, 1)), total)
    return np.stack([total / 2, total / 2], 1)


def test_touchdown_after_a_flight_and_the_landing_loading_rate():
    fs, mass = 1000.0, 70.0
    t = np.arange(0, 2.0, 1 / fs)
    bw = 9.81 * mass
    soft, stiff = _landing(t, bw, 0.05), _landing(t, bw, 0.02)
    td = touchdowns(t, soft, mass)
    assert len(td) == 1 and 1.1 < td[0] < 1.11               # flight 0.8-1.1 s: back above 0.2 BW
    rate = landing_load_rate(t, soft, mass)
    assert rate == pytest.approx(3.0 / 0.05, rel=0.1)           # ~60 BW/s (10 ms averages blunt the peak)
    assert landing_load_rate(t, stiff, mass) > 1.7 * rate       # the same peak reached sooner
    assert landing_load_rate(t, soft, mass, 0.0, 1.0) is None   # no touchdown in the window
    assert touchdowns(t, np.full_like(soft, bw / 2), mass).size == 0   # no flight: no touchdown


def _ref(**detectors) -> Reference:
    rng = np.random.default_rng(1)
    clips = [np.sin(np.linspace(0, np.pi, 30))[:, None] * 50 + rng.normal(0, 1, (30, len(FEEDBACK_JOINTS)))
             for _ in range(3)]
    return build_reference("squat", clips, 25.0, detectors=detectors)


def test_detector_reference_is_median_and_robust_sd_and_z_points_towards_the_fault():
    r = detector_reference("valgus_angle", [-8.0, -5.0, -2.0, None, float("nan")])
    assert r["clips"] == 3 and r["median"] == pytest.approx(-5.0) and r["sd"] == pytest.approx(1.4826 * 3.0)
    assert detector_reference("valgus_angle", [1.0, 2.0]) is None
    lr = detector_reference("landing_load_rate", [20.0, 40.0, 80.0])          # on the log: e^(ln 40 +- ln 2)
    assert lr["median"] == pytest.approx(np.log(40.0)) and lr["sd"] == pytest.approx(1.4826 * np.log(2.0))
    ref = _ref(valgus_angle=[-8.0, -5.0, -2.0], landing_load_rate=[20.0, 40.0, 80.0])
    assert detector_z("valgus_angle", -5.0 + 3 * 1.4826 * 3.0, ref) == pytest.approx(3.0)
    assert detector_z("landing_load_rate", 40.0 * 2.0 ** (2 * 1.4826), ref) == pytest.approx(2.0)
    assert detector_z("landing_load_rate", 20.0, ref) < 0        # a softer landing than the clean ones is no fault
    assert detector_z("valgus_angle", None, ref) is None
    assert detector_z("valgus_angle", 30.0, _ref()) is None      # a class without the fault: no reference


def test_segment_feedback_flags_a_detector_beyond_its_z_and_the_reference_file_keeps_them(tmp_path):
    ref = _ref(valgus_angle=[-8.0, -5.0, -2.0], landing_load_rate=[20.0, 40.0, 80.0])
    seg = ref.mean.copy()
    fb = segment_feedback(seg, ref, detectors={"valgus_angle": 15.0, "landing_load_rate": 60.0}, valgus_z=3.0,
                          landing_z=2.0)
    assert fb["detectors"]["valgus_angle"]["flagged"] and not fb["detectors"]["landing_load_rate"]["flagged"]
    assert any("inwards" in m for m in fb["messages"])
    assert not any("body weights per second" in m for m in fb["messages"])
    assert segment_feedback(seg, ref, detectors={"valgus_angle": None})["detectors"] == {}
    off = segment_feedback(seg, ref, detectors={"valgus_angle": 15.0}, valgus_z=None)["detectors"]["valgus_angle"]
    assert off["z"] > 3 and not off["flagged"]                    # z None: the detector is off, still reported
    refs, _ = load_references(save_references(tmp_path / "r.npz", {"squat": ref}))
    assert refs["squat"].detectors == ref.detectors


def test_evaluation_counts_a_detector_hit_for_its_fault_and_a_clean_clip_it_flags_as_false_trigger():
    from evaluation.feedback import rates

    def row(fault, z):
        return {"action": "squat", "fault": fault, "deviation_deg": {j: 0.0 for j in FEEDBACK_JOINTS},
                "detector_z": {"valgus_angle": z, "landing_load_rate": None}}

    rows = [row("knee_valgus", 4.0), row("knee_valgus", 1.0), row("none", 3.5), row("none", 0.0)]
    at3 = rates(rows, 9.0, z_at={"valgus_angle": 3.0, "landing_load_rate": 2.0})
    v = at3["per_fault"]["knee_valgus"]
    assert (v["hits"], v["detector_hits"], v["false_triggers"]) == (1, 1, 1)
    assert at3["false_trigger_rate"] == pytest.approx(0.5) and at3["detector_false_triggers"] == 1
    off = rates(rows, 9.0)                                        # no z thresholds: the detectors are off
    assert off["per_fault"]["knee_valgus"]["hits"] == 0 and off["false_trigger_rate"] == 0
    assert rates(rows, 9.0, z_at={"valgus_angle": 5.0, "landing_load_rate": 2.0})["hit_rate"] == 0


def test_segments_are_cut_to_the_video():
    from serving.analyze import clip_segments
    from serving.schemas import Segment

    segs = [Segment(action="squat", t_start_s=0.0, t_end_s=1.28, probability=0.9),
            Segment(action="run", t_start_s=0.7, t_end_s=1.28, probability=0.6)]
    out = clip_segments(segs, 0.6667)
    assert [(s.action, s.t_start_s, s.t_end_s) for s in out] == [("squat", 0.0, 0.6667)]
    assert clip_segments(segs[:1], 2.0)[0].t_end_s == 1.28


def test_settings_are_chosen_jointly_for_the_most_hits_within_the_false_trigger_budget():
    from evaluation.feedback import select_settings

    def row(fault, knee, z):
        return {"action": "squat", "fault": fault,
                "deviation_deg": {j: (knee if j == "hip_adduction_r" else 0.0) for j in FEEDBACK_JOINTS},
                "detector_z": {"valgus_angle": z, "landing_load_rate": None}}

    rows = [row("knee_valgus", 12.0, 0.0), row("knee_valgus", 0.0, 2.5), row("knee_valgus", 0.0, 1.2),
            row("none", 8.0, 0.0), row("none", 0.0, 1.0), row("none", 0.0, 0.0), row("none", 0.0, 0.0)]
    best = select_settings(rows, [7, 11], [1.5, 3], max_false_trigger=0.25)
    # 7 deg flags the clean 8 deg clip (25 %), so z 1.5 would add a second false trigger: 11 deg + z 1.5 wins
    assert (best["threshold_deg"], best["valgus_z"]) == (11, 1.5)
    assert best["hit_rate"] == pytest.approx(2 / 3) and best["false_trigger_rate"] == 0
    tight = select_settings(rows, [7, 11], [0.5, 3], max_false_trigger=0.0)
    assert (tight["threshold_deg"], tight["valgus_z"]) == (11, None)   # z 3 adds no hit over the detector off
    assert tight["landing_z"] is None and tight["trunk_z"] is None      # no clip has these: off
