"""lateral_shuffle: solvable, physical, deterministic, faults visible."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import build_body
from biomech.conventions import COORDINATES, GRAVITY
from biomech.kinematics import solve_motion

BODIES = [("male", 1.95, 95.0), ("female", 1.55, 50.0)]


def _plan(seed, fault="none", body=BODIES[0], duration=3.5):
    b = build_body(*body)
    return b, build_plan("lateral_shuffle", ActionContext(b, np.random.default_rng(seed), 200.0, duration, fault))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("body", BODIES)
def test_shuffle_solves_and_is_physical(seed, body):
    b, plan = _plan(seed, body=body)
    q, info = solve_motion(b, plan)
    assert info["foot_error_max_m"] < 0.005 and info["com_error_max_m"] < 1e-3
    ay = np.gradient(np.gradient(plan.com[:, 1], 1 / plan.fs), 1 / plan.fs)
    assert (ay + GRAVITY).min() > 0  # vertical GRF > 0
    assert abs(plan.com[-1, 2] - plan.com[0, 2]) > 1.0  # it travelled sideways
    for s in ("r", "l"):
        f = plan.feet[s]
        planted = f.contact[1:] & f.contact[:-1]
        step = np.linalg.norm(np.diff(f.pos, axis=0), axis=1)
        assert step[planted].max() < 1e-9  # planted feet do not slide
        assert (~f.contact).any()  # each foot steps
    # no kinks: second differences of the joint angles stay small
    knee = q[:, COORDINATES.index("knee_angle_r")]
    assert np.abs(np.diff(knee, 2)).max() < np.radians(2.0)


def test_shuffle_is_deterministic_and_faults_change_it():
    _, a = _plan(7)
    _, a2 = _plan(7)
    np.testing.assert_array_equal(a.com, a2.com)
    _, v = _plan(7, "knee_valgus")
    assert np.abs(v.feet["r"].swivel).max() > np.radians(8)
    _, lean = _plan(7, "trunk_lean")
    assert lean.pelvis_rot[:, 0].min() < a.pelvis_rot[:, 0].min() - np.radians(8)
