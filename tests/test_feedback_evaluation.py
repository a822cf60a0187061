"""evaluation.feedback: hit / false-trigger rates per fault type and the threshold chosen off the test split."""
from __future__ import annotations

import pytest

from biomech.feedback import FEEDBACK_JOINTS, FeedbackError
from evaluation.feedback import FeedbackParams, evaluate, rates, select_threshold


def _row(action: str, fault: str, **dev: float) -> dict:
    return {"action": action, "fault": fault, "deviation_deg": {j: dev.get(j, 0.0) for j in FEEDBACK_JOINTS}}


ROWS = [
    _row("squat", "shallow_squat", knee_angle_r=-30.0),            # hit at every threshold up to 30
    _row("squat", "knee_valgus", knee_angle_r=-12.0),              # flagged, but not on a valgus joint: a miss
    _row("squat", "knee_valgus", hip_adduction_l=8.0),             # a hit up to 8 deg
    _row("squat", "none", lumbar_extension=10.0),                  # a false trigger, not on a sagittal leg joint
    _row("squat", "none"),
    _row("run", "none", knee_angle_l=6.0),                         # a run: no squat fault exists for it
    _row("run", "none"),
]


def test_rates_per_fault_count_hits_on_the_faults_joints_and_false_triggers_of_its_actions():
    r = rates(ROWS, 7.0)
    assert (r["faulty_clips"], r["clean_clips"]) == (3, 4)
    assert r["hit_rate"] == pytest.approx(2 / 3) and r["false_trigger_rate"] == pytest.approx(1 / 4)
    v = r["per_fault"]["knee_valgus"]
    assert (v["clips"], v["hits"], v["clean_clips"], v["false_triggers"]) == (2, 1, 2, 0)   # squats only
    s = rates(ROWS, 5.0)["per_fault"]["shallow_squat"]
    assert (s["clean_clips"], s["false_triggers"]) == (2, 0)       # the run's knee is no squat's false trigger
    assert rates(ROWS, 9.0)["per_fault"]["knee_valgus"]["hits"] == 0


def test_the_threshold_is_the_most_hits_within_the_false_trigger_budget():
    sweep = [rates(ROWS, th) for th in (3, 5, 7, 9, 11)]
    assert [s["false_trigger_rate"] for s in sweep] == [0.5, 0.5, 0.25, 0.25, 0.0]
    assert select_threshold(sweep, 0.3)["threshold_deg"] == 7      # 2/3 hits at 0.25 (3 and 5: 0.5)
    assert select_threshold(sweep, 0.1)["threshold_deg"] == 11
    assert select_threshold(sweep[:2], 0.1)["threshold_deg"] == 5  # none within: the fewest false triggers


def test_the_threshold_is_never_chosen_on_the_scored_split(tmp_path):
    from biomech.feedback import build_reference, save_references
    import numpy as np

    ref = save_references(tmp_path / "r.npz", {"squat": build_reference("squat", [np.zeros((10, len(FEEDBACK_JOINTS)))], 25.0)})
    p = FeedbackParams(reference=str(ref), split="test", select_split="test")
    with pytest.raises(FeedbackError, match="select_split 'test'"):
        evaluate(p)


def test_unflagged_joints_count_neither_as_hits_nor_as_false_triggers():
    rows = [_row("squat", "shallow_squat", ankle_angle_r=-20.0), _row("squat", "none", ankle_angle_l=20.0)]
    assert (rates(rows, 7.0)["hit_rate"], rates(rows, 7.0)["false_trigger_rate"]) == (1.0, 1.0)
    r = rates(rows, 7.0, ("ankle_angle_r", "ankle_angle_l"))
    assert (r["hit_rate"], r["false_trigger_rate"]) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"unknown joints \['ankle'\]"):
        FeedbackParams(unflagged_joints=["ankle"])


def test_the_fault_head_counts_only_its_own_fault_and_the_combined_detector_is_either():
    from evaluation.feedback import fault_head_rates

    head = [{"action": "squat", "fault": "knee_valgus", "detected": "knee_valgus"},
            {"action": "squat", "fault": "knee_valgus", "detected": "trunk_lean"},       # a wrong fault: a miss
            {"action": "squat", "fault": "none", "detected": "trunk_lean"},              # a false trigger
            {"action": "squat", "fault": "none", "detected": "none"}]
    fh = fault_head_rates(head)
    assert (fh["hits"], fh["false_triggers"]) == (1, 1)
    assert fh["per_fault"]["knee_valgus"]["false_triggers"] == 0                        # detected as trunk lean
    rows = [dict(_row("squat", "knee_valgus"), head_detected="knee_valgus"),            # the head alone finds it
            dict(_row("squat", "knee_valgus", hip_adduction_r=9.0), head_detected="none"),
            dict(_row("squat", "none"), head_detected="trunk_lean"),
            dict(_row("squat", "none"), head_detected=None)]                            # no head row: no flag
    assert rates(rows, 7.0)["hit_rate"] == 0.5 and rates(rows, 7.0)["false_trigger_rate"] == 0.0
    both = rates(rows, 7.0, head=True)
    assert (both["hit_rate"], both["false_trigger_rate"]) == (1.0, 0.5)


def test_the_fault_head_bundle_is_a_folder_or_the_package_stages_bento_json(tmp_path):
    from evaluation.feedback import resolve_bundle

    assert resolve_bundle(str(tmp_path)) == tmp_path
    with pytest.raises(FeedbackError, match="no such file"):
        resolve_bundle(str(tmp_path / "bento.json"))
    (tmp_path / "bento.json").write_text('{"bento": "athlete-mm:x"}')
    with pytest.raises(FeedbackError, match="no 'model'"):
        resolve_bundle(str(tmp_path / "bento.json"))
