"""tuning: Optuna studies over the project's one training loop (``training.loop.train``).

    tuning.space      search spaces from params.yaml (``tune.spaces.<arch>``) -> trial suggestions
    tuning.study      storage (sqlite locally, PostgreSQL for many workers), seeded TPE, median pruner
    tuning.objective  one trial = one ``train`` call, pruned on the epoch-level validation metric,
                      tracked as a nested MLflow run
    tuning.best       the best-params file (``params/tuned/<arch>.yaml``, committed) that training reads

The stage ``python -m stages.tune <arch>`` (DVC ``tune@<arch>``, frozen) ties them together.
"""
