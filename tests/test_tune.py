"""stages.tune on the tiny fixture with sqlite storage: trials through the real training loop,
the best-params file, nested MLflow runs, pruning from the loop's epoch hook, and the train
stage picking the tuned values up."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from tests.train_fixtures import write_tiny_dataset

SPACE = {"train.lr": {"low": 0.0003, "high": 0.003, "log": True}, "dropout": {"low": 0.0, "high": 0.4},
         "kernel_size": {"choices": [3, 5]}}


def write_project(root: Path, data: Path, tracking_uri: str | None = None, **tune) -> Path:
    """A params.yaml in ``root`` (profile tiny) training a small tcn on the fixture ``data``."""
    params = {
        "profile": "tiny",
        "train": {"dataset": data.name, "data_dir": str(data.parent), "epochs": 2, "batch_size": 8, "threads": 1,
                  "lr": 0.001, "tracking": {"enabled": False},
                  "archs": {"tcn": {"dim": 16, "channels": [16, 16], "train": {"lr": 0.001}}}},
        "tune": {"archs": ["tcn"], "seed": 7, "n_trials": 5, "metric": "val_nll", "direction": "minimize",
                 "tracking": {"enabled": tracking_uri is not None, "uri": tracking_uri or "sqlite:///unused.db",
                              "experiment": "tune-test"},
                 "spaces": {"tcn": SPACE}, **tune},
        "profiles": {"tiny": {"tune": {"n_trials": 2, "sampler": {"n_startup_trials": 1},
                                       "pruner": {"n_startup_trials": 5, "n_warmup_steps": 0}}}},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("processed") / "tiny")


def test_two_trials_write_the_best_file_and_training_uses_it(data, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from stages import train as train_stage
    from stages import tune as stage

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    write_project(tmp_path, data, tracking_uri=uri)
    monkeypatch.chdir(tmp_path)
    assert stage.main(["tcn"]) == 0

    study = optuna.load_study(study_name="athlete-mm-tcn-tiny", storage="sqlite:///artifacts/tune/optuna.db")
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1]  # the tiny profile's n_trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done, [t.state for t in trials]
    # trial 0 is the current config (params.yaml train.archs.tcn + the tcn builder's defaults)
    assert trials[0].user_attrs["baseline"] is True
    assert trials[0].params == {"train.lr": 0.001, "dropout": 0.2, "kernel_size": 3}
    assert trials[1].params != trials[0].params
    for t in done:  # the objective's value is the final val NLL the training loop computed
        assert t.value == pytest.approx(t.user_attrs["val_nll"])
        assert t.intermediate_values and set(t.intermediate_values) <= {1, 2}

    best = min(done, key=lambda t: t.value)
    tuned_lr, tuned_dropout, tuned_k = best.params["train.lr"], best.params["dropout"], best.params["kernel_size"]
    report = json.loads(Path("reports/tune/tcn.json").read_text())
    assert report["current"]["number"] == 0 and report["best"]["number"] == best.number
    assert report["improved"] == (best.number != 0)
    # the stage writes the tuned file only when the best beat trial 0 (the current config)
    assert report["adopt"] == (best.number != 0) == Path("params/tuned/tcn.yaml").is_file()
    if report["adopt"]:
        rec = yaml.safe_load(Path("params/tuned/tcn.yaml").read_text())
        assert rec["profile"] == "tiny" and rec["best_trial"] == best.number and rec["adopt"] is True
        assert rec["best_value"] == pytest.approx(best.value)
    else:
        Path("params/tuned").mkdir(parents=True)
        rec = {"arch": "tcn", "profile": "tiny", "best_trial": best.number}
    values = {"train": {"lr": tuned_lr}, "dropout": tuned_dropout, "kernel_size": tuned_k}
    assert rec.setdefault("params", values) == values

    # each trial a run nested under the worker's parent run
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tune-test")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert sorted(r.data.tags["optuna.trial"] for r in children) == ["0", "1"]
    child0 = next(r for r in children if r.data.tags["optuna.trial"] == "0")
    assert float(child0.data.params["train.lr"]) == 0.001

    Path("params/tuned/tcn.yaml").write_text(yaml.safe_dump({**rec, "adopt": True}))
    # training reads an adopted file: its values win over params.yaml's train.archs.tcn
    _, p, arch, cfg = train_stage.load_params("tcn")
    assert (p.lr, cfg["dropout"], cfg["kernel_size"]) == (tuned_lr, tuned_dropout, tuned_k)
    assert cfg["dim"] == 16  # the untuned keys stay
    assert train_stage.main(["tcn"]) == 0
    ck = torch.load("artifacts/train/tcn/checkpoint.pt", map_location="cpu", weights_only=False)
    assert ck["model_cfg"]["dropout"] == tuned_dropout and ck["model_cfg"]["kernel_size"] == tuned_k
    assert ck["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(tuned_lr)

    # a file with adopt: false stays on record and is not applied
    Path("params/tuned/tcn.yaml").write_text(yaml.safe_dump({**rec, "adopt": False}))
    _, p, _, cfg = train_stage.load_params("tcn")
    assert p.lr == 0.001 and "dropout" not in cfg
    Path("params/tuned/tcn.yaml").write_text(yaml.safe_dump({**rec, "adopt": True}))
    assert train_stage.load_params("tcn")[1].lr == tuned_lr

    # a file tuned on another profile is not applied
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["profile"] = "default"
    Path("params.yaml").write_text(yaml.safe_dump(params))
    _, p, _, cfg = train_stage.load_params("tcn")
    assert p.lr == 0.001 and "dropout" not in cfg


def test_pruner_is_fed_from_the_epoch_hook_and_stops_the_loop(data, tmp_path, monkeypatch):
    from stages import train as train_stage
    from tuning.objective import Objective
    from tuning.space import parse_space

    write_project(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.ThresholdPruner(upper=1e-6))  # any NLL > 0 is pruned
    objective = Objective("tcn", parse_space({"tcn": SPACE}, "tcn"),
                          lambda ov: train_stage.load_params("tcn", extra=ov, tuned_dir=None)[1:], data, "val_nll",
                          "test-worker", work_dir=tmp_path)
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.intermediate_values) == [1]  # pruned after epoch 1: epoch 2 never ran
    assert t.intermediate_values[1] > 0 and t.user_attrs["worker"] == "test-worker"
    assert not list(tmp_path.glob("trial0-*"))  # the trial's scratch folder is removed


def test_bad_space_keys_are_named(data, tmp_path, monkeypatch, capsys):
    from stages import tune as stage

    write_project(tmp_path, data, spaces={"tcn": {"dropuot": {"low": 0.0, "high": 0.4}}})
    monkeypatch.chdir(tmp_path)
    assert stage.main(["tcn"]) == 2
    assert "tune.spaces.tcn.dropuot" in capsys.readouterr().err
    write_project(tmp_path, data, spaces={"tcn": {"train.lr": {"low": 0.0, "high": 0.1, "log": True}}})
    assert stage.main(["tcn"]) == 2
    assert "tune.spaces.tcn.train.lr.low" in capsys.readouterr().err
    assert stage.main(["tcn_imu"]) == 2
    assert "tune.spaces.tcn_imu" in capsys.readouterr().err


def test_frozen_stage_keeps_the_lock_check_green_and_its_consumer_follows_its_output(tmp_path):
    """The tune@<arch> shape: a frozen foreach stage whose committed output a consumer depends on
    through its folder. `dvc repro` records it without running it; a changed dep of the frozen
    stage is not stale; a changed committed output (a re-tune) is, for the consumer only."""
    root = Path(__file__).resolve().parents[1]
    repo = tmp_path / "p"
    (repo / "scripts").mkdir(parents=True)
    (repo / "tuned").mkdir()
    shutil.copy2(root / "scripts" / "dvc_checks.py", repo / "scripts")
    (repo / "code.txt").write_text("v1\n")
    (repo / "tuned" / "a.yaml").write_text("lr: 0.001\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "tune": {"foreach": ["a"], "do": {"cmd": "echo ran > tuned/${item}.yaml", "frozen": True, "deps": ["code.txt"],
                                          "outs": [{"tuned/${item}.yaml": {"cache": False}}]}},
        "train": {"cmd": "cat tuned/a.yaml > model.txt", "deps": ["tuned"], "outs": ["model.txt"]}}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run(*args):
        return subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        assert run(*cmd).returncode == 0, cmd
    assert (repo / "tuned" / "a.yaml").read_text() == "lr: 0.001\n"  # frozen: recorded, never run
    assert (repo / "model.txt").read_text() == "lr: 0.001\n"
    check = [sys.executable, "scripts/dvc_checks.py", "lock"]
    assert run(*check).returncode == 0
    (repo / "code.txt").write_text("v2\n")
    ok = run(*check)
    assert ok.returncode == 0, ok.stderr
    (repo / "tuned" / "a.yaml").write_text("lr: 0.002\n")  # a re-tune without `dvc commit` / `dvc repro`
    stale = run(*check)
    assert stale.returncode == 1 and "train: tuned modified" in stale.stderr, stale.stderr


def test_multi_seed_objective_returns_the_mean_over_training_seeds(data, tmp_path, monkeypatch):
    from stages import train as train_stage
    from tuning.objective import Objective
    from tuning.space import parse_space

    write_project(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    objective = Objective("tcn", parse_space({"tcn": SPACE}, "tcn"),
                          lambda ov: train_stage.load_params("tcn", extra=ov, tuned_dir=None)[1:], data, "val_nll",
                          "w0", seeds=2)
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    per_seed = t.user_attrs["val_nll_per_seed"]
    assert len(per_seed) == 2 and per_seed[0] != per_seed[1]   # two trainings, different seeds
    assert per_seed[0] == pytest.approx(t.user_attrs["val_nll"])   # attrs of the first seed
    assert t.value == pytest.approx(sum(per_seed) / 2)
    with pytest.raises(ValueError, match="tune.seeds = 0"):
        Objective("tcn", {}, lambda ov: None, data, "val_nll", "w0", seeds=0)


def test_objective_on_nll_fault_with_a_categorical_ema_and_val_subset(data, tmp_path, monkeypatch):
    """The champion's study: metric val_nll_fault (action NLL + 1 - fault macro-F1), and knobs whose
    choices include null (ema off, per-epoch val on the whole split) reaching the training loop."""
    from stages import train as train_stage
    from tuning.objective import Objective
    from tuning.space import parse_space

    write_project(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    space = parse_space({"tcn": {"train.ema_decay": {"choices": [None, 0.9]},
                                 "train.val_windows_per_epoch": {"choices": [8, None]},
                                 "train.loss.fault_weight": {"low": 1.0, "high": 4.0}}}, "tcn")
    seen = []

    def config_for(ov):
        profile_p_arch_cfg = train_stage.load_params("tcn", extra=ov, tuned_dir=None)
        seen.append(profile_p_arch_cfg[1])
        return profile_p_arch_cfg[1:]

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"train.ema_decay": None, "train.val_windows_per_epoch": None, "train.loss.fault_weight": 3.0})
    study.enqueue_trial({"train.ema_decay": 0.9, "train.val_windows_per_epoch": 8, "train.loss.fault_weight": 1.5})
    kept = tmp_path / "kept"
    study.optimize(Objective("tcn", space, config_for, data, "val_nll_fault", "w0", keep_dir=kept), n_trials=2)
    assert [(p.ema_decay, p.val_windows_per_epoch, p.loss["fault_weight"]) for p in seen] == [(None, None, 3.0),
                                                                                          (0.9, 8, 1.5)]
    for t in study.trials:
        a = t.user_attrs
        assert t.value == pytest.approx(a["val_nll_fault"])
        assert a["val_nll_fault"] == pytest.approx(a["val_nll"] + 1 - a["val_fault_macro_f1"])
        assert set(t.intermediate_values) == {1, 2}   # the per-epoch figure fed the pruner
        # --keep-trials: the trial's training is kept, laid out like artifacts/train/<name>/
        out = kept / f"trial_{t.number}" / "seed_0"
        assert a["kept"] == [f"trial_{t.number}/seed_0"] and (out / "model.pt").is_file()   # relative: no machine paths
        assert json.loads((out / "metrics.json").read_text())["val_nll_fault"] == pytest.approx(t.value)
    ema_run = torch.load(kept / "trial_1" / "seed_0" / "checkpoint.pt", weights_only=False)
    assert "ema" in ema_run and "ema" not in torch.load(kept / "trial_0" / "seed_0" / "checkpoint.pt",
                                                         weights_only=False)


class _OneSignal(torch.nn.Module):
    """Action logits from one stream's class signal of the fixture (IMU channel 0 of sensor 0 =
    2 y, landmark 0's y = 0.5 y); a constant fault head. ``imu`` ignores the landmarks."""

    def __init__(self, stream: str):
        super().__init__()
        self.stream = stream

    def forward(self, b):
        feat = b["imu"][:, :, 0, 0].mean(1) / 2 if self.stream == "imu" else b["landmarks"][:, :, 0, 1].mean(1) / 0.5
        k = torch.arange(4, dtype=feat.dtype)
        return {"logits": -20.0 * (feat[:, None] - k) ** 2, "fault_logits": torch.zeros(len(feat), 2)}


def test_masked_views_see_a_model_that_ignores_the_landmarks(data, monkeypatch):
    """val_nll_fault_masked: two models equally right on the fused val windows (val_nll_fault, the
    former objective, cannot tell them apart); only the one that reads the landmarks keeps its
    answers with the IMU and GRF masked, and the masking is the robustness stage's function."""
    import evaluation.robustness as robustness
    import preprocessing.dataset as dataset
    from training.tasks import MASKED_VIEWS, ClassificationTask, nll_fault, nll_fault_masked

    calls = []
    assert robustness.mask_modalities is dataset.mask_modalities   # one implementation for both
    real = dataset.mask_modalities
    monkeypatch.setattr(dataset, "mask_modalities", lambda b, keep: calls.append(tuple(keep)) or real(b, keep))
    task = ClassificationTask(data, 4, 8, 0, {}, views=list(MASKED_VIEWS))
    imu, lmk = (task.evaluate(_OneSignal(s).eval(), task.loader("val")) for s in ("imu", "landmarks"))
    assert set(calls) == set(MASKED_VIEWS.values())
    assert imu["accuracy"] == lmk["accuracy"] == 1.0
    assert nll_fault(imu) == pytest.approx(nll_fault(lmk), abs=0.05)
    # without IMU the IMU model's signal is gone (every window looks like class 0): 1 in 4 right
    assert imu["landmarks_only_accuracy"] == imu["imu_dropped_accuracy"] == pytest.approx(0.25)
    assert imu["landmarks_only_nll"] > 10
    # the landmarks model does not need the masked streams: its masked scores are its fused ones
    assert lmk["landmarks_only_accuracy"] == lmk["imu_dropped_accuracy"] == 1.0
    assert lmk["landmarks_only_nll"] == pytest.approx(lmk["nll"])
    assert nll_fault_masked(imu) - nll_fault_masked(lmk) > 20
    assert nll_fault_masked(lmk) == pytest.approx(nll_fault(lmk) + 2 * lmk["nll"])
    row = task.epoch_row(imu)
    assert row["val_nll_fault_masked"] == nll_fault_masked(imu)
    assert row["val_landmarks_only_accuracy"] == imu["landmarks_only_accuracy"]

    plain = ClassificationTask(data, 4, 8, 0, {})   # no views: the metric cannot be computed, not faked
    res = plain.evaluate(_OneSignal("imu").eval(), plain.loader("val"))
    assert "val_nll_fault_masked" not in plain.epoch_row(res)
    with pytest.raises(KeyError, match="train.val_views"):
        nll_fault_masked(res)
    with pytest.raises(ValueError, match="train.val_views.*'grf_only'"):
        ClassificationTask(data, 4, 8, 0, {}, views=["grf_only"])


def _study_with(values: list[tuple[float, dict]]):
    """An in-memory study of finished trials (value, user attrs): trial i = values[i]."""
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(direction="minimize")
    for i, (v, attrs) in enumerate(values):
        study.add_trial(optuna.trial.create_trial(value=v, params={"dropout": 0.1 * i},
                                                  distributions={"dropout": FloatDistribution(0.0, 1.0)},
                                                  user_attrs=attrs))
    return study


def test_adoption_needs_a_better_metric_and_landmarks_only_accuracy_at_the_untuned_floor(tmp_path, monkeypatch):
    from stages import tune as stage

    monkeypatch.chdir(tmp_path)
    cur = {"baseline": True, "val_landmarks_only_accuracy_per_seed": [0.90, 0.92]}
    untuned = {"untuned": True, "val_landmarks_only_accuracy_per_seed": [0.95, 0.93]}
    # trial 2 wins on the metric but its landmarks-only accuracy (mean 0.935) is under the untuned 0.94
    study = _study_with([(0.7, cur), (0.8, untuned), (0.5, {"val_landmarks_only_accuracy_per_seed": [0.96, 0.91]})])
    r = stage.study_report(study, "tcn", "default", "m", "minimize", "sqlite:///x.db", "val_landmarks_only_accuracy")
    assert r["best"]["number"] == 2 and r["improved"] is True
    assert r["floor"] == {"metric": "val_landmarks_only_accuracy", "best": pytest.approx(0.935),
                          "reference": pytest.approx(0.94), "reference_trial": 1, "ok": False}
    assert r["adopt"] is False
    stage.export(r)   # not adopted: the tuned file (what training reads) is not written, the report is
    assert not Path("params/tuned/tcn.yaml").exists()
    assert json.loads(Path("reports/tune/tcn.json").read_text())["adopt"] is False

    study = _study_with([(0.7, cur), (0.8, untuned), (0.5, {"val_landmarks_only_accuracy_per_seed": [0.96, 0.94]})])
    r = stage.study_report(study, "tcn", "default", "m", "minimize", "sqlite:///x.db", "val_landmarks_only_accuracy")
    assert r["floor"]["ok"] is True and r["adopt"] is True
    stage.export(r)
    rec = yaml.safe_load(Path("params/tuned/tcn.yaml").read_text())
    assert rec["adopt"] is True and rec["best_trial"] == 2 and rec["floor"]["reference_trial"] == 1
    # without a floor only the metric counts; trial 0 best: nothing to adopt
    assert stage.study_report(study, "tcn", "default", "m", "minimize", "sqlite:///x.db")["floor"] is None
    r = stage.study_report(_study_with([(0.4, cur), (0.8, untuned)]), "tcn", "default", "m", "minimize",
                           "sqlite:///x.db", "val_landmarks_only_accuracy")
    assert r["improved"] is False and r["adopt"] is False


def test_study_on_the_masked_metric_enqueues_current_then_untuned(data, tmp_path, monkeypatch):
    """With a tuned file applied, trial 0 is the current (tuned) config and trial 1 params.yaml's own;
    every trial is scored with the sensors masked, per epoch (pruner) and at the end (value)."""
    from stages import tune as stage

    write_project(tmp_path, data, metric="val_nll_fault_masked", floor="val_landmarks_only_accuracy")
    monkeypatch.chdir(tmp_path)
    Path("params/tuned").mkdir(parents=True)
    Path("params/tuned/tcn.yaml").write_text(yaml.safe_dump({"arch": "tcn", "profile": "tiny", "adopt": True,
                                                             "params": {"dropout": 0.1, "train": {"lr": 0.002}}}))
    assert stage.main(["tcn", "--no-export"]) == 0
    trials = optuna.load_study(study_name="athlete-mm-tcn-tiny", storage="sqlite:///artifacts/tune/optuna.db").trials
    assert trials[0].user_attrs["baseline"]
    assert trials[0].params == {"train.lr": 0.002, "dropout": 0.1, "kernel_size": 3}
    assert trials[1].user_attrs["untuned"] and trials[1].params == {"train.lr": 0.001, "dropout": 0.2, "kernel_size": 3}
    for t in trials:
        a = t.user_attrs
        assert t.value == pytest.approx(a["val_nll_fault_masked"])
        assert t.value == pytest.approx(a["val_nll_fault"] + a["val_landmarks_only_nll"] + a["val_imu_dropped_nll"])
        assert set(t.intermediate_values) == {1, 2}
