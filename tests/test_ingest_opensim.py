"""OpenSim lab files -> angles (ingest.opensim_lab): a generated trial exported to .osim + .trc
(+ an IK setup with marker weights) and imported back; the coordinate-convention table."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.body import build_body
from biomech.conventions import COORDINATES
from biomech.camera import MEDIAPIPE_LANDMARKS
from biomech.ik import MARKER_WEIGHTS
from biomech.io import read_json, read_mot, read_npz
from biomech.opensim_model import add_mediapipe_markers, build_model
from ingest import IngestError
from ingest.opensim_lab import (CONVENTIONS, import_ik, model_family, read_trc, to_project_convention,
                                write_ik_setup, write_trc)
from tests.preprocess_fixtures import CFG, PRO


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A generated squat exported as a lab would hand it over: model.osim with markers, markers.trc
    (mm), SETUP_IK.xml with the marker weights."""
    from biomech.synth import ClipSpec, write_clip

    root = tmp_path_factory.mktemp("lab")
    spec = ClipSpec(clip_id="clip00000", athlete_id="athlete0000", sex="female", height=1.70, mass=63.0,
                    action="squat", fault="none", preset="pro", duration=2.4, seed=91)
    write_clip(spec, PRO, CFG, root)
    clip = root / spec.athlete_id / spec.clip_id
    a = read_json(clip / "meta.json")["athlete"]
    body = build_body(a["sex"], a["height_m"], a["mass_kg"])
    model = build_model(body, name="athlete0000")
    add_mediapipe_markers(model, body)
    model.printToXML(str(root / "model.osim"))
    _, kp = read_npz(clip / "keypoints.npz")
    used = [n for n in MEDIAPIPE_LANDMARKS if MARKER_WEIGHTS.get(n, 0) > 0]
    idx = [MEDIAPIPE_LANDMARKS.index(n) for n in used]
    write_trc(root / "markers.trc", kp["time"], used, kp["ground"][:, idx], units="mm")
    write_ik_setup(root / "SETUP_IK.xml", {n: MARKER_WEIGHTS[n] for n in used})
    return root, clip, kp


def test_trc_round_trip_in_millimetres(exported):
    root, _, kp = exported
    t, names, pos = read_trc(root / "markers.trc")
    i = names.index("left_knee")
    assert np.allclose(t, kp["time"], atol=1e-6)
    assert np.abs(pos[:, i] - kp["ground"][:, MEDIAPIPE_LANDMARKS.index("left_knee")]).max() < 1e-4  # m


def test_lab_trial_imports_back_to_the_true_angles(exported, tmp_path):
    root, clip, kp = exported
    res = import_ik(root / "model.osim", root / "markers.trc", tmp_path, ik_setup=root / "SETUP_IK.xml")
    assert res["family"] == "athlete-mm" and res["missing_coordinates"] == []
    t, cols, got, _ = read_mot(tmp_path / "angles.mot")
    tt, tcols, truth, _ = read_mot(clip / "angles.mot")
    assert cols == list(COORDINATES)
    for c in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l", "ankle_angle_l"):
        ref = np.interp(t, tt, truth[:, tcols.index(c)])
        rmse = float(np.sqrt(np.mean((got[:, cols.index(c)] - ref) ** 2)))
        print(f"{c}: {rmse:.2f} deg")
        assert rmse <= 2.0, c
    # without the lab's setup: uniform weights, and a warning that says what to pass
    with pytest.warns(UserWarning, match=r"uniform marker weights .*\(--ik-setup\)"):
        import_ik(root / "model.osim", root / "markers.trc", tmp_path / "uniform")


def test_convention_table_maps_gait2392_knee_sign(tmp_path):
    cols = ["hip_flexion_r", "knee_angle_r", "knee_angle_l", "ankle_angle_r"]
    data = np.array([[30.0, -60.0, -5.0, 10.0]])
    out, missing = to_project_convention(cols, data, "gait2392")
    row = dict(zip(COORDINATES, out[0]))
    assert row["knee_angle_r"] == 60.0 and row["knee_angle_l"] == 5.0 and row["hip_flexion_r"] == 30.0
    assert "lumbar_extension" in missing and np.isnan(row["lumbar_extension"])
    same, _ = to_project_convention(cols, data, "rajagopal2016")
    assert dict(zip(COORDINATES, same[0]))["knee_angle_r"] == -60.0
    assert set(CONVENTIONS) >= {"gait2392", "gait2354", "rajagopal2016", "pose2sim"}
    with pytest.raises(IngestError, match="unknown model family 'body25'"):
        to_project_convention(cols, data, "body25")


def test_model_family_from_name_or_knee_range(tmp_path):
    from tests.real_data import fetch_pose2sim

    assert model_family(fetch_pose2sim() / "OpenSim_Setup" / "Model_Pose2Sim_simple.osim") == "pose2sim"
    body = build_body("male", 1.8, 75.0)
    m = build_model(body, name="lab_model")
    knee = m.getCoordinateSet().get("knee_angle_r")
    knee.setRangeMin(-2.09)  # Gait2392: flexion is negative
    knee.setRangeMax(0.17)
    m.printToXML(str(tmp_path / "lab.osim"))
    assert model_family(tmp_path / "lab.osim") == "gait2392"
    with pytest.raises(IngestError, match="not found"):
        model_family(tmp_path / "missing.osim")


def test_ingest_opensim_command(exported, tmp_path, capsys):
    from cli import main

    root, _, _ = exported
    args = ["ingest-opensim", "--model", str(root / "model.osim"), "--trc", str(root / "markers.trc"),
            "--out", str(tmp_path / "o")]
    assert main(args + ["--ik-setup", str(root / "SETUP_IK.xml")]) == 0
    assert "model family athlete-mm" in capsys.readouterr().out and (tmp_path / "o" / "angles.mot").is_file()
    assert main(args) == 0
    assert "uniform marker weights" in capsys.readouterr().out
    assert main(["ingest-opensim", "--model", str(tmp_path / "nope.osim"), "--trc", str(root / "markers.trc"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "nope.osim: OpenSim model file not found" in capsys.readouterr().err


def _write_plates(path, time, force, cop, free):
    """grf.npz arrays (one plate per foot) -> an OpenSim GRF .mot (prefixes r_ / l_)."""
    from biomech.io import write_grf_mot

    zeros = np.zeros(len(time))
    return write_grf_mot(path, time, {pre: {"force": force[:, k], "point": cop[:, k],
                                            "torque": np.column_stack([zeros, free[:, k], zeros])}
                                      for k, pre in enumerate(("r_", "l_"))})


@pytest.fixture(scope="module")
def lab_trial(tmp_path_factory):
    """A generated countermovement jump recorded as a synchronised lab would: plates on the video
    clock without noise or drift, markers + GRF exported as .trc + .mot."""
    from biomech.synth import ClipSpec, SynthConfig, write_clip

    root = tmp_path_factory.mktemp("labid")
    cfg = SynthConfig(width=48, height=48, max_offset_s=0.0, clock_drift_ppm=0.0, jitter_fraction=0.0,
                      drop_fraction=(0.0, 0.0), plate_noise_n=0.0, plate_drift_n=0.0)
    spec = ClipSpec(clip_id="clip00000", athlete_id="athlete0000", sex="male", height=1.80, mass=76.0,
                    action="countermovement_jump", fault="none", preset="pro", duration=2.4, seed=93)
    write_clip(spec, PRO, cfg, root)
    clip = root / spec.athlete_id / spec.clip_id
    a = read_json(clip / "meta.json")["athlete"]
    body = build_body(a["sex"], a["height_m"], a["mass_kg"])
    model = build_model(body, name="athlete0000")
    add_mediapipe_markers(model, body)
    model.printToXML(str(root / "model.osim"))
    _, kp = read_npz(clip / "keypoints.npz")
    used = [n for n in MEDIAPIPE_LANDMARKS if MARKER_WEIGHTS.get(n, 0) > 0]
    write_trc(root / "markers.trc", kp["time"], used, kp["ground"][:, [MEDIAPIPE_LANDMARKS.index(n) for n in used]])
    write_ik_setup(root / "SETUP_IK.xml", {n: MARKER_WEIGHTS[n] for n in used})
    _, g = read_npz(clip / "grf.npz")
    _write_plates(root / "grf.mot", g["time"], g["force"], g["cop"], g["free_moment"])
    return root, clip


def test_lab_trial_reference_moments_match_the_generator(lab_trial, tmp_path):
    from biomech.conventions import MOMENT_COORDINATES
    from ingest.opensim_lab import import_trial

    root, clip = lab_trial
    res = import_trial(root / "model.osim", root / "markers.trc", root / "grf.mot", tmp_path,
                       ik_setup=root / "SETUP_IK.xml")
    assert res["plates"]["bodies"] == {"r_": "foot_r", "l_": "foot_l"}
    t, cols, got, _ = read_mot(tmp_path / "moments.sto")
    tt, tcols, truth, _ = read_mot(clip / "moments.sto")
    inner = (t > t[0] + 0.1) & (t < t[-1] - 0.1)  # the ID tool's spline ends
    for c in MOMENT_COORDINATES:
        ref = np.interp(t[inner], tt, truth[:, tcols.index(f"{c}_moment")])
        err = float(np.sqrt(np.mean((got[inner, cols.index(f"{c}_moment")] - ref) ** 2)))
        peak = float(np.abs(truth[:, tcols.index(f"{c}_moment")]).max())
        print(f"{c}_moment: RMSE {err:.2f} N m = {100 * err / peak:.1f} % of the peak {peak:.0f} N m")
        assert err <= 0.03 * peak, c
    t, cols, ang, _ = read_mot(tmp_path / "angles.mot")
    tt, tcols, truth, _ = read_mot(clip / "angles.mot")
    for c in ("hip_flexion_r", "knee_angle_l", "ankle_angle_r"):
        ref = np.interp(t, tt, truth[:, tcols.index(c)])
        assert np.sqrt(np.mean((ang[:, cols.index(c)] - ref) ** 2)) <= 2.0, c


def test_plate_not_under_a_foot_is_named(lab_trial, tmp_path):
    from ingest.opensim_lab import import_trial
    from ingest.quality import QualityError

    root, clip = lab_trial
    _, g = read_npz(clip / "grf.npz")
    cop = g["cop"].copy()
    cop[:, 0, 0] += 1.0  # the right plate's COP 1 m ahead of the athlete (wrong plate origin)
    _write_plates(tmp_path / "bad_grf.mot", g["time"], g["force"], cop, g["free_moment"])
    with pytest.raises(QualityError, match=r"bad_grf.mot: force plate 'r_' is not under either foot: .*"
                                           r"\(--external-loads\)"):
        import_trial(root / "model.osim", root / "markers.trc", tmp_path / "bad_grf.mot", tmp_path / "o",
                     ik_setup=root / "SETUP_IK.xml")


def test_ingest_opensim_command_with_plates(lab_trial, tmp_path, capsys):
    from cli import main

    root, _ = lab_trial
    assert main(["ingest-opensim", "--model", str(root / "model.osim"), "--trc", str(root / "markers.trc"),
                 "--grf", str(root / "grf.mot"), "--ik-setup", str(root / "SETUP_IK.xml"),
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "'r_': 'foot_r'" in out and (tmp_path / "moments.sto").is_file()
