"""Pipeline-budget changes that must not change results: recognizers that read no pixels train on
batches without video (same weights), and the evaluate stage reads the training loop's saved val /
test outputs (``predictions.npz``) instead of scoring again (same numbers; ignored when they belong
to other weights, other windows or other batches)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.train_fixtures import write_tiny_dataset
from training.loop import PREDICTIONS, train, weights_digest

CFG = {"epochs": 2, "batch_size": 8, "lr": 3e-3, "seed": 5, "tracking": {"enabled": False}}


def with_window_meta(data: Path) -> Path:
    """The fixture with the per-window clip and athlete ids the evaluation reads."""
    for split in ("train", "val", "test"):
        idx = json.loads((data / split / "index.json").read_text())
        n = int(idx["n_windows"])
        idx["windows"] = {"clip_id": [f"{split}_c{i // 2}" for i in range(n)],
                          "athlete_id": [f"{split}_a{i % 3}" for i in range(n)]}
        (data / split / "index.json").write_text(json.dumps(idx))
    return data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return with_window_meta(write_tiny_dataset(tmp_path_factory.mktemp("processed") / "tiny"))


def test_video_free_items_are_the_items_without_video(data):
    from preprocessing.dataset import WindowDataset

    full, lean = WindowDataset(data, "train"), WindowDataset(data, "train", video=False)
    for i in (0, 5, len(full) - 1):
        a, b = full[i], lean[i]
        assert "video" in a and "video" not in b
        assert set(a) - {"video"} == set(b)
        for k in b:
            assert torch.equal(a[k], b[k]), k


def test_a_model_without_video_trains_the_same_weights_without_it(data, tmp_path, monkeypatch):
    """The loop drops video for tcn (landmarks + IMU); forcing it back in gives bit-identical weights
    and metrics (the augmentation and the sampler draw the same numbers either way)."""
    import training.tasks as tasks

    lean = train("tcn", {}, CFG, data, tmp_path / "lean", progress=False)
    seen = []
    real = tasks.make_task

    def with_video(*args, **kwargs):
        seen.append(kwargs.get("video"))
        kwargs["video"] = True
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "make_task", with_video)
    full = train("tcn", {}, CFG, data, tmp_path / "full", progress=False)
    assert seen == [False]  # the loop had asked for batches without video
    w = [weights_digest(torch.load(d / "model.pt", weights_only=False)["state_dict"]) for d in (tmp_path / "lean", tmp_path / "full")]
    assert w[0] == w[1]
    for key in ("val_macro_f1", "test_macro_f1", "val_nll", "test_nll", "best_epoch"):
        assert lean[key] == full[key], key
    assert [r["train_loss"] for r in lean["history"]] == [r["train_loss"] for r in full["history"]]


def test_evaluate_reads_the_training_outputs_only_when_they_match(data, tmp_path):
    from evaluation.predict import load_split, load_trained, predict, stored_outputs

    m = train("tcn", {}, CFG, data, tmp_path, progress=False)
    assert (tmp_path / PREDICTIONS).is_file()
    tr = load_trained(tmp_path)
    K = 4
    for name in ("val", "test"):
        split = load_split(data, name, batch_size=8)   # training's batches
        assert stored_outputs(tr, load_split(data, name, batch_size=5), data) is None  # other batches: scored again
        stored = stored_outputs(tr, split, data)
        assert stored is not None and set(stored) >= {"logits", "fault_logits"}
        fresh = predict(tr, split, K)                  # scored again
        used = predict(tr, split, K, data_dir=data)    # read from predictions.npz
        for key in ("logits", "log_prob", "fault_logits"):
            np.testing.assert_array_equal(used[key], fresh[key], err_msg=f"{name} {key}")
        assert m[f"{name}_accuracy"] == pytest.approx(float((fresh["log_prob"].argmax(1) == split.label).mean()))
    split = load_split(data, "test", batch_size=8)
    with torch.no_grad():  # other weights: the saved outputs are ignored
        next(tr.model.parameters()).add_(1.0)
    assert stored_outputs(tr, split, data) is None
    changed = predict(tr, split, K, data_dir=data)
    np.testing.assert_array_equal(changed["logits"], predict(tr, split, K)["logits"])


def test_saved_outputs_of_another_split_are_ignored(data, tmp_path):
    from evaluation.predict import load_split, load_trained, stored_outputs

    train("tcn", {}, CFG, data, tmp_path, progress=False)
    tr = load_trained(tmp_path)
    other = with_window_meta(write_tiny_dataset(tmp_path / "other", n=(32, 12, 10), seed=1))  # a test split of 10 other windows
    assert stored_outputs(tr, load_split(other, "test", batch_size=8), other) is None
    assert stored_outputs(tr, load_split(data, "test", batch_size=8), data) is not None
