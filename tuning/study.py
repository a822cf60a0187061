"""The Optuna study: storage, seeded TPE sampler, median pruner.

Storage URLs (``optuna.storages.RDBStorage``): ``sqlite:///artifacts/tune/optuna.db`` on one
machine (the default); ``postgresql://user:password@host:5432/db`` for N workers on N machines
(psycopg2). A heartbeat marks the RUNNING trials of a worker that died as FAIL, so the study does
not wait on them.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import optuna

__all__ = ["make_storage", "open_study", "delete_study"]


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url`` (sqlite: its folder is created)."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    elif not url.startswith(("postgresql://", "postgresql+psycopg2://", "mysql")):
        raise ValueError(f"storage {url!r}: expected sqlite:///<file> or postgresql://user:pw@host:port/db")
    kwargs = {"pool_pre_ping": True} if not url.startswith("sqlite") else {}
    with warnings.catch_warnings():  # the heartbeat is flagged experimental; it is what N workers need
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=30, grace_period=120)


def open_study(storage: optuna.storages.BaseStorage, name: str, direction: str, seed: int,
               n_startup_trials: int = 4, pruner_startup: int = 3, warmup_steps: int = 2) -> optuna.Study:
    """Create or join the study ``name`` (every worker calls this; the first creates it).
    ``seed`` seeds this worker's TPE sampler (give each worker its own)."""
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=pruner_startup, n_warmup_steps=warmup_steps)
    return optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                               pruner=pruner, load_if_exists=True)


def delete_study(storage: optuna.storages.BaseStorage, name: str) -> bool:
    """Remove ``name`` from the storage; False when it did not exist."""
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        return False
    return True
