"""evaluation.equal_budget: every model sees the same number of train windows, and re-running one
model keeps the other rows of the table."""
import json

import torch

from evaluation.equal_budget import main
from tests.train_fixtures import write_tiny_dataset


def _dataset(tmp_path):
    root = write_tiny_dataset(tmp_path / "synth")
    for split in ("train", "val", "test"):  # the evaluation's CI resamples athletes
        p = root / split / "index.json"
        index = json.loads(p.read_text())
        for i, w in enumerate(index["windows"]):
            w["athlete_id"] = f"athlete{i % 3}"
        p.write_text(json.dumps(index))
    return root


def test_equal_budget_trains_every_model_on_the_same_windows_and_keeps_rows(tmp_path):
    n = torch.get_num_threads()
    data, out, report = _dataset(tmp_path), tmp_path / "eb", tmp_path / "eb.md"
    args = ["--data-dir", str(data), "--out-dir", str(out), "--report", str(report), "--budget", "32",
            "--epochs", "1", "--n-boot", "20"]
    try:
        assert main(args + ["--models", "tcn", "basic_cnn"]) == 0
        rows = json.loads((out / "equal_budget.json").read_text())
        assert [r["model"] for r in rows] == ["tcn", "basic_cnn"]
        assert [r["windows_seen"] for r in rows] == [32, 32]
        assert all(r["n_test"] == 12 for r in rows)
        first = rows[0]["test_window_accuracy"]
        # one model again: reused (same budget), the other row kept
        assert main(args + ["--models", "tcn", "--note", "a note"]) == 0
        rows = json.loads((out / "equal_budget.json").read_text())
        assert sorted(r["model"] for r in rows) == ["basic_cnn", "tcn"]
        assert next(r for r in rows if r["model"] == "tcn")["test_window_accuracy"] == first
        text = report.read_text()
        assert "| tcn |" in text and "| basic_cnn |" in text and text.rstrip().endswith("a note")
        assert main(args + ["--models", "features_svm"]) == 2  # not a torch model: no budget to give
    finally:
        torch.set_num_threads(n)
