"""One trial = one call of the project's training loop (``training.loop.train``).

The objective suggests the space's values, asks ``config_for(overrides)`` for the training config
(the train stage's own ``load_params``, so a trial is validated like params.yaml), trains into a
scratch folder, reports the epoch-level validation metric to the pruner through the loop's
``on_epoch`` hook and returns the final validation metric (whole val split, best checkpoint);
with ``seeds`` > 1 the trial trains once per seed (``train.seed + k``) and returns the metric's
mean over them (pruning and tracking follow the first seed; the values per seed are user attrs).
Kept trainings (``keep_dir``) are recorded as ``trial_<n>/seed_<k>`` relative to ``keep_dir``.
Tracking is attached from outside: each trial is an MLflow run nested under the worker's parent
run (the ``mlflow.parentRunId`` tag, which is what ``mlflow.start_run(nested=True)`` writes).
Single-process only (no torchrun: a pruning decision on rank 0 alone would stall the others).
"""
from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna

from .space import suggest, to_overrides

__all__ = ["Objective", "worker_id", "USER_ATTRS"]

# final metrics kept on every trial (user attrs) for the before/after report
USER_ATTRS = ("val_accuracy", "val_macro_f1", "val_nll", "val_fault_macro_f1", "val_nll_fault", "val_rmse_nm_per_kg",
              "val_landmarks_only_accuracy", "val_landmarks_only_nll", "val_imu_dropped_accuracy",
              "val_imu_dropped_nll", "val_nll_fault_masked", "epochs", "best_epoch", "seconds")
# also kept per seed (``<key>_per_seed``, with the metric's): the adoption guard of stages.tune
# reads the landmarks-only accuracy's mean over the seeds
PER_SEED = ("val_accuracy", "val_fault_macro_f1", "val_landmarks_only_accuracy", "val_imu_dropped_accuracy")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Objective:
    def __init__(self, name: str, space: Mapping[str, dict], config_for: Callable[[dict], tuple],
                 data_dir: Path, metric: str, worker: str, tracker_for: Callable[[optuna.Trial], Any] | None = None,
                 work_dir: Path | None = None, seeds: int = 1, keep_dir: Path | None = None):
        if seeds < 1:
            raise ValueError(f"tune.seeds = {seeds}: expected >= 1 training seeds per trial")
        self.name, self.space, self.config_for, self.seeds = name, dict(space), config_for, seeds
        self.data_dir, self.metric, self.worker = Path(data_dir), metric, worker
        self.tracker_for, self.work_dir = tracker_for, work_dir
        # completed trials' trainings kept as <keep_dir>/trial_<n>/seed_<k>/ (laid out like
        # artifacts/train/<name>/), so the best trial can be scored on test without retraining it
        self.keep_dir = Path(keep_dir) if keep_dir is not None else None

    def __call__(self, trial: optuna.Trial) -> float:
        from training.loop import train

        trial.set_user_attr("worker", self.worker)
        overrides = to_overrides(suggest(trial, self.space))
        p, arch, cfg = self.config_for(overrides)
        tracker = self.tracker_for(trial) if self.tracker_for is not None else None
        if tracker is not None:
            trial.set_user_attr("mlflow_run_name", tracker.run_name)

        def report(epoch: int, row: dict) -> None:
            value = row.get(self.metric)
            if value is None:
                raise ValueError(f"tune.metric = {self.metric!r} is not in the epoch metrics of {self.name!r} "
                                 f"(have: {sorted(k for k in row if k not in ('epoch', 'lr'))})")
            if math.isfinite(float(value)):
                trial.report(float(value), step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {self.metric} {value:.4f}")

        values, per_seed = [], {key: [] for key in PER_SEED}
        for k in range(self.seeds):
            p_k = p.model_copy(update={"seed": p.seed + k})
            metrics = self._train_one(trial, train, arch, cfg, p_k, tracker if k == 0 else None,
                                      report if k == 0 else None)
            if k == 0:
                for key in USER_ATTRS:
                    if key in metrics:
                        trial.set_user_attr(key, metrics[key])
            value = metrics.get(self.metric)
            if value is None or not math.isfinite(float(value)):
                raise ValueError(f"trial {trial.number} seed {p_k.seed}: final {self.metric} = {value!r} "
                                 f"(not a finite number)")
            values.append(float(value))
            for key in PER_SEED:
                if key in metrics:
                    per_seed[key].append(float(metrics[key]))
        if self.seeds > 1:
            trial.set_user_attr(f"{self.metric}_per_seed", values)
            for key, vals in per_seed.items():
                if vals and key != self.metric:
                    trial.set_user_attr(f"{key}_per_seed", vals)
        return sum(values) / len(values)

    def _train_one(self, trial, train, arch, cfg, p, tracker, report) -> dict:
        out = Path(tempfile.mkdtemp(prefix=f"trial{trial.number}-s{p.seed}-", dir=self.work_dir))
        kept = False
        try:
            metrics = train(arch, cfg, p, self.data_dir, out, tracker=tracker, progress=False, on_epoch=report)
            if self.keep_dir is not None:
                dest = self.keep_dir / f"trial_{trial.number}" / f"seed_{len(trial.user_attrs.get('kept', []))}"
                shutil.rmtree(dest, ignore_errors=True)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(out), dest)
                # relative to keep_dir: the study (and reports/tune/<arch>.json) holds no machine's paths
                rel = dest.relative_to(self.keep_dir).as_posix()
                trial.set_user_attr("kept", [*trial.user_attrs.get("kept", []), rel])
                kept = True
            return metrics
        except optuna.TrialPruned:
            if tracker is not None and tracker.run_id:
                _mark_pruned(tracker)
            raise
        finally:
            if not kept:
                shutil.rmtree(out, ignore_errors=True)


def _mark_pruned(tracker) -> None:
    """The loop ended the trial's run FAILED on the exception; say it was pruned instead."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracker.uri)
    client.set_tag(tracker.run_id, "optuna.state", "PRUNED")
    client.set_terminated(tracker.run_id, "KILLED")
