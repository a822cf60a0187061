"""Train a variant of a zoo model over several seeds and compare it with the peer baseline's seeds.

    python scripts/champion_seeds.py VARIANT --set '{"train": {"epochs": 12}}' --seeds 0 1 2 \
        --data /work/main/data/processed/synth --baseline-dir /work/main/artifacts --out tmp/champ

Each seed k trains ``train.archs.<model>`` of params.yaml (active profile) with the JSON overrides of
``--set`` deep-merged over it and seed ``train.seed + k`` (as ``stages.train <model> --seed k``), into
``<out>/<variant>/seed_<k>/`` (no MLflow). Then, on the same windows: val and test window accuracy,
macro-F1, val NLL, fault macro-F1 given the action, val and test window accuracy with sensors masked
(``training.tasks.MASKED_VIEWS``: landmarks only, IMU dropped; the robustness stage's masking), and
McNemar (exact) against the baseline's k-th
run (``<baseline-dir>/train/<baseline>`` for k = 0, ``<baseline-dir>/seeds/<baseline>/seed_k`` else).
Prints one row per seed and the mean +- std, and writes ``<out>/<variant>/summary.json``.
Choices are to be made on the val figures; test is for reporting.
A seed whose ``<out>/<variant>/seed_<k>/metrics.json`` exists is scored, not retrained: a study run
with ``stages.tune --keep-trials DIR`` leaves its trials' trainings in ``DIR/trial_<n>/seed_<k>/``
(seed ``train.seed + k`` too), so ``--reuse DIR/trial_<n>`` scores the study's best trial on test and
trains only the seeds the study did not.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation import metrics as M  # noqa: E402
from evaluation.predict import load_split, load_trained, predict  # noqa: E402
from preprocessing.dataset import mask_modalities  # noqa: E402
from stages.train import load_params  # noqa: E402
from training.loop import train  # noqa: E402
from training.tasks import MASKED_VIEWS  # noqa: E402

KEYS = ("val_acc", "val_nll", "val_fault_f1", "val_landmarks_only_acc", "val_imu_dropped_acc", "test_acc",
        "test_fault_f1", "test_landmarks_only_acc", "test_imu_dropped_acc", "baseline_acc")


def masked_accuracy(tr, split, K: int, view: str) -> float:
    keep = MASKED_VIEWS[view]
    return M.accuracy(split.label, predict(tr, split, K, transform=lambda b: mask_modalities(b, keep))["log_prob"])


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def baseline_dir(root: Path, name: str, k: int) -> Path:
    return root / "train" / name if k == 0 else root / "seeds" / name / f"seed_{k}"


def train_seed(model: str, overrides: dict, k: int, data_dir: Path, out_dir: Path, threads: int) -> dict:
    _, p, arch, cfg = load_params(model, extra=overrides)
    p = p.model_copy(update={"seed": p.seed + k, "threads": threads,
                             "tracking": p.tracking.model_copy(update={"enabled": False})})
    if (out_dir / "metrics.json").is_file():
        return json.loads((out_dir / "metrics.json").read_text())
    return train(arch, cfg, p, data_dir, out_dir, tracker=None, progress=False)


def reuse_trial(trial_dir: Path, variant_dir: Path, seeds: list[int]) -> None:
    """Copy ``trial_dir/seed_<k>`` (a kept Optuna trial) to ``variant_dir/seed_<k>`` for the seeds it has."""
    import shutil

    if not trial_dir.is_dir():
        raise SystemExit(f"--reuse {trial_dir}: not a directory (a study run with stages.tune --keep-trials DIR "
                         "keeps DIR/trial_<n>/seed_<k>/)")
    for k in seeds:
        src, dest = trial_dir / f"seed_{k}", variant_dir / f"seed_{k}"
        if (src / "metrics.json").is_file() and not dest.exists():
            shutil.copytree(src, dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant")
    ap.add_argument("--model", default="tcn")
    ap.add_argument("--set", default="{}", help="JSON overrides deep-merged over train.archs.<model>")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", type=Path, default=Path("data/processed/synth"))
    ap.add_argument("--baseline", default="minirocket")
    ap.add_argument("--baseline-dir", type=Path, default=Path("artifacts"))
    ap.add_argument("--out", type=Path, default=Path("tmp/champ"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", type=Path, help="a kept study trial (DIR/trial_<n>): its seed_<k> trainings are "
                    "copied to <out>/<variant>/ and scored instead of retrained")
    a = ap.parse_args(argv)
    if a.reuse is not None:
        reuse_trial(a.reuse, a.out / a.variant, a.seeds)
    torch.set_num_threads(a.threads)
    overrides = json.loads(a.set)
    K = len(json.loads((a.data / "dataset.json").read_text())["classes"])
    test, val = load_split(a.data, "test", 128, needs_video=False), load_split(a.data, "val", 128, needs_video=False)
    rows = []
    for k in a.seeds:
        out = a.out / a.variant / f"seed_{k}"
        m = train_seed(a.model, overrides, k, a.data, out, a.threads)
        tr = load_trained(out)
        lp, vlp = predict(tr, test, K)["log_prob"], predict(tr, val, K)["log_prob"]
        row = {"seed": k, "val_acc": M.accuracy(val.label, vlp), "val_nll": m.get("val_nll", float(-vlp[np.arange(len(val.label)), val.label].mean())),
               "val_fault_f1": m.get("val_fault_macro_f1"), "test_acc": M.accuracy(test.label, lp),
               "test_fault_f1": m.get("test_fault_macro_f1"), "errors": int((lp.argmax(1) != test.label).sum()),
               "seconds": m["seconds"], "best_epoch": m.get("best_epoch")}
        for view in MASKED_VIEWS:
            for name, split in (("val", val), ("test", test)):
                row[f"{name}_{view}_acc"] = masked_accuracy(tr, split, K, view)
        bdir = baseline_dir(a.baseline_dir, a.baseline, k)
        if (bdir / "model.joblib").is_file() or (bdir / "model.pt").is_file():
            blp = predict(load_trained(bdir), test, K)["log_prob"]
            row["baseline_acc"] = M.accuracy(test.label, blp)
            row["mcnemar"] = M.mcnemar_exact(lp.argmax(1) == test.label, blp.argmax(1) == test.label)
        rows.append(row)
        mc = row.get("mcnemar", {})
        print(f"{a.variant} seed {k}: val acc {row['val_acc']:.4f} nll {row['val_nll']:.4f} fault {_f(row['val_fault_f1'])} | "
              f"test acc {row['test_acc']:.4f} ({row['errors']} err) fault {_f(row['test_fault_f1'])} | "
              f"{a.baseline} {row.get('baseline_acc', float('nan')):.4f} McNemar {mc.get('a_only')}/{mc.get('b_only')} "
              f"p={mc.get('p_value', float('nan')):.3g} | {row['seconds']:.0f} s, best epoch {row['best_epoch']} | "
              f"landmarks-only val {row['val_landmarks_only_acc']:.4f} test {row['test_landmarks_only_acc']:.4f}, "
              f"IMU dropped val {row['val_imu_dropped_acc']:.4f} test {row['test_imu_dropped_acc']:.4f}", flush=True)
    summary = {"variant": a.variant, "model": a.model, "overrides": overrides, "runs": rows,
               **{f"{key}_mean_std": M.mean_std([r[key] for r in rows if r.get(key) is not None]) for key in KEYS}}
    (a.out / a.variant / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    for key in KEYS:
        s = summary[f"{key}_mean_std"]
        print(f"{a.variant} {key}: {s['mean']:.4f} +- {s['std']:.4f} (n={s['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
