"""Technique feedback through the real served bento: generated squats (clean ones make the
reference, a shallow one is the faulty clip) -> their joint angles (angles.mot, as a lab's IK file
would give them) -> a reference in the bundle (`package` stage) -> `bentoml serve athlete-mm:latest`
-> POST /feedback names the fault's joint and the direction to correct.

The angles are the generator's, not OpenSim IK of the detector-like landmarks: on these clips that IK
winds knees through full turns (knee maxima of 184-413 deg, see README "Technique feedback"), so it
cannot test the feedback; evaluation.feedback scores both sources."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

from biomech.feedback import (FAULT_JOINTS, FEEDBACK_JOINTS, SETTINGS_KEYS, angle_matrix, build_reference,
                              load_asymmetry, save_references)
from biomech.io import read_coordinates_deg
from biomech.synth import ClipSpec, write_clip

from .preprocess_fixtures import CFG, PRO, build_raw, build_run
from .test_serving_service import REPO, _env, _serve, _stop

SETTINGS = {"threshold_deg": 9.0, "knee_rmse_deg": 5.0, "valgus_moment_nm": 40.0, "band": None, "window_s": 0.2,
            "corridor_sd": 2.0, "percentile": 95.0, "unflagged_joints": [], "load_margin": 0.15,
            "valgus_z": 1.0, "landing_z": 1.5, "trunk_z": None}
SQUATS = [("none", 11), ("none", 12), ("none", 13), ("none", 14), ("shallow_squat", 15), ("none", 16)]


def _angles(clip_dir):
    t, cols = read_coordinates_deg(clip_dir / "angles.mot")
    return t, {c: cols[c] for c in FEEDBACK_JOINTS}


@pytest.fixture(scope="module")
def squats(tmp_path_factory):
    root = tmp_path_factory.mktemp("squats")
    out = []
    for i, (fault, seed) in enumerate(SQUATS):
        spec = ClipSpec(clip_id=f"sq{i:03d}", athlete_id=f"athlete{i:04d}", sex="male", height=1.78, mass=75.0,
                        action="squat", fault=fault, preset="pro", duration=3.4, seed=500 + seed)
        write_clip(spec, PRO, CFG, root)
        out.append((fault, *_angles(root / spec.athlete_id / spec.clip_id), root / spec.athlete_id / spec.clip_id))
    return out


@pytest.fixture(scope="module")
def served(squats, tmp_path_factory):
    from training.loop import train

    clean = [angle_matrix(t, a, 25.0) for f, t, a, _ in squats[:4]]   # the reference: four clean squats
    load = [load_asymmetry(*_plates(d), 75.0)["asymmetry"] for *_, d in squats[:4]]
    work = tmp_path_factory.mktemp("fbserve")
    ref = save_references(work / "reference.npz", {"squat": build_reference("squat", clean, 25.0, load=load)},
                          {"angles": "true", "settings": SETTINGS})
    _, _, processed, _ = build_run(build_raw(tmp_path_factory), tmp_path_factory)
    classes = json.loads((processed / "dataset.json").read_text())["classes"]
    train("tcn", {"num_classes": len(classes), "modalities": ["landmarks", "imu", "grf"]},
          {"epochs": 1, "batch_size": 8, "max_batches_per_epoch": 2, "threads": 1}, processed,
          work / "artifacts/train/tcn", progress=False)
    home = work / "bentoml"
    code = ("from stages.package import PackageParams, package; package(PackageParams("
            f"artifacts_dir={str(work / 'artifacts')!r}, processed_dir={str(processed)!r}, reference={str(ref)!r}, "
            f"out_dir={str(work / 'package')!r}, report={str(work / 'package.json')!r}, tracking_uri=None, "
            "export=False))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(home), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    proc, url = _serve(home, work)
    yield url
    _stop(proc)


def _request(t, angles):
    return {"request": {"rate_hz": float(1 / np.median(np.diff(t))), "time": np.asarray(t).tolist(),
                        "angles": {j: [None if not np.isfinite(v) else float(v) for v in a] for j, a in angles.items()},
                        "segments": [{"action": "squat", "t_start_s": float(t[0]), "t_end_s": float(t[-1])}]}}


def _plates(clip_dir):
    """(time, vertical force (T, 2) N) of a generated clip's two plates (right, left)."""
    with np.load(clip_dir / "grf.npz") as z:
        return z["time"], z["force"][:, :, 1].astype(float)


def _nan_free(t, angles):
    ok = np.all([np.isfinite(a) for a in angles.values()], axis=0)
    return t[ok], {j: a[ok] for j, a in angles.items()}


def test_feedback_names_the_fault_joint_of_a_shallow_squat(squats, served):
    _, t, ang, _ = squats[4]
    r = httpx.post(served + "/feedback", json=_request(*_nan_free(t, ang)), timeout=120)
    assert r.status_code == 200, r.text[-2000:]
    out = r.json()
    seg = out["segments"][0]
    assert seg["skipped"] is None and seg["reference_clips"] == 4 and out["settings"]["threshold_deg"] == 9.0
    hit = [j for j in seg["flagged_joints"] if j in FAULT_JOINTS["shallow_squat"]]
    assert hit, seg["joints"]
    knee = min(seg["joints"]["knee_angle_r"]["deviation_deg"], seg["joints"]["knee_angle_l"]["deviation_deg"])
    assert knee < -20                                                     # far less knee flexion
    assert any("knee flexion" in m and "bend the knee more" in m for m in seg["messages"]), seg["messages"]
    print("feedback on the shallow squat:", seg["messages"])

    _, tc, angc, _ = squats[5]                                               # a clean squat left out of the reference
    clean = httpx.post(served + "/feedback", json=_request(*_nan_free(tc, angc)), timeout=120).json()["segments"][0]
    kc = min(clean["joints"]["knee_angle_r"]["deviation_deg"], clean["joints"]["knee_angle_l"]["deviation_deg"])
    assert kc > knee + 15 and clean["flagged_joints"] == [], clean["joints"]
    print("feedback on a clean squat:", clean["messages"])


def test_feedback_bad_input_is_a_400_naming_the_field(squats, served):
    _, t, ang, _ = squats[4]
    body = _request(*_nan_free(t, ang))
    del body["request"]["angles"]["knee_angle_r"]
    r = httpx.post(served + "/feedback", json=body, timeout=60)
    assert r.status_code == 400 and "knee_angle_r" in r.text and "Traceback" not in r.text, r.text
    body = _request(*_nan_free(t, ang))
    body["request"]["segments"][0]["t_end_s"] = body["request"]["segments"][0]["t_start_s"]
    r = httpx.post(served + "/feedback", json=body, timeout=60)
    assert r.status_code == 400 and "segments[0]" in r.text, r.text


def test_model_info_lists_the_references(served):
    info = httpx.get(served + "/info/model", timeout=30).json()
    assert info["feedback"]["references"]["squat"]["clean_clips"] == 4
    assert set(info["feedback"]["settings"]) >= set(SETTINGS_KEYS)


def test_plates_give_the_load_flag_a_70_30_squat_is_flagged_on_the_heavier_leg(squats, served):
    _, t, ang, d = squats[5]                                              # a clean squat left out of the reference
    tg, fy = _plates(d)
    body = _request(*_nan_free(t, ang))
    body["request"]["plates"] = {"force_y": fy.tolist(), "time": tg.tolist(), "mass_kg": 75.0, "sides": ["r", "l"]}
    seg = httpx.post(served + "/feedback", json=body, timeout=120).json()["segments"][0]
    assert seg["load"]["flagged"] is False and seg["load"]["asymmetry"] < 0.1, seg["load"]
    lop = np.stack([0.3 * fy.sum(1), 0.7 * fy.sum(1)], 1)                # the left plate takes 70 %
    body["request"]["plates"]["force_y"] = lop.tolist()
    seg = httpx.post(served + "/feedback", json=body, timeout=120).json()["segments"][0]
    assert seg["load"]["flagged"] and seg["load"]["heavier"] == "the left leg", seg["load"]
    assert any(m.startswith("the left leg takes 70% of the load") for m in seg["messages"]), seg["messages"]
    body["request"]["plates"]["force_y"] = lop[:, :1].tolist()
    r = httpx.post(served + "/feedback", json=body, timeout=60)
    assert r.status_code == 400 and "plates.force_y" in r.text, r.text
