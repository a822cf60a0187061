"""Ablations of the champion network: each variant one `dvc exp run -S ...`, MLflow-tagged
``ablation=<family>/<variant>``, and ``reports/ablations.md`` built from those runs.

    python -m evaluation.ablations commands                  the `dvc exp run` command of every variant
    python -m evaluation.ablations train [--data-dir D] [--only fam/var,...]
                                                             retrain variants on a processed dataset
                                                             (e.g. the read-only default-profile one)
    python -m evaluation.ablations report                    reports/ablations.md from the MLflow runs

The variants live in params.yaml ``ablations.variants`` (``family/variant: {params.yaml key: value}``);
the keys are params.yaml keys, so the same mapping is the `-S` overrides of a DVC experiment (with
``ablations.tag`` set, the robustness stage logs the experiment's run) and the model / training
overrides of ``train`` here. Keys under ``train.archs.<model>.`` change one model's training;
``ablations.model`` names the zoo entry a variant ablates (default ``ablations.model``, e.g.
``tcn_gat`` for the "without GAT" family); ``preprocess.*`` keys (window length) re-run the
preprocessing: ``train`` writes that dataset under ``--work-dir`` from ``--raw-dir`` (the `dvc exp
run` re-runs the preprocess stage); ``evaluate.*`` keys only steer the pipeline's champion choice
and are not used by ``train``. A family's reference is its ``<family>/baseline`` variant when it
has one (``gat/baseline``: tcn_gat as it is), else ``baseline/champion``.

Every run scores the ablated model on the TEST split with the evaluate stage's code
(``evaluation.predict`` + ``evaluation.recognition.level_reports``: window and clip accuracy and
macro-F1 with bootstrap CIs over athletes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AblationParams", "record_ablation", "dvc_command", "train_variant", "report_markdown", "main",
           "PUBLISHED"]

# published deltas, only those the issue text states (issue 8, "Why")
PUBLISHED = {
    "preset": "multimodal CNN paper: pro -> consumer hardware 97.8 % -> 93.4 % (-4.4 points)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AblationTracking(_Strict):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "athlete-mm-ablations"


class AblationParams(_Strict):
    """params.yaml section ``ablations``."""
    tag: str = ""                  # "<family>/<variant>" of a `dvc exp run`; "" = no ablation run
    model: str = "tcn"             # the zoo entry ablated (train.archs.<model>)
    evaluation_dir: str = "reports/evaluation/models"   # the evaluate stage's per-model reports
    out_dir: str = "reports/ablations"                  # per-variant JSON of `train`
    report: str = "reports/ablations.md"
    robustness_details: str = "reports/robustness/details.json"
    tracking: AblationTracking = Field(default_factory=AblationTracking)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _scores(rep: dict) -> dict:
    """Flat test figures from an evaluate-stage-shaped report {"test": {"window", "clip"}, "consumer"}."""
    out = {}
    for level in ("window", "clip"):
        s = rep.get("test", {}).get(level, {})
        for key in ("accuracy", "macro_f1"):
            if key in s:
                out[f"test_{level}_{key}"] = s[key]
                ci = s.get(f"{key}_ci")
                if ci:
                    out[f"test_{level}_{key}_low"], out[f"test_{level}_{key}_high"] = ci
    cw = rep.get("consumer", {}).get("window", {})
    if "accuracy" in cw:
        out["test_consumer_window_accuracy"] = cw["accuracy"]
    vw = rep.get("val", {}).get("window", {})
    if "macro_f1" in vw:
        out["val_window_macro_f1"] = vw["macro_f1"]
    for key, v in (rep.get("n") or {}).items():
        out[f"n_{key}"] = v
    return out


def _log_run(ap: AblationParams, tag: str, metrics: dict, tags: dict, params: dict) -> str | None:
    if not ap.tracking.enabled:
        return None
    import mlflow

    mlflow.set_tracking_uri(ap.tracking.uri)
    mlflow.set_experiment(ap.tracking.experiment)
    with mlflow.start_run(run_name=tag, tags={"ablation": tag, **tags}) as run:
        mlflow.log_params({k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and np.isfinite(v)})
        return run.info.run_id


def record_ablation(ap: AblationParams, head: dict, profile: str) -> dict:
    """The ablated model's test figures (from the evaluate stage's report) and its robustness
    headline, logged as one MLflow run tagged ablation=<tag> (the `dvc exp run` path)."""
    f = Path(ap.evaluation_dir) / f"{ap.model}.json"
    if not f.is_file():
        raise FileNotFoundError(f"{f}: no evaluate report of ablations.model {ap.model!r} (run the evaluate stage)")
    rep = json.loads(f.read_text())
    if "/" not in ap.tag:
        raise ValueError(f"params.yaml key 'ablations.tag' = {ap.tag!r}: expected '<family>/<variant>'")
    scores = _scores(rep)
    rob = next((v for v in head.values() if isinstance(v, dict) and v.get("model") == ap.model), {})
    metrics = {**scores, **{f"robust_{k}": v for k, v in rob.items() if isinstance(v, (int, float))}}
    run_id = _log_run(ap, ap.tag, metrics, {"profile": profile, "model": ap.model, "source": "dvc exp run"},
                      {"model_cfg": rep.get("config", {})})
    return {"tag": ap.tag, "model": ap.model, "mlflow_run_id": run_id, **scores}


# ------------------------------------------------------------------------------------ variants
def dvc_command(overrides: dict[str, Any], tag: str) -> str:
    """The one `dvc exp run` of a variant (``++`` sets a key, adding it when params.yaml lacks it);
    target ``robustness``: the stages up to it (what changed: train, evaluate, robustness), not package."""
    def val(v):
        return json.dumps(v).replace('"', "").replace(" ", "") if isinstance(v, (list, dict)) else json.dumps(v).strip('"')
    sets = " ".join(f"-S '++{k}={val(v)}'" for k, v in overrides.items())
    return (f".venv/bin/dvc exp run robustness -n {tag.replace('/', '-').replace('+', '_')} -S 'ablations.tag={tag}' "
            f"{sets}").rstrip()


def variant_model(ap: AblationParams, overrides: dict[str, Any]) -> str:
    """The zoo entry a variant ablates: its ``ablations.model`` override, else ``ap.model``."""
    return str(overrides.get("ablations.model", ap.model))


def _set_dotted(d: dict, key: str, value: Any) -> None:
    *path, last = key.split(".")
    for part in path:
        d = d.setdefault(part, {})
    d[last] = value


def _split_overrides(overrides: dict[str, Any], model: str) -> tuple[dict, dict, dict]:
    """(model cfg, train settings, other keys) of a variant's params.yaml overrides."""
    cfg, train, other = {}, {}, {}
    pre = f"train.archs.{model}."
    for k, v in overrides.items():
        if k.startswith(pre + "train."):
            _set_dotted(train, k[len(pre + "train."):], v)
        elif k.startswith(pre):
            cfg[k[len(pre):]] = v
        else:
            other[k] = v
    return cfg, train, other


def _evaluate_params():
    from evaluation.params import EvaluateParams
    from stages.params import section, validate

    return validate(EvaluateParams, section("evaluate")[1], "evaluate")


def score_model(model_dir: Path, data_dir: Path, ep) -> dict:
    """The evaluate stage's test report of one recognizer (window / clip scores with CIs over
    athletes, the consumer subset, val window scores), without cost and calibration."""
    from evaluation import metrics as M
    from evaluation.predict import load_split, load_trained, predict
    from evaluation.recognition import level_reports

    info = json.loads((data_dir / "dataset.json").read_text())
    K = len(info["classes"])
    tr = load_trained(model_dir)
    test = load_split(data_dir, "test", ep.batch_size, needs_video="video" in tr.modalities)
    val = load_split(data_dir, "val", ep.batch_size, needs_video="video" in tr.modalities)
    lp, vlp = predict(tr, test, K)["log_prob"], predict(tr, val, K)["log_prob"]
    consumer = np.flatnonzero(test.meta["preset"] == "consumer")
    return {"model": tr.name, "modalities": list(tr.modalities), "config": tr.cfg,
            "n": {"test_windows": int(len(test.label)), "test_clips": int(len(np.unique(test.meta["clip_id"])))},
            "test": level_reports(test.label, lp, test, K, ep),
            "consumer": level_reports(test.label, lp, test, K, ep, consumer),
            "val": {"window": M.classification_scores(val.label, vlp, K)}}


def _variant_overrides(ap: AblationParams, tag: str, common: dict[str, Any] | None) -> tuple[str, dict, dict, dict]:
    """(model, model cfg, train settings, preprocess overrides) of variant ``tag``. ``common``
    keys apply where they fit: another model's ``train.archs.*`` keys are dropped, ``preprocess.*``
    ones only matter for a variant that re-runs preprocessing; ``evaluate.*`` keys (the pipeline's
    champion choice) are not used here; anything else is an error that names the keys."""
    own = ap.variants[tag]
    model = variant_model(ap, own)
    pre = f"train.archs.{model}."
    shared = {k: v for k, v in (common or {}).items()
              if not (k.startswith("train.archs.") and not k.startswith(pre))}
    if not any(k.startswith("preprocess.") for k in own):
        shared = {k: v for k, v in shared.items() if not k.startswith("preprocess.")}
    cfg, train, other = _split_overrides({**shared, **own}, model)
    prep = {k[len("preprocess."):]: v for k, v in other.items() if k.startswith("preprocess.")}
    bad = sorted(k for k in other if not k.startswith(("preprocess.", "evaluate.", "ablations.")))
    if bad:
        raise ValueError(f"ablation {tag!r}: keys {bad} are not train.archs.{model}.*, preprocess.* or evaluate.* "
                         f"(re-run it with: {dvc_command(own, tag)})")
    return model, cfg, train, prep


def preprocess_variant(overrides: dict[str, Any], raw_dir: Path, out_root: Path) -> Path:
    """The preprocess stage's processing of ``raw_dir/<dataset>`` with params.yaml's ``preprocess``
    section (active profile) and ``overrides`` (keys relative to it, e.g. ``window.length``),
    written to ``out_root/processed/<dataset>``; reused when it was made with the same parameters.
    Returns the processed dataset directory."""
    from preprocessing.params import PreprocessParams
    from preprocessing.run import preprocess
    from stages.params import section, validate

    raw = section("preprocess")[1]
    for k, v in overrides.items():
        _set_dotted(raw, k, v)
    raw.update(raw_dir=str(raw_dir), out_dir=str(out_root / "processed"), report_dir=str(out_root / "preprocess"))
    p = validate(PreprocessParams, raw, "preprocess")
    data = out_root / "processed" / p.dataset
    if not (raw_dir / p.dataset / "manifest.csv").is_file():
        raise FileNotFoundError(f"{raw_dir / p.dataset}: no raw dataset (manifest.csv) to preprocess "
                                f"for preprocess overrides {overrides}; pass --raw-dir")
    stamp = data / "ablation_preprocess.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == p.model_dump(mode="json"):
        return data
    preprocess(p, report_json=out_root / "preprocess.json")
    stamp.write_text(json.dumps(p.model_dump(mode="json"), indent=1) + "\n")
    return data


def train_variant(ap: AblationParams, tag: str, data_dir: Path, work_dir: Path, profile: str = "default",
                  common: dict[str, Any] | None = None, raw_dir: Path | None = None) -> dict:
    """Retrain the variant's model (``ablations.model`` or ``ap.model``) with its overrides
    (``ap.variants[tag]``) on ``data_dir`` with the active profile's training settings from
    params.yaml, score it on the test split, log the training and the scores to MLflow with tag
    ablation=<tag>. A variant with ``preprocess.*`` keys first preprocesses ``raw_dir`` with them
    into ``work_dir/<tag>/`` and trains on that dataset instead. Returns the result, also written
    to ``ap.out_dir/<family>__<variant>.json``. ``common``: params.yaml-key overrides applied to
    every variant before its own (e.g. a smaller training budget for the whole family)."""
    from stages.params import deep_merge
    from stages.train import load_params
    from training.loop import TrainParams, train
    from training.tracking import MlflowTracker

    if tag not in ap.variants:
        raise ValueError(f"ablation {tag!r} is not in params.yaml ablations.variants ({sorted(ap.variants)})")
    model, cfg_over, train_over, prep = _variant_overrides(ap, tag, common)
    out_dir = work_dir / tag.replace("/", "__")
    if prep:
        if raw_dir is None:
            raise ValueError(f"ablation {tag!r} changes preprocess keys {sorted(prep)}: pass --raw-dir "
                             f"(or run: {dvc_command(ap.variants[tag], tag)})")
        data_dir = preprocess_variant(prep, raw_dir, out_dir)
    _, p, arch, cfg = load_params(model)
    cfg = {**cfg, **cfg_over}
    p = TrainParams.model_validate(deep_merge(p.model_dump(), train_over))
    tracker = None
    if ap.tracking.enabled:
        tracker = MlflowTracker(ap.tracking.uri, ap.tracking.experiment, run_name=f"{tag} (train)", log_model=False,
                                tags={"ablation": tag, "ablation_role": "train", "profile": profile, "zoo_name": model})
    metrics = train(arch, cfg, p, data_dir, out_dir / "model", tracker=tracker)
    rep = score_model(out_dir / "model", data_dir, _evaluate_params())
    scores = _scores(rep)
    run_id = _log_run(ap, tag, scores, {"ablation_role": "score", "profile": profile, "model": model,
                                        "source": "evaluation.ablations train", "data_dir": str(data_dir),
                                        "train_run_id": str(getattr(tracker, "run_id", None))},
                      {"overrides": ap.variants[tag], "common": common or {}, "model_cfg": cfg})
    result = {"tag": tag, "model": model, "profile": profile, "data_dir": str(data_dir),
              "overrides": ap.variants[tag], "common": common, "mlflow_run_id": run_id,
              "train_seconds": metrics.get("seconds"), **scores}
    Path(ap.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(ap.out_dir) / f"{tag.replace('/', '__')}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


# -------------------------------------------------------------------------------------- report
def ablation_runs(ap: AblationParams) -> list[dict]:
    """The scored ablation runs of the MLflow experiment (latest per tag, profile and source)."""
    import mlflow

    mlflow.set_tracking_uri(ap.tracking.uri)
    exp = mlflow.get_experiment_by_name(ap.tracking.experiment)
    if exp is None:
        return []
    df = mlflow.search_runs([exp.experiment_id], filter_string="tags.ablation LIKE '%/%'",
                            order_by=["attributes.start_time DESC"])
    seen, out = set(), []
    for _, r in df.iterrows():
        if r.get("tags.ablation_role") == "train":
            continue
        key = (r["tags.ablation"], r.get("tags.profile"), r.get("tags.source"))
        if key in seen:
            continue
        seen.add(key)
        out.append({"tag": r["tags.ablation"], "profile": r.get("tags.profile"), "source": r.get("tags.source"),
                    "run_id": r["run_id"],
                    **{c[len("metrics."):]: r[c] for c in df.columns if c.startswith("metrics.") and np.isfinite(r[c])}})
    return out


def _fmt(run: dict, key: str) -> str:
    v = run.get(key)
    if v is None:
        return "n/a"
    lo, hi = run.get(f"{key}_low"), run.get(f"{key}_high")
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else f"{v:.3f}"


def _delta(r: dict, base: dict | None, key: str) -> str:
    return f"{r[key] - base[key]:+.3f}" if base and r is not base and key in r and key in base else ""


def _n(r: dict) -> str:
    w, c = r.get("n_test_windows"), r.get("n_test_clips")
    return "n/a" if w is None else f"{int(w)} / {int(c)}"


def _family_table(family: str, runs: list[dict], base: dict | None) -> list[str]:
    lines = [f"### {family}", "",
             "| variant | profile | source | test windows / clips | window accuracy [95 % CI] | window macro-F1 [CI] | "
             "clip accuracy [CI] | Δ window acc | Δ clip acc |", "|---|---|---|---|---|---|---|---|---|"]
    rows = ([base] if base else []) + sorted(runs, key=lambda r: r["tag"])
    for r in rows:
        lines.append(f"| {r['tag']} | {r['profile']} | {r['source']} | {_n(r)} | {_fmt(r, 'test_window_accuracy')} | "
                     f"{_fmt(r, 'test_window_macro_f1')} | {_fmt(r, 'test_clip_accuracy')} | "
                     f"{_delta(r, base, 'test_window_accuracy')} | {_delta(r, base, 'test_clip_accuracy')} |")
    fam = family.split(" ")[0]
    if fam in PUBLISHED:
        lines += ["", f"Published: {PUBLISHED[fam]}."]
    return lines + [""]


def _robustness_tables(details: dict) -> list[str]:
    curves, names = details.get("curves", {}), details.get("models", {})
    lines = ["## Inference-time masking and presets (robustness stage, no retraining)", "",
             f"From `{details.get('_path')}` ({details.get('n_test')} test windows); window accuracy "
             "[95 % CI over athletes] / clip accuracy [CI].", ""]
    for curve, title in (("modality_mask", "modalities present at inference"), ("preset", "preset")):
        cols = list(curves)
        lines += [f"### {title}", "", "| level | " + " | ".join(f"{c} ({names.get(c)})" for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for j, pt in enumerate(curves[cols[0]].get(curve, [])):
            cells = []
            for c in cols:
                q = curves[c][curve][j]
                w, wc = q.get("window_accuracy"), q.get("window_accuracy_ci") or [float("nan")] * 2
                k, kc = q.get("clip_accuracy"), q.get("clip_accuracy_ci") or [float("nan")] * 2
                cells.append("n/a" if w is None else f"{w:.3f} [{wc[0]:.3f}, {wc[1]:.3f}] / {k:.3f} [{kc[0]:.3f}, {kc[1]:.3f}]")
            lines.append(f"| {pt['level']} (n={pt.get('n')}) | " + " | ".join(cells) + " |")
        if curve == "preset":
            lines += ["", f"Published: {PUBLISHED['preset']}."]
        lines.append("")
    return lines + _video_table(details)


def _video_table(details: dict) -> list[str]:
    """Video models: window accuracy [CI] and the share of predictions changed, per frame-loss point."""
    vc = details.get("video_curves") or {}
    if not vc:
        return []
    lines = ["### video frames lost (video models)", "",
             f"{details.get('n_test_video')} evenly spaced test windows; window accuracy [95 % CI], share of "
             "predictions changed vs clean.", "", "| model | curve | " + " | ".join(
                 f"{r['level']}" + ("" if isinstance(r["level"], str) else " %") for r in next(iter(vc.values()))["video_blank"]
             ) + " |", "|---|---|" + "---|" * len(next(iter(vc.values()))["video_blank"])]
    for col, curves in vc.items():
        for curve, rows in curves.items():
            cells = [f"{r['window_accuracy']:.3f} [{r['window_accuracy_ci'][0]:.3f}, {r['window_accuracy_ci'][1]:.3f}], "
                     f"{100 * r.get('changed_predictions', 0):.1f} %" for r in rows]
            lines.append(f"| {col} | {curve} | " + " | ".join(cells) + " |")
    return lines + [""]


def report_markdown(ap: AblationParams) -> str:
    """reports/ablations.md: one table per family (from the MLflow runs), the inference-time
    masking and preset tables (from the robustness stage's details), the commands."""
    runs = ablation_runs(ap)
    base = {(r["profile"]): r for r in runs if r["tag"] == "baseline/champion"}
    own_base = {(r["tag"].split("/")[0], r["profile"]): r for r in runs if r["tag"].endswith("/baseline")}
    lines = ["# Ablations", "", "Generated by `python -m evaluation.ablations report` from the MLflow runs tagged "
             f"`ablation` in experiment `{ap.tracking.experiment}` ({ap.tracking.uri}) and "
             f"`{ap.robustness_details}`. Scores are on the subject-wise TEST split with the evaluate stage's code "
             "(bootstrap CIs resample athletes). Published deltas: only those the issue states; the papers' "
             "other ablation figures are not quoted here.", ""]
    families: dict[str, list[dict]] = {}
    for r in runs:
        if r["tag"] != "baseline/champion" and not r["tag"].endswith("/baseline"):
            families.setdefault(r["tag"].split("/")[0], []).append(r)
    if not runs:
        lines += ["No ablation run recorded yet (`python -m evaluation.ablations train`, or a `dvc exp run` below).", ""]
    for fam, rs in sorted(families.items()):
        by_profile: dict[str, list[dict]] = {}
        for r in rs:
            by_profile.setdefault(r["profile"], []).append(r)
        for prof, prs in sorted(by_profile.items()):
            lines += _family_table(f"{fam} (profile: {prof})", prs, own_base.get((fam, prof), base.get(prof)))
    det = Path(ap.robustness_details)
    if det.is_file():
        d = json.loads(det.read_text())
        d["_path"] = str(det)
        lines += _robustness_tables(d)
    lines += ["## Reproduce one variant", "", "```bash"] + [dvc_command(v, t) for t, v in sorted(ap.variants.items())] + [
        "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from stages.params import ParamsError, section, validate

    ap_ = argparse.ArgumentParser(prog="python -m evaluation.ablations", description=__doc__.split("\n")[0])
    sub = ap_.add_subparsers(dest="cmd", required=True)
    sub.add_parser("commands", help="print the `dvc exp run` of every variant")
    t = sub.add_parser("train", help="retrain variants on a processed dataset and score them")
    t.add_argument("--data-dir", default=None, help="processed dataset (default: params.yaml train.data_dir/dataset)")
    t.add_argument("--work-dir", default="artifacts/ablations", help="where the variants' models (and the "
                                                                     "re-preprocessed datasets) go")
    t.add_argument("--raw-dir", default=None, help="raw data root for variants with preprocess.* keys (window "
                                                   "length; default: params.yaml preprocess.raw_dir)")
    t.add_argument("--only", default=None, help="comma-separated variant tags (default: every variant)")
    t.add_argument("--baseline-dir", default=None,
                   help="score this trained model dir as baseline/champion (default: retrain it, tag baseline/champion)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                   help="params.yaml-key override for every variant, baseline included (e.g. "
                        "train.archs.tcn.train.epochs=3): a smaller budget the whole family shares")
    t.add_argument("--label", default=None, help="appended to the profile tag (e.g. the budget), so such runs "
                                                 "form their own tables with their own baseline")
    sub.add_parser("report", help="write ablations.report (reports/ablations.md)")
    args = ap_.parse_args(argv)
    try:
        profile, raw = section("ablations")
        ap = validate(AblationParams, raw, "ablations")
    except ParamsError as exc:
        print(f"ablations: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    if args.cmd == "commands":
        for tag, ov in sorted(ap.variants.items()):
            print(dvc_command(ov, tag))
        return 0
    if args.cmd == "report":
        Path(ap.report).parent.mkdir(parents=True, exist_ok=True)
        Path(ap.report).write_text(report_markdown(ap))
        print(f"ablations: wrote {ap.report}", file=sys.stderr)
        return 0
    _, tr = section("train")
    data_dir = Path(args.data_dir) if args.data_dir else Path(tr["data_dir"]) / tr["dataset"]
    if not (data_dir / "dataset.json").is_file():
        print(f"ablations: {data_dir} is not a processed dataset (dataset.json missing)", file=sys.stderr)
        return 1
    import yaml

    common = {}
    for item in args.set:
        if "=" not in item:
            print(f"ablations: --set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        k, v = item.split("=", 1)
        common[k] = yaml.safe_load(v)
    if args.label:
        profile = f"{profile}, {args.label}"
    tags = args.only.split(",") if args.only else sorted(ap.variants)
    raw_dir = Path(args.raw_dir if args.raw_dir else section("preprocess")[1].get("raw_dir", "data/raw"))
    from biomech.io import RawDataError
    from preprocessing.clip import ClipError

    for tag in tags:
        try:
            if tag == "baseline/champion" and args.baseline_dir:
                rep = score_model(Path(args.baseline_dir), data_dir, _evaluate_params())
                sc = _scores(rep)
                _log_run(ap, tag, sc, {"ablation_role": "score", "profile": profile, "model": ap.model,
                                       "source": f"scored {args.baseline_dir}"}, {"overrides": {}})
                res = {"tag": tag, **sc}
            else:
                res = train_variant(ap, tag, data_dir, Path(args.work_dir), profile, common, raw_dir)
        except (ValueError, FileNotFoundError, ClipError, RawDataError) as exc:
            print(f"ablations: {exc}", file=sys.stderr)
            return 1
        print(f"ablations: {tag}: test window acc {res.get('test_window_accuracy', float('nan')):.3f} "
              f"[{res.get('test_window_accuracy_low', float('nan')):.3f}, {res.get('test_window_accuracy_high', float('nan')):.3f}], "
              f"clip acc {res.get('test_clip_accuracy', float('nan')):.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
