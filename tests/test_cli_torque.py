"""`athlete-mm torque` and biomech.joint_moments: a generated trial exported as OpenSim files
(.osim, IK .mot, GRF .mot, ExternalLoads .xml) matches OpenSim's own InverseDynamicsTool; a
Gait2354-convention IK file (knee flexion negative, pelvis origin above and behind the hips) built
here gives the same moments with the model's signs; coordinate tables round-trip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomech.body import build_body
from biomech.conventions import COORDINATES, GRAVITY, MOMENT_COORDINATES, TRANSLATIONS
from biomech.coordinate_maps import MODEL_MAPS, from_project, to_project
from biomech.io import read_mot, write_grf_mot, write_mot
from biomech.sensors import ImuSpec, resample_at
from biomech.synth import MARGIN_S, ClipSpec, Preset, SynthConfig, simulate
from cli import main

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
MASS, HEIGHT = 75.0, 1.80
EDGE = 5  # frames at each end where the two tools' spline end conditions differ


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """A generated running trial written as OpenSim files."""
    from biomech.opensim_model import write_external_loads, write_osim

    d = tmp_path_factory.mktemp("trial")
    body = build_body("male", HEIGHT, MASS)
    sim = simulate(body, ClipSpec("run", "a0", "male", HEIGHT, MASS, "run", "none", "pro", 2.0, 3), PRO,
                   SynthConfig(width=64, height=64))
    t = np.arange(0, 2.0, 0.01)
    q = sim["spline"](t + MARGIN_S)
    deg = q.copy()
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    deg[:, rot] = np.degrees(q[:, rot])
    write_mot(d / "ik.mot", t, list(COORDINATES), deg, in_degrees=True)
    tp = np.arange(-0.05, 2.05, 0.001)
    plates = {}
    for pre, s in (("", "r"), ("1_", "l")):
        g = {k: resample_at(sim["t"], sim["grf"][s][k].numpy(), tp + MARGIN_S) for k in ("force", "cop", "free_moment")}
        torque = np.zeros((len(tp), 3))
        torque[:, 1] = g["free_moment"]
        plates[pre] = {"force": g["force"], "point": g["cop"], "torque": torque}
    write_grf_mot(d / "grf.mot", tp, plates)
    write_osim(body, d / "athlete.osim")
    write_external_loads(d / "loads.xml", d / "grf.mot", {"": "foot_r", "1_": "foot_l"})
    return d, t, q


def _cli(d, ik, out, *extra):
    return main(["torque", "--ik", str(d / ik), "--grf", str(d / "grf.mot"), "--mass", str(MASS), "--height",
                 str(HEIGHT), "--cutoff", "0", "--out", str(d / out), *extra])


def _table(path):
    _, cols, data, _ = read_mot(path)
    return {c: data[:, i] for i, c in enumerate(cols)}


def test_cli_matches_opensim_inverse_dynamics_tool(trial, capsys):
    from biomech.opensim_model import run_inverse_dynamics_tool

    d, t, _ = trial
    ref = _table(run_inverse_dynamics_tool(d / "athlete.osim", d / "ik.mot", d / "loads.xml", d, t[0], t[-1]))
    assert _cli(d, "ik.mot", "ours.sto", "--external-loads", str(d / "loads.xml")) == 0
    assert "plates -> feet (ExternalLoads file): (no prefix) -> r, 1_ -> l" in capsys.readouterr().out
    ours = _table(d / "ours.sto")
    for c in MOMENT_COORDINATES:
        a, b = ref[f"{c}_moment"][EDGE:-EDGE], ours[f"{c}_moment"][EDGE:-EDGE]
        assert np.abs(a).max() > 20, c  # a loaded trial
        assert np.sqrt(np.mean((a - b) ** 2)) <= 1.0, c


def test_automatic_plate_assignment_and_json(trial, capsys):
    d, _, _ = trial
    assert _cli(d, "ik.mot", "with_xml.sto", "--external-loads", str(d / "loads.xml")) == 0
    assert _cli(d, "ik.mot", "auto.json") == 0
    out = capsys.readouterr().out
    assert "automatic" in out and "(no prefix) -> r, 1_ -> l" in out
    auto = json.loads((d / "auto.json").read_text())
    ref = _table(d / "with_xml.sto")
    np.testing.assert_allclose(auto["moments"]["knee_angle_r_moment"], ref["knee_angle_r_moment"], atol=1e-3)


def test_gait2354_file_gives_the_same_moments_with_its_signs(trial):
    d, t, q = trial
    cols = from_project("gait2354", q, HEIGHT)
    names = [c for c in COORDINATES if c != "knee_adduction_r" and c != "knee_adduction_l"]
    write_mot(d / "ik_gait2354.mot", t, names, np.stack([cols[c] for c in names], 1), in_degrees=True)
    # the pelvis origin sits above the hips: pelvis_ty is higher than the hip-centre midpoint
    assert np.all(cols["pelvis_ty"] > q[:, COORDINATES.index("pelvis_ty")] + 0.05)
    assert np.median(cols["knee_angle_r"]) < 0  # Gait2354 knee flexion is negative
    assert _cli(d, "ik_gait2354.mot", "gait.sto", "--external-loads", str(d / "loads.xml")) == 0  # detected
    assert _cli(d, "ik.mot", "own.sto", "--external-loads", str(d / "loads.xml")) == 0
    gait, own = _table(d / "gait.sto"), _table(d / "own.sto")
    # equal up to the files' 6-decimal rounding (seen through second derivatives)
    for c, sign in (("knee_angle_r_moment", -1.0), ("knee_angle_l_moment", -1.0), ("hip_flexion_l_moment", 1.0),
                    ("ankle_angle_r_moment", 1.0)):
        assert np.sqrt(np.mean((gait[c] - sign * own[c]) ** 2)) < 0.2, c
        assert np.abs(gait[c] - sign * own[c]).max() < 1.0, c


@pytest.mark.parametrize("model", sorted(MODEL_MAPS))
def test_coordinate_tables_round_trip(model):
    rng = np.random.default_rng(1)
    q = rng.normal(0, 0.3, (20, len(COORDINATES)))
    q[:, 3:6] = rng.normal(0, 1.0, (20, 3))
    back, _ = to_project(model, from_project(model, q, HEIGHT), HEIGHT)
    np.testing.assert_allclose(back, q, atol=1e-12)


def test_cli_errors_name_the_file_and_column(trial, tmp_path, capsys):
    d, t, q = trial
    write_mot(tmp_path / "ik.mot", t, ["pelvis_tilt", "knee_angle_r"], np.zeros((len(t), 2)), in_degrees=True)
    rc = main(["torque", "--ik", str(tmp_path / "ik.mot"), "--grf", str(d / "grf.mot"), "--mass", "75",
               "--height", "1.8", "--out", str(tmp_path / "o.sto")])
    err = capsys.readouterr().err
    assert rc == 2 and "ik.mot" in err and "pelvis_list" in err
    rc = main(["torque", "--ik", str(d / "ik.mot"), "--grf", str(d / "nope.mot"), "--mass", "75",
               "--height", "1.8", "--out", str(tmp_path / "o.sto")])
    assert rc == 2 and "nope.mot: file not found" in capsys.readouterr().err


def test_uncertainty_columns_and_plate_sync(trial, capsys):
    d, _, _ = trial
    assert _cli(d, "ik.mot", "unc.sto", "--external-loads", str(d / "loads.xml"), "--uncertainty", "4",
                "--sync-plates", "0.02") == 0
    out = capsys.readouterr().out
    assert "mean sd" in out and "plate clock shifted by" in out
    tab = _table(d / "unc.sto")
    assert tab["knee_angle_r_moment_sd"].mean() > 0.1  # body-model spread on a running trial
    assert _cli(d, "ik.mot", "plain.sto", "--external-loads", str(d / "loads.xml")) == 0
    ref = _table(d / "plain.sto")  # the clock was right: the synced result is the plain one
    inner = slice(EDGE, -EDGE)
    assert np.sqrt(np.mean((tab["knee_angle_r_moment"] - ref["knee_angle_r_moment"])[inner] ** 2)) < 0.5


def test_without_grf_the_load_is_estimated(trial, capsys):
    d, _, _ = trial
    assert main(["torque", "--ik", str(d / "ik.mot"), "--mass", str(MASS), "--height", str(HEIGHT), "--cutoff", "0",
                 "--out", str(d / "nogrf.sto")]) == 0
    assert "estimated from the kinematics" in capsys.readouterr().out
    assert _cli(d, "ik.mot", "plates.sto", "--external-loads", str(d / "loads.xml")) == 0
    est, ref = _table(d / "nogrf.sto"), _table(d / "plates.sto")
    inner = slice(EDGE, -EDGE)
    err = np.sqrt(np.mean((est["knee_angle_r_moment"] - ref["knee_angle_r_moment"])[inner] ** 2))
    # a running trial without plates: within ~15 % of the knee's peak, far from a zero-load answer
    peak = np.abs(ref["knee_angle_r_moment"]).max()
    assert err < 0.15 * peak
    assert np.sqrt(np.mean(ref["knee_angle_r_moment"][inner] ** 2)) > 2 * err
