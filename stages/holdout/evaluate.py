"""`holdout evaluate`: the default pipeline's trained models (every seed) on the cohort
(evaluation.holdout) -> reports/holdout.json (headline), reports/holdout.md, <report_dir>/details.json."""
from __future__ import annotations

import sys
from pathlib import Path

from stages.holdout import HoldoutParams, check_disjoint_athletes, run_step, split_athletes


def step(h: HoldoutParams) -> int:
    from evaluation.holdout import champion_name, evaluate_cohort, model_dirs, write_reports
    from stages.evaluate import load_params

    _, ep = load_params()
    data_dir, ref = Path(h.processed_dir) / h.dataset, Path(h.reference_data)
    check_disjoint_athletes(split_athletes(data_dir), ref)
    res = evaluate_cohort(data_dir, ref, model_dirs(h.train_dir, h.seeds_dir, h.models), champion_name(h.champion_file),
                          ep.champion, h.bootstrap, threads=h.threads, batch_size=h.batch_size)
    s = res["summary"]
    head = write_reports(s, res["reports"], h.metrics_file, h.markdown, Path(h.report_dir) / "details.json")
    acc = head["window_accuracy"]
    print(f"holdout evaluate: {s['n_windows']} windows of {s['n_athletes']} athletes: {s['champion']} "
          f"{acc.get(s['champion'])} vs {ep.champion.baseline} {acc.get(ep.champion.baseline)} window accuracy; "
          f"McNemar {head.get('champion_vs_baseline')}", file=sys.stderr)
    print(f"holdout evaluate: {s['seconds']} s; {h.metrics_file}, {h.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_step("evaluate", step))
