"""Robustness of trained recognizers to degraded inputs, at inference time, on the TEST windows.

    batch = occlude_landmarks(batch, 0.3, rng)           30 % of the 33 landmarks missing in each window
    batch = drop_frames(batch, 0.2, rng)                 20 % of the frames without a detection
    batch = drop_imu_sensors(batch, [2, 3])              the wrist IMUs missing
    batch = shift_clock(batch, "imu", 40.0, 50.0)        IMU stream 40 ms late against the video clock
    batch = mask_modalities(batch, ["landmarks"])        only the landmarks present
    batch = occlude_video_frames(batch, 0.3, rng, "blank", fill)   30 % of the video frames blank
    result = run_robustness(RobustnessParams(...))       every curve, for the champion and its peers

The perturbations write what preprocessing writes for data that is not there (``preprocessing``
docstring and ``preprocessing.clip.landmarks_on_timeline``):

* an absent stream is zeros (the z-scored centre) with its ``modality_mask`` entry False;
* a video frame without a pose detection has visibility 0 in every landmark and coordinates
  gap-filled from the detected frames by the project's gap filler (``sigproc.gaps.resample_uniform``,
  cubic, as the preprocess stage fills such frames);
* a landmark hidden for the whole window cannot be gap-filled from that window: its coordinates
  are the z-scored centre (0) and its visibility 0 (the detector's "not seen");
* a missing IMU sensor is zeros in its 9 channels; all six missing = the IMU stream absent
  (mask False) (``preprocessing.dataset.drop_imu_sensors``, the one implementation: training's
  per-sensor dropout, ``train.augment.imu_sensor_dropout``, writes the same);
* a residual clock error of ``k`` ms delays the stream by ``k`` ms: ``x'(t) = x(t - k)``, linear
  interpolation on the window's timeline, edges held (``resample_uniform``);
* a lost video frame (video models, ``video_models``) is either ``blank`` (the camera delivered an
  empty, black image: pixel 0 written in the model's z-scored space, ``video_blank_value``) or
  ``drop`` (the frame never arrived: the nearest delivered frame of the window stands in, the rule
  by which preprocessing picks a window's frames from the video; ties take the earlier frame).

Scores: window and clip accuracy (a clip = mean log-probability of its windows) with percentile
bootstrap CIs resampling athletes (``evaluation.metrics.bootstrap_ci``, the evaluate stage's).
Predictions go through ``evaluation.predict.predict`` (the evaluate stage's loading path); every
model sees the same perturbed windows (the random draws are seeded per curve point).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from biomech.conventions import IMU_SENSORS, MODALITIES
from evaluation import metrics as M
from evaluation.predict import Split, Trained, load_split, load_trained, predict
from preprocessing.dataset import drop_imu_sensors, mask_modalities  # shared with training (val views, augment)
from sigproc.gaps import resample_uniform

__all__ = ["RobustnessParams", "occlude_landmarks", "drop_frames", "drop_imu_sensors", "shift_clock",
           "mask_modalities", "occlude_video_frames", "video_blank_value", "point_scores", "run_robustness",
           "VIDEO_FRAME_MODES"]

VIDEO_FRAME_MODES = ("blank", "drop")

MI = {m: i for i, m in enumerate(MODALITIES)}
Batch = dict[str, torch.Tensor]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RobustnessParams(_Strict):
    """params.yaml section ``robustness``."""
    dataset: str = Field(default="synth", pattern=r"^[A-Za-z0-9_\-]+$")
    data_dir: str = "data/processed"
    train_dir: str = "artifacts/train"
    champion_file: str = "artifacts/champion.json"
    out_dir: str = "reports/robustness"              # curves (JSON, DVC plots) and details
    metrics_file: str = "reports/robustness.json"    # headline figures (committed)
    # "champion" = the recognizer named in champion_file (its curve column is called "champion")
    models: list[str] = Field(default_factory=lambda: ["champion", "tcn_landmarks", "tcn_imu"])
    seed: int = Field(default=0, ge=0)
    threads: int = Field(default=1, ge=1, le=256)
    batch_size: int = Field(default=128, ge=1, le=4096)
    n_boot: int = Field(default=500, ge=10, le=100000)
    level: float = Field(default=0.95, gt=0, lt=1)
    occlusion_fractions: list[float] = Field(default_factory=lambda: [0.0, 0.15, 0.3, 0.45])
    frame_drop_fractions: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    imu_sensors_dropped: list[int] = Field(default_factory=lambda: [0, 2, 4, 6])
    clock_shift_ms: list[float] = Field(default_factory=lambda: [-100.0, -40.0, 0.0, 40.0, 100.0])
    clock_modality: str = "imu"
    # video models (they read rendered pixels): scored on the video-frame curves only
    video_models: list[str] = Field(default_factory=list)
    video_frame_fractions: list[float] = Field(default_factory=lambda: [0.0, 0.15, 0.3, 0.45])
    video_frame_modes: list[str] = Field(default_factory=lambda: list(VIDEO_FRAME_MODES))
    # the pixel models cost 1-2.4 GFLOPs a window: score them on this many test windows, evenly
    # spaced over the split (windows are stored clip by clip, so ~every clip); null: all
    video_max_windows: int | None = Field(default=None, ge=1)
    headline_occlusion: float = Field(default=0.3, ge=0, le=1)
    headline_clock_ms: float = 40.0


# ---------------------------------------------------------------------------------- perturbations
def _present(batch: Batch, modality: str) -> torch.Tensor:
    return batch["modality_mask"][:, MI[modality]].bool()


def occlude_landmarks(batch: Batch, fraction: float, rng: np.random.Generator) -> Batch:
    """Hide ``round(fraction * 33)`` landmarks (drawn per window) for the whole window: coordinates
    0 (the z-scored centre), visibility 0. Windows without landmarks are left as they are."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"occlusion fraction {fraction} outside [0, 1]")
    lm = batch["landmarks"].clone()
    B, _, N, _ = lm.shape
    k = int(round(fraction * N))
    hide = torch.zeros(B, N, dtype=torch.bool)
    for i in range(B):
        hide[i, torch.from_numpy(rng.choice(N, size=k, replace=False))] = True
    hide &= _present(batch, "landmarks")[:, None]
    lm.masked_fill_(hide[:, None, :, None], 0.0)
    return {**batch, "landmarks": lm}


def drop_frames(batch: Batch, fraction: float, rng: np.random.Generator) -> Batch:
    """Remove ``round(fraction * T)`` frames (drawn per window, never all) as a detector that finds
    no person would: visibility 0 there and coordinates gap-filled from the other frames
    (``resample_uniform``, cubic, the preprocess stage's filler)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"frame-drop fraction {fraction} outside [0, 1)")
    lm = batch["landmarks"].clone()
    B, T, N, C = lm.shape
    k = min(int(round(fraction * T)), T - 4)    # the cubic filler needs >= 4 frames
    if k <= 0:
        return batch
    t = np.arange(T, dtype=float)
    present = _present(batch, "landmarks")
    for i in range(B):
        drop = rng.choice(T, size=k, replace=False)
        if not present[i]:
            continue
        xyz = lm[i, :, :, :3].numpy().astype(float).reshape(T, -1)
        xyz[drop] = np.nan
        filled, _ = resample_uniform(t, xyz, t, kind="cubic", nominal_hz=1.0)
        # only the dropped frames take the filler's values: the spline reproduces the detected ones
        # to rounding, not bit for bit
        fill = torch.from_numpy(filled.reshape(T, N, 3)).to(lm.dtype)
        lm[i, drop, :, :3] = fill[drop]
        lm[i, drop, :, 3] = 0.0
    return {**batch, "landmarks": lm}


def shift_clock(batch: Batch, modality: str, shift_ms: float, rate_hz: float) -> Batch:
    """Delay ``modality`` (``imu`` or ``grf``) by ``shift_ms`` against the other streams:
    x'(t) = x(t - shift) on the window's timeline (``rate_hz``), linear interpolation, edges held
    (a negative shift advances it)."""
    if modality not in ("imu", "grf", "landmarks"):
        raise ValueError(f"clock shift of {modality!r}: expected imu, grf or landmarks")
    x = batch[modality]
    if shift_ms == 0:
        return batch
    B, T = x.shape[:2]
    t = np.arange(T) / rate_hz
    flat = x.numpy().astype(float).transpose(1, 0, *range(2, x.dim())).reshape(T, -1)   # time first
    out, _ = resample_uniform(t, flat, t - shift_ms / 1000.0, kind="linear", nominal_hz=rate_hz)
    out = out.reshape(T, B, *x.shape[2:]).transpose(1, 0, *range(2, x.dim()))
    # the held edge beyond one sample (resample_uniform extrapolates one period) is the first/last value
    return {**batch, modality: torch.from_numpy(np.ascontiguousarray(out)).to(x.dtype)}


def _lost_frames(fraction: float, n_frames: int) -> int:
    """Frames lost per window at ``fraction``: ``round(fraction * n)``, at least one kept."""
    return min(int(round(fraction * n_frames)), n_frames - 1)


def occlude_video_frames(batch: Batch, fraction: float, rng: np.random.Generator, mode: str = "blank",
                         fill: Sequence[float] | torch.Tensor | None = None) -> Batch:
    """Lose ``round(fraction * Tv)`` of each window's ``Tv`` video frames (drawn per window, at least
    one kept). ``blank``: the frame is an empty image of colour ``fill`` per RGB channel in the
    model's input space (default 0, the train mean; ``video_blank_value`` gives black);
    ``drop``: the frame never arrived and the nearest delivered frame stands in (ties: the earlier).
    Windows without video are left as they are."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"video-frame fraction {fraction} outside [0, 1)")
    if mode not in VIDEO_FRAME_MODES:
        raise ValueError(f"video-frame mode {mode!r}: expected one of {VIDEO_FRAME_MODES}")
    video = batch["video"]
    B, Tv = video.shape[:2]
    k = _lost_frames(fraction, Tv)
    if k <= 0:
        return batch
    out = video.clone()
    colour = torch.zeros(video.shape[2]) if fill is None else torch.as_tensor(fill, dtype=video.dtype)
    present = _present(batch, "video")
    frames = np.arange(Tv)
    for i in range(B):
        lost = rng.choice(Tv, size=k, replace=False)
        if not present[i]:
            continue
        if mode == "blank":
            out[i, lost] = colour.view(-1, *([1] * (video.dim() - 3)))
        else:
            kept = np.setdiff1d(frames, lost)
            nearest = kept[np.abs(frames[:, None] - kept[None, :]).argmin(1)]
            out[i] = video[i, torch.from_numpy(nearest)]
    return {**batch, "video": out}


def video_blank_value(data_dir: Path) -> list[float]:
    """A black pixel (0 of 255) per RGB channel in the models' video input space: the dataset's
    ``scalers.json`` video z-scoring (``preprocessing.dataset.WindowDataset``), or 0 without it."""
    f = Path(data_dir) / "scalers.json"
    sc = json.loads(f.read_text()).get("video", {}) if f.is_file() else {}
    if "center" not in sc:
        return [0.0, 0.0, 0.0]
    return [float(-c / s) for c, s in zip(sc["center"], sc["scale"])]


# ------------------------------------------------------------------------------------------ scores
def point_scores(y: np.ndarray, log_prob: np.ndarray, split: Split, rows: np.ndarray | None, n_boot: int,
                 seed: int, level: float) -> dict:
    """Window and clip accuracy with bootstrap CIs over athletes on ``rows`` (default: all)."""
    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    if len(rows) == 0:
        return {"n": 0}
    ath, clips = split.meta["athlete_id"][rows], split.meta["clip_id"][rows]
    w = M.bootstrap_ci(y[rows], log_prob[rows], ath, M.accuracy, n_boot=n_boot, seed=seed, level=level)
    cy, clp, _, cg = M.aggregate_clips(y[rows], log_prob[rows], clips, ath)
    c = M.bootstrap_ci(cy, clp, cg, M.accuracy, n_boot=n_boot, seed=seed, level=level)
    return {"n": int(len(rows)), "n_clips": int(len(cy)), "n_athletes": w["n_groups"],
            "window_accuracy": w["value"], "window_accuracy_ci": [w["low"], w["high"]],
            "clip_accuracy": c["value"], "clip_accuracy_ci": [c["low"], c["high"]]}


# ------------------------------------------------------------------------------------------ curves
def _wrist_ankle_groups() -> dict[str, list[int]]:
    ix = {s: i for i, s in enumerate(IMU_SENSORS)}
    return {"wrists": [ix["wrist_l"], ix["wrist_r"]], "shanks": [ix["shank_l"], ix["shank_r"]],
            "pelvis_trunk": [ix["pelvis"], ix["trunk"]]}


def curve_points(p: RobustnessParams, rate_hz: float) -> dict[str, list[tuple[float | str, Callable | None]]]:
    """{curve: [(level, make_transform(rng) or None for the clean windows), ...]}: each transform
    is built with a fresh seeded rng, so every model sees the same perturbed windows."""
    S = len(IMU_SENSORS)

    def occ(f):
        return lambda rng: (lambda b: occlude_landmarks(b, f, rng))

    def frames(f):
        return lambda rng: (lambda b: drop_frames(b, f, rng))

    def imu_k(k):
        def make(rng):
            def tr(b):
                picks = [rng.choice(S, size=k, replace=False) for _ in range(b["imu"].shape[0])]
                return drop_imu_sensors(b, lambda i: picks[i])
            return tr
        return make

    def clock(ms):
        return lambda rng: (lambda b: shift_clock(b, p.clock_modality, ms, rate_hz))

    def only(keep):
        return lambda rng: (lambda b: mask_modalities(b, keep))

    def group(idx):
        return lambda rng: (lambda b: drop_imu_sensors(b, idx))

    return {   # None: the unperturbed windows (scored once)
        "occlusion": [(100.0 * f, occ(f) if f else None) for f in p.occlusion_fractions],
        "frame_drop": [(100.0 * f, frames(f) if f else None) for f in p.frame_drop_fractions],
        "imu_dropout": [(float(k), imu_k(k) if k else None) for k in p.imu_sensors_dropped],
        "imu_placement_missing": [(name, group(idx)) for name, idx in _wrist_ankle_groups().items()],
        "clock_shift": [(float(ms), clock(ms) if ms else None) for ms in p.clock_shift_ms],
        "modality_mask": [("fused", None), ("landmarks", only(["landmarks"])), ("imu", only(["imu"])),
                          ("grf", only(["grf"])), ("landmarks+imu", only(["landmarks", "imu"]))],
    }


def video_curve_points(p: RobustnessParams, fill: Sequence[float]) -> dict[str, list[tuple[float, Callable | None]]]:
    """{"video_blank" / "video_drop": [(percent of frames, make_transform(rng) or None), ...]}."""
    bad = sorted(set(p.video_frame_modes) - set(VIDEO_FRAME_MODES))
    if bad:
        raise ValueError(f"params.yaml key 'robustness.video_frame_modes': {bad} not in {list(VIDEO_FRAME_MODES)}")

    def lose(f, mode):
        return lambda rng: (lambda b: occlude_video_frames(b, f, rng, mode, fill))

    return {f"video_{mode}": [(100.0 * f, lose(f, mode) if f else None) for f in p.video_frame_fractions]
            for mode in p.video_frame_modes}


def _seed(p: RobustnessParams, curve: str, j: int) -> int:
    return int(np.random.SeedSequence([p.seed, sum(map(ord, curve)), j]).generate_state(1)[0])


def change_vs_clean(clean: np.ndarray, lp: np.ndarray) -> dict:
    """How much a perturbation moved the predictions: the share of windows whose predicted class
    changed and the mean total-variation distance between the class probabilities."""
    return {"changed_predictions": float(np.mean(clean.argmax(1) != lp.argmax(1))),
            "mean_tv_distance": float(0.5 * np.abs(np.exp(clean) - np.exp(lp)).sum(1).mean())}


def score_curves(tr: Trained, test: Split, K: int, p: RobustnessParams, points: dict, clean: np.ndarray,
                 with_change: bool = False) -> dict:
    """{curve: [{"level", window/clip accuracy + CIs}, ...]} of one model over ``points``
    (``curve_points`` / ``video_curve_points``); ``clean``: its log-probabilities unperturbed;
    ``with_change``: each point also says how far the predictions moved (``change_vs_clean``)."""
    out: dict[str, list[dict]] = {}
    for curve, pts in points.items():
        rows = []
        for j, (level, make) in enumerate(pts):
            tf = make(np.random.default_rng(_seed(p, curve, j))) if make is not None else None
            lp = predict(tr, test, K, transform=tf)["log_prob"] if tf is not None else clean
            rows.append({"level": level, **point_scores(test.label, lp, test, None, p.n_boot, p.seed, p.level),
                         **(change_vs_clean(clean, lp) if with_change else {})})
        out[curve] = rows
    return out


def model_curves(tr: Trained, test: Split, K: int, p: RobustnessParams, rate_hz: float) -> dict:
    """Every curve point of one model: {curve: [{"level", window/clip accuracy + CIs}, ...]},
    plus "preset" (pro, consumer, pro with the plates masked)."""
    y = test.label
    clean = predict(tr, test, K)["log_prob"]
    out = score_curves(tr, test, K, p, curve_points(p, rate_hz), clean)
    preset = test.meta["preset"]
    pro = np.flatnonzero(preset == "pro")
    rows = [{"level": name, **point_scores(y, clean, test, np.flatnonzero(preset == name), p.n_boot, p.seed, p.level)}
            for name in ("pro", "consumer")]
    no_plates = predict(tr, test, K, transform=lambda b: mask_modalities(b, [m for m in MODALITIES if m != "grf"]))
    rows.append({"level": "pro_without_plates", **point_scores(y, no_plates["log_prob"], test, pro, p.n_boot, p.seed,
                                                                p.level)})
    out["preset"] = rows
    return out


# ------------------------------------------------------------------------------------------- stage
def subset_split(split: Split, rows: Sequence[int], batch_size: int) -> Split:
    """The windows ``rows`` of ``split`` (in that order) as a split of their own."""
    rows = np.asarray(rows, dtype=np.int64)
    idx = torch.from_numpy(rows)
    full = {k: torch.cat([b[k] for b in split.batches])[idx] for k in split.batches[0]}
    batches = [{k: v[i:i + batch_size] for k, v in full.items()} for i in range(0, len(rows), batch_size)]
    return Split(split.name, batches, split.label[rows], split.fault[rows], split.mask[rows],
                 {k: v[rows] for k, v in split.meta.items()})


def evenly_spaced(n: int, m: int | None) -> np.ndarray:
    """``min(m, n)`` indices spread evenly over 0..n-1 (all of them for ``m`` None)."""
    if m is None or m >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, m)).astype(np.int64))


def video_model_curves(tr: Trained, test: Split, K: int, p: RobustnessParams, fill: Sequence[float]) -> dict:
    """The video-frame curves of one video model; each point also states ``frames_lost`` per window
    and how far the predictions moved; ``video_absent``: the video stream masked (mask False), the
    model on its other streams alone (how much it relies on the pixels at all)."""
    points = {**video_curve_points(p, fill),
              "video_absent": [("absent", lambda rng: (lambda b: mask_modalities(b, [m for m in MODALITIES
                                                                                     if m != "video"])))]}
    out = score_curves(tr, test, K, p, points, predict(tr, test, K)["log_prob"], with_change=True)
    Tv = int(test.batches[0]["video"].shape[1])
    for curve, rows in out.items():
        for r in rows:
            lost = Tv if curve == "video_absent" else _lost_frames(r["level"] / 100.0, Tv)
            r["frames_lost"], r["frames_per_window"] = lost, Tv
    return out


def resolve_models(p: RobustnessParams, names: Sequence[str] | None = None) -> dict[str, Path]:
    """{column name: model directory} of ``names`` (default ``p.models``); "champion" resolves
    through ``champion_file``."""
    out = {}
    for name in (p.models if names is None else names):
        real = name
        if name == "champion":
            f = Path(p.champion_file)
            if not f.is_file():
                raise FileNotFoundError(f"{f}: no champion file (run the evaluate stage)")
            real = (json.loads(f.read_text()).get("recognizer") or {}).get("name")
            if not real:
                raise ValueError(f"{f}: no recognizer champion named (key recognizer.name)")
        d = Path(p.train_dir) / real
        if not ((d / "model.pt").is_file() or (d / "model.joblib").is_file()):
            raise FileNotFoundError(f"{d}: no trained model for robustness.models entry {name!r}")
        out[name] = d
    return out


def _plot_rows(curves: dict[str, dict], curve: str) -> list[dict]:
    """One row per level, one column per model (window accuracy) plus its CI bounds."""
    names = list(curves)
    rows = []
    for j, pt in enumerate(curves[names[0]][curve]):
        row = {"level": pt["level"]}
        for n in names:
            q = curves[n][curve][j]
            row[n] = q.get("window_accuracy")
            row[f"{n}_low"], row[f"{n}_high"] = (q.get("window_accuracy_ci") or [None, None])
        rows.append(row)
    return rows


def _at(rows: list[dict], level, key: str = "window_accuracy"):
    for r in rows:
        if r["level"] == level or (isinstance(level, float) and isinstance(r["level"], float)
                                   and abs(r["level"] - level) < 1e-9):
            return r.get(key)
    return None


def headline(curves: dict[str, dict], p: RobustnessParams, names: dict[str, str]) -> dict:
    """The figures `dvc metrics show` lists: ``champion_model`` (the name behind the "champion"
    column) and per model column, clean and perturbed window accuracy and the pro - consumer gap."""
    out = {"champion_model": names.get("champion")}
    for col, c in curves.items():
        pro, con = _at(c["preset"], "pro"), _at(c["preset"], "consumer")
        out[col] = {
            "model": names[col],
            "clean_window_accuracy": _at(c["occlusion"], 0.0),
            f"occlusion_{round(100 * p.headline_occlusion)}pct_window_accuracy": _at(c["occlusion"], 100.0 * p.headline_occlusion),
            "frame_drop_max_window_accuracy": c["frame_drop"][-1]["window_accuracy"],
            "imu_all_dropped_window_accuracy": _at(c["imu_dropout"], float(len(IMU_SENSORS))),
            f"clock_plus{round(p.headline_clock_ms)}ms_window_accuracy": _at(c["clock_shift"], float(p.headline_clock_ms)),
            "pro_window_accuracy": pro, "consumer_window_accuracy": con,
            "pro_consumer_gap": (pro - con) if pro is not None and con is not None else None,
            "pro_without_plates_window_accuracy": _at(c["preset"], "pro_without_plates"),
            "landmarks_only_window_accuracy": _at(c["modality_mask"], "landmarks"),
            "imu_only_window_accuracy": _at(c["modality_mask"], "imu"),
        }
    return out


def video_headline(curves: dict[str, dict], names: dict[str, str]) -> dict:
    """Per video model: clean window accuracy and at the largest share of frames lost, per mode."""
    out = {}
    for col, c in curves.items():
        first = next(iter(c.values()))
        row = {"model": names[col], "video_clean_window_accuracy": first[0]["window_accuracy"]}
        for curve, rows in c.items():
            if curve == "video_absent":
                row["video_absent_window_accuracy"] = rows[0]["window_accuracy"]
                row["video_absent_changed_predictions"] = rows[0]["changed_predictions"]
            else:
                row[f"{curve}_{round(rows[-1]['level'])}pct_window_accuracy"] = rows[-1]["window_accuracy"]
                row[f"{curve}_{round(rows[-1]['level'])}pct_changed_predictions"] = rows[-1]["changed_predictions"]
        out[col] = row
    return out


def run_robustness(p: RobustnessParams) -> dict:
    """Score every model of ``p.models`` under every perturbation; write the plots, the details and
    the headline metrics. Returns the headline dict."""
    torch.set_num_threads(p.threads)
    data_dir = Path(p.data_dir) / p.dataset
    if not (data_dir / "dataset.json").is_file():
        raise FileNotFoundError(f"{data_dir}: not a processed dataset (run the preprocess stage)")
    info = json.loads((data_dir / "dataset.json").read_text())
    K, rate = len(info["classes"]), float(info.get("timeline_hz", 50.0))
    models = {col: load_trained(d) for col, d in resolve_models(p).items()}
    bad = [col for col, t in models.items() if t.kind == "torque" or "video" in t.modalities]
    if bad:
        raise ValueError(f"robustness.models {bad}: torque estimators and video models are not scored here "
                         "(recognizers on landmarks / IMU / plates only; video models go in robustness.video_models)")
    video_models = {col: load_trained(d) for col, d in resolve_models(p, p.video_models).items()}
    bad = [col for col, t in video_models.items() if t.kind == "torque" or "video" not in t.modalities]
    if bad:
        raise ValueError(f"robustness.video_models {bad}: these models read no video (expected recognizers "
                         "with the 'video' modality)")
    test = load_split(data_dir, "test", p.batch_size, needs_video=bool(video_models))
    curves = {col: model_curves(t, test, K, p, rate)
              for col, t in tqdm(models.items(), desc="robustness", unit="model", file=sys.stderr)}
    fill = video_blank_value(data_dir)
    vtest = test
    if video_models and p.video_max_windows is not None and p.video_max_windows < len(test):
        vtest = subset_split(test, evenly_spaced(len(test), p.video_max_windows), p.batch_size)
    vcurves = {col: video_model_curves(t, vtest, K, p, fill)
               for col, t in tqdm(video_models.items(), desc="robustness (video frames)", unit="model",
                                  file=sys.stderr)}
    names = {col: t.path.name for col, t in {**models, **video_models}.items()}
    out = Path(p.out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for group in (curves, vcurves):
        for curve in (next(iter(group.values())) if group else ()):
            (out / "plots" / f"{curve}.json").write_text(json.dumps(_plot_rows(group, curve), indent=1) + "\n")
    (out / "details.json").write_text(json.dumps({"models": names, "n_test": len(test), "params": p.model_dump(),
                                                  "curves": curves, "video_curves": vcurves,
                                                  "n_test_video": len(vtest),
                                                  "video_blank_value": fill}, indent=1) + "\n")
    head = {**headline(curves, p, {c: names[c] for c in curves}), **video_headline(vcurves, names)}
    Path(p.metrics_file).parent.mkdir(parents=True, exist_ok=True)
    Path(p.metrics_file).write_text(json.dumps(head, indent=1) + "\n")
    return head
