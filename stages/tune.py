"""DVC stage `tune`: an Optuna study of one zoo entry over the project's training loop.

    python -m stages.tune tcn --fresh               # the frozen stage tune@tcn's command (README "Tuning": re-tune)
    python -m stages.tune tcn --storage postgresql://user:pw@db-host:5432/optuna --worker 1 --n-trials 3
    python -m stages.tune tcn --data-dir /path/to/data/processed/synth

What is tuned: the search space `tune.spaces.<arch>` of params.yaml (keys relative to
`train.archs.<arch>`: model builder arguments and `train.<setting>`), n_trials / timeout per worker
and profile, the metric `tune.metric` (params.yaml: `val_nll_fault_masked`, minimised: the validation
action NLL + 1 - the validation fault macro-F1 + the action NLL with IMU and GRF masked + the action
NLL with the IMU masked, training.tasks.nll_fault_masked; every trial trains with
`train.val_views` on, so both masked views are scored per epoch and at the end).
`--keep-trials DIR` keeps the completed trainings.
Seeded TPE (seed `tune.seed + worker`), median pruning on the epoch-level value of the same metric.
Trial 0 is the current training config (`tune.enqueue_current`), so the study's own numbers say
whether tuning improved on it; with a tuned file applied, trial 1 is params.yaml's untuned config.
Each trial is an MLflow run nested under one run per worker.

Writes (every worker, from the whole study): `reports/tune/<arch>.json` (best vs current vs untuned,
the floor check, trial counts, workers) and, when the best is adopted (it beat trial 0 and its
`tune.floor` figure is not below the untuned config's), `params/tuned/<arch>.yaml` (the best
trial's values; the train stage deep-merges it over `train.archs.<arch>` on the same profile: the
tuned values win). `--no-export` skips both.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stages.params import ParamsError, deep_merge, section, validate

REPORT_DIR = Path("reports/tune")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m stages.tune", description=__doc__.split("\n\n")[0])
    ap.add_argument("arch", help="zoo entry with a search space in params.yaml tune.spaces.<arch>")
    ap.add_argument("--storage", help="Optuna storage URL (default: tune.storage or sqlite:///artifacts/tune/optuna.db)")
    ap.add_argument("--study", help="study name (default: <tune.study_prefix>-<arch>-<profile>)")
    ap.add_argument("--n-trials", type=int, help="trials this worker runs (default: tune.n_trials; 0: only export "
                                                 "the study's best so far)")
    ap.add_argument("--timeout", type=float, help="seconds after which this worker starts no new trial")
    ap.add_argument("--data-dir", help="processed dataset dir (default: tune.data_dir or train.data_dir/dataset)")
    ap.add_argument("--worker", type=int, default=0, help="worker index: the sampler seed is tune.seed + worker")
    ap.add_argument("--fresh", action="store_true", help="delete the study first (a re-tune from scratch)")
    ap.add_argument("--no-export", action="store_true", help="do not write params/tuned/<arch>.yaml and the report")
    ap.add_argument("--keep-trials", type=Path, help="keep every completed training in DIR/trial_<n>/seed_<k>/ "
                    "(default: deleted), e.g. to score the best trial on test with scripts/champion_seeds.py")
    return ap.parse_args(argv)


def load_tune_params():
    from tuning.config import TuneParams

    profile, raw = section("tune")
    return profile, validate(TuneParams, raw, "tune")


def current_values(space: dict, p, arch: str, cfg: dict, name: str) -> dict:
    """The value of every space key in the config train@<name> uses now (params.yaml + tuned file);
    a key that is neither a model argument nor a train setting raises naming it."""
    from models import model_signature
    from tuning.space import lookup

    sig = model_signature(arch)
    settings = p.model_dump(mode="json")
    out = {}
    for key in space:
        try:
            if key.startswith("train."):
                out[key] = lookup(settings, key[len("train."):])
            else:
                out[key] = lookup({**sig, **cfg}, key)
        except KeyError:
            raise ParamsError(f"params.yaml key 'tune.spaces.{name}.{key}': not a parameter of {arch!r} "
                              f"(model: {sorted(sig)}) nor a train setting (train.<key>: {sorted(settings)})") from None
    return out


def in_space(value, d: dict) -> bool:
    if d["kind"] == "categorical":
        return value in d["choices"]
    return isinstance(value, (int, float)) and d["low"] <= value <= d["high"]


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def trial_record(t) -> dict:
    return {"number": t.number, "value": t.value, "params": dict(t.params), **dict(t.user_attrs)}


def seed_mean(t, key: str) -> float | None:
    """``key``'s mean over the trial's seeds (``<key>_per_seed``; the first seed's value without it)."""
    vals = t.user_attrs.get(f"{key}_per_seed")
    if vals:
        return sum(vals) / len(vals)
    v = t.user_attrs.get(key)
    return None if v is None else float(v)


def check_floor(best, ref, floor: str | None) -> dict | None:
    """{"metric", "best", "reference", "reference_trial", "ok"}: the best trial's ``floor`` figure
    (mean over seeds) against the reference trial's (the untuned config; the current one when no
    tuned file was applied); None without a floor."""
    if floor is None:
        return None
    b, r = (seed_mean(best, floor) if best is not None else None), (seed_mean(ref, floor) if ref is not None else None)
    return {"metric": floor, "best": b, "reference": r, "reference_trial": None if ref is None else ref.number,
            "ok": None if b is None or r is None else b >= r}


def study_report(study, name: str, profile: str, metric: str, direction: str, storage: str,
                 floor: str | None = None) -> dict:
    """Best vs current (trial 0) vs untuned, and ``adopt``: the best trial beat the current config on
    the metric and (with a ``floor``) does not fall below the untuned config's floor figure."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    count = {s.name.lower(): sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED,
                                                                         TrialState.FAIL)}
    best = study.best_trial if done else None
    base = next((t for t in done if t.user_attrs.get("baseline")), None)
    untuned = next((t for t in done if t.user_attrs.get("untuned")), None)
    sign = -1 if direction == "minimize" else 1
    improved = None
    if best is not None and base is not None:
        improved = best.number != base.number and sign * (best.value - base.value) > 0
    guard = check_floor(best, untuned or base, floor)
    adopt = bool(improved) and (guard is None or bool(guard["ok"]))
    return {"arch": name, "profile": profile, "study": study.study_name, "storage": redact(storage),
            "metric": metric, "direction": direction, "trials": count,
            "workers": sorted({str(t.user_attrs.get("worker")) for t in trials if "worker" in t.user_attrs}),
            "best": trial_record(best) if best else None, "current": trial_record(base) if base else None,
            "untuned": trial_record(untuned) if untuned else None, "improved": improved, "floor": guard,
            "adopt": adopt}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    name = args.arch
    from stages import train as train_stage
    from training.tasks import MASKED_VIEWS
    from tuning.space import SpaceError, parse_space

    try:
        profile, tp = load_tune_params()
        space = parse_space(tp.spaces, name)
        _, p_now, arch, cfg_now = train_stage.load_params(name)
        baseline = current_values(space, p_now, arch, cfg_now, name)
    except (ParamsError, SpaceError) as exc:
        print(f"tune: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    n_trials = tp.n_trials if args.n_trials is None else args.n_trials
    if n_trials < 0:
        print(f"tune: --n-trials {n_trials}: expected >= 0", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir or tp.data_dir or Path(p_now.data_dir) / p_now.dataset)
    if n_trials and not (data_dir / "dataset.json").is_file():  # --n-trials 0 (export only) needs no data
        print(f"tune: {data_dir} is not a processed dataset (no dataset.json; run the preprocess stage or "
              "pass --data-dir)", file=sys.stderr)
        return 1
    from tuning.config import DEFAULT_STORAGE

    url = args.storage or tp.storage or DEFAULT_STORAGE
    study = _open_study(url, args.study or tp.study_name(name, profile), tp, args)
    if study is None:
        return 1
    if n_trials:
        if tp.enqueue_current and not study.get_trials(deepcopy=False):
            _enqueue_current(study, baseline, space, name)
            _, p_un, _, cfg_un = train_stage.load_params(name, tuned_dir=None)
            untuned = current_values(space, p_un, arch, cfg_un, name)
            if untuned != baseline:  # a tuned file is applied now: params.yaml's own values next
                _enqueue_current(study, untuned, space, name, "untuned")
        # every trial is also scored with sensors masked (floor, val_nll_fault_masked)
        fixed = deep_merge(tp.fixed, {"train": {"val_views": list(MASKED_VIEWS)}})

        def config_for(overrides: dict):
            return train_stage.load_params(name, extra=deep_merge(fixed, overrides), tuned_dir=None)[1:]

        try:
            _optimize(study, name, space, config_for, data_dir, tp, profile, n_trials, args.timeout or tp.timeout_s,
                      redact(url), args.keep_trials)
        except ParamsError as exc:  # a suggested value the config validation rejects (space vs pydantic bounds)
            print(f"tune: invalid trial parameters:\n{exc}", file=sys.stderr)
            return 2
    report = study_report(study, name, profile, tp.metric, tp.direction, url, tp.floor)
    if report["best"] is None:
        print(f"tune: no complete trial in study {study.study_name!r} ({report['trials']})", file=sys.stderr)
        return 1
    if not args.no_export:
        export(report)
    cur, best, g = report["current"], report["best"], report["floor"]
    before = f"current (trial {cur['number']}) {cur['value']:.4f}, " if cur else ""
    floor = ""
    if g is not None:
        floor = (f"; floor {g['metric']} best {_fmt(g['best'])} vs trial {g['reference_trial']} "
                 f"{_fmt(g['reference'])}")
    print(f"tune: {name} {tp.metric}: {before}best (trial {best['number']}) {best['value']:.4f}{floor}; "
          f"adopt {report['adopt']}; trials {report['trials']}", file=sys.stderr)
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _open_study(url: str, study_name: str, tp, args):
    """The study in ``url`` (created or joined; deleted first with --fresh), None when the storage
    cannot be opened (the reason printed)."""
    from tuning.study import delete_study, make_storage, open_study

    try:
        storage = make_storage(url)
    except Exception as exc:  # a bad URL, an unreachable server: say which
        print(f"tune: cannot open storage {redact(url)}: {exc}", file=sys.stderr)
        return None
    if args.fresh and delete_study(storage, study_name):
        print(f"tune: deleted the previous study {study_name!r} (--fresh)", file=sys.stderr)
    return open_study(storage, study_name, tp.direction, tp.seed + args.worker, tp.sampler.n_startup_trials,
                      tp.pruner.n_startup_trials, tp.pruner.n_warmup_steps)


def _enqueue_current(study, values: dict, space: dict, name: str, role: str = "baseline") -> None:
    """Enqueue ``values`` tagged ``role`` (user attr): "baseline" (trial 0, the current config) or
    "untuned" (params.yaml without params/tuned/<arch>.yaml)."""
    outside = [k for k, v in values.items() if not in_space(v, space[k])]
    what = "current" if role == "baseline" else role
    if outside:
        print(f"tune: the {what} values of {outside} lie outside tune.spaces.{name}: the {what} config is not a "
              "trial (widen the space to compare against it)", file=sys.stderr)
        return
    study.enqueue_trial(values, user_attrs={role: True}, skip_if_exists=True)


def _optimize(study, name: str, space: dict, config_for, data_dir: Path, tp, profile: str, n_trials: int,
              timeout: float | None, where: str, keep: Path | None = None) -> None:
    import optuna

    from tuning.objective import Objective, worker_id

    me = worker_id()
    close, tracker_for = _tracking(tp, name, profile, study.study_name, me, data_dir)
    objective = Objective(name, space, config_for, data_dir, tp.metric, me, tracker_for, seeds=tp.seeds,
                          keep_dir=keep)
    print(f"tune: profile={profile} {name} study={study.study_name} storage={where} worker={me} "
          f"n_trials={n_trials} timeout={timeout} metric={tp.metric} ({tp.direction}, mean of {tp.seeds} seed(s)) "
          f"data={data_dir}", file=sys.stderr)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=True, show_progress_bar=True)
    finally:
        if close is not None:
            close()


def export(report: dict) -> None:
    """reports/tune/<arch>.json, and params/tuned/<arch>.yaml (the best trial's values) when the best is
    adopted (report["adopt"]); otherwise the tuned file is left as it is (training keeps its config)."""
    from tuning.best import write_tuned
    from tuning.space import to_overrides

    b, name, g = report["best"], report["arch"], report["floor"]
    wrote = []
    if report["adopt"]:
        floor = {} if g is None else {"floor": {k: g[k] for k in ("metric", "best", "reference", "reference_trial")}}
        wrote.append(write_tuned(name, {"profile": report["profile"], "study": report["study"],
                                        "metric": report["metric"], "direction": report["direction"],
                                        "best_value": b["value"], "best_trial": b["number"],
                                        "trials": report["trials"], "adopt": True, **floor,
                                        "params": to_overrides(b["params"])}))
    else:
        print(f"tune: best trial {b['number']} not adopted (improved on the current config: {report['improved']}; "
              f"floor: {g}); params/tuned/{name}.yaml left as it is", file=sys.stderr)
    out = REPORT_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    wrote.append(out)
    print(f"tune: wrote {' and '.join(map(str, wrote))}", file=sys.stderr)


def _tracking(tp, name: str, profile: str, study_name: str, me: str, data_dir: Path):
    """(close the worker's parent run, trial -> nested MlflowTracker), (None, None) when off."""
    if not tp.tracking.enabled:
        return None, None
    import mlflow
    from mlflow.tracking import MlflowClient

    from training.tracking import MlflowTracker

    mlflow.set_tracking_uri(tp.tracking.uri)
    exp = mlflow.set_experiment(tp.tracking.experiment)
    client = MlflowClient(tp.tracking.uri)
    tags = {"optuna.study": study_name, "profile": profile, "zoo_name": name, "worker": me}
    run = client.create_run(exp.experiment_id, run_name=f"tune-{name}-{me}", tags=tags)
    client.log_param(run.info.run_id, "data_dir", str(data_dir))

    def tracker_for(trial):
        return MlflowTracker(tp.tracking.uri, tp.tracking.experiment, run_name=f"{name}-trial-{trial.number}",
                             log_model=False, tags={**tags, "mlflow.parentRunId": run.info.run_id,
                                                    "optuna.trial": str(trial.number)})

    def close():
        client.set_terminated(run.info.run_id, "FINISHED")

    return close, tracker_for


if __name__ == "__main__":
    sys.exit(main())
