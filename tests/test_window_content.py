"""Ground-truth window content (evaluation.window_content): still vs moving windows, jump phases."""
import numpy as np
import pytest

from evaluation.window_content import error_table, window_category, window_motion

COLS = ["pelvis_tx", "pelvis_ty", "pelvis_tz", "knee_angle_r", "hip_flexion_r"]


def _clip():
    t = np.arange(0, 4, 0.01)
    data = np.zeros((len(t), len(COLS)))
    data[:, 1] = 0.9
    move = (t >= 2.0) & (t < 3.0)                        # a 1 s squat-like dip in the middle
    data[move, 3] = 90 * np.sin(np.pi * (t[move] - 2.0))
    data[move, 1] = 0.9 - 0.3 * np.sin(np.pi * (t[move] - 2.0))
    return t, data


def test_window_motion_sees_the_movement_only_where_it_is():
    t, data = _clip()
    still = window_motion(t, COLS, data, 0.2, 1.28)
    moving = window_motion(t, COLS, data, 1.8, 1.28)
    assert still == {"joint_range_deg": 0.0, "travel_m": 0.0}
    assert moving["joint_range_deg"] == pytest.approx(90, abs=0.1)
    assert moving["travel_m"] == pytest.approx(0.3, abs=0.005)
    with pytest.raises(ValueError, match="no ground-truth sample"):
        window_motion(t, COLS, data, 9.0, 1.28)


EVENTS = {"dip_start": 1.0, "bottom": 1.6, "takeoff": 2.1, "landing": 2.5, "absorbed": 2.6, "standing": 3.2}


@pytest.mark.parametrize("t0,motion,want", [
    (0.0, {"joint_range_deg": 1.0, "travel_m": 0.0}, "idle"),
    (0.7, {"joint_range_deg": 60.0, "travel_m": 0.2}, "pre-takeoff"),     # ends at 1.98 < takeoff 2.1
    (1.5, {"joint_range_deg": 120.0, "travel_m": 0.8}, "movement"),
    (2.7, {"joint_range_deg": 10.0, "travel_m": 0.05}, "post-landing"),
])
def test_window_category_of_a_jump(t0, motion, want):
    assert window_category(motion, "standing_long_jump", EVENTS, t0, 1.28) == want


def test_window_category_kick_and_lunge_and_threshold():
    kick = {"ball_contact": 1.1, "touchdown": 1.7}
    moving = {"joint_range_deg": 30.0, "travel_m": 0.1}
    assert window_category(moving, "soccer_kick", kick, 1.8, 1.28) == "post-kick"
    assert window_category(moving, "soccer_kick", kick, 0.5, 1.28) == "movement"
    assert window_category(moving, "lunge", {"rep1_return": 2.0, "rep2_return": 3.5}, 2.5, 1.28) == "movement"
    assert window_category(moving, "lunge", {"rep1_return": 2.0}, 2.5, 1.28) == "post-return"
    assert window_category({"joint_range_deg": 4.0, "travel_m": 0.0}, "walk", {}, 0, 1.28, idle_deg=3.0) == "movement"


def test_error_table_counts_errors_per_category():
    label = np.array([0, 1, 2, 3])
    cat = np.array(["idle", "idle", "movement", "pre-takeoff"])
    t = error_table(label, {"m": np.array([1, 1, 2, 0])}, cat)
    assert t["windows"] == {"idle": 2, "movement": 1, "pre-takeoff": 1}
    assert t["models"]["m"] == {"errors": 2, "by_category": {"idle": 1, "pre-takeoff": 1}}
