"""The real BasicMotions IMU archive through the BasicMotions pipeline's stages (stages/basicmotions.py):
the archive's split as a processed dataset, the zoo's IMU models trained by the project's training
loop and scored by the evaluate stage's code."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from biomech.conventions import IMU_SENSORS
from ingest.ts_archive import read_ts
from tests.real_data import CACHE, fetch_pose2sim


@pytest.fixture(scope="module")
def archive_dir():
    fetch_pose2sim()  # the same script fetches BasicMotions
    return CACHE / "basicmotions"


def _params(tmp_path, archive_dir, **extra) -> None:
    p = {"archive_dir": str(archive_dir), "data_dir": "proc", "models_dir": "models", "metrics_file": "bm.json",
         "markdown": "bm.md", "seed": 3, "val_per_class": 2,
         "train": {"epochs": 1, "batch_size": 8, "threads": 1, "tracking": {"enabled": False}},
         "archs": {"features_svm": {}, "minirocket": {"modalities": ["imu"], "num_kernels": 2000}},
         "evaluate": {"threads": 1, "bootstrap": {"n_boot": 50}}, **extra}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "default", "basicmotions": p}))


def test_archive_split_becomes_a_processed_dataset(archive_dir, tmp_path, monkeypatch):
    from stages.basicmotions import main

    monkeypatch.chdir(tmp_path)
    _params(tmp_path, archive_dir)
    assert main(["prepare"]) == 0
    info = json.loads((tmp_path / "proc" / "dataset.json").read_text())
    assert info["classes"] == ["Standing", "Running", "Walking", "Badminton"] and info["faults"] == []
    split = json.loads((tmp_path / "proc" / "split.json").read_text())
    assert split["windows"] == {"train": 32, "val": 8, "test": 40}
    assert not set(split["clips"]["train"]) & set(split["clips"]["val"])           # val held out of TRAIN
    assert all(c.startswith("train_") for c in split["clips"]["val"])
    assert split["clips"]["test"] == [f"test_{i:03d}" for i in range(40)]          # the archive's TEST, in order
    d = {s: {f: np.load(tmp_path / "proc" / s / f"{f}.npy") for f in ("imu", "label", "modality_mask")}
         for s in ("train", "val", "test")}
    assert np.bincount(d["val"]["label"]).tolist() == [2, 2, 2, 2]
    test = read_ts(archive_dir / "BasicMotions_TEST.ts")
    assert [info["classes"][k] for k in d["test"]["label"]] == test.y.tolist()
    watch = IMU_SENSORS.index("wrist_l")
    imu = d["train"]["imu"]
    assert imu.shape == (32, 100, 6, 9)
    others = np.delete(imu, watch, axis=2)
    assert not others.any() and not imu[:, :, watch, 6:].any()                    # only the watch's acc + gyro
    ch = imu[:, :, watch, :6].reshape(-1, 6)
    np.testing.assert_allclose(ch.mean(0), 0, atol=1e-4)                          # z-scored on train
    np.testing.assert_allclose(ch.std(0), 1, atol=1e-3)
    assert d["test"]["modality_mask"].tolist() == [[False, False, True, False]] * 40
    # the scaling is the train split's: test gyro of a running case is the archive's value, rescaled
    sc = json.loads((tmp_path / "proc" / "scalers.json").read_text())["imu"]
    k = watch * 9 + 3
    raw = test.X[0, 3]
    np.testing.assert_allclose(d["test"]["imu"][0, :, watch, 3], (raw - sc["center"][k]) / sc["scale"][k], rtol=1e-4,
                               atol=1e-5)


def test_imu_models_train_and_score_on_the_archive(archive_dir, tmp_path, monkeypatch, capsys):
    from stages.basicmotions import main

    monkeypatch.chdir(tmp_path)
    _params(tmp_path, archive_dir)
    assert main(["prepare"]) == 0
    assert main(["train", "features_svm"]) == 0 and main(["train", "minirocket"]) == 0
    assert main(["evaluate"]) == 0
    head = json.loads((tmp_path / "bm.json").read_text())["basicmotions"]
    details = json.loads((tmp_path / "bm_details.json").read_text())
    print(f"\nBasicMotions test accuracy: {head}")
    # measured: minirocket (2,000 kernels) 1.000, features_svm 0.975 (one Standing case)
    assert head["minirocket_test_accuracy"] >= 0.95 and head["features_svm_test_accuracy"] >= 0.95
    assert head["test_accuracy"] == details["models"][head["best_model"]]["test_accuracy"]
    assert details["n_test"] == 40 and sum(map(sum, details["models"]["minirocket"]["confusion"])) == 40
    md = (tmp_path / "bm.md").read_text()
    assert "| **" + head["best_model"] + "** |" in md and "Badminton" in md


def test_missing_archive_names_the_fetch_script(tmp_path, monkeypatch, capsys):
    from stages.basicmotions import main

    monkeypatch.chdir(tmp_path)
    _params(tmp_path, tmp_path / "nowhere")
    assert main(["prepare"]) == 1
    err = capsys.readouterr().err
    assert "nowhere/BasicMotions_TRAIN.ts: not found" in err and "scripts/fetch_real_data.sh" in err


def test_bad_parameters_are_named(archive_dir, tmp_path, monkeypatch, capsys):
    from stages.basicmotions import main

    monkeypatch.chdir(tmp_path)
    _params(tmp_path, archive_dir, archs={"tcn_imu": {"arch": "tcn", "modalitys": ["imu"]}})
    assert main(["train", "tcn_imu"]) == 2
    assert "basicmotions.archs.tcn_imu.modalitys" in capsys.readouterr().err
    assert main(["train", "nosuch"]) == 2
    assert "basicmotions.archs.nosuch" in capsys.readouterr().err
    _params(tmp_path, archive_dir, sensor="ankle")
    assert main(["prepare"]) == 1
    assert "sensor = 'ankle'" in capsys.readouterr().err
