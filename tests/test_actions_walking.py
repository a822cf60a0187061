"""Walking actions (biomech/actions/walking.py): solvable plans, GRF >= 0 with realistic peaks,
planted feet, smooth coordinates, C2 load shares, reproducibility, visible faults."""
import numpy as np
import pytest

from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import build_body
from biomech.conventions import GRAVITY
from biomech.kinematics import solve_motion

FS = 200.0
ATHLETES = [("male", 1.95, 95.0), ("female", 1.55, 50.0), ("male", 1.75, 72.0)]


def _plan(action, seed, fault="none", athlete=0, duration=2.5):
    body = build_body(*ATHLETES[athlete])
    return body, build_plan(action, ActionContext(body, np.random.default_rng(seed), FS, duration, fault))


def _grf_bw(plan):
    a = np.gradient(np.gradient(plan.com[:, 1], 1 / FS), 1 / FS)
    return (a + GRAVITY) / GRAVITY


@pytest.mark.parametrize("fault", ["none", "trunk_lean", "asymmetric_gait"])
@pytest.mark.parametrize("seed,athlete", [(0, 0), (1, 1), (2, 2)])
def test_walk_solves_smoothly(fault, seed, athlete):
    body, plan = _plan("walk", seed, fault, athlete)
    q, info = solve_motion(body, plan)
    assert info["foot_error_max_m"] < 5e-3
    assert info["reach_shortfall_max_m"] < 5e-3
    assert info["com_error_max_m"] < 1e-3
    # no kinks: the largest second difference of every joint angle stays within a small
    # multiple of its typical size (a kink shows as an isolated spike)
    d2 = np.abs(np.diff(q[:, 6:], 2, axis=0))
    assert np.degrees(d2.max()) < 1.5
    assert (d2.max(0) / (np.median(d2, 0) + 1e-4)).max() < 60


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_walk_physics(seed):
    body, plan = _plan("walk", seed, athlete=seed)
    grf = _grf_bw(plan)[2:-2]
    assert grf.min() > 0.5
    assert 1.05 < grf.max() < 1.4
    # vertical CoM oscillation (a few cm) and lateral sway toward the stance foot
    assert 0.01 < np.ptp(plan.com[:, 1]) < 0.08
    assert 0.02 < np.ptp(plan.com[:, 2]) < 0.08
    cr, cl = plan.feet["r"].contact, plan.feet["l"].contact
    assert (cr | cl).all()  # walking: never airborne
    ds = (cr & cl).mean()
    assert 0.12 < ds < 0.35  # two double supports of ~10-12 % of the cycle each
    # load shares: 1 in total wherever a foot is down, 0 in swing, smooth (C2 -> small 2nd diff)
    lr, ll = plan.feet["r"].load, plan.feet["l"].load
    assert np.allclose(lr + ll, 1.0)
    assert np.all(lr[~cr] == 0) and np.all(ll[~cl] == 0)
    assert np.abs(np.diff(lr, 2)).max() < 0.05
    assert "load" not in plan.events  # the generator reads FootTrack.load


def _planted_drift(body, f):
    """Largest movement of the floor-contact point (heel or toe, whichever is down) in one stance."""
    from biomech.kinematics import pivot_from_ankle
    worst = 0.0
    heel = pivot_from_ankle(body, f.pos, f.yaw, f.pitch, "heel")
    toe = pivot_from_ankle(body, f.pos, f.yaw, f.pitch, "toe")
    starts = np.flatnonzero(np.diff(f.contact.astype(int)) == 1) + 1
    for i in starts:
        j = i
        while j < len(f.contact) and f.contact[j]:
            j += 1
        seg = slice(i, j)
        down = np.where((f.pitch[seg] >= 0)[:, None], heel[seg], toe[seg])
        assert np.abs(down[:, 1]).max() < 1e-6  # on the floor
        # the heel is still from touchdown to heel-off, the toe from foot-flat to toe-off
        hs = heel[seg][f.pitch[seg] >= -1e-9]
        ts = toe[seg][f.pitch[seg] <= 1e-9]
        worst = max(worst, np.ptp(hs[:, [0, 2]], 0).max() if len(hs) else 0.0,
                    np.ptp(ts[:, [0, 2]], 0).max() if len(ts) else 0.0)
    return worst


def test_walk_planted_feet_do_not_slide():
    body, plan = _plan("walk", 4, athlete=2)
    for f in plan.feet.values():
        assert _planted_drift(body, f) < 1e-6


def test_walk_reproducible():
    _, p1 = _plan("walk", 7)
    _, p2 = _plan("walk", 7)
    assert np.array_equal(p1.com, p2.com)
    assert np.array_equal(p1.feet["r"].pos, p2.feet["r"].pos)


def test_walk_faults_visible():
    _, p0 = _plan("walk", 3, athlete=2, duration=4.0)
    _, p1 = _plan("walk", 3, "trunk_lean", athlete=2, duration=4.0)
    assert (-p1.upper["lumbar_extension"]).mean() > (-p0.upper["lumbar_extension"]).mean() + 0.15
    _, pa = _plan("walk", 3, "asymmetric_gait", athlete=2, duration=4.0)

    def stance_ratio(plan):
        out = []
        for s in ("r", "l"):
            c = plan.feet[s].contact.astype(int)
            on, off = np.flatnonzero(np.diff(c) == 1), np.flatnonzero(np.diff(c) == -1)
            d = [b - a for a in on for b in off[off > a][:1]]
            out.append(np.mean(d))
        return max(out) / min(out)

    assert stance_ratio(p0) < 1.05
    assert stance_ratio(pa) > 1.15
