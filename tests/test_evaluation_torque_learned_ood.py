"""evaluation.torque_learned_ood: scoring, estimator loading and the simulated-body windows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomech.body import build_body, perturb_body
from biomech.conventions import MOMENTS
from evaluation.torque_learned_ood import (REPORTED, load_estimators, predict, preprocess_params, score,
                                           simulated_streams, windows_batch)
from models import build_model
from preprocessing.clip import process_recording
from preprocessing.params import PreprocessParams


def test_score_is_the_per_joint_rmse():
    target = np.zeros((2, 5, len(MOMENTS)))
    off = target.copy()
    off[..., MOMENTS.index("knee_angle_r_moment")] = 3.0
    off[0, :, MOMENTS.index("hip_flexion_l_moment")] = 4.0  # half the frames: RMSE sqrt(8)
    r = score({"physics": target, "learned": off}, target)
    assert r["n_windows"] == 2
    assert r["rmse"]["physics"]["knee_angle_r_moment"] == 0.0
    assert r["rmse"]["learned"]["knee_angle_r_moment"] == pytest.approx(3.0)
    assert r["rmse"]["learned"]["hip_flexion_l_moment"] == pytest.approx(np.sqrt(8.0))
    assert r["rmse"]["learned"]["ankle_angle_l_moment"] == 0.0
    assert set(r["rmse"]["learned"]) == {f"{c}_moment" for c in REPORTED}


def _save(model, name, d):
    (d / name).mkdir(parents=True)
    torch.save({"model_name": name, "model_cfg": {}, "state_dict": model.state_dict()}, d / name / "model.pt")


def test_load_estimators_physics_is_the_zero_residual_model(tmp_path):
    torch.manual_seed(0)
    ne = build_model("torque_ne", {})
    with torch.no_grad():
        ne.moment_head.bias.fill_(0.5)  # a "trained" residual: +0.5 N m/kg on every moment
    _save(ne, "torque_ne", tmp_path)
    _save(build_model("torque_direct", {}), "torque_direct", tmp_path)
    models = load_estimators(tmp_path)
    assert list(models) == ["physics", "learned", "direct"]
    assert not any(m.training for m in models.values())
    batch = {"angles": torch.zeros(1, 16, 23), "root": torch.zeros(1, 16, 6), "anthro": torch.tensor([[70.0, 1.75, 0.0]]),
             "grf": torch.zeros(1, 16, 2, 7)}
    batch["grf"][..., 1] = 0.5  # half the body weight on each foot
    batch["root"][..., 4] = 0.95
    p = predict(models, batch)
    np.testing.assert_allclose(p["learned"] - p["physics"], 35.0, atol=1e-3)  # 0.5 N m/kg x 70 kg


def test_load_estimators_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="torque_ne"):
        load_estimators(tmp_path)


def test_preprocess_params_names_the_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        preprocess_params(tmp_path)


@pytest.fixture(scope="module")
def squat_windows():
    """A squat simulated for the table body and for a perturbed athlete (same stated anthropometrics)."""
    p = PreprocessParams()
    p = p.model_copy(update={"sync": p.sync.model_copy(update={"enabled": False})})
    table = build_body("male", 1.78, 75.0)
    athlete = perturb_body(table, np.random.default_rng(3))
    out = {}
    for key, body in (("table", table), ("perturbed", athlete)):
        cs = simulated_streams(body, "male", 1.78, 75.0, "squat", 7, duration=3.0, clip_id=key)
        out[key] = (cs, process_recording(cs, p))
    return out


def test_simulated_windows_carry_the_stated_anthropometrics_and_the_athletes_truth(squat_windows):
    for key, (cs, res) in squat_windows.items():
        b = windows_batch([res])
        assert len(b["angles"]) >= 1 and b["angles"].shape[-1] == 23 and b["root"].shape[-1] == 6
        np.testing.assert_allclose(b["anthro"][0].numpy(), [75.0, 1.78, 0.0], rtol=1e-6)
        # the truth of the windows is the clip's truth (moments.sto) on the timeline
        t, cols, truth, _ = cs.targets["moments.sto"]
        j = MOMENTS.index("knee_angle_r_moment")
        assert np.abs(b["moments"][..., j].numpy()).max() == pytest.approx(np.abs(truth[:, j]).max(), rel=0.1)
        assert "root" not in windows_batch([res], with_root=False)
    # the perturbed athlete's own moments differ from the table body's
    a, p = (windows_batch([squat_windows[k][1]])["moments"].numpy() for k in ("table", "perturbed"))
    n = min(len(a), len(p))
    assert np.abs(a[:n] - p[:n]).max() > 1.0


def test_physics_on_the_table_squat_is_close_and_breaks_without_plates(squat_windows):
    physics = {"physics": build_model("torque_ne", {}).eval()}
    b = windows_batch([squat_windows["table"][1]])
    good = score(predict(physics, b), b["moments"].numpy())["rmse"]["physics"]["knee_angle_r_moment"]
    no_plates = {**b, "grf": torch.zeros_like(b["grf"])}
    bad = score(predict(physics, no_plates), b["moments"].numpy())["rmse"]["physics"]["knee_angle_r_moment"]
    assert good < 15.0
    assert bad > 3 * good


def test_score_bootstraps_the_learned_minus_physics_difference_over_clips():
    rng = np.random.default_rng(0)
    target = rng.normal(0, 10, (12, 8, len(MOMENTS)))
    physics = target + rng.normal(0, 2, target.shape)
    learned = physics.copy()
    j = MOMENTS.index("hip_flexion_r_moment")
    learned[..., j] += 5.0  # worse on the right hip in every clip
    r = score({"physics": physics, "learned": learned}, target, clips=np.repeat(np.arange(6), 2), n_boot=200)
    assert r["n_clips"] == 6
    lo, hi = r["learned_minus_physics_ci95"]["hip_flexion_r_moment"]
    assert 0 < lo <= hi
    assert r["learned_minus_physics_ci95"]["knee_angle_r_moment"] == [0.0, 0.0]
    assert "learned_minus_physics_ci95" not in score({"physics": physics, "learned": learned}, target)


def _fake_layout(tmp_path, clips):
    """raw/<athlete>/<clip>/meta.json, processed/split.json and an IK cache file per cached clip."""
    import json

    from evaluation.feedback import ik_cache_file

    raw, proc, cache = tmp_path / "raw", tmp_path / "proc", tmp_path / "cache"
    proc.mkdir()
    (proc / "split.json").write_text(json.dumps({"athletes": {"test": ["a0", "a1"], "train": ["a9"]}}))
    for athlete, clip, action, preset, cached in clips:
        d = raw / athlete / clip
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"action": action, "preset": preset, "fault": "none"}))
        (d / "keypoints.npz").write_bytes(clip.encode())
        if cached:
            f = ik_cache_file({"dir": d, "athlete": athlete, "clip": clip}, cache)
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, time=np.zeros(1), deg=np.zeros((1, 29)))
    return raw, proc, cache


def test_ik_clips_takes_cached_pro_test_clips_one_action_after_the_other(tmp_path):
    from evaluation.torque_learned_ood import ik_clips

    raw, proc, cache = _fake_layout(tmp_path, [
        ("a0", "c0", "walk", "pro", True), ("a0", "c1", "walk", "pro", True), ("a0", "c2", "walk", "pro", True),
        ("a1", "c3", "squat", "pro", True), ("a1", "c4", "squat", "consumer", True),  # no plates
        ("a1", "c5", "run", "pro", False),                                             # not in the cache
        ("a9", "c6", "run", "pro", True)])                                             # a training athlete
    got = ik_clips(raw, proc, cache, 3)
    assert [c["clip"] for c in got] == ["c0", "c3", "c1"]
    assert [c["clip"] for c in ik_clips(raw, proc, cache, 10)] == ["c0", "c3", "c1", "c2"]


def test_ik_clips_names_the_cache_when_nothing_is_cached(tmp_path):
    from biomech.io import RawDataError
    from evaluation.torque_learned_ood import ik_clips

    raw, proc, cache = _fake_layout(tmp_path, [("a0", "c0", "walk", "pro", False)])
    with pytest.raises(RawDataError, match="no IK cache file"):
        ik_clips(raw, proc, cache, 4)
