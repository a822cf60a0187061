"""Training loop, checkpoint/resume, determinism, the `train` stage and MLflow tracking against a
real `mlflow server` (tiny dataset written in the processed on-disk format, tests/train_fixtures.py)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from tests.train_fixtures import write_tiny_dataset
from training.loop import train

CFG = {"epochs": 2, "batch_size": 8, "lr": 3e-3, "seed": 3, "tracking": {"enabled": False}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("processed") / "tiny")


def test_tcn_two_epochs_metrics_and_loss_decreases(data, tmp_path):
    m = train("tcn", {}, CFG, data, tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("val_accuracy", "val_macro_f1", "test_accuracy", "test_macro_f1", "epochs", "seconds", "params"):
        assert key in on_disk, key
    assert on_disk["epochs"] == 2 and on_disk["params"] > 1000 and on_disk["n_test"] == 12
    # Dataset -> loop -> evaluate: the reported test accuracy is the saved best model's on the
    # test split, and it is above chance (4 classes: 0.25) on the fixture's class signal
    from models import build_model
    from preprocessing.dataset import make_loader

    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    net = build_model("tcn", saved["model_cfg"])
    net.load_state_dict(saved["state_dict"])
    net.eval()
    with torch.no_grad():
        hits = [(net(b)["logits"].argmax(-1) == b["label"]).float() for b in make_loader("test", 8, False, data)]
    assert on_disk["test_accuracy"] == pytest.approx(float(torch.cat(hits).mean()))
    assert on_disk["test_accuracy"] >= 0.5 and on_disk["val_macro_f1"] >= 0.4, on_disk
    losses = [h["train_loss"] for h in m["history"]]
    assert losses[1] < losses[0], losses
    assert m["history"][1]["lr"] < m["history"][0]["lr"]  # cosine annealing
    best = torch.load(tmp_path / "model.pt", weights_only=False)
    assert best["model_name"] == "tcn" and best["model_cfg"]["num_classes"] == 4
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ck["epoch"] == 2 and set(ck) >= {"model", "optimizer", "epoch", "best_score"}


def test_resume_continues_and_matches_uninterrupted(data, tmp_path):
    one = train("tcn", {}, {**CFG, "epochs": 1}, data, tmp_path / "r", progress=False)
    assert one["epochs"] == 1
    m = train("tcn", {}, CFG, data, tmp_path / "r", progress=False)  # same out_dir: resumes
    assert m["resumed_from_epoch"] == 1 and m["epochs"] == 2
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    full = train("tcn", {}, CFG, data, tmp_path / "full", progress=False)
    a = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert m["history"][1]["train_loss"] == pytest.approx(full["history"][1]["train_loss"])


def test_same_seed_identical_weights(data, tmp_path):
    train("tcn", {}, {**CFG, "epochs": 1}, data, tmp_path / "a", progress=False)
    train("tcn", {}, {**CFG, "epochs": 1}, data, tmp_path / "b", progress=False)
    train("tcn", {}, {**CFG, "epochs": 1, "seed": 4}, data, tmp_path / "c", progress=False)
    a, b, c = (torch.load(tmp_path / d / "model.pt", weights_only=False)["state_dict"] for d in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_features_svm_trains_through_fit(data, tmp_path):
    m = train("features_svm", {}, CFG, data, tmp_path, progress=False)
    assert (tmp_path / "model.joblib").is_file() and m["kind"] == "sklearn"
    import numpy as np

    from models.features_svm import FeatureSVM

    saved = FeatureSVM.load(tmp_path / "model.joblib")  # what the evaluate stage loads
    test = {f: np.load(data / "test" / f"{f}.npy") for f in ("imu", "modality_mask", "label")}
    assert m["test_accuracy"] == pytest.approx(float((saved.predict(test) == test["label"]).mean()))
    assert m["params"] == saved.n_components_ and m["windows_seen"] == 32


def test_stage_main_writes_artifacts_and_report(data, tmp_path, monkeypatch):
    from stages import train as stage

    params = {"profile": "tiny", "train": {"dataset": "tiny", "data_dir": str(data.parent), "epochs": 3,
                                           "batch_size": 8, "tracking": {"enabled": False},
                                           "archs": {"tcn": {"dim": 32, "channels": [32, 32]}}},
              "profiles": {"tiny": {"train": {"epochs": 1}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert stage.main(["tcn"]) == 0
    rep = json.loads((tmp_path / "reports/train/tcn.json").read_text())
    assert rep["epochs"] == 1 and (tmp_path / "artifacts/train/tcn/model.pt").is_file()
    params["train"]["archs"]["tcn"]["bogus"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert stage.main(["tcn"]) == 2
    params["train"]["archs"]["tcn"].pop("bogus")
    params["train"]["lr"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert stage.main(["tcn"]) == 2
    assert stage.main(["nope"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_server_run_metrics_params_model(data, tmp_path):
    from mlflow import MlflowClient

    from training.tracking import MlflowTracker

    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--serve-artifacts",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server not healthy in 90 s"
            time.sleep(0.5)
        tracker = MlflowTracker(uri, "test-train", run_name="tcn-test")
        m = train("tcn", {}, {**CFG, "epochs": 1}, data, tmp_path / "out", tracker=tracker, progress=False)
        client = MlflowClient(tracking_uri=uri)
        run = client.get_run(tracker.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params["model_name"] == "tcn" and run.data.params["train.batch_size"] == "8"
        assert run.data.params["model.num_classes"] == "4"
        assert run.data.metrics["final_val_macro_f1"] == pytest.approx(m["val_macro_f1"])
        hist = client.get_metric_history(tracker.run_id, "train_loss")
        assert [h.step for h in hist] == [1]
        assert len(run.data.tags["data_hash"]) == 32
        assert tracker.model_id is not None
        lm = client.get_logged_model(tracker.model_id)
        assert lm.source_run_id == tracker.run_id
        import mlflow.pyfunc
        import numpy as np

        os.environ.pop("MLFLOW_TRACKING_URI", None)
        import mlflow

        mlflow.set_tracking_uri(uri)
        pf = mlflow.pyfunc.load_model(f"models:/{tracker.model_id}")
        assert pf.metadata.signature is not None
        width = pf.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"][1]
        assert np.asarray(pf.predict(np.zeros((2, width), np.float32))).shape == (2, 4)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


# ---- issue 12 item 8: the bugs, each with a test that failed before its fix ----------------------
def test_split_class_weights_reach_the_loss(data):
    """balance="loss" (the default): class_weights.json is the loss's class weight vector; the
    total loss on a batch equals compute_losses with those weights and differs from unweighted."""
    from models import build_model
    from models.losses import compute_losses
    from training.tasks import make_task

    cw = [0.1, 0.2, 0.3, 0.4]
    saved = json.loads((data / "class_weights.json").read_text())
    (data / "class_weights.json").write_text(json.dumps({**saved, "class_weights": cw}))
    try:
        task = make_task("torch", data, 4, 8, 0, {"kl_weight": 0.0})
        torch.manual_seed(0)
        model = build_model("tcn", {"num_classes": 4}).eval()
        batch = next(iter(task.loader("val")))
        out = model(batch)
        got = task.losses(out, batch)["total"]
        want = compute_losses(out, batch, {"kl_weight": 0.0, "class_weights": cw})["total"]
        plain = compute_losses(out, batch, {"kl_weight": 0.0})["total"]
        assert torch.allclose(got, want) and not torch.allclose(got, plain)
        # "sampler" balances by sampling instead and leaves the loss unweighted
        assert torch.allclose(make_task("torch", data, 4, 8, 0, {"kl_weight": 0.0}, "sampler").losses(out, batch)["total"],
                              plain)
    finally:
        (data / "class_weights.json").write_text(json.dumps(saved))


def test_missing_class_weights_file_is_named(data, tmp_path):
    import shutil

    from training.tasks import make_task

    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    (copy / "class_weights.json").unlink()
    with pytest.raises(ValueError, match="class_weights.json not found"):
        make_task("torch", copy, 4, 8, 0, {})
    make_task("torch", copy, 4, 8, 0, {}, "none")  # no weights needed


def test_dataset_hash_follows_the_data_not_the_index(data, tmp_path):
    import shutil

    import numpy as np

    from training.tracking import dataset_hash

    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    h = dataset_hash(copy)
    assert h == dataset_hash(data) and len(h) == 32  # content, not location
    imu = np.load(copy / "train" / "imu.npy")
    imu[0, 0, 0, 0] += 1.0
    np.save(copy / "train" / "imu.npy", imu)  # same split, same index.json: only one value differs
    assert dataset_hash(copy) != h
    with pytest.raises(FileNotFoundError, match="nowhere"):
        dataset_hash(tmp_path / "nowhere")


# ---- issue 12 item 3: an equal sample budget -------------------------------------------------
def test_sample_budget_sets_the_windows_every_model_sees(data, tmp_path):
    """sample_budget replaces max_batches_per_epoch by ceil(budget / (epochs * batch)) batches per
    epoch, cycling the loader when an epoch holds fewer (train split: 32 windows = 4 batches)."""
    from training.loop import TrainParams, batches_per_epoch

    assert batches_per_epoch(TrainParams(epochs=2, batch_size=8, max_batches_per_epoch=1), 4) == 1
    assert batches_per_epoch(TrainParams(epochs=2, batch_size=8, max_batches_per_epoch=1, sample_budget=40), 4) == 3
    assert batches_per_epoch(TrainParams(epochs=2, batch_size=8, sample_budget=40), 4, world=2) == 2
    small = train("basic_cnn", {}, {**CFG, "max_batches_per_epoch": 1, "sample_budget": 40}, data, tmp_path / "a",
                  progress=False)
    assert small["windows_seen"] == 2 * 3 * 8 and small["sample_budget"] == 40
    big = train("basic_cnn", {}, {**CFG, "sample_budget": 100}, data, tmp_path / "b", progress=False)
    assert big["windows_seen"] == 2 * 7 * 8  # 7 batches per epoch from a 4-batch loader
    plain = train("basic_cnn", {}, {**CFG, "max_batches_per_epoch": 1}, data, tmp_path / "c", progress=False)
    assert plain["windows_seen"] == 2 * 8 and plain["sample_budget"] is None


# ---- issue 12 item 4: technique faults as a second task ----------------------------------------
def test_fault_scores_overall_and_per_action():
    import numpy as np

    from training.tasks import fault_scores

    fault = np.array([0, 1, 0, 1, 0, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    action = np.array([0, 0, 0, 0, 1, 1])
    s = fault_scores(fault, pred, action, ["a", "b"])
    assert s["fault_accuracy"] == pytest.approx(4 / 6)
    # action a: none F1 2/3, fault-1 F1 0.8; action b: none F1 2/3, fault-2 F1 0
    assert s["fault_macro_f1_per_action"] == pytest.approx({"a": (2 / 3 + 0.8) / 2, "b": (2 / 3 + 0) / 2})


def test_recognizers_learn_the_fault_head(data, tmp_path):
    """The loop gives every torch recognizer dataset.json's faults; the fixture's fault signal
    (an offset on one IMU sensor in half the windows of each class) is learnt: test fault
    macro-F1 well above a constant (0.33) or random (0.5) guess (seeds 3, 4, 5 gave 0.83, 1.0, 1.0)."""
    m = train("tcn", {}, {**CFG, "epochs": 4}, data, tmp_path, progress=False)
    assert torch.load(tmp_path / "model.pt", weights_only=False)["model_cfg"]["num_faults"] == 2
    assert "val_fault_macro_f1" in m["history"][0]
    assert m["test_fault_macro_f1"] >= 0.75, m["test_fault_macro_f1"]
    assert set(m["test_fault_macro_f1_per_action"]) == {"a", "b", "c", "d"}
    # the champion's tuning objective: action NLL + fault error, per epoch (pruning) and at the end
    for split in ("val", "test"):
        assert m[f"{split}_nll_fault"] == pytest.approx(m[f"{split}_nll"] + 1 - m[f"{split}_fault_macro_f1"])
    h = m["history"][-1]
    assert h["val_nll_fault"] == pytest.approx(h["val_nll"] + 1 - h["val_fault_macro_f1"])


def test_nll_fault_adds_the_fault_error_to_the_action_nll():
    from training.tasks import nll_fault

    assert nll_fault({"nll": 0.02, "fault_macro_f1": 0.6}) == pytest.approx(0.42)
    # a better fault head lowers it as much as the same drop in NLL does
    assert nll_fault({"nll": 0.02, "fault_macro_f1": 0.7}) == pytest.approx(nll_fault({"nll": -0.08,
                                                                                        "fault_macro_f1": 0.6}))
    with pytest.raises(KeyError):
        nll_fault({"nll": 0.02})   # a model without a fault head has no such figure


def test_ema_weights_are_validated_saved_and_resumed(data, tmp_path):
    cfg = {**CFG, "ema_decay": 0.9}
    train("tcn", {}, cfg, data, tmp_path / "e", progress=False)
    ck = torch.load(tmp_path / "e" / "checkpoint.pt", weights_only=False)
    saved = torch.load(tmp_path / "e" / "model.pt", weights_only=False)["state_dict"]
    averaged = {k.removeprefix("module."): v for k, v in ck["ema"].items() if k.startswith("module.")}
    assert set(averaged) == set(saved)
    w = "heads.classifier.weight" if "heads.classifier.weight" in saved else next(k for k in saved if k.endswith("weight"))
    # the saved (best-epoch) weights are the average, not the last trained ones
    if torch.load(tmp_path / "e" / "model.pt", weights_only=False)["epoch"] == ck["epoch"]:
        assert torch.equal(saved[w], averaged[w])
    assert not torch.equal(saved[w], ck["model"][w])
    # resuming restores the average: the same weights as the uninterrupted run
    train("tcn", {}, {**cfg, "epochs": 1}, data, tmp_path / "r", progress=False)
    train("tcn", {}, cfg, data, tmp_path / "r", progress=False)
    a = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["ema"]
    assert all(torch.equal(a[k], ck["ema"][k]) for k in a if k != "n_averaged")


def test_resume_with_ema_from_a_checkpoint_without_it_names_the_file(data, tmp_path):
    train("tcn", {}, {**CFG, "epochs": 1}, data, tmp_path, progress=False)
    with pytest.raises(ValueError, match="checkpoint.pt: checkpoint written without ema_decay"):
        train("tcn", {}, {**CFG, "ema_decay": 0.9}, data, tmp_path, progress=False)
