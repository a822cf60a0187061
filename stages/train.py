"""DVC stage `train`: one model of the zoo on the processed dataset.

    python -m stages.train <name>                 # what `dvc repro train@<name>` runs
    python -m stages.train <name> --seed K        # a seed replica (`dvc repro train_seed@...`)
    torchrun --nproc_per_node 2 -m stages.train <name>   # DDP (gloo on CPU, nccl on GPUs)

Reads params.yaml section `train` (active profile applied): the common settings
(training.loop.TrainParams) plus `train.archs.<name>` (model cfg overrides, checked against the
builder's signature; its `train` key overrides common settings for this model only; its `arch` key
makes `<name>` a variant of a registered architecture, e.g. `tcn_imu: {arch: tcn, modalities: [imu]}`).
A tuned file `params/tuned/<name>.yaml` (written by `stages.tune`, committed) is deep-merged over
`train.archs.<name>` when it was tuned on the active profile: the tuned values win.
Writes artifacts/train/<name>/ (model.pt or model.joblib, checkpoint.pt, metrics.json) and
reports/train/<name>.json (metrics for `dvc metrics show`); with `--seed K` (K >= 1) it trains with
seed `train.seed + K` into `train.seeds_dir`/<name>/seed_<K>/ instead (no report: the evaluate stage
aggregates the seeds). MLflow tracking per `train.tracking`. Under torchrun only rank 0 writes files,
logs and tracks.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.params import ParamsError, deep_merge, section, validate
from tuning.best import TUNED_DIR, read_tuned, tuned_path


def load_params(name: str, extra: dict | None = None, tuned_dir: Path | str | None = TUNED_DIR):
    """(profile, TrainParams, registry architecture, model cfg) of the zoo entry ``name``: params.yaml's
    ``train.archs.<name>``, then the tuned file of ``tuned_dir`` (None: ignored), then ``extra``
    (a tuning trial's values), each deep-merged over the one before."""
    from models import available_models, model_signature
    from training.loop import TrainParams
    from tuning.best import tuned_overrides

    profile, raw = section("train")
    raw = dict(raw)
    archs = raw.pop("archs", None) or {}
    if not isinstance(archs, dict):
        raise ParamsError("params.yaml key 'train.archs' must be a mapping of architecture -> model cfg")
    try:
        tuned = tuned_overrides(name, profile, tuned_dir)
    except ValueError as exc:
        raise ParamsError(str(exc)) from None
    cfg = deep_merge(deep_merge(dict(archs.get(name) or {}), tuned), extra or {})
    arch = cfg.pop("arch", name)  # a variant names the registered architecture it configures
    if arch not in available_models():
        where = f" (params.yaml key 'train.archs.{name}.arch')" if arch != name else ""
        raise ParamsError(f"unknown architecture {arch!r}{where}; available: {available_models()}")
    overrides = cfg.pop("train", None) or {}  # per-model training settings (lr, epochs, ...)
    if not isinstance(overrides, dict):
        raise ParamsError(f"params.yaml key 'train.archs.{name}.train' must be a mapping of train settings")
    unknown = sorted(set(cfg) - set(model_signature(arch)))
    if unknown:
        raise ParamsError("\n".join(f"params.yaml key 'train.archs.{name}.{k}' is not a known parameter "
                                    f"(allowed: {sorted(model_signature(arch))}, 'arch' and 'train')" for k in unknown))
    return profile, validate(TrainParams, deep_merge(raw, overrides), "train"), arch, cfg


# the figures `dvc metrics show` / `dvc exp show` list per model; everything else stays in
# artifacts/train/<name>/metrics.json (and the evaluate stage's reports)
HEADLINE_KEYS = ("val_accuracy", "val_macro_f1", "test_accuracy", "test_macro_f1", "test_fault_macro_f1",
                 "val_rmse_nm_per_kg", "test_rmse_nm_per_kg", "seed", "epochs", "windows_seen", "params", "seconds")


def headline(metrics: dict, name: str, arch: str) -> dict:
    """The stage report: zoo name, architecture, kind and the HEADLINE_KEYS the model has."""
    return {"model": name, "arch": arch, "kind": metrics.get("kind"),
            **{k: metrics[k] for k in HEADLINE_KEYS if k in metrics}}


def parse_args(argv: list[str]) -> tuple[str, int] | None:
    """``<name> [--seed K]`` -> (name, K); K = 0 is the pipeline's own training. None if malformed."""
    if len(argv) == 1:
        return argv[0], 0
    if len(argv) == 3 and argv[1] == "--seed" and argv[2].isdigit() and int(argv[2]) >= 1:
        return argv[0], int(argv[2])
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parsed = parse_args(argv)
    if parsed is None:
        print("usage: python -m stages.train <name> [--seed K]   (K >= 1: a seed replica)", file=sys.stderr)
        return 2
    name, replica = parsed
    try:
        profile, p, arch, cfg = load_params(name)
    except ParamsError as exc:
        print(f"train: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    if replica:
        p = p.model_copy(update={"seed": p.seed + replica})
    out_dir = Path(p.seeds_dir) / name / f"seed_{replica}" if replica else Path(p.out_dir) / name
    from training.loop import is_main, train

    data_dir = Path(p.data_dir) / p.dataset
    if not (data_dir / "dataset.json").is_file():
        print(f"train: {data_dir} is not a processed dataset (run the preprocess stage)", file=sys.stderr)
        return 1
    tracker = None
    if p.tracking.enabled and is_main():
        from training.tracking import MlflowTracker

        tracker = MlflowTracker(p.tracking.uri, p.tracking.experiment, run_name=name, log_model=p.tracking.log_model,
                                tags={"profile": profile, "zoo_name": name, "seed": str(p.seed),
                                      "seed_replica": str(replica)})
    if is_main():
        print(f"train: profile={profile} model={name} (arch {arch}) seed={p.seed} dataset={p.dataset} "
              f"epochs={p.epochs} batch={p.batch_size}", file=sys.stderr)
        tuned = read_tuned(name)
        if tuned is not None and tuned["profile"] == profile and tuned.get("adopt", True):
            print(f"train: {name} uses the tuned values of {tuned_path(name)} (study {tuned.get('study')}, "
                  f"trial {tuned.get('best_trial')}): {tuned['params']}", file=sys.stderr)
    try:
        metrics = train(arch, cfg, p, data_dir, out_dir, tracker=tracker)
    except (TypeError, ValueError) as exc:  # a model cfg the builder rejects, a stale checkpoint
        print(f"train: {exc}", file=sys.stderr)
        return 2
    if not is_main():
        return 0
    if not replica:
        report = Path(p.report_dir) / f"{name}.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(headline(metrics, name, arch), indent=1) + "\n")
    if metrics["kind"] == "torque":
        result = (f"val RMSE {metrics['val_rmse_nm_per_kg']:.3f} N m/kg, test RMSE {metrics['test_rmse_nm_per_kg']:.3f} "
                  f"N m/kg (knee r/l {metrics['test_rmse'].get('knee_angle_r_moment', float('nan')):.1f}/"
                  f"{metrics['test_rmse'].get('knee_angle_l_moment', float('nan')):.1f} N m)")
    else:
        result = f"val macro-F1 {metrics['val_macro_f1']:.3f} test macro-F1 {metrics['test_macro_f1']:.3f}"
    print(f"train: {name} {result} in {metrics['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
