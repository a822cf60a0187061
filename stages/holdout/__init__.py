"""DVC stages of the held-out cohort pipeline (pipelines/holdout/dvc.yaml, README "Held-out cohort"):
a fresh cohort drawn with the default generator settings, scored by the default pipeline's models.

    scripts/python -m dvc repro pipelines/holdout/dvc.yaml      # after the default pipeline
    # or step by step:
    python -m stages.holdout.generate      # generate section + holdout seed / size -> data/raw/holdout
    python -m stages.holdout.preprocess    # preprocess section, the reference scalers -> data/processed/holdout
    python -m stages.holdout.evaluate      # -> reports/holdout.json, reports/holdout.md, reports/holdout/details.json

Each step reads params.yaml section `holdout` (:class:`HoldoutParams`) and one default section
(`generate`, `preprocess`, `evaluate.champion`), the active profile applied. ``--set key=value``
(repeatable) overrides a `holdout` key for one run without editing params.yaml, e.g.
``--set train_dir=/elsewhere/artifacts/train`` (the value is parsed as YAML).
Exit status: 0 done; 1 missing or inconsistent input (the message names the file); 2 invalid parameters.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field

from evaluation.params import BootstrapParams
from stages.params import ParamsError, section, validate


class HoldoutParams(BaseModel):
    """params.yaml section ``holdout``."""
    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(default="holdout", pattern=r"^[A-Za-z0-9_\-]+$")
    seed: int = Field(ge=0)
    n_athletes: int = Field(ge=2, le=10000)
    n_clips: int = Field(ge=1, le=1_000_000)
    athlete_prefix: str = Field(default="holdout", pattern=r"^[A-Za-z_\-]+$")
    raw_dir: str = "data/raw"
    processed_dir: str = "data/processed"
    reference_data: str = "data/processed/synth"
    train_dir: str = "artifacts/train"
    seeds_dir: str = "artifacts/seeds"
    champion_file: str = "artifacts/champion.json"
    models: list[str] = Field(min_length=1)
    report_dir: str = "reports/holdout"
    metrics_file: str = "reports/holdout.json"
    markdown: str = "reports/holdout.md"
    threads: int = Field(default=2, ge=1, le=256)
    batch_size: int = Field(default=64, ge=1, le=4096)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)


def load_params(overrides: list[str] = ()) -> HoldoutParams:
    _, raw = section("holdout")
    for kv in overrides:
        key, sep, value = kv.partition("=")
        if not sep or key not in HoldoutParams.model_fields:
            raise ParamsError(f"--set {kv!r}: expected key=value with a key of the holdout section "
                              f"({sorted(HoldoutParams.model_fields)})")
        raw = {**raw, key: yaml.safe_load(value)}
    return validate(HoldoutParams, raw, "holdout")


def cohort_generate_params(gen: BaseModel, h: HoldoutParams) -> BaseModel:
    """The ``generate`` section's parameters (stages.generate.GenerateParams) with the cohort's
    dataset name, seed and size; every other setting (views, presets, faults, landmark error,
    durations, rates) as it is."""
    if h.seed == gen.seed:
        raise ParamsError(f"params.yaml key 'holdout.seed' = {h.seed}: equals generate.seed; the cohort must be "
                          "a new draw (another seed)")
    if h.dataset == gen.dataset:
        raise ParamsError(f"params.yaml key 'holdout.dataset' = {h.dataset!r}: equals generate.dataset (it would "
                          "overwrite the training cohort)")
    if h.athlete_prefix == "athlete":
        raise ParamsError("params.yaml key 'holdout.athlete_prefix' = 'athlete': the training cohort's prefix "
                          "(the ids would collide)")
    return type(gen).model_validate({**gen.model_dump(), "dataset": h.dataset, "seed": h.seed,
                                     "n_athletes": h.n_athletes, "n_clips": h.n_clips})


def cohort_preprocess_params(pp: BaseModel, h: HoldoutParams) -> BaseModel:
    """The ``preprocess`` section's parameters (preprocessing.params.PreprocessParams) reading the
    cohort's raw folder and writing its processed folder and report (no plots); filters, sync,
    windows and landmark settings unchanged."""
    if h.dataset == pp.dataset:
        raise ParamsError(f"params.yaml key 'holdout.dataset' = {h.dataset!r}: equals preprocess.dataset")
    return type(pp).model_validate({**pp.model_dump(), "dataset": h.dataset, "raw_dir": h.raw_dir,
                                    "out_dir": h.processed_dir, "report_dir": f"{h.report_dir}/preprocess",
                                    "plots": False})


def split_athletes(data_dir: Path) -> set[str]:
    """Every athlete id of a processed dataset (its split.json)."""
    f = Path(data_dir) / "split.json"
    if not f.is_file():
        raise FileNotFoundError(f"{f}: not found (a processed dataset's split.json; run its preprocess stage)")
    return {a for ids in json.loads(f.read_text())["athletes"].values() for a in ids}


def check_disjoint_athletes(athletes, reference: Path) -> None:
    """Raise ValueError when an athlete id of the cohort is also one of the reference dataset's."""
    common = sorted(set(athletes) & split_athletes(reference))
    if common:
        raise ValueError(f"{len(common)} athlete id(s) of the held-out cohort are in {reference}/split.json "
                         f"(e.g. {common[:3]}): give holdout.athlete_prefix a prefix of its own")


def run_step(name: str, step: Callable[[HoldoutParams], int], argv: list[str] | None = None) -> int:
    """Parse ``[--set key=value ...]``, load the params, run ``step``; errors become one line."""
    argv = sys.argv[1:] if argv is None else argv
    overrides = []
    while argv:
        if argv[0] != "--set" or len(argv) < 2:
            print(f"usage: python -m stages.holdout.{name} [--set key=value ...]", file=sys.stderr)
            return 2
        overrides.append(argv[1])
        argv = argv[2:]
    try:
        return step(load_params(overrides))
    except ParamsError as exc:
        print(f"holdout {name}: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"holdout {name}: {exc}", file=sys.stderr)
        return 1
