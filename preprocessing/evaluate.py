"""Evaluation helpers of the preprocessing report. This module is the ONLY place that reads
``meta.json``'s ``synthetic_truth`` (true clock offsets), after every clip has been processed,
to measure the synchronisation accuracy; nothing here feeds back into the processed data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def true_offsets(clip_dir: Path) -> dict | None:
    """{"imu": s, "grf": s} from meta.json synthetic_truth.clock_offsets_s, None if absent."""
    try:
        meta = json.loads((Path(clip_dir) / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return (meta.get("synthetic_truth") or {}).get("clock_offsets_s")


def _summary(err_s: np.ndarray, fps: np.ndarray) -> dict:
    fr = np.abs(err_s) * fps
    ms = np.abs(err_s) * 1000
    return {"n": int(err_s.size), "median_ms": round(float(np.median(ms)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(float(ms.max()), 2),
            "median_frames": round(float(np.median(fr)), 3), "p95_frames": round(float(np.percentile(fr, 95)), 3),
            "within_1_frame": round(float(np.mean(fr <= 1.0)), 4)}


def sync_accuracy(dataset_dir: str | Path, results: list[dict]) -> tuple[dict, list[dict]]:
    """Compare recovered offsets (``result["sync"]``) with the true ones.

    Returns (summary per stream: n, median/p95/max |error| in ms and in video frame periods,
    for the final offsets and for the cross-correlation stage alone, plus the acceptance
    checks median <= 1 frame and p95 <= 2 frames; per-clip rows with recovered and true offsets)."""
    rows, errs = [], {}
    for r in results:
        truth = true_offsets(Path(dataset_dir) / r["athlete_id"] / r["clip_id"])
        row = {"clip_id": r["clip_id"], "athlete_id": r["athlete_id"], "fps": r["fps"]}
        for k, s in r["sync"].items():
            row[k] = {"offset_s": round(s["offset_s"], 5), "method": s["method"],
                      "xcorr_s": None if s.get("xcorr_s") is None else round(s["xcorr_s"], 5),
                      "confidence": None if s.get("confidence") is None else round(s["confidence"], 3)}
            if truth and k in truth:
                row[k]["true_s"] = round(truth[k], 5)
                e = errs.setdefault(k, {"final": [], "xcorr": [], "fps": []})
                e["final"].append(s["offset_s"] - truth[k])
                e["xcorr"].append((s["xcorr_s"] if s.get("xcorr_s") is not None else s["offset_s"]) - truth[k])
                e["fps"].append(r["fps"])
        rows.append(row)
    summary = {}
    for k, e in sorted(errs.items()):
        fps = np.asarray(e["fps"], float)
        fin = _summary(np.asarray(e["final"]), fps)
        xc = _summary(np.asarray(e["xcorr"]), fps)
        summary[k] = {**fin, "xcorr_only": {"median_frames": xc["median_frames"], "p95_frames": xc["p95_frames"],
                                            "median_ms": xc["median_ms"], "p95_ms": xc["p95_ms"]},
                      "accept_median_le_1_frame": fin["median_frames"] <= 1.0,
                      "accept_p95_le_2_frames": fin["p95_frames"] <= 2.0}
    return summary, rows


def gapfill_rmse(results: list[dict]) -> dict:
    """Pool the per-clip re-insertion terms (sum of squared errors, count) into RMSEs."""
    units = {"imu_acc": "m/s^2", "imu_gyro": "rad/s", "grf_force": "N", "landmarks": "m (world)"}
    pooled: dict[str, list] = {}
    for r in results:
        for k, (sse, n) in r["gapfill"].items():
            acc = pooled.setdefault(k, [0.0, 0, []])
            acc[0] += sse
            acc[1] += n
            if n:
                acc[2].append(np.sqrt(sse / n))
    return {k: {"rmse": round(float(np.sqrt(s / n)), 5),
                "median_clip_rmse": round(float(np.median(per)), 5), "n_samples": int(n), "n_clips": len(per),
                "unit": units.get(k, "")}
            for k, (s, n, per) in sorted(pooled.items()) if n > 0}
