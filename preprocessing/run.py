"""Orchestration of the `preprocess` stage: manifest -> split -> parallel clips -> scalers ->
on-disk windows (see the package docstring for the format) -> report dict."""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections import Counter, defaultdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from biomech.conventions import ACTIONS, MODALITIES
from biomech.io import RawDataError, read_manifest
from sigproc.normalize import ChannelScaler, fit_landmark_scaler

from .clip import ClipError, ClipJob, process_clip
from .evaluate import gapfill_rmse, sync_accuracy
from .params import PreprocessParams
from .split import SPLITS, class_weights, sampling_weights, subject_split

FIELDS = ("video", "landmarks", "imu", "grf", "modality_mask", "label", "frame_label", "angles", "root",
          "moments", "phase", "fault", "anthro")
FORMAT_VERSION = "1.2"  # 1.1: + root (pelvis pose), anthro + sex; 1.2: view-normalised landmarks, window metadata


def fault_vocabulary(manifest_faults) -> tuple[str, ...]:
    """"none" first, then every fault the action registry knows or the manifest uses, sorted."""
    try:
        from biomech.actions import FAULTS
        known = {f for fs in FAULTS.values() for f in fs}
    except Exception:  # pragma: no cover - registry import problems must not block imported data
        known = set()
    return ("none",) + tuple(sorted((known | set(manifest_faults)) - {"none"}))


# ---- worker side ---------------------------------------------------------------------------
_W: dict = {}


def _init_worker(p):
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import cv2
        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
    _W["p"] = p


def _run(job: ClipJob):
    try:
        return process_clip(job, _W["p"])
    except ClipError as exc:
        return {"error": str(exc), "clip_id": job.clip_id, "athlete_id": job.athlete_id}


# ---- main side -----------------------------------------------------------------------------
def _json_float(v, ndigits: int = 3):
    """A float for index.json: rounded, None (JSON null) when NaN / unknown."""
    return None if v is None or not np.isfinite(v) else round(float(v), ndigits)


def _scaler_fit(x: np.ndarray, present: np.ndarray, channels: int) -> ChannelScaler | None:
    if not present.any():
        return None
    return ChannelScaler("zscore").fit(x[present].reshape(-1, channels))


def _landmark_scaler_fit(x: np.ndarray, present: np.ndarray) -> ChannelScaler | None:
    """x, z share centre 0 and one scale (rotations about the vertical commute with the scaling)."""
    if not present.any():
        return None
    return fit_landmark_scaler(x[present].reshape(-1, 3))


def _apply(sc: ChannelScaler | None, x: np.ndarray, present: np.ndarray, shape_c, chunk: int = 256):
    """In-place z-score of the present windows of x (..., shape_c), chunked (memory)."""
    if sc is None:
        return
    idx = np.flatnonzero(present)
    for i in range(0, idx.size, chunk):
        sel = idx[i:i + chunk]
        part = x[sel][..., :shape_c] if shape_c else x[sel]
        flat = part.reshape(-1, sc.n_channels)
        out = sc.transform(flat).astype(np.float32).reshape(part.shape)
        if shape_c:
            x[sel, ..., :shape_c] = out
        else:
            x[sel] = out


def _video_stats(video: np.ndarray, present: np.ndarray) -> dict | None:
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return None
    s = np.zeros(3)
    s2 = np.zeros(3)
    n = 0
    for i in range(0, idx.size, 32):
        v = video[idx[i:i + 32]].astype(np.float64) / 255.0  # (n, Tv, 3, H, W)
        s += v.sum(axis=(0, 1, 3, 4))
        s2 += (v * v).sum(axis=(0, 1, 3, 4))
        n += v.shape[0] * v.shape[1] * v.shape[3] * v.shape[4]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 1e-12))
    return {"method": "zscore", "applied_by": "Dataset (uint8 / 255, then (x - center) / scale per RGB channel)",
            "center": mean.tolist(), "scale": std.tolist()}


def _peak_rss_mb() -> dict:
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"main_mb": round(self_mb, 1), "largest_worker_mb": round(child_mb, 1)}


def reference_scalers(path: Path) -> tuple[dict, dict[str, ChannelScaler | None]]:
    """(the scalers.json document, {landmarks, imu, grf: ChannelScaler or None when not fitted})
    of a processed dataset's ``scalers.json`` (``preprocess(..., scalers_from=)``)."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: no scalers.json (the reference dataset's preprocess output; run its pipeline first)")
    doc = json.loads(path.read_text())
    out = {}
    for key in ("landmarks", "imu", "grf"):
        d = doc.get(key)
        if d is None:
            raise RawDataError(f"{path}: no {key!r} entry (expected one per modality, as preprocess writes it)")
        try:
            out[key] = None if d.get("fitted") is False else ChannelScaler.from_dict(d)
        except ValueError as exc:
            raise RawDataError(f"{path}: entry {key!r}: {exc}") from None
    return doc, out


def preprocess(p: PreprocessParams, progress: bool = True, report_json: Path | None = None,
               scalers_from: Path | None = None) -> dict:
    """Run the whole stage; returns the report dict. Raises ClipError / RawDataError (naming
    the path) for a bad clip unless ``p.skip_bad_clips``.

    ``scalers_from`` (a held-out cohort scored by models trained on another dataset: README
    "Held-out cohort"): that dataset's scalers.json is applied as it is, nothing is refitted, and
    every clip goes to the test split (train and val are empty; class weights all zero).

    With ``workers > 1`` the clips run in a ``spawn`` process pool: a script that calls this
    function must guard its entry point with ``if __name__ == "__main__":`` (Python's rule for
    spawn; stages/preprocess.py and pytest do)."""
    t_start = time.perf_counter()
    dataset_dir = Path(p.raw_dir) / p.dataset
    rows = read_manifest(dataset_dir)
    if not rows:
        raise RawDataError(f"{dataset_dir / 'manifest.csv'}: no clips listed")
    by_clip: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        by_clip[(r["athlete_id"], r["clip_id"])].append(r)
    if scalers_from is None:
        assignment = subject_split([a for a, _ in by_clip], p.split.model_dump(), p.seed)
    else:
        reused_doc, reused = reference_scalers(scalers_from)      # fail before the clips run
        assignment = {a: "test" for a, _ in by_clip}
    jobs = [ClipJob(str(dataset_dir), a, c, tuple(rr), assignment[a]) for (a, c), rr in sorted(by_clip.items())]

    results, skipped = {}, []
    workers = min(p.workers, len(jobs))
    pool = None
    if workers == 1:
        _init_worker(p)
        it = map(_run, jobs)
    else:
        # spawn, not fork: a fork of a process whose thread pools are running (torch, OpenMP,
        # BLAS; e.g. inside a test session) can deadlock the children. The thread caps are put in
        # the environment for the spawn so the children start single-threaded.
        caps = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        saved = {k: os.environ.get(k) for k in caps}
        os.environ.update(caps)
        try:
            pool = get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(p,))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        it = pool.imap_unordered(_run, jobs, chunksize=2)
    bar = tqdm(total=len(jobs), desc="preprocess", unit="clip", disable=not progress, file=sys.stderr)
    try:
        for r in it:
            bar.update()
            if "error" in r:
                if not p.skip_bad_clips:
                    raise ClipError(r["error"] + "  (set preprocess.skip_bad_clips: true to skip such clips)")
                skipped.append({"clip_id": r["clip_id"], "athlete_id": r["athlete_id"], "error": r["error"]})
                continue
            results[(r["athlete_id"], r["clip_id"])] = r
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    t_clips = time.perf_counter() - t_start
    if not results:
        raise ClipError(f"{dataset_dir}: no clip could be preprocessed ({len(skipped)} skipped)")
    ordered = [results[k] for k in sorted(results)]
    # fault vocabulary (imports the action registry, hence torch: only after the workers are gone)
    faults = fault_vocabulary({r["fault"] for r in rows if r.get("fault")} | {r["fault"] for r in ordered})
    for r in ordered:
        r["arrays"]["fault"][:] = faults.index(r["fault"])
    skipped.sort(key=lambda s: (s["athlete_id"], s["clip_id"]))

    # ---- gather per split ----
    data: dict[str, dict[str, np.ndarray]] = {}
    index: dict[str, dict] = {}
    for split in SPLITS:
        rs = [r for r in ordered if r["split"] == split]
        arrays = {}
        for fld in FIELDS:
            parts = [r["arrays"].pop(fld) for r in rs]
            if parts:
                arrays[fld] = np.concatenate(parts)
            else:
                arrays[fld] = np.zeros((0,) + _field_shape(fld, p), _field_dtype(fld))
        data[split] = arrays
        index[split] = {
            "clip_id": [r["clip_id"] for r in rs for _ in r["starts"]],
            "athlete_id": [r["athlete_id"] for r in rs for _ in r["starts"]],
            "start": [int(s) for r in rs for s in r["starts"]],
            "t_start_s": [round(r["t0_s"] + int(s) / p.timeline_hz, 4) for r in rs for s in r["starts"]],
            # evaluation metadata (never a model input); null where unknown
            "action": [r["action"] for r in rs for _ in r["starts"]],
            "fault": [r["fault"] for r in rs for _ in r["starts"]],
            "preset": [r["preset"] for r in rs for _ in r["starts"]],
            "camera_azimuth_deg": [_json_float(r["camera_azimuth_deg"]) for r in rs for _ in r["starts"]],
            "view_heading_deg": [_json_float(h) for r in rs for h in r["view_heading_deg"]],
        }

    # ---- plot material (physical units, before scaling) ----
    plot_windows = _pick_plot_windows(data, index) if p.plots else {}

    # ---- scalers: fitted on train only (or another dataset's, reused) ----
    tr = data["train"]
    m = {k: tr["modality_mask"][:, i] for i, k in enumerate(MODALITIES)}
    if scalers_from is None:
        scalers = {
            "landmarks": _landmark_scaler_fit(tr["landmarks"][..., :3], m["landmarks"]),
            "imu": _scaler_fit(tr["imu"], m["imu"], tr["imu"].shape[2] * tr["imu"].shape[3]),
            "grf": _scaler_fit(tr["grf"], m["grf"], tr["grf"].shape[2] * tr["grf"].shape[3]),
        }
        video_stats = _video_stats(tr["video"], m["video"])
    else:
        scalers = reused
    for split in SPLITS:
        a = data[split]
        mm = {k: a["modality_mask"][:, i] for i, k in enumerate(MODALITIES)}
        _apply(scalers["landmarks"], a["landmarks"], mm["landmarks"], 3)
        _apply(scalers["imu"], a["imu"], mm["imu"], 0)
        _apply(scalers["grf"], a["grf"], mm["grf"], 0)

    counts, cw = class_weights(tr["label"], len(ACTIONS))

    # ---- write ----
    out = Path(p.out_dir) / p.dataset
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for split in SPLITS:
        sd = out / split
        sd.mkdir()
        a = data[split]
        a["sample_weights"] = sampling_weights(a["label"], cw)
        fields = {}
        for fld, arr in a.items():
            np.save(sd / f"{fld}.npy", np.ascontiguousarray(arr))
            fields[fld] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
        (sd / "index.json").write_text(json.dumps({
            "split": split, "n_windows": int(a["label"].shape[0]), "fields": fields,
            "windows": index[split]}, separators=(",", ":")) + "\n")
    split_info = {
        "seed": p.seed,
        "fractions": p.split.model_dump() if scalers_from is None else {"train": 0.0, "val": 0.0, "test": 1.0},
        "athletes": {s: sorted(a for a, v in assignment.items() if v == s) for s in SPLITS},
        "clips": {s: [r["clip_id"] for r in ordered if r["split"] == s] for s in SPLITS},
        "windows": {s: int(data[s]["label"].shape[0]) for s in SPLITS},
    }
    (out / "split.json").write_text(json.dumps(split_info, indent=1) + "\n")
    if scalers_from is None:
        scaler_doc = {
            "fitted_on": "train",
            "landmarks": {"channels": "x, y, z pooled over the 33 landmarks (visibility is not scaled); x and z share "
                                      "centre 0 and one scale, so rotations about the vertical (y) commute with it",
                          **(scalers["landmarks"].to_dict() if scalers["landmarks"] else {"fitted": False})},
            "imu": {"channels": "sensor-major (6 sensors x [acc xyz, gyro xyz, euler xyz])",
                    **(scalers["imu"].to_dict() if scalers["imu"] else {"fitted": False})},
            "grf": {"channels": "plate-major (r, l) x [F/BW xyz, COP xyz (m), free moment (N m)]",
                    **(scalers["grf"].to_dict() if scalers["grf"] else {"fitted": False})},
            "video": video_stats or {"fitted": False},
        }
    else:
        scaler_doc = {**reused_doc, "fitted_on": f"{reused_doc.get('fitted_on', 'train')} of {scalers_from} (reused, "
                                                 "not refitted on this dataset)"}
    (out / "scalers.json").write_text(json.dumps(scaler_doc, indent=1) + "\n")
    (out / "class_weights.json").write_text(json.dumps({
        "classes": list(ACTIONS), "counts_train_windows": counts.tolist(),
        "class_weights": [round(float(w), 8) for w in cw],
        "definition": "w_c proportional to 1/n_c over train windows (TCN+GAT eq. 8), sum 1 over present "
                      "classes, 0 for classes absent from train",
        "sampling_weights": "<split>/sample_weights.npy: w_{c(i)} per window, normalised to sum 1",
    }, indent=1) + "\n")
    info = _dataset_info(p, faults)
    if scalers_from is not None:
        info["scalers_from"] = str(scalers_from)
    (out / "dataset.json").write_text(json.dumps(info, indent=1) + "\n")
    t_write = time.perf_counter() - t_start - t_clips

    # ---- report ----
    report = _report(p, dataset_dir, ordered, skipped, data, split_info, t_start, t_clips, t_write, workers)
    if p.plots:
        t0 = time.perf_counter()
        from .plots import plot_windows as _plot
        report["plots"] = _plot(plot_windows, Path(p.report_dir), p)
        report["timing"]["plots_s"] = round(time.perf_counter() - t0, 2)
    if p.evaluate_sync:
        rows_path = Path(p.report_dir) / "sync_offsets.json"
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        rows_path.write_text(json.dumps(report.pop("_sync_rows"), indent=0) + "\n")
        report["sync_offsets_file"] = str(rows_path)
    else:
        report.pop("_sync_rows", None)
    report["timing"]["total_s"] = round(time.perf_counter() - t_start, 2)
    report["peak_memory"] = _peak_rss_mb()
    pm = report["peak_memory"]
    pm["upper_bound_total_mb"] = round(pm["main_mb"] + workers * pm["largest_worker_mb"], 1)
    if report_json is not None:
        details = Path(p.report_dir) / "details.json"
        report["details_file"] = str(details)
        details.parent.mkdir(parents=True, exist_ok=True)
        details.write_text(json.dumps(report, indent=1) + "\n")
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps(headline(report), indent=1) + "\n")
    return report


def headline(report: dict) -> dict:
    """The few figures of reports/preprocess.json (``dvc metrics show`` / ``diff``): clips processed
    and skipped, windows per split, median sync error per stream (ms), total seconds. Everything
    else (per-clip missed frames, gap-fill RMSE, QC means, timing, memory) is in the details file
    beside it (``<report_dir>/details.json``, plain JSON)."""
    out = {"clips": report["clips"]["processed"], "skipped": report["clips"]["skipped"],
           "windows": dict(report["windows"])}
    sync = report.get("sync_accuracy") or {}
    if sync:
        out["sync_ms"] = {k: v["median_ms"] for k, v in sorted(sync.items())}
    out["seconds"] = report["timing"]["total_s"]
    return out


def _field_shape(fld: str, p: PreprocessParams) -> tuple:
    L, Tv = p.window.length, p.window.video_frames
    return {"video": (Tv, 3, p.video.height, p.video.width), "landmarks": (L, 33, 4), "imu": (L, 6, 9),
            "grf": (L, 2, 7), "modality_mask": (4,), "label": (), "frame_label": (L,), "angles": (L, 23),
            "root": (L, 6), "moments": (L, 10), "phase": (L,), "fault": (), "anthro": (3,)}[fld]


def _field_dtype(fld: str):
    return {"video": np.uint8, "modality_mask": bool, "label": np.int64, "frame_label": np.int64,
            "phase": np.int64, "fault": np.int64}.get(fld, np.float32)


def _dataset_info(p: PreprocessParams, faults) -> dict:
    from biomech.conventions import IMU_SENSORS, JOINT_ANGLES, MOMENTS, ROOT_COORDINATES
    from sigproc.phases import PHASE_NAMES
    return {
        "format_version": FORMAT_VERSION, "dataset": p.dataset, "timeline_hz": p.timeline_hz,
        "window_length": p.window.length, "window_stride": p.window.stride, "video_frames": p.window.video_frames,
        "video_size": [p.video.height, p.video.width], "classes": list(ACTIONS), "faults": list(faults),
        "phases": list(PHASE_NAMES), "modalities": list(MODALITIES), "imu_sensors": list(IMU_SENSORS),
        "imu_channels": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z",
                         f"euler_{p.attitude.euler_seq}_1", f"euler_{p.attitude.euler_seq}_2",
                         f"euler_{p.attitude.euler_seq}_3"],
        "grf_plates": ["r", "l"], "grf_channels": ["fx_bw", "fy_bw", "fz_bw", "cop_x", "cop_y", "cop_z", "free_moment"],
        "angles": list(JOINT_ANGLES), "root": list(ROOT_COORDINATES), "moments": list(MOMENTS),
        "landmark_source": p.landmarks.source,
        "landmark_source_privileged": p.landmarks.source != "world",
        "sync_landmark_source": p.sync.landmark_source,
        "sync_landmark_source_privileged": p.sync.landmark_source != "image",
        "view_normalization": ({"function": "sigproc.normalize.normalize_view", "vertical": "-y of the camera axes",
                                "hip_line": "left hip (23) -> right hip (24), window mean, along -x (facing -z)"}
                               if p.landmarks.view_normalize else None),
        "units": {"landmarks": "camera axes (x right, y down, z away), root-relative / trunk length, rotated about "
                               "y per window (view_normalization), then z-scored (scalers.json); 4th = visibility",
                  "imu": "m/s^2, rad/s, degrees, then z-scored", "grf": "BW, m, N m, then z-scored",
                  "angles": "degrees", "root": "pelvis tilt/list/rotation deg, tx/ty/tz m (ground frame, as GRF COP)",
                  "moments": "N m", "anthro": "[mass kg, height m, female: 1 / male: 0 / not stated: 0.5]",
                  "video": "uint8 on disk, the Dataset returns float32 z-scored per RGB channel"},
        "fields": {f: {"shape_per_window": list(_field_shape(f, p)), "dtype": np.dtype(_field_dtype(f)).name}
                   for f in FIELDS},
        "files": "<split>/<field>.npy (np.load(mmap_mode='r')), <split>/sample_weights.npy, <split>/index.json",
        "params": p.model_dump(),
    }


def _pick_plot_windows(data, index) -> dict:
    """One window per class (most 'core' frames), copied in physical units."""
    out = {}
    for split in SPLITS:
        a = data[split]
        for c in np.unique(a["label"]):
            if int(c) in out:
                continue
            idx = np.flatnonzero(a["label"] == c)
            core = (a["phase"][idx] == 1).sum(1)
            i = int(idx[np.argmax(core)])
            out[int(c)] = {"split": split, "clip_id": index[split]["clip_id"][i],
                           "t_start_s": index[split]["t_start_s"][i],
                           **{f: np.array(a[f][i]) for f in FIELDS}}
    return out


def _missing_frames(ordered) -> dict:
    """Video frames without a pose detection (gap-filled): totals and the count per clip (clips with any)."""
    rs = [r for r in ordered if "landmarks_missing_frames" in r["qc"]]
    per = {r["clip_id"]: int(r["qc"]["landmarks_missing_frames"]) for r in rs if r["qc"]["landmarks_missing_frames"]}
    return {"total": int(sum(per.values())), "clips_with_missing": len(per),
            "min_detected_fraction": round(min((r["qc"]["landmarks_detected_fraction"] for r in rs), default=1.0), 4),
            "per_clip": per}


def _report(p, dataset_dir, ordered, skipped, data, split_info, t_start, t_clips, t_write, workers) -> dict:
    timing_keys = ordered[0]["timing"].keys()
    per_clip = {k: round(float(np.mean([r["timing"][k] for r in ordered])), 4) for k in timing_keys}
    report = {
        "dataset": p.dataset,
        "clips": {"listed": len(ordered) + len(skipped), "processed": len(ordered), "skipped": len(skipped),
                  "skipped_clips": skipped},
        "windows": split_info["windows"],
        "athletes": {s: len(v) for s, v in split_info["athletes"].items()},
        "per_class_windows": {ACTIONS[int(c)]: int(n) for c, n in zip(*np.unique(
            np.concatenate([data[s]["label"] for s in SPLITS]), return_counts=True))},
        "modalities_present_clips": {m: sum(r["modalities"][m] for r in ordered) for m in MODALITIES},
        "sync_methods": dict(Counter(f"{k}:{s['method']}" for r in ordered for k, s in r["sync"].items())),
        "sync_failures": [{"clip_id": r["clip_id"], "stream": k, "error": s["error"]}
                          for r in ordered for k, s in r["sync"].items() if "error" in s],
        "gapfill_rmse": gapfill_rmse(ordered),
        "landmarks_missing_frames": _missing_frames(ordered),
        "idle_windows_dropped": int(sum(r["qc"].get("idle_windows_dropped", 0) for r in ordered)),
        "qc": {k: round(float(np.mean([r["qc"][k] for r in ordered if k in r["qc"]])), 5)
               for k in sorted({k for r in ordered for k in r["qc"]})},
        "timing": {"clips_s": round(t_clips, 2), "write_s": round(t_write, 2), "workers": workers,
                   "clips_per_second": round(len(ordered) / max(t_clips, 1e-9), 2),
                   "mean_per_clip_s": per_clip},
    }
    if p.evaluate_sync:
        summary, rows = sync_accuracy(dataset_dir, ordered)
        report["sync_accuracy"] = summary
        report["_sync_rows"] = rows
    return report
