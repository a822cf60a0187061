"""`athlete-mm recognize` and `athlete-mm analyze`: the installed console command, in-process (no
server), on a bundle built from a tiny trained recognizer (+ a feedback reference). The command
runs with PYTHONPATH = this checkout, so it is this checkout's code that is tested."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .preprocess_fixtures import build_raw, build_run

REPO = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "athlete-mm"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from biomech.feedback import angle_matrix, build_reference, save_references
    from biomech.io import read_coordinates_deg
    from serving.bundle import build_bundle
    from serving.champion import resolve_champion
    from training.loop import train

    raw = build_raw(tmp_path_factory)
    _, _, processed, _ = build_run(raw, tmp_path_factory)
    work = tmp_path_factory.mktemp("cli")
    classes = json.loads((processed / "dataset.json").read_text())["classes"]
    train("tcn", {"num_classes": len(classes), "modalities": ["landmarks", "imu", "grf"]},
          {"epochs": 1, "batch_size": 8, "max_batches_per_epoch": 2, "threads": 1}, processed,
          work / "artifacts/train/tcn", progress=False)
    # the tiny squats' movement as every class's reference: whatever the tiny recognizer calls the
    # real video, its segments get feedback (what the feedback says is tested in test_feedback*.py)
    clips = [read_coordinates_deg(m.parent / "angles.mot") for m in raw.glob("*/*/meta.json")
             if json.loads(m.read_text())["action"] == "squat"]
    squat = build_reference("squat", [angle_matrix(t, c, 25.0) for t, c in clips], 25.0)
    refs = {a: squat for a in classes}
    ref = save_references(work / "reference.npz", refs, {"angles": "true", "settings": {"threshold_deg": 9.0}})
    build_bundle(work / "bundle", resolve_champion(work / "artifacts"), None, processed, {}, ref)
    return {"dir": work / "bundle", "raw": raw, "work": work}


def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(EXE), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _a_clip(raw: Path) -> Path:
    return next(m.parent for m in sorted(raw.glob("*/*/meta.json")) if (m.parent / "grf.npz").is_file())


def test_recognize_a_clip_folder_equals_the_service_path(bundle, tmp_path):
    from serving.bundle import load_bundle
    from serving.client import request_from_clip
    from serving.inference import recognize_many
    from serving.schemas import RecognizeRequest

    clip = _a_clip(bundle["raw"])
    r = _run("recognize", clip, "--bundle", bundle["dir"], "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    want = recognize_many(load_bundle(bundle["dir"]), [RecognizeRequest.model_validate(
        request_from_clip(clip, compact=True))])[0].model_dump()
    assert [s["action"] for s in out["segments"]] == [s["action"] for s in want["segments"]]
    got = np.array([list(w["probabilities"].values()) for w in out["windows"]])
    ref = np.array([list(w["probabilities"].values()) for w in want["windows"]])
    assert got.shape == ref.shape and np.allclose(got, ref, atol=1e-4)
    assert out["modalities_used"] == {"video": False, "landmarks": True, "imu": True, "grf": True}

    r = _run("recognize", clip, "--bundle", bundle["dir"], "--out", tmp_path / "o.json", cwd=tmp_path)
    assert r.returncode == 0 and "segments:" in r.stdout and "whole recording:" in r.stdout, r.stderr[-2000:]
    for s in out["segments"]:
        assert s["action"] in r.stdout
    assert json.loads((tmp_path / "o.json").read_text())["segments"] == out["segments"]


def test_recognize_stream_files_masks_what_is_missing(bundle, tmp_path):
    clip = _a_clip(bundle["raw"])
    r = _run("recognize", "--imu", clip / "imu.npz", "--mass", "70", "--height", "1.75", "--bundle", bundle["dir"],
             "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["modalities_used"] == {"video": False, "landmarks": False, "imu": True, "grf": False}


def test_recognize_errors_name_the_problem(bundle, tmp_path):
    r = _run("recognize", "--imu", tmp_path / "nope.npz", "--mass", "70", "--height", "1.75", "--bundle",
             bundle["dir"], cwd=tmp_path)
    assert r.returncode == 2 and "nope.npz: file not found" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _run("recognize", "--imu", _a_clip(bundle["raw"]) / "imu.npz", "--bundle", bundle["dir"], cwd=tmp_path)
    assert r.returncode == 2 and "--mass and --height are required" in r.stderr
    r = _run("recognize", tmp_path, "--bundle", bundle["dir"], cwd=tmp_path)
    assert r.returncode == 2 and "not a raw-layout clip folder" in r.stderr


def test_analyze_a_real_video_in_process(bundle, tmp_path):
    from tests.real_data import fetch_pose2sim

    video = fetch_pose2sim() / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    r = _run("analyze", video, "--mass", "70", "--height", "1.72", "--max-frames", "40", "--bundle", bundle["dir"],
             "--out", tmp_path / "a.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((tmp_path / "a.json").read_text())
    assert out["video"]["frames"] == 40 and out["qc"]["frames_with_pose"] >= 30
    segs, fb = out["recognition"]["segments"], out["feedback"]
    assert len(fb) == len(segs) and [f["action"] for f in fb] == [s["action"] for s in segs]
    for f in fb:   # every class has a reference: only a segment under 0.5 s goes without feedback
        if f["t_end_s"] - f["t_start_s"] >= 0.5:
            assert f["skipped"] is None and set(f["joints"]) >= {"knee_angle_r", "hip_flexion_l"}, f
            assert f["reference_clips"] == 3 and f["threshold_deg"] == 9.0
        else:
            assert "s (< 0.5 s)" in f["skipped"]
    assert "segments and feedback:" in r.stdout and "timings:" in r.stdout and "cpu seconds: server_process" in r.stdout
    print(r.stdout)
