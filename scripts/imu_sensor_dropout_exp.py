"""Experiment (not a stage): train tcn with the current params and a given
``train.augment.imu_sensor_dropout``, then the robustness stage's curves on test for it.

    python scripts/imu_sensor_dropout_exp.py --data /work/main/data/processed --p 0.0 --replica 0 --out exp/base_r0

Uses stages.train.load_params (params.yaml + params/tuned/tcn.yaml, active profile), one thread,
no MLflow; writes <out>/tcn/ (the training outputs), <out>/robustness/ and <out>/summary.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/processed", help="processed root (holds <dataset>/)")
    ap.add_argument("--p", type=float, required=True, help="train.augment.imu_sensor_dropout")
    ap.add_argument("--replica", type=int, default=0, help="seed = train.seed + replica")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="tcn")
    ap.add_argument("--epochs", type=int, default=None, help="override train epochs (the budget check)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from evaluation.robustness import RobustnessParams, run_robustness
    from stages.params import section
    from stages.train import load_params
    from training.loop import train

    _, p, arch, cfg = load_params(a.name)
    p = p.model_copy(update={"seed": p.seed + a.replica, "threads": 1,
                             "augment": p.augment.model_copy(update={"imu_sensor_dropout": a.p})})
    p = p.model_copy(update={"tracking": p.tracking.model_copy(update={"enabled": False})})
    if a.epochs:
        p = p.model_copy(update={"epochs": a.epochs, "patience": max(p.patience, a.epochs)})
    out = Path(a.out)
    m = train(arch, cfg, p, Path(a.data) / p.dataset, out / a.name, tracker=None, progress=False)
    _, rraw = section("robustness")
    rp = RobustnessParams(**{**rraw, "data_dir": a.data, "train_dir": str(out), "models": [a.name],
                             "video_models": [], "threads": 1, "out_dir": str(out / "robustness"),
                             "metrics_file": str(out / "robustness" / "headline.json")})
    run_robustness(rp)
    cur = json.loads((out / "robustness" / "details.json").read_text())["curves"][a.name]
    keys = ("val_accuracy", "val_macro_f1", "val_fault_macro_f1", "test_accuracy", "test_macro_f1",
            "test_fault_macro_f1", "seed", "seconds")
    summary = {"imu_sensor_dropout": a.p, **{k: m[k] for k in keys},
               "imu_dropout": {r["level"]: r["window_accuracy"] for r in cur["imu_dropout"]},
               "imu_placement_missing": {r["level"]: r["window_accuracy"] for r in cur["imu_placement_missing"]},
               "modality_mask": {r["level"]: r["window_accuracy"] for r in cur["modality_mask"]}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
