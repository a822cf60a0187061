"""Controlled camera-azimuth sweep of a recognizer: the same test clips seen from every azimuth.

Per camera-azimuth bin the natural test split holds 19-60 windows (one error there moves the
figure by 2-5 points), so the per-bin accuracy of the generated viewpoints is mostly sampling
noise. The sweep is a paired design instead: every test clip is seen again from each bin-centre
azimuth (15, 45, ..., 345 deg by default), its detector-like landmarks re-derived by the
generator (``biomech.synth.landmarks_from_viewpoints``: the clip's own motion, elevation,
distance, field of view and error model; fresh error and occluder draws per azimuth) and its
landmark windows rebuilt by the preprocessing path on the clip's stored timeline
(``preprocessing.view.clip_landmark_windows``: same window starts and recovered clock offsets;
synchronisation is not re-estimated per view). The other modalities (IMU, force plates) are the
stored windows, unchanged. Every azimuth then holds every test window.

    sweep = view_sweep(trained, test_split, data_dir, info, p.view_sweep, p.bootstrap, overall)

    # the same from the command line, on any processed dataset and trained model (prints figures):
    python -m evaluation.view_sweep --data data/processed/synth --model artifacts/train/tcn \
        [--raw data/raw/synth] [--offsets reports/preprocess/sync_offsets.json] [--json out.json]

Reports per azimuth the window accuracy with a bootstrap CI over athletes, the largest gap to the
model's figure on the stored (unrotated) windows, and, as a control, the accuracy at each clip's
own azimuth with a fresh error draw (how much a re-draw alone moves the figure).
:func:`natural_bins` adds Wilson intervals to the natural per-bin table
(``evaluation.recognition.azimuth_report``) so the reader sees its sampling noise.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from evaluation import metrics as M
from evaluation.predict import Split, Trained, predict

__all__ = ["view_sweep", "sweep_landmarks", "natural_bins", "wilson_interval"]


def wilson_interval(k: int, n: int, level: float = 0.95) -> list[float] | None:
    """Wilson score interval [low, high] of k successes in n trials (None when n = 0)."""
    from scipy.stats import binomtest

    if n <= 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return [float(ci.low), float(ci.high)]


def natural_bins(azimuth: dict, level: float = 0.95) -> list[dict]:
    """The natural per-bin rows of ``azimuth_report`` with ``ci`` (Wilson) and ``errors`` added."""
    rows = []
    for b in azimuth.get("bins", []):
        n, acc = int(b["n"]), b["accuracy"]
        k = int(round(acc * n)) if acc is not None else 0
        rows.append({**b, "errors": n - k if n else 0, "ci": wilson_interval(k, n, level)})
    return rows


def _sources(data_dir: Path, info: dict, sp) -> tuple[Path, Path, object]:
    """(raw dataset dir, sync offsets file, PreprocessParams) of the processed dataset."""
    from preprocessing.params import PreprocessParams

    if "params" not in info:
        raise ValueError(f"{data_dir / 'dataset.json'}: no 'params' (the preprocess params it was built with)")
    pp = PreprocessParams(**info["params"])
    raw = Path(sp.raw_dir) if sp.raw_dir else Path(pp.raw_dir) / pp.dataset
    offsets = Path(sp.sync_offsets) if sp.sync_offsets else Path(pp.report_dir) / "sync_offsets.json"
    return raw, offsets, pp


def _clip_offsets(path: Path) -> dict[str, dict[str, float]]:
    """{clip_id: {"imu": s, "grf": s}} from the preprocess stage's sync_offsets.json."""
    rows = json.loads(path.read_text())
    return {r["clip_id"]: {k: float(v["offset_s"]) for k, v in r.items() if isinstance(v, dict) and "offset_s" in v}
            for r in rows}


def _clip_views(job: tuple) -> tuple[list[np.ndarray], float, float]:
    """One clip of the sweep (a worker's unit): its landmark windows per view and the seconds spent
    deriving the views and building the windows. ``job`` = (clip_dir, azimuths, window starts,
    timeline t0, recovered offsets, PreprocessParams, scalers)."""
    from biomech.synth import landmarks_from_viewpoints
    from preprocessing.view import clip_landmark_windows

    clip_dir, azs, starts, t0, offsets, pp, scalers = job
    t1 = time.perf_counter()
    views = landmarks_from_viewpoints(clip_dir, azs)
    t2 = time.perf_counter()
    wins = clip_landmark_windows(clip_dir, views, starts, t0, offsets, pp, scalers)
    return wins, t2 - t1, time.perf_counter() - t2


def _init_worker() -> None:
    torch.set_num_threads(1)


def _map_clips(jobs: list[tuple], workers: int):
    """``_clip_views`` over ``jobs`` in order: in this process (``workers`` 1) or on ``workers``
    spawn processes (each clip's draws are seeded by its own seed and azimuth, so the windows do
    not depend on which process derives them)."""
    if workers <= 1 or len(jobs) < 2:
        yield from map(_clip_views, jobs)
        return
    from multiprocessing import get_context

    # spawn, not fork: forking after torch initialised its thread pool can deadlock
    with get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
        yield from pool.imap(_clip_views, jobs, chunksize=4)


def sweep_landmarks(split: Split, data_dir: Path, info: dict, azimuths_deg: list[float], sp,
                    progress: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Landmark windows of every window of ``split`` seen from each azimuth (and, with
    ``sp.own_view``, from each clip's own azimuth with a fresh draw under the key "own"):
    ({key: (N, L, 33, 4) float32}, timing), derived on ``sp.workers`` processes. Raises
    FileNotFoundError / ValueError naming what is missing."""
    raw, offsets_file, pp = _sources(data_dir, info, sp)
    for path in (raw, offsets_file):
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found (the view sweep needs the raw clips and the preprocess "
                                    "stage's recovered clock offsets; evaluate.view_sweep.raw_dir / sync_offsets)")
    offsets = _clip_offsets(offsets_file)
    scalers = json.loads((data_dir / "scalers.json").read_text())
    meta = split.meta
    for key in ("start", "t_start_s"):
        if key not in meta:
            raise ValueError(f"{data_dir / split.name / 'index.json'}: no per-window {key!r}")
    clip_ids = meta["clip_id"].astype(str)
    keys = [f"{a:g}" for a in azimuths_deg] + (["own"] if sp.own_view else [])
    n, L = len(split), int(pp.window.length)
    out = {k: np.zeros((n, L, 33, 4), np.float32) for k in keys}
    jobs, clip_rows = [], []
    for clip in dict.fromkeys(clip_ids):
        rows = np.flatnonzero(clip_ids == clip)
        clip_dir = raw / str(meta["athlete_id"][rows[0]]) / clip
        if clip not in offsets:
            raise ValueError(f"{offsets_file}: no recovered clock offsets for clip {clip}")
        starts = np.asarray(meta["start"][rows], dtype=np.int64)
        t0 = float(meta["t_start_s"][rows[0]]) - int(starts[0]) / pp.timeline_hz
        azs = list(azimuths_deg)
        if sp.own_view:
            azs.append(float(json.loads((clip_dir / "meta.json").read_text())["video"]["camera"]["azimuth_deg"]))
        jobs.append((clip_dir, azs, starts, t0, offsets[clip], pp, scalers))
        clip_rows.append(rows)
    t_derive = t_windows = 0.0
    t0 = time.perf_counter()
    results = _map_clips(jobs, sp.workers)
    for rows, (wins, td, tw) in tqdm(zip(clip_rows, results), total=len(jobs), desc="view sweep", unit="clip",
                                     disable=not progress, file=sys.stderr):
        t_derive += td
        t_windows += tw
        for k, w in zip(keys, wins):
            out[k][rows] = w
    # derive_s / windows_s: summed over the clips (CPU-bound work, in whichever process); wall_s: elapsed
    return out, {"derive_s": round(t_derive, 2), "windows_s": round(t_windows, 2),
                 "wall_s": round(time.perf_counter() - t0, 2), "workers": int(sp.workers)}


def _with_landmarks(split: Split, landmarks: np.ndarray) -> Split:
    """A copy of ``split`` whose batches carry ``landmarks`` (rows in split order)."""
    batches, i = [], 0
    for b in split.batches:
        m = b["label"].shape[0]
        batches.append({**b, "landmarks": torch.from_numpy(landmarks[i:i + m])})
        i += m
    return Split(split.name, batches, split.label, split.fault, split.mask, split.meta)


def _accuracy_row(correct: np.ndarray, y: np.ndarray, lp: np.ndarray, athletes, boot) -> dict:
    ci = M.bootstrap_ci(y, lp, athletes, M.accuracy, n_boot=boot.n_boot, seed=boot.seed, level=boot.level)
    return {"accuracy": float(correct.mean()), "ci": [ci["low"], ci["high"]], "n": int(len(correct)),
            "errors": int((~correct).sum())}


def view_sweep(trained: Trained, split: Split, data_dir: str | Path, info: dict, sp, boot,
               overall: float | None = None, progress: bool = True) -> dict:
    """Window accuracy of ``trained`` on ``split`` seen from each of ``sp.azimuths_deg`` (see the
    module docstring). ``overall``: the model's accuracy on the stored windows (computed when
    None). Returns {"available": False, "reason"} when the model reads no landmarks or the raw
    clips / offsets are missing, else {"available", "azimuths": [{azimuth_deg, accuracy, ci, n,
    errors, gap}], "own_view", "overall", "max_gap", "spread", "wrong_in_every_view" / "wrong_in_some_view"
    (windows misclassified from every / at least one sweep azimuth), "n_windows", "n_clips", "timing"}."""
    data_dir = Path(data_dir)
    if "landmarks" not in trained.modalities:
        return {"available": False, "reason": f"{trained.name} reads no landmarks"}
    if len(split) == 0:
        return {"available": False, "reason": f"the {split.name} split is empty"}
    t0 = time.perf_counter()
    try:
        views, timing = sweep_landmarks(split, data_dir, info, list(sp.azimuths_deg), sp, progress)
    except (FileNotFoundError, ValueError) as exc:
        return {"available": False, "reason": str(exc)}
    K = len(info["classes"])
    y, athletes = split.label, split.meta["athlete_id"]
    if overall is None:
        overall = M.accuracy(y, predict(trained, split, K)["log_prob"])
    t1 = time.perf_counter()
    rows, own, correct = [], None, []
    for key, lm in views.items():
        lp = predict(trained, _with_landmarks(split, lm), K)["log_prob"]
        row = _accuracy_row(lp.argmax(1) == y, y, lp, athletes, boot)
        if key == "own":
            own = {**row, "gap": row["accuracy"] - overall}
        else:
            rows.append({"azimuth_deg": float(key), **row, "gap": row["accuracy"] - overall})
            correct.append(lp.argmax(1) == y)
    correct = np.stack(correct)                                   # (azimuths, windows)
    timing["predict_s"] = round(time.perf_counter() - t1, 2)
    timing["total_s"] = round(time.perf_counter() - t0, 2)
    accs = [r["accuracy"] for r in rows]
    return {"available": True, "model": trained.name, "overall": float(overall), "azimuths": rows, "own_view": own,
            "max_gap": float(max(abs(a - overall) for a in accs)), "spread": float(max(accs) - min(accs)),
            "wrong_in_every_view": int((~correct).all(0).sum()), "wrong_in_some_view": int((~correct).any(0).sum()),
            "n_windows": int(len(split)), "n_clips": int(len(set(split.meta["clip_id"].tolist()))),
            "n_athletes": int(len(set(athletes.tolist()))),
            "sync": "clock offsets as recovered by the preprocess stage (not re-estimated per view); IMU and "
                    "force-plate windows unchanged", "timing": timing}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from evaluation.params import BootstrapParams, ViewSweepParams
    from evaluation.predict import load_split, load_trained

    ap = argparse.ArgumentParser(prog="python -m evaluation.view_sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="processed dataset folder (dataset.json, test/)")
    ap.add_argument("--model", required=True, help="trained model folder (model.pt / model.joblib)")
    ap.add_argument("--raw", help="raw dataset folder (default: from dataset.json params)")
    ap.add_argument("--offsets", help="sync_offsets.json of the preprocess stage (default: from dataset.json params)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="processes deriving the views (same windows as 1)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    data_dir = Path(a.data)
    info = json.loads((data_dir / "dataset.json").read_text())
    t0 = time.perf_counter()
    trained = load_trained(a.model)
    split = load_split(data_dir, a.split, 64, needs_video="video" in trained.modalities)
    sp = ViewSweepParams(raw_dir=a.raw, sync_offsets=a.offsets, workers=a.workers)
    cpu0 = time.process_time()
    r = view_sweep(trained, split, data_dir, info, sp, BootstrapParams(seed=20261122))
    cpu = time.process_time() - cpu0
    if not r["available"]:
        print(f"view sweep: not available: {r['reason']}", file=sys.stderr)
        return 1
    print(f"{trained.name} on {r['n_windows']} {a.split} windows ({r['n_clips']} clips, {r['n_athletes']} athletes); "
          f"stored windows {r['overall']:.4f}")
    for row in r["azimuths"] + ([{"azimuth_deg": "own", **r["own_view"]}] if r["own_view"] else []):
        az = row["azimuth_deg"]
        print(f"  azimuth {az if isinstance(az, str) else format(az, 'g'):>4}: {row['accuracy']:.4f} "
              f"[{row['ci'][0]:.4f}, {row['ci'][1]:.4f}]  errors {row['errors']:3d}  gap {row['gap']:+.4f}")
    print(f"windows wrong from every azimuth {r['wrong_in_every_view']}, from at least one {r['wrong_in_some_view']}")
    print(f"max gap {r['max_gap']:.4f}, spread {r['spread']:.4f}; timing {r['timing']} (wall), "
          f"{cpu:.1f} s CPU; total {time.perf_counter() - t0:.1f} s incl. loading")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
