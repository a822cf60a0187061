"""The IMU pipeline's model (`features_svm`) on a real IMU archive: UEA BasicMotions (a benchmark).

    python -m ingest.basicmotions [--out reports/basicmotions.json]

BasicMotions: a smartwatch's 3-axis accelerometer and gyroscope at 10 Hz, 10 s per case, four
classes (standing, walking, running, badminton), the archive's own split (40 train / 40 test
cases, four people). The six channels go in as one IMU (`imu` (N, T, 1, 6)) to
`models.build_model("features_svm")` (per-channel statistics, PCA 92 %, SVM), trained on TRAIN
and scored on TEST. Writes ``{"basicmotions": {"test_accuracy": ...}}``. The published
ROCKET-class figure is 100 %. The files come from sktime 1.2.0's wheel, fetched (never
committed) by scripts/fetch_real_data.sh.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ingest.ts_archive import read_ts

DEFAULT_DIR = Path(".cache/real/basicmotions")


def evaluate(archive_dir: Path = DEFAULT_DIR, seed: int = 0) -> dict:
    from models import build_model

    train = read_ts(archive_dir / "BasicMotions_TRAIN.ts")
    test = read_ts(archive_dir / "BasicMotions_TEST.ts")
    as_imu = lambda X: np.transpose(X, (0, 2, 1))[:, :, None, :]  # (N, dims, T) -> (N, T, 1, dims)  # noqa: E731
    t0 = time.perf_counter()
    model = build_model("features_svm", {"seed": seed}).fit({"imu": as_imu(train.X)}, train.y)
    pred = model.predict({"imu": as_imu(test.X)})
    acc = float(np.mean(pred == test.y))
    per_class = {c: float(np.mean(pred[test.y == c] == c)) for c in test.classes}
    return {"basicmotions": {"model": "features_svm", "test_accuracy": acc, "per_class_accuracy": per_class,
                             "n_train": int(len(train.y)), "n_test": int(len(test.y)),
                             "pca_components": int(model.n_components_), "seconds": round(time.perf_counter() - t0, 2),
                             "published_rocket_accuracy": 1.0}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(DEFAULT_DIR), help="folder with BasicMotions_TRAIN.ts / _TEST.ts")
    ap.add_argument("--out", default="reports/basicmotions.json")
    args = ap.parse_args(argv)
    res = evaluate(Path(args.dir))
    b = res["basicmotions"]
    print(f"BasicMotions test accuracy ({b['model']}): {b['test_accuracy']:.3f} on {b['n_test']} cases; "
          + ", ".join(f"{c} {v:.2f}" for c, v in b["per_class_accuracy"].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
