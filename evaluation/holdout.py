"""Scoring of the held-out cohort (pipelines/holdout/dvc.yaml, README "Held-out cohort"): more test
windows than the default split holds, so that the paired test of the champion against MiniRocket has
power. The cohort itself (generator settings, ids, preprocessing) is stages/holdout/.

    res = evaluate_cohort(data_dir, reference, model_dirs(train_dir, seeds_dir, names), champion, rule, bootstrap)
    head = write_reports(res["summary"], res["reports"], metrics_file, markdown_file, details_file)

The cohort is scaled with the reference dataset's scalers (checked: ``check_scalers_reused``) and
scored by the models trained on it: the calibration temperature is fitted on the reference val
split and the admissible faults per action come from its train labels, as in the evaluate stage.
McNemar (exact) per seed pair and the power of the test (``evaluation.power``) are the evaluate
stage's own functions (``evaluation.runner.seed_significance``, ``evaluation.champion.significance``).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import champion as C
from evaluation.params import BootstrapParams, ChampionRule, EvaluateParams
from evaluation.predict import Split, find_trained, load_split, load_trained, predict
from evaluation.recognition import admissible_faults, recognizer_report
from evaluation.runner import _seed_rows, seed_significance

__all__ = ["clustered_mcnemar", "add_clustered_tests", "check_scalers_reused", "model_dirs", "champion_name", "evaluate_cohort", "headline", "markdown",
           "write_reports"]


def check_scalers_reused(data_dir: Path, reference: Path) -> None:
    """Raise ValueError unless the cohort's scalers.json holds the reference dataset's statistics."""
    mine = json.loads((Path(data_dir) / "scalers.json").read_text())
    ref = json.loads((Path(reference) / "scalers.json").read_text())
    for key in ("landmarks", "imu", "grf", "video"):
        a, b = mine.get(key, {}), ref.get(key, {})
        if (a.get("center"), a.get("scale")) != (b.get("center"), b.get("scale")):
            raise ValueError(f"{data_dir}/scalers.json: {key!r} differs from {reference}/scalers.json (the cohort must "
                             "be scaled with the training data's statistics: python -m stages.holdout.preprocess)")


def clustered_mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, groups) -> dict:
    """McNemar's test with the athletes' clustering taken into account: the normal-approximation
    statistic (a_only - b_only) / sqrt(a_only + b_only) divided by the square root of the design
    effect of the paired difference (``evaluation.power.design_effect``, clipped at 1: never more
    significant than the same normal approximation for independent windows; Rao-Scott-style
    correction). Windows of one athlete share their errors, so the exact test's p-value, which
    assumes independent windows, is optimistic when the design effect exceeds 1."""
    from scipy import stats

    from evaluation import power as PW

    ca, cb = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    a, b = int((ca & ~cb).sum()), int((~ca & cb).sum())
    deff = PW.design_effect(ca, cb, np.asarray(groups))
    if a + b == 0:
        return {"design_effect": deff, "z": 0.0, "p_value": 1.0}
    z = (a - b) / np.sqrt((a + b) * max(deff, 1.0))
    return {"design_effect": float(deff), "z": float(z), "p_value": float(2 * stats.norm.sf(abs(z)))}


def add_clustered_tests(sig: dict, preds: dict, test: Split) -> None:
    """Add ``window_clustered`` (clustered_mcnemar over the athletes) to every seed pair of
    ``sig["mcnemar"]`` (evaluation.champion.significance's output), in place."""
    for m in sig["mcnemar"].values():
        for pair in (m or {}).get("pairs", []):
            k = pair["pair"]
            ca = preds[m["a"]][k]["log_prob"].argmax(1) == test.label
            cb = preds[m["b"]][k]["log_prob"].argmax(1) == test.label
            pair["window_clustered"] = clustered_mcnemar(ca, cb, test.meta["athlete_id"])


def _log(msg: str) -> None:
    print(f"holdout: {msg}", file=sys.stderr)


def _same_vocabulary(info: dict, ref_info: dict, data_dir: Path, reference: Path) -> None:
    for key in ("classes", "faults", "window_length", "timeline_hz"):
        if info.get(key) != ref_info.get(key):
            raise ValueError(f"{data_dir}/dataset.json {key} = {info.get(key)!r} but {reference}/dataset.json has "
                             f"{ref_info.get(key)!r}: re-run the holdout preprocess stage with the reference's settings")


# ---- evaluate ----------------------------------------------------------------------------------
def model_dirs(train_dir: str | Path, seeds_dir: str | Path, names: list[str]) -> dict[str, list[Path]]:
    """{name: [train_dir/<name>, seeds_dir/<name>/seed_<k>, ...]} for ``names``; FileNotFoundError
    naming the models that have no trained directory."""
    found = find_trained(train_dir, seeds_dir)
    missing = [m for m in names if m not in found]
    if missing:
        raise FileNotFoundError(f"{train_dir}: no trained model for {missing} (holdout.models; run the default "
                                "pipeline's train stages first)")
    return {m: found[m] for m in names}


def champion_name(champion_file: str | Path) -> str:
    f = Path(champion_file)
    if not f.is_file():
        raise FileNotFoundError(f"{f}: not found (the default pipeline's evaluate stage writes it)")
    name = json.loads(f.read_text()).get("recognizer", {}).get("name")
    if not name:
        raise ValueError(f"{f}: no recognizer champion (recognizer.name is empty)")
    return name


def _score(models: dict, test: Split, val: Split, ref: Path, info: dict, ep: EvaluateParams,
           admissible: list[list[int]]) -> tuple[dict, dict]:
    from tqdm import tqdm

    classes, faults = list(info["classes"]), list(info["faults"])
    K = len(classes)
    reports, preds = {}, {}
    for name, runs in tqdm(models.items(), desc="holdout", unit="model", file=sys.stderr):
        t0 = time.perf_counter()
        outs = [predict(t, test, K) for t in runs]
        vout = predict(runs[0], val, K, data_dir=ref)
        rep: dict[str, Any] = {"model": name, "kind": runs[0].kind, "modalities": list(runs[0].modalities),
                               "paths": [str(t.path) for t in runs]}
        rep.update(recognizer_report(outs[0], test, vout, val, K, ep, admissible, faults, classes))
        rep["seeds"] = _seed_rows(runs, outs, test, K, ep, admissible, faults, classes)
        rep["eval_seconds"] = round(time.perf_counter() - t0, 2)
        reports[name], preds[name] = rep, outs
    return reports, preds


def evaluate_cohort(data_dir: Path, reference: Path, dirs: dict[str, list[Path]], champion: str,
                    rule: ChampionRule, bootstrap: BootstrapParams, threads: int = 2, batch_size: int = 64) -> dict:
    """Score the models of ``dirs`` (every seed) on the cohort's test windows; McNemar of
    ``champion`` against ``rule.baseline`` and the best single-modality model per seed pair.
    Returns {"summary", "reports" {name: report}, "preds" {name: [outputs per seed]}, "test" (Split)}."""
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    data_dir, ref = Path(data_dir), Path(reference)
    for d in (data_dir, ref):
        if not (d / "dataset.json").is_file():
            raise FileNotFoundError(f"{d}: not a processed dataset (no dataset.json)")
    info, ref_info = (json.loads((d / "dataset.json").read_text()) for d in (data_dir, ref))
    _same_vocabulary(info, ref_info, data_dir, ref)
    check_scalers_reused(data_dir, ref)
    if champion not in dirs:
        raise ValueError(f"champion {champion!r} is not among the models scored ({sorted(dirs)})")
    models = {name: [load_trained(d) for d in ds] for name, ds in dirs.items()}
    needs_video = any("video" in t.modalities for runs in models.values() for t in runs)
    test = load_split(data_dir, "test", batch_size, needs_video)
    val = load_split(ref, "val", batch_size, needs_video)
    admissible = admissible_faults(np.load(ref / "train" / "label.npy"), np.load(ref / "train" / "fault.npy"),
                                   len(info["classes"]))
    _log(f"{len(models)} models on {len(test)} windows of {len(set(test.meta['athlete_id'].tolist()))} athletes "
         f"(read in {time.perf_counter() - t0:.1f} s)")
    ep = EvaluateParams(bootstrap=bootstrap.model_dump())
    reports, preds = _score(models, test, val, ref, info, ep, admissible)
    sig = C.significance(champion, reports, preds, test, rule, seed_significance)
    add_clustered_tests(sig, preds, test)
    summary = {"dataset": str(data_dir), "reference": str(ref), "n_windows": len(test),
               "n_clips": int(len(set(test.meta["clip_id"].tolist()))),
               "n_athletes": int(len(set(test.meta["athlete_id"].tolist()))),
               "n_consumer_windows": int((test.meta["preset"] == "consumer").sum()),
               "champion": champion, "significance": sig, "seconds": round(time.perf_counter() - t0, 1)}
    return {"summary": summary, "reports": reports, "preds": preds, "test": test}


def _f(v: Any, nd: int = 4):
    return None if v is None else round(float(v), nd)


def headline(summary: dict, reports: dict) -> dict:
    """reports/holdout.json: window / clip accuracy and fault macro-F1 per model (the pipeline's
    seed), the champion's and the baseline's mean over seeds, McNemar p per seed pair, power."""
    out: dict[str, Any] = {"n_windows": summary["n_windows"], "n_athletes": summary["n_athletes"]}
    for key, get in (("window_accuracy", lambda r: r["test"]["window"]["accuracy"]),
                     ("clip_accuracy", lambda r: r["test"]["clip"]["accuracy"]),
                     ("fault_macro_f1", lambda r: r.get("fault", {}).get("macro_f1"))):
        out[key] = {n: _f(get(r)) for n, r in sorted(reports.items()) if get(r) is not None}
    sig = summary["significance"]
    out["seed_mean_window_accuracy"] = {n: _f(s["window_accuracy"]["mean"]) for n, s in sorted(sig["seeds"].items())}
    out["seed_mean_fault_macro_f1"] = {n: _f(s["fault_macro_f1"]["mean"]) for n, s in sorted(sig["seeds"].items())
                                       if "fault_macro_f1" in s}
    base = sig["mcnemar"].get("baseline")
    if base:
        out["champion_vs_baseline"] = {f"p_seed_pair_{p['pair']}": _f(p["window"]["p_value"], 6) for p in base["pairs"]}
        out["champion_vs_baseline"].update({f"p_clustered_seed_pair_{p['pair']}": _f(p["window_clustered"]["p_value"], 6)
                                            for p in base["pairs"] if "window_clustered" in p})
        pw = base["power"] or {}
        out["champion_vs_baseline"]["min_detectable_gap"] = _f(pw.get("min_detectable_gap"), 5)
    return out


def _ci(s: dict, key: str) -> str:
    ci = s.get(f"{key}_ci")
    return f"{s[key]:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{s[key]:.4f}"


def _ms(s: dict | None) -> str:
    return "" if not s else f"{s['mean']:.4f} +- {s['std']:.4f} (n={s['n']})"


def markdown(summary: dict, reports: dict) -> str:
    sig, champ = summary["significance"], summary["champion"]
    lines = [
        "# Held-out cohort (pipelines/holdout/dvc.yaml)", "",
        f"{summary['n_windows']} windows, {summary['n_clips']} clips, {summary['n_athletes']} new athletes "
        f"({summary['n_consumer_windows']} consumer windows), generated with the default profile's generator settings "
        f"and another seed, preprocessed with the scalers of `{summary['reference']}` (not refitted), scored by the "
        "default pipeline's trained models. 95 % CIs: bootstrap over athletes. Fault macro-F1: given the true action. "
        f"Champion (artifacts/champion.json): **{champ}**. Evaluation {summary['seconds']} s.", "",
        "| model | modalities | window acc [95 % CI] | window macro-F1 | clip acc [95 % CI] | consumer window acc "
        "| fault macro-F1 | window acc over seeds | fault macro-F1 over seeds |",
        "|---|---|---|---|---|---|---|---|---|"]
    for n, r in sorted(reports.items(), key=lambda kv: -kv[1]["test"]["window"]["accuracy"]):
        w, c, cons = r["test"]["window"], r["test"]["clip"], r["consumer"]["window"]
        fault = r.get("fault", {}).get("macro_f1")
        many = len(r["seeds"]["runs"]) > 1
        seeds, fseeds = (r["seeds"].get(k) if many else None for k in ("window_accuracy", "fault_macro_f1"))
        lines.append(f"| {n}{' (champion)' if n == champ else ''} | {', '.join(r['modalities'])} | {_ci(w, 'accuracy')} "
                     f"| {w['macro_f1']:.4f} | {_ci(c, 'accuracy')} | {cons.get('accuracy', float('nan')):.4f} "
                     f"| {'' if fault is None else f'{fault:.4f}'} | {_ms(seeds)} | {_ms(fseeds)} |")
    for role, m in sig["mcnemar"].items():
        if not m:
            continue
        lines += ["", f"## McNemar (exact), {m['a']} vs {m['b']} ({role}), seed pair k = k-th run of each", "",
                  "| pair | windows a only | b only | p (window, exact) | design effect (athletes) | p (window, clustered) "
                  "| clips a only | b only | p (clip) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in m["pairs"]:
            wv, cl, wc = p["window"], p["clip"], p.get("window_clustered", {})
            lines.append(f"| {p['pair']} | {wv['a_only']} | {wv['b_only']} | {wv['p_value']:.4g} "
                         f"| {wc.get('design_effect', float('nan')):.2f} | {wc.get('p_value', float('nan')):.4g} "
                         f"| {cl['a_only']} | {cl['b_only']} | {cl['p_value']:.4g} |")
        lines += ["", "p (window, exact): McNemar's exact test, windows taken as independent. p (window, clustered): "
                      "the same counts with the variance inflated by the design effect of the athletes (windows of "
                      "one athlete share errors; evaluation.holdout.clustered_mcnemar)."]
        pw = m.get("power")
        if pw:
            need = pw["windows_needed"]
            lines += ["", f"Power (evaluation.power, alpha {pw['alpha']}, power {pw['power']}): on {pw['n']} windows the "
                          f"test finds a gap of {100 * pw['min_detectable_gap']:.2f} points or more; observed gap "
                          f"{100 * pw['observed_gap']:+.2f} points (a only {pw['p_a_only']:.4f}, b only "
                          f"{pw['p_b_only']:.4f} per window); a 0.5 / 1 point gap needs {need.get('0.005')} / "
                          f"{need.get('0.01')} independent windows; design effect of the athletes "
                          f"{pw['design_effect_athletes']:.2f} ({pw['n_athletes']} athletes)."]
    return "\n".join(lines) + "\n"


def write_reports(summary: dict, reports: dict, metrics_file: str | Path, markdown_file: str | Path,
                  details_file: str | Path) -> dict:
    """The headline metrics file, the markdown report and the details (plain JSON); returns the headline."""
    head = headline(summary, reports)
    for path, text in ((metrics_file, json.dumps(head, indent=1) + "\n"), (markdown_file, markdown(summary, reports)),
                       (details_file, json.dumps({"summary": summary, "models": reports}, indent=1, default=float) + "\n")):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    return head
