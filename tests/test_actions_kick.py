"""soccer_kick: solvable, physical, deterministic, faults visible."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import build_body
from biomech.conventions import GRAVITY
from biomech.kinematics import solve_motion


def _plan(seed, fault="none", body=("male", 1.95, 95.0), duration=3.5):
    b = build_body(*body)
    return b, build_plan("soccer_kick", ActionContext(b, np.random.default_rng(seed), 200.0, duration, fault))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("body", [("male", 1.95, 95.0), ("female", 1.55, 50.0)])
def test_kick_solves_and_is_physical(seed, body):
    b, plan = _plan(seed, body=body, duration=3.0)
    q, info = solve_motion(b, plan)
    assert info["foot_error_max_m"] < 0.005 and info["com_error_max_m"] < 1e-3
    ay = np.gradient(np.gradient(plan.com[:, 1], 1 / plan.fs), 1 / plan.fs)
    assert (ay + GRAVITY).min() > 0
    kick = plan.style["kicking_foot"]
    sup = "l" if kick == "r" else "r"
    assert plan.feet[sup].contact.all()  # the support foot never leaves the floor
    air = ~plan.feet[kick].contact
    assert air.any()
    # the kicking ankle passes low and fast in front: ball contact
    i = int(round(plan.events["ball_contact"] * plan.fs))
    v = np.gradient(plan.feet[kick].pos[:, 0], 1 / plan.fs)
    assert plan.feet[kick].pos[i, 1] < 0.3 and v[i] > 5.0
    # single stance: the vertical load is all on the support foot
    assert np.allclose(plan.feet[sup].load[air], 1.0)


def test_kick_is_deterministic_and_faults_change_it():
    _, a = _plan(3)
    _, a2 = _plan(3)
    np.testing.assert_array_equal(a.com, a2.com)
    _, lean = _plan(3, "trunk_lean")
    assert lean.upper["lumbar_extension"].max() > a.upper["lumbar_extension"].max() + np.radians(5)
    _, valgus = _plan(3, "knee_valgus")
    sup = "l" if valgus.style["kicking_foot"] == "r" else "r"
    assert valgus.feet[sup].swivel.max() > np.radians(10)
