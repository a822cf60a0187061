"""Skill actions (biomech/actions/skills.py): plans solve, physics of the designed CoM, faults."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.actions import FAULTS, build_plan, registered_actions
from biomech.actions.common import ActionContext
from biomech.body import build_body
from biomech.conventions import GRAVITY
from biomech.kinematics import foot_rotation, solve_motion

FS = 200.0
ACTIONS = [a for a in ("lunge", "jumping_jack", "tennis_serve", "soccer_kick") if a in registered_actions()]
BODIES = [("male", 1.95, 95.0), ("female", 1.55, 50.0)]


def _plan(action, seed=0, body=0, dur=3.0, fault="none"):
    b = build_body(*BODIES[body])
    return b, build_plan(action, ActionContext(b, np.random.default_rng(seed), FS, dur, fault))


def _acc_y(plan):
    return np.gradient(np.gradient(plan.com[:, 1], 1 / FS), 1 / FS)


def _flight(plan):
    return ~(plan.feet["r"].contact | plan.feet["l"].contact)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("seed,body", [(0, 0), (1, 1)])
def test_plan_solves_within_reach(action, seed, body):
    b, plan = _plan(action, seed, body)
    _, info = solve_motion(b, plan)
    assert info["foot_error_max_m"] < 5e-3
    assert info["reach_shortfall_max_m"] < 5e-3
    assert info["com_error_max_m"] < 1e-3


@pytest.mark.parametrize("action", ACTIONS)
def test_ballistic_flight_and_nonnegative_grf(action):
    for seed in (0, 2):
        _, plan = _plan(action, seed, seed % 2)
        a = _acc_y(plan)
        fl = _flight(plan)
        inner = fl & np.roll(fl, 3) & np.roll(fl, -3)
        if inner.any():
            assert np.abs(a[inner] + GRAVITY).max() < 0.05
        grf = (a + GRAVITY) / GRAVITY
        assert grf[2:-2].min() > -0.01
        assert np.abs(np.diff(grf)).max() < 0.5  # continuous at 200 Hz


@pytest.mark.parametrize("action", ACTIONS)
def test_planted_feet_do_not_move(action):
    b, plan = _plan(action, 3, 0)
    toe_local = np.array([(1 - b.heel_back) * b.foot_length, -b.ankle_height, 0.0])
    for f in plan.feet.values():
        R = foot_rotation(f.yaw, f.pitch, np.zeros_like(f.yaw)).numpy()
        toe = f.pos + R @ toe_local
        c = f.contact.astype(int)
        runs = np.split(np.arange(len(c)), np.flatnonzero(np.diff(c)) + 1)
        for r in runs:
            if f.contact[r[0]] and len(r) > 1:
                assert np.abs(toe[r] - toe[r[0]]).max() < 1e-6
                assert np.abs(f.yaw[r] - f.yaw[r[0]]).max() < 1e-9
        assert (toe[:, 1] > -1e-6).all()


@pytest.mark.parametrize("action", ACTIONS)
def test_same_seed_same_plan(action):
    _, p1 = _plan(action, 5, 1)
    _, p2 = _plan(action, 5, 1)
    assert np.array_equal(p1.com, p2.com)
    for s in ("r", "l"):
        assert np.array_equal(p1.feet[s].pos, p2.feet[s].pos)


def _summary(plan):
    q = {"com": plan.com, "pelvis": plan.pelvis_rot}
    q.update({k: v for k, v in plan.upper.items()})
    for s, f in plan.feet.items():
        q[f"swivel_{s}"] = f.swivel
        q[f"load_{s}"] = f.load if f.load is not None else np.full(plan.n, 0.5)
    return q


@pytest.mark.parametrize("action", ACTIONS)
def test_faults_change_the_motion(action):
    _, base = _plan(action, 4, 0)
    grf0 = (_acc_y(base) + GRAVITY) / GRAVITY
    for fault in FAULTS[action]:
        _, p = _plan(action, 4, 0, fault=fault)
        a, b = _summary(base), _summary(p)
        if fault == "knee_valgus":
            assert max(np.abs(v.swivel).max() for v in p.feet.values()) > 10 * np.pi / 180
        elif fault == "trunk_lean":
            lean = lambda pl: np.abs(pl.pelvis_rot[:, 0] + pl.upper["lumbar_extension"]).max()  # noqa: E731
            assert lean(p) > lean(base) + 10 * np.pi / 180
        elif fault == "asymmetric_landing":
            assert max(np.nanmax(v.load) for v in p.feet.values() if v.load is not None) > 0.65
        elif fault == "stiff_landing":
            grf = (_acc_y(p) + GRAVITY) / GRAVITY
            assert p.style["contact_time_s"] < 0.32 or grf.max() > grf0.max()
        elif fault == "shallow_lunge":
            assert p.style["depth_m"] < 0.75 * base.style["depth_m"]
        else:
            diff = max(np.abs(a[k] - b[k]).max() for k in a if k in b and a[k].shape == b[k].shape)
            assert diff > 0.02


def _knees(b, plan):
    from biomech.body import q_index
    q, _ = solve_motion(b, plan)
    return {s: np.degrees(q[:, q_index(f"knee_angle_{s}")]) for s in ("r", "l")}


@pytest.mark.skipif("tennis_serve" not in registered_actions(), reason="not registered")
def test_tennis_serve_platform_technique():
    for seed, body in ((0, 0), (1, 1)):
        b, plan = _plan("tennis_serve", seed, body)
        ev, fs = plan.events, FS
        for f in plan.feet.values():  # both feet stay down; heels rise 20-35 deg about the toes
            assert f.contact.all()
            assert 18 < -np.degrees(f.pitch.min()) < 36
        front = "l" if plan.style["hand"] == "r" else "r"
        load = plan.feet[front].load
        assert 0.78 < load.max() < 0.92
        assert np.allclose(plan.feet["r"].load + plan.feet["l"].load, 1.0)
        kn = _knees(b, plan)
        i_b, i_c = int(ev["trophy"] * fs), int(ev["contact"] * fs)
        assert 15 < min(kn["r"][i_b], kn["l"][i_b]) < 40  # trophy knee bend
        assert plan.com[i_c, 1] > plan.com[i_b, 1] + 0.04  # leg drive raises the CoM
        hand = plan.style["hand"]
        assert np.degrees(plan.upper[f"arm_flex_{hand}"][i_c]) > 155  # racket arm overhead


@pytest.mark.skipif("tennis_serve" not in registered_actions(), reason="not registered")
def test_tennis_serve_no_leg_drive():
    b, plan = _plan("tennis_serve", 0, 0, fault="no_leg_drive")
    kn = _knees(b, plan)
    i_b = int(plan.events["trophy"] * FS)
    mean = 0.5 * (kn["r"] + kn["l"])
    assert mean[i_b] - mean[0] < 8  # knees bend < 8 deg more than in the stance
    for f in plan.feet.values():
        assert np.abs(f.pitch).max() < 1e-9
