"""The robustness perturbations (each changes exactly what it claims) and the robustness stage on a
small trained fixture (plots, details and headline metrics written; the ablation run logged)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from biomech.conventions import IMU_SENSORS, MODALITIES
from evaluation import robustness as R
from models.testing import make_batch

MI = {m: i for i, m in enumerate(MODALITIES)}


def _batch(B=6, T=64, seed=0):
    b = make_batch(B, T, Tv=2, H=8, W=8, num_classes=4, seed=seed)
    b["landmarks"][..., 3] = 0.9                      # every landmark visible
    b["modality_mask"][:] = True
    return b


def test_occlusion_hides_the_stated_share_of_landmarks_and_nothing_else():
    b = _batch()
    b["modality_mask"][5, MI["landmarks"]] = False     # a window without landmarks stays as it is
    out = R.occlude_landmarks(b, 0.45, np.random.default_rng(0))
    lm, orig = out["landmarks"], b["landmarks"]
    hidden = (lm[..., 3] == 0).all(1)                  # (B, 33): visibility 0 in every frame
    assert hidden[:5].sum(1).tolist() == [round(0.45 * 33)] * 5          # 15 of 33 = 45 %
    assert hidden[5].sum() == 0 and torch.equal(lm[5], orig[5])
    assert (lm[:5][..., :3][hidden[:5][:, None, :, None].expand(-1, lm.shape[1], -1, 3)] == 0).all()
    kept = ~hidden[:5]
    assert torch.equal(lm[:5][kept[:, None, :].expand(-1, lm.shape[1], -1)],
                       orig[:5][kept[:, None, :].expand(-1, lm.shape[1], -1)])
    assert len({tuple(np.flatnonzero(h)) for h in hidden[:5].numpy()}) > 1      # drawn per window
    assert torch.equal(R.occlude_landmarks(b, 0.0, np.random.default_rng(0))["landmarks"], orig)
    with pytest.raises(ValueError, match="outside"):
        R.occlude_landmarks(b, 1.5, np.random.default_rng(0))


def test_frame_drops_set_visibility_zero_and_gap_fill_from_the_other_frames():
    b = _batch(B=3, T=40)
    t = torch.arange(40, dtype=torch.float32)
    b["landmarks"][..., 0] = (0.01 * t ** 2 - 0.2 * t)[None, :, None]   # a smooth (quadratic) track
    out = R.drop_frames(b, 0.25, np.random.default_rng(1))
    vis = out["landmarks"][..., 3]
    dropped = (vis == 0).all(-1)                                          # (B, T)
    assert dropped.sum(1).tolist() == [10, 10, 10]
    assert torch.equal(out["landmarks"][~dropped], b["landmarks"][~dropped])   # detected frames untouched
    # the cubic gap filler recovers a quadratic exactly
    assert torch.allclose(out["landmarks"][..., 0], b["landmarks"][..., 0], atol=1e-4)


def test_imu_dropout_zeroes_the_chosen_sensors_and_all_six_remove_the_stream():
    b = _batch(B=2)
    wrists = [IMU_SENSORS.index("wrist_l"), IMU_SENSORS.index("wrist_r")]
    out = R.drop_imu_sensors(b, wrists)
    assert (out["imu"][:, :, wrists] == 0).all()
    others = [s for s in range(6) if s not in wrists]
    assert torch.equal(out["imu"][:, :, others], b["imu"][:, :, others])
    assert out["modality_mask"][:, MI["imu"]].all()
    gone = R.drop_imu_sensors(b, lambda i: range(6) if i == 0 else [0])
    assert gone["modality_mask"][:, MI["imu"]].tolist() == [False, True] and (gone["imu"][0] == 0).all()
    with pytest.raises(ValueError, match="out of range"):
        R.drop_imu_sensors(b, [6])


def test_clock_shift_delays_the_stream_by_the_expected_samples():
    b = _batch(B=2, T=50)
    imu = torch.zeros_like(b["imu"])
    imu[:, 20] = 1.0                                   # an impulse at sample 20 (0.4 s at 50 Hz)
    b["imu"] = imu
    late = R.shift_clock(b, "imu", 40.0, 50.0)["imu"]  # 40 ms = 2 samples later
    assert late[0, :, 0, 0].argmax().item() == 22 and late[0, 22, 0, 0] == pytest.approx(1.0)
    early = R.shift_clock(b, "imu", -100.0, 50.0)["imu"]
    assert early[1, :, 3, 5].argmax().item() == 15
    half = R.shift_clock(b, "imu", 10.0, 50.0)["imu"]  # half a sample: linear interpolation
    assert half[0, 20, 0, 0] == pytest.approx(0.5) and half[0, 21, 0, 0] == pytest.approx(0.5)
    assert torch.equal(R.shift_clock(b, "imu", 40.0, 50.0)["landmarks"], b["landmarks"])


def test_mask_modalities_keeps_only_the_named_streams():
    b = _batch(B=2)
    out = R.mask_modalities(b, ["landmarks"])
    assert out["modality_mask"][:, MI["landmarks"]].all() and not out["modality_mask"][:, MI["imu"]].any()
    assert (out["imu"] == 0).all() and torch.equal(out["landmarks"], b["landmarks"])


# ---- the stage on a trained fixture -----------------------------------------------------------
def _dataset(root: Path) -> Path:
    from tests.train_fixtures import CLASSES, write_tiny_dataset

    data = write_tiny_dataset(root / "processed" / "synth", n=(48, 24, 24))
    for split in ("train", "val", "test"):
        d = data / split
        idx = json.loads((d / "index.json").read_text())
        y = np.load(d / "label.npy")
        ath = [f"{split}_a{(i // len(CLASSES)) % 3}" for i in range(len(y))]
        idx["windows"] = {"clip_id": [f"{a}_c{int(k)}" for a, k in zip(ath, y)], "athlete_id": ath,
                          "preset": ["pro" if i % 2 else "consumer" for i in range(len(y))]}
        (d / "index.json").write_text(json.dumps(idx))
    (data / "dataset.json").write_text(json.dumps({"classes": CLASSES, "faults": ["none", "knee_valgus"],
                                                   "timeline_hz": 50}))
    return data


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    from training.loop import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("robust")
    data = _dataset(root)
    cfg = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "seed": 3, "tracking": {"enabled": False}}
    train("tcn", {}, cfg, data, root / "artifacts" / "train" / "tcn", progress=False)
    train("tcn", {"modalities": ["imu"]}, cfg, data, root / "artifacts" / "train" / "tcn_imu", progress=False)
    train("sta_c3d_lstm", {"modalities": ["video"], "c3d_channels": [4, 8], "dim": 16},
          {**cfg, "epochs": 1}, data, root / "artifacts" / "train" / "video_model", progress=False)
    (root / "artifacts" / "champion.json").write_text(json.dumps({"recognizer": {"name": "tcn"}}))
    ev = root / "reports" / "evaluation" / "models"
    ev.mkdir(parents=True)
    (ev / "tcn.json").write_text(json.dumps({"config": {}, "test": {"window": {"accuracy": 0.9, "accuracy_ci": [0.8, 1.0]},
                                                                    "clip": {"accuracy": 1.0}}}))
    params = {"profile": "default",
              "robustness": {"data_dir": str(root / "processed"), "train_dir": str(root / "artifacts" / "train"),
                             "champion_file": str(root / "artifacts" / "champion.json"),
                             "out_dir": str(root / "reports" / "robustness"),
                             "metrics_file": str(root / "reports" / "robustness.json"),
                             "models": ["champion", "tcn_imu"], "n_boot": 50, "frame_drop_fractions": [0.0, 0.5],
                             "video_models": ["video_model"], "video_max_windows": 10},
              "ablations": {"tag": "imu_placement/wrists", "model": "tcn", "evaluation_dir": str(ev),
                            "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}"}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    from stages.robustness import main

    cwd = os.getcwd()
    os.chdir(root)
    try:
        rc = main([])
    finally:
        os.chdir(cwd)
    return root, rc


def test_stage_writes_plots_details_and_headline(stage_run):
    root, rc = stage_run
    assert rc == 0
    plots = root / "reports" / "robustness" / "plots"
    occ = json.loads((plots / "occlusion.json").read_text())
    assert [r["level"] for r in occ] == [0.0, 15.0, 30.0, 45.0]
    assert {"champion", "champion_low", "champion_high", "tcn_imu"} <= set(occ[0])
    assert occ[0]["champion_low"] <= occ[0]["champion"] <= occ[0]["champion_high"]
    imu = json.loads((plots / "imu_dropout.json").read_text())
    assert imu[-1]["level"] == 6.0 and imu[-1]["tcn_imu"] <= 0.5   # an IMU-only model without its IMUs
    # (chance is 0.25 on 4 classes; the fixture's class signal is on IMU and landmarks)
    assert imu[0]["tcn_imu"] > 0.5
    assert [r["level"] for r in json.loads((plots / "preset.json").read_text())] == ["pro", "consumer",
                                                                                    "pro_without_plates"]
    head = json.loads((root / "reports" / "robustness.json").read_text())
    assert head["champion_model"] == "tcn" and head["champion"]["model"] == "tcn" and head["tcn_imu"]["model"] == "tcn_imu"
    # masking what a model does not read changes nothing; taking away what it reads does
    assert head["tcn_imu"]["imu_only_window_accuracy"] == pytest.approx(head["tcn_imu"]["clean_window_accuracy"])
    assert head["tcn_imu"]["landmarks_only_window_accuracy"] < head["tcn_imu"]["clean_window_accuracy"]
    gap = head["tcn_imu"]["pro_consumer_gap"]
    assert gap == pytest.approx(head["tcn_imu"]["pro_window_accuracy"] - head["tcn_imu"]["consumer_window_accuracy"])
    details = json.loads((root / "reports" / "robustness" / "details.json").read_text())
    assert details["models"] == {"champion": "tcn", "tcn_imu": "tcn_imu", "video_model": "video_model"}


def test_stage_logs_the_ablation_run(stage_run):
    import mlflow

    root, _ = stage_run
    head = json.loads((root / "reports" / "robustness.json").read_text())
    assert head["ablation"]["tag"] == "imu_placement/wrists" and head["ablation"]["test_window_accuracy"] == 0.9
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["athlete-mm-ablations"], filter_string="tags.ablation = 'imu_placement/wrists'")
    assert len(runs) == 1 and runs["metrics.test_window_accuracy_low"][0] == 0.8
    assert runs["tags.source"][0] == "dvc exp run"


def test_blank_video_frames_are_the_fill_colour_and_the_rest_is_untouched():
    b = make_batch(5, 32, Tv=8, H=6, W=6, num_classes=4, seed=2)
    b["modality_mask"][:] = True
    b["modality_mask"][4, MI["video"]] = False             # a window without video stays as it is
    fill = [-1.5, -2.0, -2.5]
    out = R.occlude_video_frames(b, 0.3, np.random.default_rng(0), "blank", fill)["video"]
    v = b["video"]
    blank = (out == torch.tensor(fill).view(1, 1, 3, 1, 1)).flatten(2).all(-1)   # (B, Tv)
    assert blank[:4].sum(1).tolist() == [round(0.3 * 8)] * 4                   # 2 of 8 frames per window
    assert torch.equal(out[:4][~blank[:4]], v[:4][~blank[:4]])
    assert torch.equal(out[4], v[4]) and not blank[4].any()
    assert len({tuple(np.flatnonzero(r)) for r in blank[:4].numpy()}) > 1        # drawn per window
    assert torch.equal(R.occlude_video_frames(b, 0.0, np.random.default_rng(0))["video"], v)
    most = R.occlude_video_frames(b, 0.95, np.random.default_rng(0))["video"]   # at least one frame kept
    assert ((most[:4] == 0).flatten(2).all(-1).sum(1) == 7).all()
    with pytest.raises(ValueError, match="outside"):
        R.occlude_video_frames(b, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        R.occlude_video_frames(b, 0.3, np.random.default_rng(0), "smear")


def test_dropped_video_frames_show_the_nearest_delivered_frame():
    b = make_batch(3, 32, Tv=8, H=4, W=4, num_classes=4, seed=3)
    b["modality_mask"][:] = True
    v = torch.arange(8, dtype=torch.float32).view(1, 8, 1, 1, 1).expand(3, 8, 3, 4, 4).clone()
    b["video"] = v                                          # frame j is the constant image j
    out = R.occlude_video_frames(b, 0.45, np.random.default_rng(4), "drop")["video"]
    for i in range(3):
        shown = out[i, :, 0, 0, 0].long().tolist()
        kept = sorted(set(shown))
        assert len(kept) == 8 - round(0.45 * 8)            # 4 of 8 frames lost
        # a kept frame shows itself; a lost one the nearest kept frame, the earlier one on a tie
        assert shown == [min(kept, key=lambda k: (abs(j - k), k)) for j in range(8)]
        assert shown != list(range(8))


def test_black_in_the_models_video_space_comes_from_the_scalers(tmp_path):
    (tmp_path / "scalers.json").write_text(json.dumps({"video": {"center": [0.5, 0.4, 0.2], "scale": [0.25, 0.2, 0.1]}}))
    assert R.video_blank_value(tmp_path) == pytest.approx([-2.0, -2.0, -2.0])
    (tmp_path / "scalers.json").write_text(json.dumps({}))
    assert R.video_blank_value(tmp_path) == [0.0, 0.0, 0.0]


def test_stage_writes_the_video_frame_curves(stage_run):
    root, rc = stage_run
    assert rc == 0
    plots = root / "reports" / "robustness" / "plots"
    for mode in ("blank", "drop"):
        rows = json.loads((plots / f"video_{mode}.json").read_text())
        assert [r["level"] for r in rows] == [0.0, 15.0, 30.0, 45.0]
        assert {"video_model", "video_model_low", "video_model_high"} <= set(rows[0])
        assert "champion" not in rows[0]                    # landmark models are not on the video curves
    details = json.loads((root / "reports" / "robustness" / "details.json").read_text())
    pts = details["video_curves"]["video_model"]["video_blank"]
    assert [p["frames_lost"] for p in pts] == [0, 1, 1, 2] and pts[0]["frames_per_window"] == 4
    assert details["n_test_video"] == 10 and all(p["n"] == 10 for p in pts)       # video_max_windows
    assert pts[0]["changed_predictions"] == 0 and pts[0]["mean_tv_distance"] == 0
    assert pts[-1]["mean_tv_distance"] > 0             # a video-only model: losing frames moves its output
    absent = details["video_curves"]["video_model"]["video_absent"]
    assert [a["level"] for a in absent] == ["absent"] and absent[0]["frames_lost"] == 4
    assert details["curves"]["champion"]["occlusion"][0]["n"] == details["n_test"] == 24
    head = json.loads((root / "reports" / "robustness.json").read_text())
    v = head["video_model"]
    assert v["model"] == "video_model" and v["video_clean_window_accuracy"] == pts[0]["window_accuracy"]
    assert v["video_blank_45pct_window_accuracy"] == pts[-1]["window_accuracy"]
    assert v["video_absent_window_accuracy"] == absent[0]["window_accuracy"]
    assert "video_model" not in details["curves"]            # and not on the landmark / IMU curves


def test_a_video_model_in_models_or_a_non_video_model_in_video_models_is_refused(stage_run, tmp_path):
    root, _ = stage_run
    base = yaml.safe_load((root / "params.yaml").read_text())["robustness"]
    base.update(out_dir=str(tmp_path / "out"), metrics_file=str(tmp_path / "r.json"))
    with pytest.raises(ValueError, match="robustness.models.*video_model"):
        R.run_robustness(R.RobustnessParams(**{**base, "models": ["video_model"], "video_models": []}))
    with pytest.raises(ValueError, match="robustness.video_models.*tcn_imu"):
        R.run_robustness(R.RobustnessParams(**{**base, "models": ["tcn_imu"], "video_models": ["tcn_imu"]}))


def test_subset_split_keeps_the_chosen_windows_in_order():
    from evaluation.predict import Split

    b = [make_batch(4, 8, Tv=2, H=4, W=4, num_classes=4, seed=k) for k in range(3)]
    y = np.arange(12)
    meta = {"clip_id": np.array([f"c{i}" for i in range(12)], dtype=object),
            "athlete_id": np.array([f"a{i % 3}" for i in range(12)], dtype=object)}
    split = Split("test", b, y, y % 2, np.ones((12, 4), bool), meta)
    rows = R.evenly_spaced(12, 5)
    assert rows.tolist() == [0, 3, 6, 8, 11] and R.evenly_spaced(12, None).tolist() == list(range(12))
    sub = R.subset_split(split, rows, batch_size=2)
    assert len(sub) == 5 and [len(x["label"]) for x in sub.batches] == [2, 2, 1]
    assert sub.label.tolist() == rows.tolist() and sub.meta["clip_id"].tolist() == [f"c{i}" for i in rows]
    video = torch.cat([x["video"] for x in b])
    assert torch.equal(torch.cat([x["video"] for x in sub.batches]), video[torch.from_numpy(rows)])


def _leaves(x, path=""):
    if isinstance(x, dict):
        return {k2: v for k, y in x.items() for k2, v in _leaves(y, f"{path}.{k}").items()}
    if isinstance(x, list):
        return {k2: v for i, y in enumerate(x) for k2, v in _leaves(y, f"{path}[{i}]").items()}
    return {path: x}


def test_two_threads_give_the_same_curves_as_one(stage_run, tmp_path):
    """robustness.threads is 2 in params.yaml for speed (the video models' passes dominate the
    stage): every accuracy, interval and changed-prediction share is the one of one thread; the
    probability distances (sums of float32 probabilities) agree to rounding (a 2-thread conv may
    sum in another order: on this fixture's tiny video model they differ in the last digits)."""
    root, _ = stage_run
    base = yaml.safe_load((root / "params.yaml").read_text())["robustness"]
    runs = {}
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        R.run_robustness(R.RobustnessParams(**{**base, "threads": threads, "out_dir": str(out),
                                                "metrics_file": str(out / "robustness.json")}))
        d = json.loads((out / "details.json").read_text())
        runs[threads] = _leaves({k: d[k] for k in ("curves", "video_curves")})
    one, two = runs[1], runs[2]
    assert any(".video_drop[" in k for k in one)            # the comparison covers the video passes
    assert two.keys() == one.keys()
    for k, v in one.items():
        if k.endswith("mean_tv_distance"):
            assert two[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
        else:
            assert two[k] == v, k
