"""The torque estimators through the one training loop (TorqueTask): only windows with force
plates, physical GRF, mass-normalised moment loss, per-joint RMSE / ICC / r in metrics.json."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from biomech.conventions import MOMENTS
from tests.train_fixtures import write_tiny_dataset
from training.loop import train
from training.tasks import TorqueTask

CFG = {"epochs": 3, "batch_size": 8, "lr": 1e-2, "seed": 5, "tracking": {"enabled": False}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The tiny dataset with a learnable moment target: moments = mass * 0.02 * angles[..., :10]."""
    root = write_tiny_dataset(tmp_path_factory.mktemp("processed") / "tiny")
    for split in ("train", "val", "test"):
        d = root / split
        ang = np.load(d / "angles.npy")
        mass = np.load(d / "anthro.npy")[:, 0]
        np.save(d / "moments.npy", (0.02 * ang[..., :10] * mass[:, None, None]).astype(np.float32))
    return root


def test_torque_task_keeps_only_windows_with_force_plates(data):
    task = TorqueTask(data, batch_size=4, seed=0)
    for split in ("train", "val", "test"):
        mask = np.load(data / split / "modality_mask.npy")
        assert task.n_windows(split) == int(mask[:, 3].sum()) > 0
    batch = next(iter(task.train_loader(1)))
    assert set(task.prepare(batch)) == {"angles", "root", "grf", "anthro", "moments"}


def test_torque_direct_learns_and_reports_per_joint_metrics(data, tmp_path):
    m = train("torque_direct", {"hidden": 16, "layers": 1}, CFG, data, tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["kind"] == "torque"
    assert set(on_disk["test_rmse"]) == set(MOMENTS) and set(on_disk["test_icc"]) == set(MOMENTS)
    assert on_disk["n_test"] == 8  # 12 test windows, every third without plates
    rmse = [h["val_rmse_nm_per_kg"] for h in m["history"]]
    assert rmse[-1] < rmse[0], rmse  # it learns the (learnable) target
    # the score is the negative validation RMSE: the best epoch is the lowest RMSE
    assert m["best_epoch"] == int(np.argmin(rmse)) + 1
    best = torch.load(tmp_path / "model.pt", weights_only=False)
    assert best["model_name"] == "torque_direct" and "val_rmse_nm_per_kg" in best


def test_torque_task_refuses_a_dataset_without_root(tmp_path):
    root = write_tiny_dataset(tmp_path / "old")
    for split in ("train", "val", "test"):
        (root / split / "root.npy").unlink()
        idx = json.loads((root / split / "index.json").read_text())
        idx["fields"].pop("root")
        (root / split / "index.json").write_text(json.dumps(idx))
    with pytest.raises(ValueError, match="re-run the preprocess stage"):
        TorqueTask(root, batch_size=4, seed=0)


def test_tracked_torque_run_logs_per_joint_metrics_and_a_moment_model(data, tmp_path):
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    from training.tracking import MlflowTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, "test-torque", run_name="torque_direct")
    train("torque_direct", {"hidden": 8, "layers": 1}, {**CFG, "epochs": 1}, data, tmp_path / "out",
          tracker=tracker, progress=False)
    run = MlflowClient(tracking_uri=uri).get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert "final_test_rmse_knee_angle_r_moment" in run.data.metrics
    assert "val_rmse_nm_per_kg" in run.data.metrics
    mlflow.set_tracking_uri(uri)
    pf = mlflow.pyfunc.load_model(f"models:/{tracker.model_id}")
    width = pf.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"][1]
    T = np.load(data / "val" / "angles.npy").shape[1]
    assert width == T * (23 + 6 + 14) + 3  # angles, root, grf, anthro [kg, m, female]
    assert np.asarray(pf.predict(np.zeros((2, width), np.float32))).shape == (2, T * len(MOMENTS))


def test_stage_main_trains_a_torque_estimator(data, tmp_path, monkeypatch, capsys):
    import yaml

    from stages import train as stage

    params = {"profile": "tiny", "train": {"dataset": data.name, "data_dir": str(data.parent), "epochs": 1,
                                           "batch_size": 8, "tracking": {"enabled": False},
                                           "archs": {"torque_direct": {"hidden": 8, "train": {"epochs": 2}}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert stage.main(["torque_direct"]) == 0
    rep = json.loads((tmp_path / "reports/train/torque_direct.json").read_text())
    assert rep["kind"] == "torque" and set(rep["test_rmse"]) == set(MOMENTS)
    assert rep["epochs"] == 2  # the per-model override of train.epochs (1)
    assert "test RMSE" in capsys.readouterr().err


def test_per_epoch_validation_subset_is_fixed_and_final_metrics_use_every_window(data, tmp_path):
    from training.tasks import ClassificationTask

    task = ClassificationTask(data, num_classes=4, batch_size=4, seed=1, loss_cfg={})
    a = [b["label"].tolist() for b in task.loader("val", max_windows=5)]
    b = [b["label"].tolist() for b in task.loader("val", max_windows=5)]
    assert a == b and sum(len(x) for x in a) == 5
    m = train("tcn", {}, {**CFG, "epochs": 1, "val_windows_per_epoch": 5}, data, tmp_path, progress=False)
    assert m["n_val"] == 12 and m["n_test"] == 12


def test_physics_only_reference_cli(data, capsys):
    from evaluation.torque_physics import main

    assert main([str(data), "test"]) == 0
    out = capsys.readouterr().out
    assert "Newton-Euler only, test split, 8 windows" in out and "| knee_angle_r_moment |" in out
    assert main([str(data), "bogus"]) == 2
    assert main([str(data.parent / "missing")]) == 1


def test_a_model_worse_than_1_nm_per_kg_still_writes_model_pt(tmp_path):
    """best_score starts at -inf: a torque estimator whose validation RMSE never gets below
    1 N m/kg (here: moments ~ 5 N m/kg and a learning rate that cannot move it) still saves its
    best epoch (best_score used to start at -1.0, so -RMSE < -1 never counted as a best)."""
    root = write_tiny_dataset(tmp_path / "big")
    for split in ("train", "val", "test"):
        mass = np.load(root / split / "anthro.npy")[:, 0]
        mom = np.load(root / split / "moments.npy")
        np.save(root / split / "moments.npy", (mom / 50.0 * 5.0 * mass[:, None, None]).astype(np.float32))
    m = train("torque_direct", {"hidden": 8, "layers": 1}, {**CFG, "epochs": 1, "lr": 1e-9}, root,
              tmp_path / "out", progress=False)
    assert m["val_rmse_nm_per_kg"] > 1.0
    best = torch.load(tmp_path / "out" / "model.pt", weights_only=False)
    assert best["epoch"] == 1 and best["val_rmse_nm_per_kg"] == pytest.approx(m["history"][0]["val_rmse_nm_per_kg"])
