"""serving.champion (which model is packaged) and serving.bundle (sha256-checked, weights-only
loading), without a server."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import build_model
from serving.bundle import BundleError, build_bundle, load_bundle
from serving.champion import ChampionError, resolve_champion, resolve_torque

CLASSES = ["a", "b", "c"]


def _model(root: Path, name: str, arch: str, modalities, f1: float, kind: str = "torch") -> None:
    d = root / "train" / name
    d.mkdir(parents=True)
    cfg = {"num_classes": len(CLASSES), "modalities": list(modalities)}
    m = build_model(arch, cfg)
    torch.save({"model_name": arch, "model_cfg": cfg, "classes": CLASSES, "state_dict": m.state_dict()}, d / "model.pt")
    (d / "metrics.json").write_text(json.dumps({"model": name, "kind": kind, "val_macro_f1": f1, "test_macro_f1": f1}))


@pytest.fixture()
def artifacts(tmp_path):
    a = tmp_path / "artifacts"
    _model(a, "tcn", "tcn", ("landmarks", "imu"), 0.80)
    _model(a, "tcn_imu", "tcn", ("imu",), 0.95)                    # single modality: not eligible
    _model(a, "basic_cnn", "basic_cnn", ("imu", "grf"), 0.85)       # best eligible
    return a


def test_fallback_is_the_best_fused_non_video_recognizer(artifacts):
    c = resolve_champion(artifacts)
    assert c.name == "basic_cnn" and c.temperature == 1.0 and "fallback" in c.source
    assert resolve_torque(artifacts) is None


def test_champion_json_wins_and_gives_the_temperature(artifacts):
    (artifacts / "champion.json").write_text(json.dumps(
        {"recognizer": {"name": "tcn", "run_id": "r1", "metrics": {"temperature": 0.7, "test_window_macro_f1": 0.9}},
         "torque": {"name": None}}))
    c = resolve_champion(artifacts)
    assert (c.name, c.temperature, c.run_id) == ("tcn", 0.7, "r1") and "champion.json" in c.temperature_source
    (artifacts / "champion.json").write_text(json.dumps({"recognizer": {"name": None}}))
    assert resolve_champion(artifacts).name == "basic_cnn"   # no eligible champion named: the rule decides
    (artifacts / "champion.json").write_text(json.dumps({"recognizer": {"name": "gone"}}))
    with pytest.raises(ChampionError, match="gone"):
        resolve_champion(artifacts)


def test_no_eligible_model_is_an_error_naming_the_directory(tmp_path):
    a = tmp_path / "artifacts"
    _model(a, "tcn_imu", "tcn", ("imu",), 0.9)
    with pytest.raises(ChampionError, match="fusing >= 2 modalities"):
        resolve_champion(a)


def _processed(tmp_path) -> Path:
    from preprocessing.params import PreprocessParams

    d = tmp_path / "processed"
    d.mkdir()
    (d / "dataset.json").write_text(json.dumps({"classes": CLASSES, "faults": ["none"], "phases": ["p", "c", "r"],
                                                "timeline_hz": 50.0, "window_length": 64, "window_stride": 32,
                                                "params": PreprocessParams().model_dump(mode="json")}))
    (d / "scalers.json").write_text(json.dumps({"imu": {"fitted": False}}))
    return d


def test_bundle_round_trip_and_a_changed_file_is_refused(artifacts, tmp_path):
    c = resolve_champion(artifacts)
    build_bundle(tmp_path / "b", c, None, _processed(tmp_path))
    b = load_bundle(tmp_path / "b")
    assert b.model_name == "basic_cnn" and b.classes == CLASSES and b.modalities == ("imu", "grf")
    ref = torch.load(artifacts / "train/basic_cnn/model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in ref.items())
    with open(tmp_path / "b/recognizer/model.pt", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(tmp_path / "b")


def test_the_bundle_carries_the_faults_each_action_can_have_and_the_service_masks_the_others(artifacts, tmp_path):
    from serving.inference import fault_probabilities

    d = _processed(tmp_path)
    info = json.loads((d / "dataset.json").read_text())
    info["faults"] = ["none", "knee_valgus", "overstriding"]
    (d / "dataset.json").write_text(json.dumps(info))
    (d / "train").mkdir()
    np.save(d / "train/label.npy", np.array([0, 0, 1, 1, 1]))
    np.save(d / "train/fault.npy", np.array([0, 1, 0, 2, 2]))
    build_bundle(tmp_path / "b", resolve_champion(artifacts), None, d)
    adm = json.loads((tmp_path / "b/bundle.json").read_text())["fault_admissible"]
    assert adm[0] == [True, True, False] and adm[1] == [True, False, True]
    assert all(row == [True, False, False] for row in adm[2:])        # classes never seen: "none" only
    p = fault_probabilities(np.array([[0.0, 0.0, 9.0], [0.0, 0.0, 9.0]]), np.array([0, 1]), adm)
    assert p[0, 2] == 0 and p[0, :2] == pytest.approx([0.5, 0.5])   # action 0 cannot overstride
    assert p[1, 2] > 0.99 and p[1, 1] == 0
    assert fault_probabilities(np.zeros((1, 3)), np.array([0]), None) == pytest.approx(np.full((1, 3), 1 / 3))
