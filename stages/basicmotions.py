"""DVC stages of the BasicMotions pipeline (pipelines/basicmotions/dvc.yaml): a real IMU archive
through the project's training loop and evaluation code.

    bash scripts/fetch_real_data.sh                  # set-up step (network, once): .cache/real/basicmotions
    .venv/bin/dvc repro pipelines/basicmotions/dvc.yaml
    # or step by step:
    python -m stages.basicmotions prepare            # .ts archive -> data/processed/basicmotions
    python -m stages.basicmotions train <name>       # one model of basicmotions.archs -> artifacts/basicmotions/<name>
    python -m stages.basicmotions evaluate           # -> reports/basicmotions.json, reports/basicmotions.md

Reads params.yaml section `basicmotions` only (its `train` block is a training.loop.TrainParams,
its `archs` block model cfgs as `train.archs`: an `arch` key names the registered builder).
Exit status: 0 done; 1 missing input (the message says what to run); 2 invalid parameters.
"""
from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stages.params import ParamsError, section, validate

USAGE = "usage: python -m stages.basicmotions prepare | train <name> | evaluate"


class BasicMotionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    archive_dir: str = ".cache/real/basicmotions"
    data_dir: str = "data/processed/basicmotions"
    models_dir: str = "artifacts/basicmotions"
    metrics_file: str = "reports/basicmotions.json"
    markdown: str = "reports/basicmotions.md"
    sensor: str = "wrist_l"
    val_per_class: int = Field(default=2, ge=0, le=9)
    seed: int = Field(default=0, ge=0)
    train: dict[str, Any] = Field(default_factory=dict)
    archs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    evaluate: dict[str, Any] = Field(default_factory=dict)


def load_params() -> BasicMotionsParams:
    _, raw = section("basicmotions")
    return validate(BasicMotionsParams, raw, "basicmotions")


def model_params(p: BasicMotionsParams, name: str):
    """(registered architecture, model cfg, TrainParams) of ``basicmotions.archs.<name>``."""
    from models import available_models, model_signature
    from training.loop import TrainParams

    if name not in p.archs:
        raise ParamsError(f"params.yaml has no 'basicmotions.archs.{name}' (listed: {sorted(p.archs)})")
    cfg = dict(p.archs[name])
    arch = cfg.pop("arch", name)
    if arch not in available_models():
        raise ParamsError(f"params.yaml key 'basicmotions.archs.{name}.arch' = {arch!r}: unknown architecture; "
                          f"available: {available_models()}")
    unknown = sorted(set(cfg) - set(model_signature(arch)))
    if unknown:
        raise ParamsError(f"params.yaml key(s) {[f'basicmotions.archs.{name}.{k}' for k in unknown]}: not parameters "
                          f"of {arch} (allowed: {sorted(model_signature(arch))} and 'arch')")
    tp = validate(TrainParams, {**p.train, "seed": p.train.get("seed", p.seed)}, "basicmotions.train")
    return arch, cfg, tp


def prepare(p: BasicMotionsParams) -> int:
    from ingest.basicmotions import archive_to_processed

    info = archive_to_processed(p.archive_dir, p.data_dir, sensor=p.sensor, val_per_class=p.val_per_class, seed=p.seed)
    print(f"basicmotions: {len(info['classes'])} classes -> {p.data_dir} ({info['split_rule']})", file=sys.stderr)
    return 0


def train(p: BasicMotionsParams, name: str) -> int:
    from pathlib import Path

    from training.loop import train as train_loop

    arch, cfg, tp = model_params(p, name)
    data_dir = Path(p.data_dir)
    if not (data_dir / "dataset.json").is_file():
        print(f"basicmotions: {data_dir} is not a processed dataset (run `python -m stages.basicmotions prepare`)",
              file=sys.stderr)
        return 1
    tracker = None
    if tp.tracking.enabled:
        from training.tracking import MlflowTracker

        tracker = MlflowTracker(tp.tracking.uri, tp.tracking.experiment, run_name=f"basicmotions-{name}",
                                log_model=tp.tracking.log_model, tags={"dataset": "basicmotions", "zoo_name": name})
    m = train_loop(arch, cfg, tp, data_dir, Path(p.models_dir) / name, tracker=tracker)
    print(f"basicmotions: {name} val accuracy {m['val_accuracy']:.3f} test accuracy {m['test_accuracy']:.3f} "
          f"in {m['seconds']} s", file=sys.stderr)
    return 0


def evaluate(p: BasicMotionsParams) -> int:
    from evaluation.params import EvaluateParams
    from ingest.basicmotions import evaluate_archive, write_report

    ep = validate(EvaluateParams, p.evaluate, "basicmotions.evaluate")
    s = evaluate_archive(p.data_dir, p.models_dir, ep)
    write_report(s, p.metrics_file, p.markdown)
    for name, m in sorted(s["models"].items()):
        print(f"basicmotions: {name} test accuracy {m['test_accuracy']:.3f} on {m['n_test']} cases", file=sys.stderr)
    print(f"basicmotions: best {s['best_model']} {s['test_accuracy']:.3f} (published ROCKET-class "
          f"{s['published_rocket_accuracy']:.3f}) -> {p.metrics_file}, {p.markdown}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("prepare", "train", "evaluate") or (argv[0] == "train") != (len(argv) == 2) \
            or len(argv) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    from ingest import IngestError

    try:
        p = load_params()
        if argv[0] == "prepare":
            return prepare(p)
        if argv[0] == "train":
            return train(p, argv[1])
        return evaluate(p)
    except ParamsError as exc:
        print(f"basicmotions: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    except (IngestError, FileNotFoundError) as exc:
        print(f"basicmotions: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
