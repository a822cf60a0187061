"""The ``tune`` section of params.yaml (pydantic, unknown keys rejected)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TuneParams", "SamplerParams", "PrunerParams", "TuneTracking", "DEFAULT_STORAGE"]

DEFAULT_STORAGE = "sqlite:///artifacts/tune/optuna.db"  # one machine; postgresql://... for many


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplerParams(_Strict):
    n_startup_trials: int = Field(default=4, ge=0)    # random trials before TPE models the results


class PrunerParams(_Strict):
    n_startup_trials: int = Field(default=3, ge=0)    # complete trials before any pruning
    n_warmup_steps: int = Field(default=2, ge=0)      # epochs of a trial before it may be pruned


class TuneTracking(_Strict):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "athlete-mm-tune"


class TuneParams(_Strict):
    archs: list[str] = Field(default_factory=lambda: ["tcn"])   # one tune@<arch> stage each
    data_dir: str | None = None       # a processed dataset dir; null: train.data_dir / train.dataset
    storage: str | None = None        # Optuna storage URL; null: DEFAULT_STORAGE
    study_prefix: str = Field(default="athlete-mm", pattern=r"^[A-Za-z0-9_\-]+$")
    seed: int = Field(default=0, ge=0)
    n_trials: int = Field(default=8, ge=1)            # per worker
    timeout_s: float | None = Field(default=None, gt=0)   # per worker: no new trial after this
    metric: str = "val_nll"           # a key of the loop's epoch row and of the final metrics
    # training seeds per trial (train.seed + 0 .. n-1): the trial's value is the metric's mean over
    # them, so that a best trial is one that holds at a second seed; pruning watches the first seed
    seeds: int = Field(default=1, ge=1, le=10)
    direction: Literal["minimize", "maximize"] = "minimize"
    enqueue_current: bool = True      # trial 0 = what train@<arch> trains now (the "before"); when a
    # tuned file is applied, the next trial is params.yaml's untuned config (the floor's reference)
    # adoption floor: a val figure (higher is better; the mean over the seeds) the best trial must not
    # fall below the untuned config's to be written to params/tuned/<arch>.yaml; null: no floor
    floor: str | None = None
    # settings every trial (trial 0 included) trains with, deep-merged over train.archs.<arch>
    # like the suggestions, e.g. {train: {threads: 1}} so that workers sharing a machine do not
    # oversubscribe its cores; not part of the search space nor of the best-params file
    fixed: dict[str, Any] = Field(default_factory=dict)
    sampler: SamplerParams = Field(default_factory=SamplerParams)
    pruner: PrunerParams = Field(default_factory=PrunerParams)
    tracking: TuneTracking = Field(default_factory=TuneTracking)
    spaces: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def study_name(self, arch: str, profile: str) -> str:
        return f"{self.study_prefix}-{arch}-{profile}"
