"""DVC stage `train`: one architecture of the zoo on the processed dataset.

    python -m stages.train <arch>        # what `dvc repro train@<arch>` runs
    torchrun --nproc_per_node 2 -m stages.train <arch>   # DDP (gloo on CPU, nccl on GPUs)

Reads params.yaml section `train` (active profile applied): the common settings
(training.loop.TrainParams) plus `train.archs.<arch>` (model cfg overrides, checked against the
builder's signature; its `train` key overrides common settings for this model only). Writes artifacts/train/<arch>/ (model.pt or model.joblib, checkpoint.pt,
metrics.json) and reports/train/<arch>.json (metrics for `dvc metrics show`); MLflow tracking
per `train.tracking`. Under torchrun only rank 0 writes files, logs and tracks.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.params import ParamsError, deep_merge, section, validate


def load_params(arch: str):
    from models import available_models, model_signature
    from training.loop import TrainParams

    profile, raw = section("train")
    raw = dict(raw)
    archs = raw.pop("archs", None) or {}
    if not isinstance(archs, dict):
        raise ParamsError("params.yaml key 'train.archs' must be a mapping of architecture -> model cfg")
    if arch not in available_models():
        raise ParamsError(f"unknown architecture {arch!r}; available: {available_models()}")
    cfg = dict(archs.get(arch) or {})
    overrides = cfg.pop("train", None) or {}  # per-model training settings (lr, epochs, ...)
    if not isinstance(overrides, dict):
        raise ParamsError(f"params.yaml key 'train.archs.{arch}.train' must be a mapping of train settings")
    unknown = sorted(set(cfg) - set(model_signature(arch)))
    if unknown:
        raise ParamsError("\n".join(f"params.yaml key 'train.archs.{arch}.{k}' is not a known parameter "
                                    f"(allowed: {sorted(model_signature(arch))} and 'train')" for k in unknown))
    return profile, validate(TrainParams, deep_merge(raw, overrides), "train"), cfg


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m stages.train <arch>", file=sys.stderr)
        return 2
    arch = argv[0]
    try:
        profile, p, cfg = load_params(arch)
    except ParamsError as exc:
        print(f"train: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from training.loop import is_main, train

    data_dir = Path(p.data_dir) / p.dataset
    if not (data_dir / "dataset.json").is_file():
        print(f"train: {data_dir} is not a processed dataset (run the preprocess stage)", file=sys.stderr)
        return 1
    tracker = None
    if p.tracking.enabled and is_main():
        from training.tracking import MlflowTracker

        tracker = MlflowTracker(p.tracking.uri, p.tracking.experiment, run_name=arch, log_model=p.tracking.log_model,
                                tags={"profile": profile})
    if is_main():
        print(f"train: profile={profile} arch={arch} dataset={p.dataset} epochs={p.epochs} "
              f"batch={p.batch_size}", file=sys.stderr)
    try:
        metrics = train(arch, cfg, p, data_dir, Path(p.out_dir) / arch, tracker=tracker)
    except (TypeError, ValueError) as exc:  # a model cfg the builder rejects, a stale checkpoint
        print(f"train: {exc}", file=sys.stderr)
        return 2
    if not is_main():
        return 0
    report = Path(p.report_dir) / f"{arch}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=1) + "\n")
    if metrics["kind"] == "torque":
        result = (f"val RMSE {metrics['val_rmse_nm_per_kg']:.3f} N m/kg, test RMSE {metrics['test_rmse_nm_per_kg']:.3f} "
                  f"N m/kg (knee r/l {metrics['test_rmse'].get('knee_angle_r_moment', float('nan')):.1f}/"
                  f"{metrics['test_rmse'].get('knee_angle_l_moment', float('nan')):.1f} N m)")
    else:
        result = f"val macro-F1 {metrics['val_macro_f1']:.3f} test macro-F1 {metrics['test_macro_f1']:.3f}"
    print(f"train: {arch} {result} in {metrics['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
