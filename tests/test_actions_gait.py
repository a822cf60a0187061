"""Gait actions (biomech/actions/gait.py): solvable plans, ballistic flight, GRF >= 0,
planted feet, reproducibility, visible faults. Only `run` is implemented so far."""
import numpy as np
import pytest

from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import build_body
from biomech.conventions import GRAVITY
from biomech.kinematics import foot_rotation, solve_motion

FS = 200.0
ATHLETES = [("male", 1.95, 95.0), ("female", 1.55, 50.0), ("male", 1.75, 72.0)]


def _plan(action, seed, fault="none", athlete=0, duration=2.0):
    body = build_body(*ATHLETES[athlete])
    return body, build_plan(action, ActionContext(body, np.random.default_rng(seed), FS, duration, fault))


def _acc_y(plan):
    return np.gradient(np.gradient(plan.com[:, 1], 1 / FS), 1 / FS)


@pytest.mark.parametrize("fault", ["none", "trunk_lean"])
@pytest.mark.parametrize("seed,athlete", [(0, 0), (1, 1), (2, 2)])
def test_run_solves(fault, seed, athlete):
    body, plan = _plan("run", seed, fault, athlete)
    _, info = solve_motion(body, plan)
    assert info["foot_error_max_m"] < 5e-3
    assert info["reach_shortfall_max_m"] < 5e-3
    assert info["com_error_max_m"] < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_physics(seed):
    body, plan = _plan("run", seed)
    a = _acc_y(plan)
    grf = (a + GRAVITY) / GRAVITY
    assert grf[2:-2].min() > -0.01
    assert 1.7 < grf.max() < 3.2
    contact = plan.feet["r"].contact | plan.feet["l"].contact
    # flight, away from the phase edges: exactly ballistic
    flight = ~contact
    edge = np.convolve(contact.astype(float), np.ones(7), "same") > 0
    inner = flight & ~edge
    inner[:3] = inner[-3:] = False
    assert inner.any()
    assert np.abs(a[inner] + GRAVITY).max() < 0.05
    # planted feet do not move
    for f in plan.feet.values():
        run_start = np.flatnonzero(np.diff(f.contact.astype(int)) == 1) + 1
        for i in run_start:
            j = i
            while j < plan.n and f.contact[j]:
                j += 1
            # toe pivot: the toe point is fixed; the ankle moves only by rotation about it
            R = foot_rotation(f.yaw[i:j], f.pitch[i:j], np.zeros(j - i)).numpy()
            toe = f.pos[i:j] + R @ np.array([(1 - body.heel_back) * body.foot_length, -body.ankle_height, 0.0])
            assert np.ptp(toe, axis=0).max() < 1e-6


def test_run_reproducible():
    _, p1 = _plan("run", 7)
    _, p2 = _plan("run", 7)
    assert np.array_equal(p1.com, p2.com)
    assert np.array_equal(p1.feet["r"].pos, p2.feet["r"].pos)


def test_run_trunk_lean_visible():
    _, p0 = _plan("run", 3)
    _, p1 = _plan("run", 3, "trunk_lean")
    assert (-p1.upper["lumbar_extension"]).mean() > (-p0.upper["lumbar_extension"]).mean() + 0.15


@pytest.mark.parametrize("seed,athlete", [(0, 0), (1, 1), (2, 2)])
def test_run_posture_realistic(seed, athlete):
    """Running CoM ~0.52-0.58 x height; stance knee flexion well below the old 75-90 deg."""
    from biomech.body import q_index
    body, plan = _plan("run", seed, athlete=athlete)
    q, _ = solve_motion(body, plan)
    assert 0.5 < plan.com[:, 1].mean() / body.height < 0.6
    for s in ("r", "l"):
        knee = np.degrees(q[:, q_index(f"knee_angle_{s}")])[plan.feet[s].contact]
        assert 25 < knee.max() < 72


def test_run_overstriding_visible():
    body, p0 = _plan("run", 4)
    _, p1 = _plan("run", 4, "overstriding")
    _, info = solve_motion(body, p1)
    assert info["foot_error_max_m"] < 5e-3
    # heel strike: toe up at touchdown
    for f0, f1 in ((p0.feet["r"], p1.feet["r"]),):
        td1 = np.flatnonzero(np.diff(f1.contact.astype(int)) == 1) + 1
        td0 = np.flatnonzero(np.diff(f0.contact.astype(int)) == 1) + 1
        assert np.degrees(f1.pitch[td1]).min() > 10 > np.degrees(f0.pitch[td0]).max()


# ---------------------------------------------------------------------------------- sprint_start
def _flight_inner(plan):
    contact = plan.feet["r"].contact | plan.feet["l"].contact
    edge = np.convolve(contact.astype(float), np.ones(7), "same") > 0
    inner = ~contact & ~edge
    inner[:3] = inner[-3:] = False
    return inner


@pytest.mark.parametrize("seed,athlete", [(0, 0), (1, 1), (2, 2)])
def test_sprint_start_physics(seed, athlete):
    body, plan = _plan("sprint_start", seed, athlete=athlete, duration=3.0)
    a = _acc_y(plan)
    grf = (a + GRAVITY) / GRAVITY
    assert grf[2:-2].min() > -0.01
    assert 1.8 < grf.max() < 3.6
    inner = _flight_inner(plan)
    assert inner.any()
    assert np.abs(a[inner] + GRAVITY).max() < 0.05
    ax = np.gradient(np.gradient(plan.com[:, 0], 1 / FS), 1 / FS)
    assert np.abs(ax[inner]).max() < 0.05  # horizontal flight velocity constant
    # acceleration strides: propulsive stances, forward speed gain
    vx = np.gradient(plan.com[:, 0], 1 / FS)
    assert vx[-1] - vx[0] > 2.0
    td = plan.events["acceleration_touchdowns"]
    assert 3 <= len(td) <= 5
    i0, i1 = int(td[0] * FS), int(min(td[-1] + 0.1, plan.t[-1]) * FS)
    contact = plan.feet["r"].contact | plan.feet["l"].contact
    assert (ax[i0:i1][contact[i0:i1]] > 0).mean() > 0.6


def test_sprint_start_lean_and_fault():
    from biomech.body import q_index  # noqa: F401
    _, p0 = _plan("sprint_start", 5, athlete=2, duration=3.0)
    _, p1 = _plan("sprint_start", 5, "upright_posture", athlete=2, duration=3.0)
    lean0 = -(p0.pelvis_rot[:, 0] + p0.upper["lumbar_extension"])
    lean1 = -(p1.pelvis_rot[:, 0] + p1.upper["lumbar_extension"])
    assert 25 < np.degrees(lean0.max()) < 45
    assert np.degrees(lean1.max()) < 10
    assert p1.style["acceleration_mps2"] < p0.style["acceleration_mps2"]


def test_sprint_start_reproducible():
    _, p1 = _plan("sprint_start", 8, duration=3.0)
    _, p2 = _plan("sprint_start", 8, duration=3.0)
    assert np.array_equal(p1.com, p2.com)
    assert np.array_equal(p1.feet["l"].pos, p2.feet["l"].pos)


@pytest.mark.parametrize("seed,athlete", [(0, 0), (1, 1)])
def test_sprint_start_solves(seed, athlete):
    """sprint_start still leaves 5-20 mm leg-reach shortfall (known, see issue 2); the generator
    redraws plans that miss by more than SynthConfig.max_foot_error_m (3 cm)."""
    from biomech.synth import SynthConfig

    body, plan = _plan("sprint_start", seed, athlete=athlete, duration=3.0)
    _, info = solve_motion(body, plan)
    assert info["foot_error_max_m"] < SynthConfig().max_foot_error_m
    assert info["reach_shortfall_max_m"] < SynthConfig().max_foot_error_m
