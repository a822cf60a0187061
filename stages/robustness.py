"""DVC stage `robustness`: the champion and a few peers on perturbed test windows (landmark
occlusion, frame drops, IMU dropout and placement, residual clock error, modality masking, pro vs
consumer; video frames blank or dropped for the video models), and the ablation record of a `dvc exp run -S ablations.tag=...` experiment.

    python -m stages.robustness            # what `dvc repro robustness` runs

Reads params.yaml sections `robustness` (evaluation.robustness.RobustnessParams) and `ablations`
(evaluation.ablations.AblationParams), artifacts/champion.json, artifacts/train/<model>/ and the
processed test split. Writes reports/robustness/plots/*.json (DVC plots), reports/robustness/
details.json, reports/robustness.json (headline metrics; with `ablations.tag` set, the ablated
model's test scores too, and one MLflow run tagged ablation=<tag>).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from stages.params import ParamsError, section, validate


def load_params():
    from evaluation.ablations import AblationParams
    from evaluation.robustness import RobustnessParams

    profile, raw = section("robustness")
    _, abl = section("ablations")
    return profile, validate(RobustnessParams, raw, "robustness"), validate(AblationParams, abl, "ablations")


def main(argv: list[str] | None = None) -> int:
    try:
        profile, p, ap = load_params()
    except ParamsError as exc:
        print(f"robustness: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from evaluation.ablations import record_ablation
    from evaluation.robustness import run_robustness

    try:
        head = run_robustness(p)
        if ap.tag:
            head["ablation"] = record_ablation(ap, head, profile)
            Path(p.metrics_file).write_text(json.dumps(head, indent=1) + "\n")
    except (FileNotFoundError, ValueError) as exc:
        print(f"robustness: {exc}", file=sys.stderr)
        return 1
    c = head.get("champion_model")
    def f(x):
        return "n/a" if x is None else f"{x:.3f}"

    for col, v in head.items():
        if isinstance(v, dict) and "clean_window_accuracy" in v:
            print(f"robustness: profile={profile} {col} ({v['model']}): test window accuracy clean "
                  f"{f(v['clean_window_accuracy'])}, pro {f(v['pro_window_accuracy'])}, consumer "
                  f"{f(v['consumer_window_accuracy'])}", file=sys.stderr)
        elif isinstance(v, dict) and "video_clean_window_accuracy" in v:
            lost = ", ".join(f"{k.removesuffix('_window_accuracy')} {f(x)}" for k, x in v.items()
                             if k.startswith("video_") and k.endswith("_window_accuracy")
                             and k != "video_clean_window_accuracy")
            print(f"robustness: profile={profile} {col}: test window accuracy clean "
                  f"{f(v['video_clean_window_accuracy'])}; {lost}", file=sys.stderr)
    print(f"robustness: champion {c}; {p.metrics_file}, {p.out_dir}/plots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
