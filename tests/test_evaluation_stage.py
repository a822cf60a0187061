"""The evaluate stage: champion rule, fault / azimuth / meta helpers, and the whole path
Dataset -> training loop -> evaluate (with a real MLflow sqlite store and registry)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation import champion as C
from evaluation.params import ChampionRule, EvaluateParams
from evaluation.predict import window_meta
from evaluation.recognition import admissible_faults, azimuth_report, fault_report


def _rep(name, mods, f1, lat, kind="torch"):
    return {"model": name, "kind": kind, "modalities": mods, "val": {"window": {"macro_f1": f1}},
            "cost": {"latency_ms_per_window_b1": lat}}


def test_champion_rule_filters_then_takes_best_val_f1():
    reports = {"video_fused": _rep("video_fused", ["video", "imu"], 0.99, 1.0),
               "slow_fused": _rep("slow_fused", ["landmarks", "imu"], 0.98, 13.6),
               "single": _rep("single", ["imu"], 0.97, 0.5),
               "minirocket": _rep("minirocket", ["landmarks", "imu"], 0.96, 1.5, "sklearn"),
               "fused_a": _rep("fused_a", ["landmarks", "imu"], 0.93, 1.4),
               "fused_b": _rep("fused_b", ["imu", "grf"], 0.95, 0.8),
               "torque": {"model": "torque", "kind": "torque", "val_rmse_nm_per_kg": 0.2}}
    c = C.select_champion(reports, ChampionRule())
    assert c["name"] == "fused_b"
    why = c["candidates"]
    assert any("video" in w for w in why["video_fused"]) and any("latency" in w for w in why["slow_fused"])
    assert any("modalities" in w for w in why["single"]) and why["minirocket"] == ["peer baseline"]
    assert "torque" not in why
    assert C.select_champion(reports, ChampionRule(max_latency_ms=0.1))["name"] is None
    # a champion that must take a video (landmarks): fused_b (IMU + plates) is out, fused_a wins
    c = C.select_champion(reports, ChampionRule(required_modalities=["landmarks"]))
    assert c["name"] == "fused_a" and any("landmarks" in w for w in c["candidates"]["fused_b"])
    # a FLOPs budget instead of ms: the slow (13.6 ms) model is cheap in FLOPs and wins
    for name, mf in (("slow_fused", 20), ("fused_a", 40), ("fused_b", 10), ("video_fused", 10)):
        reports[name]["cost"]["flops_per_window"] = mf * 1e6
    c = C.select_champion(reports, ChampionRule(max_latency_ms=None, max_mflops=30))
    assert c["name"] == "slow_fused" and any("MFLOPs" in w for w in c["candidates"]["fused_a"])
    assert C.best_single_modality(reports) == "single"
    assert C.select_torque_champion(reports)["name"] == "torque"


def test_fault_given_action_only_picks_admissible_faults():
    train_label = np.array([0, 0, 0, 1, 1])
    train_fault = np.array([0, 2, 2, 0, 1])
    adm = admissible_faults(train_label, train_fault, 2)
    assert adm == [[0, 2], [0, 1]]
    logits = np.array([[0.0, 9.0, 1.0],    # action 0: fault 1 is not admissible -> 2
                       [5.0, 9.0, 1.0],    # action 0 -> 0
                       [0.0, 1.0, 9.0]])   # action 1: fault 2 not admissible -> 1
    r = fault_report(logits, np.array([2, 0, 1]), np.array([0, 0, 1]), adm, ["none", "a", "b"], ["x", "y"])
    assert r["pred"].tolist() == [2, 0, 1] and r["accuracy"] == 1.0 and r["macro_f1"] == 1.0
    assert r["macro_f1_per_action"]["x"]["n"] == 2


def test_azimuth_bins():
    y = np.zeros(4, int)
    lp = np.log(np.array([[0.9, 0.1], [0.2, 0.8], [0.9, 0.1], [0.9, 0.1]]))
    r = azimuth_report(y, lp, np.array([10.0, 20.0, 370.0, 200.0]), 30.0)
    assert len(r["bins"]) == 12 and r["overall"] == 0.75
    assert r["bins"][0]["n"] == 3 and r["bins"][0]["accuracy"] == pytest.approx(2 / 3)   # 370 deg wraps to 10
    assert r["bins"][6]["accuracy"] == 1.0 and r["max_gap"] == pytest.approx(0.25)
    assert azimuth_report(y, lp, None, 30.0) == {"available": False}


def test_window_meta_derives_preset_and_reads_azimuth():
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)
    m = window_meta({"n_windows": 2, "windows": {"clip_id": ["c1", "c2"], "athlete_id": ["a", "b"]}}, mask)
    assert m["preset"].tolist() == ["pro", "consumer"]
    m = window_meta({"n_windows": 2, "windows": [{"clip_id": "c1", "athlete_id": "a", "camera_azimuth_deg": 15.0,
                                                  "preset": "consumer"},
                                                 {"clip_id": "c2", "athlete_id": "b", "camera_azimuth_deg": None,
                                                  "preset": "pro"}]}, mask)
    assert m["preset"].tolist() == ["consumer", "pro"] and np.isnan(m["camera_azimuth_deg"][1])
    with pytest.raises(ValueError, match="athlete_id"):
        window_meta({"n_windows": 2, "split": "test", "windows": {"clip_id": ["c1", "c2"]}}, mask)


# ---- Dataset -> training loop -> evaluate ------------------------------------------------------
def _fixture(root: Path) -> Path:
    from biomech.conventions import MOMENTS
    from tests.train_fixtures import CLASSES, write_tiny_dataset

    data = write_tiny_dataset(root / "processed" / "synth", n=(48, 24, 24))
    for split in ("train", "val", "test"):
        d = data / split
        idx = json.loads((d / "index.json").read_text())
        y = np.load(d / "label.npy")
        ath = [f"{split}_a{(i // len(CLASSES)) % 3}" for i in range(len(y))]
        idx["windows"] = {"clip_id": [f"{a}_c{int(k)}" for a, k in zip(ath, y)], "athlete_id": ath}
        (d / "index.json").write_text(json.dumps(idx))
        np.save(d / "fault.npy", (np.arange(len(y)) % 2).astype(np.int64))
    from sigproc.normalize import fit_landmark_scaler

    train_lm = np.load(data / "train" / "landmarks.npy")[..., :3]
    (data / "scalers.json").write_text(json.dumps({"landmarks": fit_landmark_scaler(train_lm).to_dict()}))
    (data / "dataset.json").write_text(json.dumps({"classes": CLASSES, "faults": ["none", "lean"],
                                                   "moments": list(MOMENTS), "window_length": 32}))
    return data


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    import torch

    from evaluation.runner import run_evaluation
    from training.loop import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    data = _fixture(root)
    cfg = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "seed": 3, "tracking": {"enabled": False}}
    for name in ("tcn", "features_svm", "torque_direct"):
        train(name, {"calibration_folds": 2} if name == "features_svm" else {}, cfg, data,
              root / "artifacts" / "train" / name, progress=False)
    train("tcn", {}, {**cfg, "seed": 4}, data, root / "artifacts" / "seeds" / "tcn" / "seed_4", progress=False)
    p = EvaluateParams(data_dir=str(root / "processed"), train_dir=str(root / "artifacts" / "train"),
                       seeds_dir=str(root / "artifacts" / "seeds"), report_dir=str(root / "reports" / "evaluation"),
                       metrics_file=str(root / "reports" / "evaluate.json"), markdown=str(root / "reports" / "evaluation.md"),
                       champion_file=str(root / "artifacts" / "champion.json"), threads=1,
                       bootstrap={"n_boot": 100, "seed": 0}, latency={"runs": 30, "max_seconds": 2},
                       rotation_angles_deg=[0, 90], champion={"max_latency_ms": 1000.0},
                       tracking={"uri": f"sqlite:///{root / 'mlflow.db'}"})
    return p, run_evaluation(p, git_sha="0" * 40), root


def test_trained_fixture_evaluates_above_chance(evaluated):
    p, s, root = evaluated
    assert s["champion"]["name"] == "tcn"           # the only fused recognizer (landmarks + imu)
    head = json.loads(Path(p.metrics_file).read_text())
    assert head["win_acc"] > 0.25 + 0.25            # 4 balanced classes: chance 0.25
    rep = json.loads((Path(p.report_dir) / "models" / "tcn.json").read_text())
    assert rep["test"]["window"]["n"] == 24 and rep["test"]["clip"]["n"] == 12
    lo, hi = rep["test"]["window"]["accuracy_ci"]
    assert lo <= rep["test"]["window"]["accuracy"] <= hi
    assert rep["seeds"]["window_accuracy"]["n"] == 2     # artifacts/train/tcn + seeds/tcn/seed_4
    # fault macro-F1 over the seeds too; the first run's is the stage's own fault figure
    assert rep["seeds"]["fault_macro_f1"]["n"] == 2
    assert rep["seeds"]["runs"][0]["fault_macro_f1"] == pytest.approx(rep["fault"]["macro_f1"])
    assert "fault_macro_f1" not in json.loads((Path(p.report_dir) / "models" / "features_svm.json").read_text())["seeds"]
    assert rep["cost"]["params"] > 1000 and rep["cost"]["flops_per_window"] > rep["cost"]["params"]
    assert rep["cost"]["latency_ms"]["32"]["median"] > rep["cost"]["latency_ms"]["1"]["median"]
    svm = json.loads((Path(p.report_dir) / "models" / "features_svm.json").read_text())
    assert svm["modalities"] == ["imu"]
    for r in (rep, svm):   # the stage reproduces what the training loop measured on the same windows
        assert r["test"]["window"]["accuracy"] == pytest.approx(r["train_metrics"]["test_accuracy"])
        assert r["val"]["window"]["macro_f1"] == pytest.approx(r["train_metrics"]["val_macro_f1"])
    assert s["significance"]["roles"]["single_modality"] == "features_svm"
    assert s["significance"]["mcnemar"]["single_modality"]["n_pairs"] == 1
    # what the paired test can show at this size: computed from the pair's own counts
    mc = s["significance"]["mcnemar"]["single_modality"]
    pw, w = mc["power"], mc["pairs"][0]["window"]
    assert pw["n"] == w["n"] == s["n_test"] and pw["p_a_only"] == pytest.approx(w["a_only"] / w["n"])
    assert pw["min_detectable_gap"] > 0.0 and pw["n_athletes"] >= 1
    rot = s["rotation"]                    # preprocessing.view.rotate_scaled_landmarks, the real one
    assert rot["available"] and [a["angle_deg"] for a in rot["angles"]] == [0.0, 90.0]
    assert rot["angles"][0]["accuracy"] == pytest.approx(head["win_acc"], abs=1e-4)


def test_champion_registered_with_bound_files(evaluated):
    import mlflow
    from mlflow import MlflowClient

    p, s, root = evaluated
    champ = json.loads(Path(p.champion_file).read_text())
    assert champ["git_sha"] == "0" * 40 and len(champ["data_hash"]) == 32
    for key in ("test_window_accuracy", "test_clip_accuracy", "test_fault_macro_f1"):
        assert key in champ["recognizer"]["metrics"]
    mlflow.set_tracking_uri(p.tracking.uri)
    client = MlflowClient()
    mv = client.get_model_version_by_alias(p.tracking.recognizer_name, "champion")
    assert mv.run_id == champ["recognizer"]["run_id"]
    model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{p.tracking.recognizer_name}@champion"))
    bound = {f.name for f in model_dir.rglob("*.json")}
    assert {"dataset.json", "scalers.json", "calibration.json"} <= bound
    cal = json.loads(next(model_dir.rglob("calibration.json")).read_text())
    assert cal["classes"] == ["a", "b", "c", "d"] and cal["temperature"] > 0
    loaded = mlflow.pyfunc.load_model(f"models:/{p.tracking.recognizer_name}@champion")
    assert loaded is not None
    assert client.get_model_version_by_alias(p.tracking.torque_name, "champion").run_id == champ["torque"]["run_id"]


def test_markdown_zoo_from_mlflow_and_plots(evaluated):
    p, s, root = evaluated
    md = Path(p.markdown).read_text()
    assert "from the MLflow runs" in md and "97.8 %" in md
    assert "- Power vs single_modality `features_svm`" in md
    zoo = [ln for ln in md.splitlines() if ln.startswith("| tcn |")]
    assert zoo and s["champion_file"]["recognizer"]["run_id"][:8] in zoo[0]
    confusion = json.loads((Path(p.report_dir) / "plots" / "confusion.json").read_text())
    assert len(confusion) == 24 and set(confusion[0]) == {"actual", "predicted"}
    assert (Path(p.report_dir) / "plots" / "roc.json").is_file()


def test_rotation_check_scores_each_angle(evaluated):
    from evaluation.predict import load_split, load_trained
    from evaluation.runner import rotation_check

    p, s, root = evaluated
    data = Path(p.data_dir) / p.dataset
    info = json.loads((data / "dataset.json").read_text())
    tcn = load_trained(Path(p.train_dir) / "tcn")
    test = load_split(data, "test", needs_video=False)
    seen = []

    def fake_rotate(lm, angle, scalers, present=None, view_normalize=True):   # 180 deg wipes the landmarks
        seen.append((angle, view_normalize))
        return lm * 0 if angle == 180 else lm

    r = rotation_check(tcn, test, data, info, [0, 180], rotate=fake_rotate)
    assert [a["angle_deg"] for a in r["angles"]] == [0.0, 180.0] and seen[0] == (0, False)
    assert r["angles"][0]["accuracy"] == pytest.approx(json.loads(Path(p.metrics_file).read_text())["win_acc"], abs=1e-4)
    assert r["spread"] == pytest.approx(abs(r["angles"][0]["accuracy"] - r["angles"][1]["accuracy"]))


def test_stage_rejects_bad_params_naming_the_key(tmp_path, monkeypatch, capsys):
    from stages import evaluate

    (tmp_path / "params.yaml").write_text("profile: default\nevaluate:\n  bootstrap: {n_boot: 1}\n  colour: red\n")
    monkeypatch.chdir(tmp_path)
    assert evaluate.main([]) == 2
    err = capsys.readouterr().err
    assert "evaluate.bootstrap.n_boot" in err and "evaluate.colour" in err


def test_stage_without_trained_models_says_so(tmp_path, monkeypatch, capsys):
    from stages import evaluate

    data = _fixture(tmp_path)
    (tmp_path / "params.yaml").write_text(f"profile: default\nevaluate:\n  data_dir: {data.parent}\n"
                                          f"  train_dir: {tmp_path / 'nothing'}\n  tracking: {{enabled: false}}\n")
    monkeypatch.chdir(tmp_path)
    assert evaluate.main([]) == 1
    assert "no trained model" in capsys.readouterr().err


def test_seed_directories_are_found_and_numbered(evaluated):
    from evaluation.predict import find_trained, load_trained

    p, s, root = evaluated
    found = find_trained(p.train_dir, p.seeds_dir)
    assert [d.name for d in found["tcn"]] == ["tcn", "seed_4"]
    assert load_trained(found["tcn"][1]).seed == 4
