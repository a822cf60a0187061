"""Dynamic knee valgus in the generator: a positive leg swivel moves the knees toward each other.

Valgus (the knee collapsing medially) is hip adduction with internal rotation in OpenSim's
convention (hip_adduction + = adduction, hip_rotation + = internal, both sides). The generator's
`knee_valgus` fault sets a positive `FootTrack.swivel`; before the sign fix in
`biomech.kinematics.legs_ik` it moved the knees apart (hip abduction and external rotation).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import build_body, forward_kinematics, landmarks_world, q_index
from biomech.kinematics import solve_motion

KNEE_L, KNEE_R = 25, 26


def _solve(body, plan, zero_swivel: bool):
    p = copy.deepcopy(plan)
    if zero_swivel:
        for f in p.feet.values():
            f.swivel = np.zeros_like(f.swivel)
    q, _ = solve_motion(body, p)
    lm = landmarks_world(body, forward_kinematics(body, torch.as_tensor(q))).numpy()
    return q, lm


@pytest.mark.parametrize("action", ["squat", "countermovement_jump", "lateral_shuffle"])
def test_knee_valgus_brings_the_knees_together(action):
    body = build_body("male", 1.80, 75.0)
    plan = build_plan(action, ActionContext(body, np.random.default_rng(3), 200.0, 4.0, "knee_valgus"))
    k = int(np.argmax(plan.feet["r"].swivel + plan.feet["l"].swivel))
    assert plan.feet["r"].swivel[k] > np.radians(10)
    q_v, lm_v = _solve(body, plan, zero_swivel=False)
    q_0, lm_0 = _solve(body, plan, zero_swivel=True)
    gap_v = np.linalg.norm(lm_v[k, KNEE_L] - lm_v[k, KNEE_R])
    gap_0 = np.linalg.norm(lm_0[k, KNEE_L] - lm_0[k, KNEE_R])
    assert gap_v < gap_0 - 0.03, (gap_v, gap_0)   # >= 3 cm closer
    for s in "rl":
        assert q_v[k, q_index(f"hip_adduction_{s}")] > q_0[k, q_index(f"hip_adduction_{s}")] + np.radians(3)
        assert q_v[k, q_index(f"hip_rotation_{s}")] > q_0[k, q_index(f"hip_rotation_{s}")] + np.radians(3)
