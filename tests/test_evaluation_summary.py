"""evaluation.summary: the one table of every trained model."""
from __future__ import annotations

import json

from biomech.conventions import MOMENTS
from evaluation.summary import main, render


def _reports(tmp_path):
    d = tmp_path / "train"
    d.mkdir()
    (d / "tcn.json").write_text(json.dumps({"model": "tcn", "kind": "torch", "val_accuracy": 0.9, "val_macro_f1": 0.88,
                                            "test_accuracy": 0.87, "test_macro_f1": 0.86, "epochs": 4,
                                            "params": 1000, "seconds": 12.3}))
    (d / "features_svm.json").write_text(json.dumps({"model": "features_svm", "kind": "sklearn",
                                                     "test_macro_f1": 0.95, "test_accuracy": 0.96}))
    per = {j: 10.0 + i for i, j in enumerate(MOMENTS)}
    (d / "torque_ne.json").write_text(json.dumps({"model": "torque_ne", "kind": "torque", "test_rmse": per,
                                                  "test_icc": {j: 0.9 for j in MOMENTS},
                                                  "test_pearson": {j: 0.95 for j in MOMENTS},
                                                  "test_mean_rmse": 14.5, "test_rmse_nm_per_kg": 0.2}))
    return d


def test_tables_list_every_model_sorted_and_every_joint(tmp_path):
    d = _reports(tmp_path)
    assert main([str(d), str(tmp_path / "summary.md")]) == 0
    text = (tmp_path / "summary.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    names = [r.split("|")[1].strip() for r in rows]
    assert names.index("features_svm") < names.index("tcn")  # sorted by test macro-F1
    assert "| tcn | 0.900 | 0.880 | 0.870 | 0.860 | 4 | 1000 | 12 |" in text
    knee = next(r for r in rows if r.startswith("| knee_angle_r_moment"))
    assert "12.00" in knee and "0.900" in knee
    assert "n/a" in next(r for r in rows if r.startswith("| features_svm"))  # missing fields say so


def test_bad_report_and_missing_dir_are_clear_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 1
    assert "run the train stages first" in capsys.readouterr().err
    d = _reports(tmp_path)
    (d / "broken.json").write_text("{")
    assert main([str(d), str(tmp_path / "s.md")]) == 1
    assert "broken.json" in capsys.readouterr().err
    assert render({}) == "No training reports found.\n"


def test_reports_are_read_from_training_output_folders(tmp_path):
    from evaluation.summary import load_reports

    for name, acc in (("tcn", 0.9), ("tcn_imu", 0.8)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"model": "tcn", "kind": "torch", "test_accuracy": acc}))
    (tmp_path / "stray.json").write_text("{}")          # a folder layout ignores loose files
    reports = load_reports(tmp_path)
    assert sorted(reports) == ["tcn", "tcn_imu"] and reports["tcn_imu"]["test_accuracy"] == 0.8
    assert "| tcn_imu |" in render(reports)
