"""Inverse dynamics at the capture rate (biomech.inverse_dynamics) on simulated clips: exact
inputs reproduce the generator's Newton-Euler, a shifted plate clock is recovered, a 50 Hz file is
refused, and the path is far better than differences on a 50 Hz timeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomech.body import build_body
from biomech.conventions import GRAVITY, MOMENT_COORDINATES
from biomech.inverse_dynamics import Plate, inverse_dynamics
from biomech.sensors import ImuSpec, resample_at
from biomech.synth import MARGIN_S, ClipSpec, Preset, SynthConfig, newton_euler_moments, simulate

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
KNEE = MOMENT_COORDINATES.index("knee_angle_r")


@pytest.fixture(scope="module")
def run_clip():
    body = build_body("male", 1.80, 75.0)
    spec = ClipSpec("run_1", "a0", "male", 1.80, 75.0, "run", "none", "pro", 2.0, 3)
    sim = simulate(body, spec, PRO, SynthConfig(width=64, height=64))
    t = np.arange(0, 2.0, 0.01)  # a 100 Hz IK file on the video clock
    q = sim["spline"](t + MARGIN_S)
    tp = np.arange(-0.05, 2.05, 0.001)  # 1 kHz plates, a little longer than the kinematics
    plates = {s: Plate(tp, *(resample_at(sim["t"], sim["grf"][s][k].numpy(), tp + MARGIN_S)
                             for k in ("force", "cop", "free_moment"))) for s in ("r", "l")}
    expected = newton_euler_moments(body, sim, t + MARGIN_S)
    return body, t, q, plates, expected


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_exact_inputs_reproduce_newton_euler(run_clip):
    body, t, q, plates, expected = run_clip
    res = inverse_dynamics(body, t, q, plates, cutoff_hz=None)
    peak = np.abs(expected[:, KNEE]).max()
    inner = slice(3, -3)  # the spline's end conditions
    assert peak > 100  # running: a real load
    assert _rmse(res.moments[inner, KNEE], expected[inner, KNEE]) < 0.01 * peak
    assert res.covered.all()


def test_plate_clock_shift_is_recovered(run_clip):
    body, t, q, plates, expected = run_clip
    late = {s: Plate(p.time - 0.006, p.force, p.cop, p.free_moment) for s, p in plates.items()}  # 6 ms off
    off = inverse_dynamics(body, t, q, late, cutoff_hz=None)
    fixed = inverse_dynamics(body, t, q, late, cutoff_hz=None, align_s=0.02)
    assert fixed.plate_shift_s == pytest.approx(0.006, abs=5e-4)
    inner = slice(3, -3)
    assert _rmse(fixed.moments[inner, KNEE], expected[inner, KNEE]) < 0.3 * _rmse(off.moments[inner, KNEE],
                                                                                expected[inner, KNEE])


def test_unsynchronised_plate_clock_is_found_from_kinematics(run_clip):
    """Plates 70 ms off (unsynchronised clocks): the coarse-then-fine search finds the offset."""
    body, t, q, plates, _ = run_clip
    off = {s: Plate(p.time + 0.07, p.force, p.cop, p.free_moment) for s, p in plates.items()}
    res = inverse_dynamics(body, t, q, off, cutoff_hz=None, align_s=0.12)
    assert res.plate_shift_s == pytest.approx(-0.07, abs=5e-4)


def test_filter_applies_to_both_and_low_rate_is_refused(run_clip):
    body, t, q, plates, _ = run_clip
    res = inverse_dynamics(body, t, q, plates, cutoff_hz=6.0)
    raw = inverse_dynamics(body, t, q, plates, cutoff_hz=None)
    # a 6 Hz low-pass visibly smooths both the coordinates and the plate force
    assert np.abs(res.q - q).max() > 1e-3
    assert np.abs(res.grf["r"]["force"][:, 1] - raw.grf["r"]["force"][:, 1]).max() > 50
    with pytest.raises(ValueError, match="50.0 Hz: inverse dynamics needs >= 100 Hz"):
        inverse_dynamics(body, t[::2], q[::2], plates)
    with pytest.raises(ValueError, match="cutoff_hz=60"):
        inverse_dynamics(body, t, q, plates, cutoff_hz=60.0)


def test_no_plate_means_no_load(run_clip):
    body, t, q, plates, _ = run_clip
    res = inverse_dynamics(body, t, q, {"r": plates["r"]}, cutoff_hz=None)
    assert not res.grf["l"]["force"].any()
    assert np.abs(res.moment("knee_angle_r")).max() > 100


def test_moment_uncertainty_from_body_models(run_clip):
    from biomech.inverse_dynamics import moment_uncertainty

    body, t, q, plates, _ = run_clip
    nominal, sd = moment_uncertainty(body, t, q, plates, n=6, cutoff_hz=None)
    np.testing.assert_allclose(nominal.moments, inverse_dynamics(body, t, q, plates, cutoff_hz=None).moments)
    assert sd.shape == nominal.moments.shape
    # the body model matters most where the limbs accelerate: hip more uncertain than ankle
    hip, ankle = MOMENT_COORDINATES.index("hip_flexion_r"), MOMENT_COORDINATES.index("ankle_angle_r")
    assert sd[:, hip].mean() > sd[:, ankle].mean() > 0


def test_filtered_plate_force_stays_inside_the_raw_contact(run_clip):
    """A 12 Hz low-pass spreads each contact's force into the swing around it; that force must not
    act on a foot in the air: the load applied is zero wherever the unfiltered plate is unloaded."""
    body, t, q, plates, _ = run_clip
    raw = inverse_dynamics(body, t, q, plates, cutoff_hz=None)
    masked = inverse_dynamics(body, t, q, plates, cutoff_hz=12.0)
    spread = inverse_dynamics(body, t, q, plates, cutoff_hz=12.0, contact_from_raw=False)
    swing = raw.grf["r"]["force"][:, 1] == 0
    assert swing.sum() > 20
    assert spread.grf["r"]["force"][swing, 1].max() > 50  # the filter's spread, without the mask
    assert np.all(masked.grf["r"]["force"][swing] == 0)
    assert np.all(masked.grf["r"]["cop"][swing] == 0)
