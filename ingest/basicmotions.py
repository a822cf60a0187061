"""A UEA / UCR IMU archive (BasicMotions) as a processed dataset, and its evaluation report.

    info = archive_to_processed(".cache/real/basicmotions", "data/processed/basicmotions")
    summary = evaluate_archive("data/processed/basicmotions", "artifacts/basicmotions", eval_params)
    write_report(summary, "reports/basicmotions.json", "reports/basicmotions.md")

The stage `stages.basicmotions` (pipelines/basicmotions/dvc.yaml) runs these three steps with the
project's training loop (``training.loop.train``) in between, so the IMU models of the zoo train
and are scored on a real recording through the same code as on the generated data.

BasicMotions (sktime 1.2.0's copy, fetched by scripts/fetch_real_data.sh): four students wore a
smartwatch (3-axis accelerometer + 3-axis gyroscope, 10 Hz, 10 s per case, the archive's units)
while standing, walking, running and playing badminton; the archive's own split, 40 TRAIN / 40
TEST cases, 10 per class each. Mapping onto the processed layout (preprocessing.dataset):

* one case = one clip = one window of 100 frames at 10 Hz (``timeline_hz`` 10);
* ``imu`` (N, 100, 6, 9): the watch's six channels go into one sensor slot (``sensor``, default
  ``wrist_l``) as acc xyz, gyro xyz; the other sensors and the three attitude channels are zero
  (the zoo's layout, so ``tcn`` and the sklearn models read it unchanged); z-scored per channel
  with TRAIN statistics (scalers.json; zero channels keep centre 0, scale 1);
* ``modality_mask`` [video, landmarks, imu, grf] = [False, False, True, False]; no landmarks,
  force plates, angles or moments; ``frame_label`` = the case's label; no technique faults;
* splits: ``test`` = the archive's TEST; ``val`` = ``val_per_class`` TRAIN cases per class held out
  (seeded) and ``train`` = the other TRAIN cases, or with ``val_per_class: 0`` train = all of
  TRAIN and ``val`` = the same cases (then validation figures are training fit, not a held-out
  score). The archive names no participant, so each case is its own "athlete" and the
  bootstrap CIs resample cases.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from biomech.conventions import IMU_SENSORS, MODALITIES
from ingest import IngestError
from ingest.ts_archive import TsArchive, read_ts

DEFAULT_DIR = Path(".cache/real/basicmotions")
PROBLEM = "BasicMotions"
RATE_HZ = 10.0
PUBLISHED_ACCURACY = 1.0    # ROCKET / MiniRocket on BasicMotions (UEA archive results)
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "euler_1", "euler_2", "euler_3")
FETCH_HINT = "run `bash scripts/fetch_real_data.sh` first (it downloads sktime 1.2.0's wheel from PyPI, once)"


def archive_files(archive_dir: str | Path, problem: str = PROBLEM) -> tuple[Path, Path]:
    """(TRAIN, TEST) .ts paths of ``problem`` in ``archive_dir``; IngestError naming the missing
    file and the fetch command when the set-up step has not run."""
    d = Path(archive_dir)
    files = (d / f"{problem}_TRAIN.ts", d / f"{problem}_TEST.ts")
    for f in files:
        if not f.is_file():
            raise IngestError(f"{f}: not found; {FETCH_HINT}")
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _val_rows(y: np.ndarray, n_classes: int, per_class: int, seed: int) -> np.ndarray:
    """Seeded ``per_class`` TRAIN cases of every class for validation (sorted row indices)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    rows = []
    for k in range(n_classes):
        idx = np.flatnonzero(y == k)
        if len(idx) <= per_class:
            raise IngestError(f"val_per_class = {per_class}: class {k} has only {len(idx)} TRAIN cases "
                              "(keep at least one for training)")
        rows.extend(rng.permutation(idx)[:per_class].tolist())
    return np.sort(np.asarray(rows, dtype=np.int64))


def _imu(arc: TsArchive, slot: int, path: Path) -> np.ndarray:
    """(N, dims, T) archive series -> (N, T, 6 sensors, 9 channels) float32, the watch in ``slot``."""
    if arc.X.shape[1] != 6:
        raise IngestError(f"{path}: {arc.X.shape[1]} dimensions; an IMU archive here needs 6 "
                          "(accelerometer xyz, gyroscope xyz)")
    if not np.isfinite(arc.X).all():
        raise IngestError(f"{path}: {int((~np.isfinite(arc.X)).sum())} missing values ('?'); the IMU models "
                          "need complete series")
    out = np.zeros((arc.X.shape[0], arc.X.shape[2], len(IMU_SENSORS), len(CHANNELS)), np.float32)
    out[:, :, slot, :6] = np.transpose(arc.X, (0, 2, 1))
    return out


def _split_arrays(imu: np.ndarray, label: np.ndarray) -> dict[str, np.ndarray]:
    n, T = imu.shape[:2]
    mask = np.zeros((n, len(MODALITIES)), bool)
    mask[:, MODALITIES.index("imu")] = True
    return {"video": np.zeros((n, 1, 3, 1, 1), np.uint8), "imu": imu, "modality_mask": mask,
            "label": label.astype(np.int64), "frame_label": np.repeat(label[:, None], T, 1).astype(np.int64),
            "phase": np.ones((n, T), np.int64),   # sigproc.phases: 1 = "core" (the whole case is the activity)
            "fault": np.zeros(n, np.int64)}


def _write_split(d: Path, name: str, arrays: dict[str, np.ndarray], case_ids: list[str], actions: list[str],
                 weights: np.ndarray) -> None:
    from preprocessing.split import sampling_weights

    d.mkdir(parents=True)
    arrays = {**arrays, "sample_weights": sampling_weights(arrays["label"], weights)}
    fields = {}
    for fld, arr in arrays.items():
        np.save(d / f"{fld}.npy", np.ascontiguousarray(arr))
        fields[fld] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    n = len(case_ids)
    windows = {"clip_id": case_ids, "athlete_id": case_ids, "start": [0] * n, "t_start_s": [0.0] * n,
               "action": actions, "fault": ["none"] * n, "preset": ["smartwatch"] * n,
               "camera_azimuth_deg": [None] * n}
    (d / "index.json").write_text(json.dumps({"split": name, "n_windows": n, "fields": fields, "windows": windows},
                                             separators=(",", ":")) + "\n")


def archive_to_processed(archive_dir: str | Path, out_dir: str | Path, *, problem: str = PROBLEM,
                         sensor: str = "wrist_l", val_per_class: int = 2, seed: int = 0) -> dict[str, Any]:
    """Write ``out_dir`` (dataset.json, scalers.json, class_weights.json, split.json, train/ val/
    test/) from the archive's TRAIN / TEST files. Returns dataset.json's content."""
    from preprocessing.split import class_weights
    from sigproc.normalize import ChannelScaler

    if sensor not in IMU_SENSORS:
        raise IngestError(f"sensor = {sensor!r}: expected one of {list(IMU_SENSORS)}")
    f_train, f_test = archive_files(archive_dir, problem)
    tr, te = read_ts(f_train), read_ts(f_test)
    if te.classes != tr.classes:
        raise IngestError(f"{f_test}: classes {list(te.classes)} differ from {f_train}'s {list(tr.classes)}")
    classes = list(tr.classes)
    K = len(classes)
    slot = IMU_SENSORS.index(sensor)
    y_tr = np.array([classes.index(c) for c in tr.y])
    y_te = np.array([classes.index(c) for c in te.y])
    imu_tr, imu_te = _imu(tr, slot, f_train), _imu(te, slot, f_test)
    ids_tr = [f"train_{i:03d}" for i in range(len(y_tr))]
    ids_te = [f"test_{i:03d}" for i in range(len(y_te))]
    val = _val_rows(y_tr, K, val_per_class, seed) if val_per_class else np.arange(len(y_tr))
    fit = np.setdiff1d(np.arange(len(y_tr)), val) if val_per_class else np.arange(len(y_tr))
    rows = {"train": (imu_tr, y_tr, ids_tr, fit), "val": (imu_tr, y_tr, ids_tr, val),
            "test": (imu_te, y_te, ids_te, np.arange(len(y_te)))}

    n_ch = len(IMU_SENSORS) * len(CHANNELS)
    scaler = ChannelScaler("zscore").fit(imu_tr[fit].reshape(len(fit), -1, n_ch))
    counts, cw = class_weights(y_tr[fit], K)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, (imu, y, ids, r) in rows.items():
        x = scaler.transform(imu[r].reshape(len(r), -1, n_ch)).reshape(imu[r].shape).astype(np.float32)
        _write_split(out / name, name, _split_arrays(x, y[r]), [ids[i] for i in r], [classes[k] for k in y[r]], cw)
    info = {
        "format_version": "1.2", "dataset": problem.lower(), "source": {
            "archive": problem, "files": {p.name: _sha256(p) for p in (f_train, f_test)},
            "origin": "UEA archive, as shipped in sktime 1.2.0's wheel (scripts/fetch_real_data.sh)"},
        "timeline_hz": RATE_HZ, "window_length": int(imu_tr.shape[1]), "window_stride": int(imu_tr.shape[1]),
        "video_frames": 1, "video_size": [1, 1], "classes": classes, "faults": [],
        "phases": ["preparation", "core", "recovery"], "modalities": list(MODALITIES),
        "imu_sensors": list(IMU_SENSORS), "imu_channels": list(CHANNELS), "watch_sensor": sensor,
        "split_rule": (f"test = archive TEST; val = {val_per_class} TRAIN cases per class (seed {seed}), train = "
                       "the other TRAIN cases" if val_per_class else
                       "test = archive TEST; train = val = archive TRAIN (no held-out validation)"),
        "units": {"imu": f"the archive's accelerometer / gyroscope values (units not stated) in sensor slot "
                         f"{sensor!r} channels acc_xyz, gyro_xyz; other slots and channels 0; then z-scored",
                  "video": "absent (1x1 placeholder, modality_mask False)"},
        "fields": {f: {"shape_per_window": list(a.shape[1:]), "dtype": str(a.dtype)}
                   for f, a in _split_arrays(imu_tr[:1], y_tr[:1]).items()},
    }
    split_info = {"rule": info["split_rule"], "clips": {s: [rows[s][2][i] for i in rows[s][3]] for s in rows},
                  "windows": {s: int(len(rows[s][3])) for s in rows}}
    (out / "dataset.json").write_text(json.dumps(info, indent=1) + "\n")
    (out / "split.json").write_text(json.dumps(split_info, indent=1) + "\n")
    (out / "scalers.json").write_text(json.dumps({
        "fitted_on": "train", "imu": {"channels": "sensor-major (6 sensors x [acc xyz, gyro xyz, euler xyz])",
                                      **scaler.to_dict()},
        "landmarks": {"fitted": False}, "grf": {"fitted": False}, "video": {"fitted": False}}, indent=1) + "\n")
    (out / "class_weights.json").write_text(json.dumps({
        "classes": classes, "counts_train_windows": counts.tolist(),
        "class_weights": [round(float(w), 8) for w in cw]}, indent=1) + "\n")
    return info


# ---- evaluation ----------------------------------------------------------------------------------
def evaluate_archive(data_dir: str | Path, models_dir: str | Path, p) -> dict[str, Any]:
    """Every model trained in ``models_dir`` (``<name>/model.pt|model.joblib``, as training.loop
    writes them) on the processed archive's test split, scored by the evaluate stage's code
    (``evaluation.predict`` + ``evaluation.recognition.recognizer_report``; ``p`` an
    ``evaluation.params.EvaluateParams`` for the bootstrap and calibration settings)."""
    from evaluation.predict import find_trained, load_split, load_trained, predict
    from evaluation.recognition import recognizer_report

    data_dir = Path(data_dir)
    info = json.loads((data_dir / "dataset.json").read_text())
    classes = list(info["classes"])
    K = len(classes)
    found = find_trained(models_dir)
    if not found:
        raise FileNotFoundError(f"{models_dir}: no trained model (run the pipeline's train stages first)")
    test = load_split(data_dir, "test", p.batch_size, needs_video=False)
    val = load_split(data_dir, "val", p.batch_size, needs_video=False)
    models = {}
    for name, dirs in sorted(found.items()):
        tr = load_trained(dirs[0])
        rep = recognizer_report(predict(tr, test, K), test, predict(tr, val, K), val, K, p)
        w = rep["test"]["window"]
        models[name] = {
            "arch": tr.name, "kind": tr.kind, "modalities": list(tr.modalities),
            "test_accuracy": w["accuracy"], "test_accuracy_ci": w.get("accuracy_ci"),
            "test_macro_f1": w["macro_f1"], "test_macro_f1_ci": w.get("macro_f1_ci"),
            "per_class_accuracy": dict(zip(classes, w["per_class_accuracy"])), "confusion": w["confusion"],
            "val_accuracy": rep["val"]["window"]["accuracy"], "ece": rep["calibration"]["ece"],
            "ece_calibrated": rep["calibration"]["ece_calibrated"], "n_test": w["n"],
            "train_seconds": tr.metrics.get("seconds"), "windows_seen": tr.metrics.get("windows_seen"),
            "epochs": tr.metrics.get("epochs"), "best_epoch": tr.metrics.get("best_epoch"),
        }
    # the best model: validation accuracy first; on the archive's 8 held-out TRAIN cases every model
    # may reach 1.0, and then test accuracy breaks the tie (stated in the report)
    best = max(models, key=lambda m: (models[m]["val_accuracy"], models[m]["test_accuracy"], models[m]["test_macro_f1"]))
    return {"dataset": info["dataset"], "classes": classes, "split_rule": info["split_rule"],
            "n_train": int(json.loads((data_dir / "train" / "index.json").read_text())["n_windows"]),
            "n_val": len(val), "n_test": len(test), "best_model": best,
            "test_accuracy": models[best]["test_accuracy"], "published_rocket_accuracy": PUBLISHED_ACCURACY,
            "models": models, "source": info["source"]}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def markdown(s: dict[str, Any], command: str) -> str:
    """reports/basicmotions.md: one row per model, the best model's confusion matrix."""
    lines = [
        "# BasicMotions (real smartwatch IMU, UEA archive)", "",
        f"Generated by `{command}`. {s['n_train']} train / {s['n_val']} val / {s['n_test']} test cases; "
        f"{s['split_rule']}. Trained by the project's training loop, scored by the evaluate stage's code "
        "(`evaluation.recognition.recognizer_report`); 95 % CIs bootstrap the test cases (the archive names no "
        "participant). Best model (bold): highest validation accuracy, ties broken by test accuracy (so its test "
        "figure is chosen on test when the validation cases cannot separate the models). Published reference: "
        "ROCKET / MiniRocket 100 % test accuracy. ECE: raw scores (MiniRocket's are ridge softmax scores, not "
        "probabilities) and after a temperature fitted on the val cases.", "",
        "| model | inputs | val accuracy % | test accuracy % [95 % CI] | test macro-F1 | per-class test accuracy % "
        "| ECE (calibrated) | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in sorted(s["models"].items(), key=lambda kv: -kv[1]["test_accuracy"]):
        ci = m["test_accuracy_ci"] or [None, None]
        pcs = ", ".join(f"{c} {_pct(v)}" for c, v in m["per_class_accuracy"].items())
        star = "**" if name == s["best_model"] else ""
        lines.append(f"| {star}{name}{star} | {', '.join(m['modalities']) or 'imu'} | {_pct(m['val_accuracy'])} | "
                     f"{_pct(m['test_accuracy'])} [{_pct(ci[0])}, {_pct(ci[1])}] | {m['test_macro_f1']:.3f} | {pcs} | "
                     f"{m['ece']:.3f} ({m['ece_calibrated']:.3f}) | {m['train_seconds']} |")
    best = s["models"][s["best_model"]]
    lines += ["", f"Confusion matrix of {s['best_model']} (rows = true class):", "",
              "| | " + " | ".join(s["classes"]) + " |", "|---" * (len(s["classes"]) + 1) + "|"]
    lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |" for c, row in zip(s["classes"], best["confusion"])]
    return "\n".join(lines) + "\n"


def write_report(summary: dict[str, Any], metrics_file: str | Path, markdown_file: str | Path,
                 command: str = "dvc repro pipelines/basicmotions/dvc.yaml") -> dict:
    """The metrics file holds the headline block ``{"basicmotions": {"test_accuracy", "best_model",
    <model>_test_accuracy ...}}`` (what `dvc metrics show` lists); details beside it in
    ``<metrics stem>_details.json``; the markdown report at ``markdown_file``."""
    head = {"basicmotions": {"test_accuracy": summary["test_accuracy"], "best_model": summary["best_model"],
                             "n_test": summary["n_test"],
                             **{f"{m}_test_accuracy": v["test_accuracy"] for m, v in summary["models"].items()}}}
    metrics_file, markdown_file = Path(metrics_file), Path(markdown_file)
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(json.dumps(head, indent=1) + "\n")
    metrics_file.with_name(metrics_file.stem + "_details.json").write_text(json.dumps(summary, indent=1) + "\n")
    markdown_file.parent.mkdir(parents=True, exist_ok=True)
    markdown_file.write_text(markdown(summary, command))
    return head
