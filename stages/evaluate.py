"""DVC stage `evaluate`: every trained model on the test split (and its consumer subset), the
champion, the reports.

    python -m stages.evaluate            # what `dvc repro evaluate` runs

Reads params.yaml section `evaluate` (evaluation.params.EvaluateParams; active profile applied),
the processed dataset and artifacts/train/<model>/ (plus artifacts/seeds/<model>/seed_<k>/ when
present). Writes reports/evaluate.json (headline metrics), reports/evaluation/ (details, plot data),
reports/evaluation.md, artifacts/champion.json; one MLflow run per model, the champions registered
with alias `champion` (evaluate.tracking).
"""
from __future__ import annotations

import sys

from stages.params import ParamsError, section, validate


def load_params():
    from evaluation.params import EvaluateParams

    profile, raw = section("evaluate")
    return profile, validate(EvaluateParams, raw, "evaluate")


def main(argv: list[str] | None = None) -> int:
    try:
        profile, p = load_params()
    except ParamsError as exc:
        print(f"evaluate: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from evaluation.runner import run_evaluation
    from training.tracking import git_sha

    try:
        s = run_evaluation(p, git_sha())
    except (FileNotFoundError, ValueError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 1
    c, t = s["champion"], s["torque_champion"]
    rec = s["champion_file"]["recognizer"]["metrics"]
    if c["name"]:
        print(f"evaluate: profile={profile} champion {c['name']} (val macro-F1 {c['val_macro_f1']:.3f}): test window "
              f"acc {rec['test_window_accuracy']:.3f}, clip acc {rec['test_clip_accuracy']:.3f}", file=sys.stderr)
    else:
        print(f"evaluate: profile={profile} no recognizer meets the champion rule (see {p.markdown})", file=sys.stderr)
    if t["name"]:
        print(f"evaluate: torque champion {t['name']} (val RMSE {t['val_rmse_nm_per_kg']:.3f} N m/kg)", file=sys.stderr)
    print(f"evaluate: {s['seconds']:.1f} s; {p.metrics_file}, {p.markdown}, {p.champion_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
