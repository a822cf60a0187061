"""The Optuna study: storage, seeded TPE sampler, median pruner.

Storage URLs (``optuna.storages.RDBStorage``): ``sqlite:///artifacts/tune/optuna.db`` on one
machine (the default); ``postgresql://user:password@host:5432/db`` for N workers on N machines
(psycopg2: a plain ``postgresql://`` is read as ``postgresql+psycopg2://``, since SQLAlchemy 2.1
defaults to psycopg 3, which is not installed). A heartbeat marks the RUNNING trials of a worker that died as FAIL, so the study does
not wait on them.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy.exc

__all__ = ["make_storage", "open_study", "delete_study"]


def make_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url`` (sqlite: its folder is created; a schema-creation race between
    workers starting together is retried)."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # SQLAlchemy 2.1's default is psycopg 3
    elif not url.startswith("postgresql+"):
        raise ValueError(f"storage {url!r}: expected sqlite:///<file> or postgresql://user:pw@host:port/db")
    kwargs = {"pool_pre_ping": True} if not url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat is flagged experimental; it is what N workers need
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=30, grace_period=120)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # workers started together on an empty database race to create Optuna's tables: the
            # loser finds them made on the next try
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


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
