"""Nuisance-leak check: can the action class be predicted from nuisance variables alone?

A dataset in which the camera pose, the preset, the clip duration or the athlete's body tells
the class lets a recognizer learn the shortcut instead of the movement. This check reads only
the clips' ``meta.json`` (camera azimuth / elevation / distance, preset, duration, athlete
height / mass / sex), fits a random forest with cross-validation grouped by athlete (no athlete
in both the training and the test fold) and compares its accuracy with chance (the share of the
most frequent class, 1/12 when balanced).

Pass/fail: the test fails when the cross-validated accuracy exceeds

    chance + margin,   margin = max(min_margin, z_(1-alpha) * sqrt(chance (1 - chance) / n)),

the one-sided (1 - alpha) upper bound of the accuracy of a classifier with no information
(binomial over the n clips, normal approximation). With 1,200 clips and 12 balanced classes,
alpha = 0.01 gives a margin of 0.019; with 24 clips, 0.13.

    python -m evaluation.nuisance_leak data/raw/synth        # prints the report, exit 1 on fail
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupKFold, cross_val_predict

FEATURES = ("azimuth_sin", "azimuth_cos", "elevation_deg", "distance_m", "preset_pro", "duration_s",
            "height_m", "mass_kg", "sex_male")
ALPHA = 0.01       # defaults of params.yaml generate.leak_check
MIN_MARGIN = 0.02


class LeakCheckError(ValueError):
    """The raw dataset cannot be checked (missing files or fields); the message names them."""


def _field(meta: dict, path: str, where: Path):
    node = meta
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise LeakCheckError(f"{where}: field '{path}' missing (generated before the viewpoint "
                                 "was recorded? regenerate with stages.generate)")
        node = node[key]
    return node


def nuisance_table(raw_dir: Path | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (n, len(FEATURES)), action labels (n,), athlete ids (n,)) from every clip's meta.json."""
    metas = sorted(Path(raw_dir).glob("*/*/meta.json"))
    if not metas:
        raise LeakCheckError(f"no clip meta.json under {raw_dir} (expected <athlete>/<clip>/meta.json)")
    rows, labels, groups = [], [], []
    for path in metas:
        meta = json.loads(path.read_text())
        az = np.deg2rad(float(_field(meta, "video.camera.azimuth_deg", path)))
        rows.append([np.sin(az), np.cos(az), float(_field(meta, "video.camera.elevation_deg", path)),
                     float(_field(meta, "video.camera.distance_m", path)),
                     float(_field(meta, "preset", path) == "pro"), float(_field(meta, "duration_s", path)),
                     float(_field(meta, "athlete.height_m", path)), float(_field(meta, "athlete.mass_kg", path)),
                     float(_field(meta, "athlete.sex", path) == "male")])
        labels.append(str(_field(meta, "action", path)))
        groups.append(str(_field(meta, "athlete_id", path)))
    return np.asarray(rows), np.asarray(labels), np.asarray(groups)


def leak_margin(chance: float, n: int, alpha: float = ALPHA, min_margin: float = MIN_MARGIN) -> float:
    """One-sided (1 - alpha) binomial upper bound above chance for n predictions, at least min_margin."""
    return max(min_margin, float(norm.ppf(1.0 - alpha)) * float(np.sqrt(chance * (1.0 - chance) / n)))


def leak_test(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, alpha: float = ALPHA,
              min_margin: float = MIN_MARGIN, n_splits: int = 5, seed: int = 0) -> dict:
    """Grouped cross-validated accuracy of predicting ``y`` from ``X``, against chance + margin."""
    n_groups = len(set(groups))
    if n_groups < 2:
        raise LeakCheckError(f"need clips of >= 2 athletes for a grouped cross-validation, got {n_groups}")
    folds = min(n_splits, n_groups)
    clf = RandomForestClassifier(n_estimators=200, max_features=None, random_state=seed, n_jobs=1)
    pred = cross_val_predict(clf, X, y, groups=groups, cv=GroupKFold(n_splits=folds))
    accuracy = float(np.mean(pred == y))
    _, counts = np.unique(y, return_counts=True)
    chance = float(counts.max() / counts.sum())
    margin = leak_margin(chance, len(y), alpha, min_margin)
    return {"n_clips": int(len(y)), "n_classes": int(len(counts)), "n_athletes": int(n_groups),
            "folds": int(folds), "features": list(FEATURES), "accuracy": round(accuracy, 4),
            "chance": round(chance, 4), "margin": round(margin, 4), "threshold": round(chance + margin, 4),
            "alpha": alpha, "passed": bool(accuracy <= chance + margin)}


def leak_report(raw_dir: Path | str, *, alpha: float = ALPHA, min_margin: float = MIN_MARGIN) -> dict:
    """The nuisance-leak check of a raw dataset directory (``data/raw/<dataset>``)."""
    X, y, groups = nuisance_table(raw_dir)
    return {"raw_dir": str(raw_dir), **leak_test(X, y, groups, alpha=alpha, min_margin=min_margin)}


def _params_defaults() -> tuple[float, float]:
    try:
        from stages.params import section

        _, gen = section("generate")
        lc = gen.get("leak_check", {}) or {}
        return float(lc.get("alpha", ALPHA)), float(lc.get("min_margin", MIN_MARGIN))
    except Exception:  # no params.yaml here: the module's defaults
        return ALPHA, MIN_MARGIN


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw_dir", help="raw dataset directory, e.g. data/raw/synth")
    ap.add_argument("--alpha", type=float, default=None, help="one-sided level of the chance bound")
    ap.add_argument("--min-margin", type=float, default=None, help="smallest margin above chance")
    a = ap.parse_args(argv)
    alpha, min_margin = _params_defaults()
    try:
        rep = leak_report(a.raw_dir, alpha=a.alpha if a.alpha is not None else alpha,
                          min_margin=a.min_margin if a.min_margin is not None else min_margin)
    except LeakCheckError as exc:
        print(f"nuisance_leak: {exc}", file=sys.stderr)
        return 2
    verdict = "PASS" if rep["passed"] else "FAIL"
    print(f"nuisance leak: {verdict}: accuracy {rep['accuracy']:.3f} from nuisance variables only "
          f"(chance {rep['chance']:.3f}, threshold {rep['threshold']:.3f}; {rep['n_clips']} clips, "
          f"{rep['n_athletes']} athletes, {rep['folds']}-fold grouped by athlete)")
    print(json.dumps(rep, indent=1))
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
