"""biomech.feedback's plate load flag: how unevenly two plates share the load with both feet down,
against the clean clips of the class (asymmetric landing: a load share no joint angle shows)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.feedback import (FEEDBACK_JOINTS, FeedbackError, build_reference, load_asymmetry, load_references,
                              save_references, segment_feedback)
from evaluation.feedback import rates

MASS, G, RATE = 70.0, 9.81, 1000.0


def _landing(share_1: float, seconds: float = 2.0, single_leg: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two plates (T, 2) N: quiet standing 50/50, then 0.4 s of a 2.5 BW landing with plate 1
    (index 1) taking ``share_1`` of it, then standing again; ``single_leg``: plate 0 only throughout."""
    t = np.arange(0, seconds, 1 / RATE)
    total = MASS * G * (1 + 1.5 * ((t > 0.8) & (t < 1.2)))
    s1 = np.where((t > 0.8) & (t < 1.2), share_1, 0.5)
    f = np.stack([total * (1 - s1), total * s1], 1)
    if single_leg:
        f = np.stack([total, np.zeros_like(total)], 1)
    return t, f + np.random.default_rng(0).normal(0, 5.0, f.shape)   # 5 N plate noise


def test_an_even_landing_reads_near_zero_and_a_70_30_one_near_0_4_on_the_heavier_plate():
    even = load_asymmetry(*_landing(0.5), MASS)
    assert even["asymmetry"] < 0.02 and even["double_support_s"] == pytest.approx(2.0, abs=0.01)
    lop = load_asymmetry(*_landing(0.7), MASS)
    assert lop["asymmetry"] == pytest.approx(0.4, abs=0.02) and lop["heavier_plate"] == 1
    assert load_asymmetry(*_landing(0.3), MASS)["heavier_plate"] == 0
    t, f = _landing(0.7)
    assert load_asymmetry(t, f[:, ::-1], MASS)["asymmetry"] == pytest.approx(lop["asymmetry"])   # side-agnostic
    assert load_asymmetry(t, f, MASS, t_start=1.3)["asymmetry"] < 0.02      # the landing is outside the window


def test_no_double_support_gives_no_figure_and_bad_plates_are_named():
    assert load_asymmetry(*_landing(0.5, single_leg=True), MASS) is None
    t, f = _landing(0.5)
    with pytest.raises(FeedbackError, match=r"plates: vertical force of shape \[2000, 3\]"):
        load_asymmetry(t, np.c_[f, f[:, :1]], MASS)
    with pytest.raises(FeedbackError, match="mass 0"):
        load_asymmetry(t, f, 0)


@pytest.fixture()
def ref():
    clips = [np.zeros((30, len(FEEDBACK_JOINTS))) + k * 0.1 for k in range(3)]
    return build_reference("countermovement_jump", clips, 25.0, load=[0.01, 0.02, 0.03, None])


def test_the_load_flag_fires_beyond_the_clean_clips_by_the_margin_and_names_the_leg(ref, tmp_path):
    assert ref.load_clips == 3 and ref.load_asymmetry == pytest.approx(0.029)      # 95th percentile of 3
    seg = np.zeros((30, len(FEEDBACK_JOINTS)))
    lop = load_asymmetry(*_landing(0.72), MASS)
    fb = segment_feedback(seg, ref, load=lop, load_margin=0.15, plate_sides=("r", "l"))
    assert fb["load"]["flagged"] and fb["flagged_joints"] == []
    assert fb["messages"] == ["the left leg takes 72% of the load with both feet down (clean countermovement_jump "
                              "up to 51%): share it evenly"]
    assert segment_feedback(seg, ref, load=lop, load_margin=0.5)["load"]["flagged"] is False
    assert segment_feedback(seg, ref, load=lop)["load"]["heavier"] == "plate 2"          # sides unknown
    assert segment_feedback(seg, ref)["load"] is None                                    # no plates
    path = save_references(tmp_path / "r.npz", {ref.action: ref})
    back = load_references(path)[0][ref.action]
    assert (back.load_asymmetry, back.load_clips) == (pytest.approx(ref.load_asymmetry), 3)


def test_a_reference_without_load_figures_never_flags_the_load(tmp_path):
    r = build_reference("run", [np.zeros((30, len(FEEDBACK_JOINTS)))], 25.0)
    assert r.load_asymmetry is None
    assert segment_feedback(np.zeros((30, len(FEEDBACK_JOINTS))), r, load={"asymmetry": 0.9, "heavier_plate": 0,
                                                                            "double_support_s": 1.0})["load"] is None


def _row(fault: str, load_flagged: bool, **dev: float) -> dict:
    return {"action": "countermovement_jump", "fault": fault, "plates": True, "load_flagged": load_flagged,
            "deviation_deg": {j: dev.get(j, 0.0) for j in FEEDBACK_JOINTS}}


def test_the_load_flag_hits_asymmetric_landing_only_and_counts_as_a_false_trigger_on_clean_clips():
    rows = [_row("asymmetric_landing", True), _row("asymmetric_landing", False),
            _row("stiff_landing", True),                                    # the load flag is no stiff-landing hit
            _row("none", True), _row("none", False), _row("none", False, knee_angle_r=12.0)]
    r = rates(rows, 9.0)
    a, s = r["per_fault"]["asymmetric_landing"], r["per_fault"]["stiff_landing"]
    assert (a["hits"], a["angle_hits"], a["with_plates"]) == (1, 0, 2)
    assert a["false_triggers"] == 2                                         # the load-flagged and the knee-flagged clean clip
    assert (s["hits"], s["false_triggers"]) == (0, 1)                       # the knee-flagged clean clip
    assert (r["false_triggers"], r["load_false_triggers"]) == (2, 1)
