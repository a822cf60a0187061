"""The trained torque estimators out of distribution: learned residuals vs their own physics.

    python -m evaluation.torque_learned_ood [--processed /work/main/data/processed/synth] \
        [--raw /work/main/data/raw/synth] [--models /work/main/artifacts/train] \
        [--ik-cache /work/main/.cache/feedback/ik] [--body-clips 12] [--ik-clips 16] [--out FILE.json]

Three estimators on the same 50 Hz windows: ``physics`` (an untrained ``torque_ne``: both residual
heads zero, i.e. the plain Newton-Euler), ``learned`` (the trained ``torque_ne``) and ``direct``
(the trained ``torque_direct``, the ablation baseline). Conditions:

* ``test``: the processed test windows with plates, as train@torque_* scores them (true angles and
  pelvis pose; privileged kinematics).
* ``body_table`` / ``body_perturbed``: clips simulated (``biomech.synth.simulate``, pro preset,
  exact plates) for de Leva's table body and, with the same seeds, for an athlete off the table
  (``biomech.body.perturb_body``: segment lengths +-5 %, mass distribution +-10 %); windows built by
  ``preprocessing.clip.process_recording`` (the preprocess stage's code) from the simulated
  landmarks, plates and coordinates; truth: the simulated athlete's Newton-Euler moments. The
  estimators get the stated sex, height and mass only, as in use.
* ``ik_*``: held-out pro test clips whose joint angles come from OpenSim IK of the detector-like
  world landmarks (the feedback evaluation's cache, ``evaluation.feedback.ik_angles_cached``),
  windowed by the same preprocessing; truth ``moments.sto``. ``ik_true_angles``: the same clips
  with the generator's angles (reference; ``ik_true_angles_anchored``: without their pelvis pose);
  ``ik_angles_true_root``: IK joint angles with the
  generator's pelvis pose (privileged root); ``ik_landmarks_only``: IK joint angles and pelvis pose
  from the landmarks and the camera calibration (:func:`ik_in_lab`; no privileged input);
  ``ik_angles_anchored``: IK joint angles, no pelvis pose (torque_ne anchors the pelvis on the
  plates, ``models.torque.root_anchored_q``: exact for in-place stances only).

Reports knee / hip / ankle flexion RMSE (N m) per condition and estimator.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from biomech.body import Pose, build_body, landmarks_world, perturb_body
from biomech.conventions import ACTIONS, COORDINATES, JOINT_ANGLES, MOMENTS, TRANSLATIONS
from biomech.io import RawDataError, read_json, read_mot, read_npz
from biomech.sensors import resample_at
from biomech.synth import MARGIN_S, ClipSpec, SynthConfig, newton_euler_moments, simulate
from evaluation.metrics import bootstrap_ci
from evaluation.torque_uncertainty import PRO

REPORTED = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")
ESTIMATORS = ("physics", "learned", "direct")
VIDEO_FPS = 60.0

__all__ = ["load_estimators", "windows_batch", "score", "clip_of_windows", "simulated_streams", "body_condition",
           "ik_condition", "test_condition", "evaluate"]


# --------------------------------------------------------------------------------------
# estimators and scoring
# --------------------------------------------------------------------------------------
def load_estimators(models_dir: Path) -> dict[str, torch.nn.Module]:
    """{"physics": untrained torque_ne, "learned": trained torque_ne, "direct": trained torque_direct}
    from ``models_dir/<name>/model.pt`` (training.loop's format)."""
    from models import build_model

    out = {}
    for key, name in (("learned", "torque_ne"), ("direct", "torque_direct")):
        f = Path(models_dir) / name / "model.pt"
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no trained {name} (run dvc repro train@{name})")
        ck = torch.load(f, map_location="cpu", weights_only=True)
        m = build_model(ck["model_name"], ck.get("model_cfg") or {})
        m.load_state_dict(ck["state_dict"])
        out[key] = m.eval()
        if key == "learned":
            out["physics"] = build_model(ck["model_name"], ck.get("model_cfg") or {}).eval()
    return {k: out[k] for k in ESTIMATORS}


def windows_batch(results: list[dict], with_root: bool = True) -> dict[str, torch.Tensor]:
    """The estimators' batch (physical units) from process_recording results' windows."""
    cat = {k: np.concatenate([r["arrays"][k] for r in results]) for k in ("angles", "root", "grf", "anthro", "moments")}
    batch = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in cat.items()}
    if not with_root:
        batch.pop("root")
    return batch


def predict(models: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor], chunk: int = 64) -> dict[str, np.ndarray]:
    """{estimator: (N,T,10) moments N m}."""
    out = {}
    with torch.no_grad():
        for k, m in models.items():
            parts = []
            for i in range(0, len(batch["angles"]), chunk):
                b = {f: v[i:i + chunk] for f, v in batch.items() if f != "moments"}
                parts.append(m(b)["moments"].numpy())
            out[k] = np.concatenate(parts)
    return out


def _rmse(p: np.ndarray, t: np.ndarray, j: int) -> float:
    return float(np.sqrt(np.mean((p[..., j] - t[..., j]) ** 2)))


def score(preds: dict[str, np.ndarray], target: np.ndarray, clips: np.ndarray | None = None,
          n_boot: int = 1000, seed: int = 0) -> dict:
    """{"n_windows", "rmse": {estimator: {<coordinate>_moment: N m}}} over every frame (N,T,10);
    with ``clips`` (N,) (the clip of each window) also "learned_minus_physics_ci95": the 95 %
    interval of the learned minus physics RMSE over ``n_boot`` resamplings of the clips."""
    t = np.asarray(target, dtype=np.float64)
    js = {f"{c}_moment": MOMENTS.index(f"{c}_moment") for c in REPORTED}
    preds = {k: np.asarray(p, dtype=np.float64) for k, p in preds.items()}
    out = {"n_windows": int(len(t)), "rmse": {k: {n: _rmse(p, t, j) for n, j in js.items()} for k, p in preds.items()}}
    if clips is not None and {"learned", "physics"} <= set(preds):
        # the project's group bootstrap (evaluation.metrics), resampling clips; it passes the
        # resampled rows as its labels, so the metric indexes the windows with them
        rows = np.arange(len(t))
        out["learned_minus_physics_ci95"] = {}
        for n, j in js.items():
            def delta(w, _unused, j=j):
                return _rmse(preds["learned"][w], t[w], j) - _rmse(preds["physics"][w], t[w], j)
            ci = bootstrap_ci(rows, np.zeros((len(t), 1)), list(clips), delta, n_boot=n_boot, seed=seed)
            out["learned_minus_physics_ci95"][n] = [ci["low"], ci["high"]]
        out["n_clips"] = int(len(np.unique(np.asarray(clips))))
    return out


def clip_of_windows(results: list[dict]) -> np.ndarray:
    """(N,) the index of the result (clip) of each window of windows_batch(results)."""
    return np.concatenate([np.full(len(r["arrays"]["angles"]), i) for i, r in enumerate(results)])


def preprocess_params(processed_dir: Path):
    """The preprocess parameters the processed dataset was built with (dataset.json)."""
    from preprocessing.params import PreprocessParams

    f = Path(processed_dir) / "dataset.json"
    if not f.is_file():
        raise FileNotFoundError(f"{f}: not a processed dataset (run the preprocess stage)")
    return PreprocessParams(**read_json(f)["params"])


# --------------------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------------------
def test_condition(models, processed_dir: Path) -> dict:
    """The processed test windows with plates (train@torque_*'s test score)."""
    from training.tasks import TorqueTask

    task = TorqueTask(Path(processed_dir), batch_size=64, seed=0)
    preds, target = {}, None
    for k, m in models.items():
        p, target, _ = task.predict(m, task.loader("test"))
        preds[k] = p
    return score(preds, target)


def _video_landmarks(athlete, sim: dict, duration: float) -> dict:
    """keypoints.npz-like dict: the athlete's noise-free world landmarks at 60 fps, hip-centred as
    MediaPipe's (they give the preprocessing its timeline and phases; the estimators never read them)."""
    tv = np.arange(int(np.floor(duration * VIDEO_FPS))) / VIDEO_FPS
    iv = torch.as_tensor(np.clip(np.round((tv + MARGIN_S) * sim["fs"]).astype(int), 0, len(sim["t"]) - 1))
    pose = sim["pose"]
    lm = landmarks_world(athlete, Pose({k: v[iv] for k, v in pose.R.items()}, {k: v[iv] for k, v in pose.p.items()}))
    lm = lm.numpy()
    lm = lm - lm[:, 23:25].mean(1, keepdims=True)
    return {"time": tv, "world": lm.astype(np.float32), "visibility": np.ones(lm.shape[:2], np.float32)}


def simulated_streams(athlete, sex: str, height: float, mass: float, action: str, seed: int,
                      duration: float = 3.0, clip_id: str = "sim"):
    """ClipStreams of one clip simulated for ``athlete`` (a Body) whose stated sex / height / mass
    are given: landmarks (:func:`_video_landmarks`), exact plates at 1 kHz on the video clock,
    coordinates at 100 Hz (angles.mot) and the athlete's Newton-Euler moments (moments.sto)."""
    from preprocessing.clip import ClipStreams

    spec = ClipSpec(clip_id, "ood", sex, height, mass, action, "none", "pro", duration, seed)
    sim = simulate(athlete, spec, PRO, SynthConfig(width=64, height=64))
    tg = np.arange(-0.05, duration + 0.05, 0.001)
    grf = {"time": tg, **{k: np.stack([resample_at(sim["t"], sim["grf"][s][k].numpy(), tg + MARGIN_S)
                                       for s in ("r", "l")], 1) for k in ("force", "cop", "free_moment")}}
    t_gt = np.arange(int(np.floor(duration * 100.0))) / 100.0
    q = sim["spline"](t_gt + MARGIN_S)
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    q[:, rot] = np.degrees(q[:, rot])
    truth = newton_euler_moments(athlete, sim, t_gt + MARGIN_S)
    meta = {"action": action, "preset": "pro", "fault": "none",
            "athlete": {"sex": sex, "height_m": height, "mass_kg": mass},
            "rates_hz": {"video": VIDEO_FPS, "grf": 1000.0}}
    return ClipStreams("ood", clip_id, "test", Path(f"simulated/{clip_id}"), meta, kp=_video_landmarks(athlete, sim, duration),
                       grf=grf, targets={"angles.mot": (t_gt, list(COORDINATES), q, {}),
                                         "moments.sto": (t_gt, list(MOMENTS), truth, {})})


def body_condition(models, p, n_clips: int, progress: bool = True) -> dict:
    """{"body_table", "body_perturbed"} scores on clips simulated for the table body and, same
    seeds, for an athlete off it (stated sex, height and mass identical)."""
    from tqdm import tqdm

    from preprocessing.clip import process_recording

    p = p.model_copy(update={"sync": p.sync.model_copy(update={"enabled": False})})  # exact clocks
    res = {"table": [], "perturbed": []}
    for i in tqdm(range(n_clips), desc="torque_learned_ood bodies", disable=not progress):
        rng = np.random.default_rng(2000 + i)
        sex = ("male", "female")[i % 2]
        height, mass = float(rng.uniform(1.55, 1.95)), float(rng.uniform(50, 95))
        table = build_body(sex, height, mass)
        for key, body in (("table", table), ("perturbed", perturb_body(table, rng))):
            cs = simulated_streams(body, sex, height, mass, ACTIONS[i % len(ACTIONS)], 70 + i, clip_id=f"b{i}{key}")
            res[key].append(process_recording(cs, p))
    out = {}
    for key, results in res.items():
        batch = windows_batch(results)
        out[f"body_{key}"] = score(predict(models, batch), batch["moments"].numpy(), clip_of_windows(results))
    return out


def ik_clips(raw_dir: Path, processed_dir: Path, cache_dir: Path, n: int) -> list[dict]:
    """Up to ``n`` pro test clips with an IK cache file, one action after the other (round robin)."""
    from evaluation.feedback import ik_cache_file, split_clips

    clips = [c for c in split_clips(raw_dir, processed_dir, "test")
             if c["meta"].get("preset") == "pro" and ik_cache_file(c, cache_dir).is_file()]
    by_action: dict[str, list] = {}
    for c in clips:
        by_action.setdefault(c["action"], []).append(c)
    out, k = [], 0
    while len(out) < n and any(k < len(v) for v in by_action.values()):
        out += [v[k] for v in by_action.values() if k < len(v)][: n - len(out)]
        k += 1
    if not out:
        raise RawDataError(f"{cache_dir}: no IK cache file for a pro test clip of {raw_dir} "
                           "(fill it with python -m evaluation.feedback --prepare test)")
    return out


def clip_streams(clip: dict, angles: tuple | None):
    """ClipStreams of a raw clip (keypoints, plates, moments.sto); ``angles``: an angles.mot tuple
    to use instead of the clip's own."""
    from preprocessing.clip import ClipStreams

    d = clip["dir"]
    _, kp = read_npz(d / "keypoints.npz", ("time", "world", "visibility"))
    _, grf = read_npz(d / "grf.npz", ("time", "force", "cop", "free_moment"))
    targets = {"angles.mot": angles or read_mot(d / "angles.mot"), "moments.sto": read_mot(d / "moments.sto")}
    return ClipStreams(clip["athlete"], clip["clip"], "test", d, clip["meta"], kp=kp, grf=grf, targets=targets)


def ik_in_lab(clip: dict, t: np.ndarray, deg: np.ndarray) -> np.ndarray:
    """IK coordinates (degrees, camera frame: the /analyze output) -> the lab frame of the plates
    with nothing privileged: pelvis rotation turned with the camera calibration
    (``biomech.ik.pelvis_to_lab``), pelvis translation from the image + world landmarks
    (``biomech.root_translation.root_in_lab``), as evaluation.torque_ik's "root: landmarks"."""
    from biomech.ik import pelvis_to_lab
    from biomech.root_translation import root_in_lab

    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    tr = [COORDINATES.index(c) for c in TRANSLATIONS]
    q = np.array(deg, dtype=float)
    q[:, rot] = np.radians(q[:, rot])
    camera = clip["meta"]["video"]["camera"]
    q = pelvis_to_lab(q, np.asarray(camera["R"]))
    q[:, rot] = np.degrees(np.unwrap(q[:, rot], axis=0))
    _, kp = read_npz(clip["dir"] / "keypoints.npz", ("time", "world", "image", "visibility"))
    q[:, tr] = root_in_lab(kp["time"], kp["world"], kp["image"], camera, t, kp["visibility"])
    return q


def ik_condition(models, p, raw_dir: Path, processed_dir: Path, cache_dir: Path, n_clips: int,
                 progress: bool = True) -> dict:
    """{"ik_true_angles", "ik_true_angles_anchored", "ik_angles_true_root", "ik_landmarks_only",
    "ik_angles_anchored"} on the same windows."""
    from tqdm import tqdm

    from evaluation.feedback import IKFailed, ik_cache_file
    from preprocessing.clip import process_recording

    true_res, ik_res, lab_res, failed = [], [], [], 0
    for c in tqdm(ik_clips(raw_dir, processed_dir, cache_dir, n_clips), desc="torque_learned_ood IK", disable=not progress):
        with np.load(ik_cache_file(c, cache_dir)) as z:
            if "error" in z.files:
                failed += 1
                continue
            t, deg = z["time"], z["deg"]
        true_res.append(process_recording(clip_streams(c, None), p))
        ik_res.append(process_recording(clip_streams(c, (t, list(COORDINATES), deg, {})), p))
        lab_res.append(process_recording(clip_streams(c, (t, list(COORDINATES), ik_in_lab(c, t, deg), {})), p))
    if not ik_res:
        raise IKFailed(f"{cache_dir}: IK failed on every selected clip")
    true_b, ik_b, lab_b = windows_batch(true_res), windows_batch(ik_res), windows_batch(lab_res)
    target, clips = true_b["moments"].numpy(), clip_of_windows(true_res)
    mixed = {**ik_b, "root": true_b["root"]}
    anchored = {k: v for k, v in ik_b.items() if k != "root"}
    true_anchored = {k: v for k, v in true_b.items() if k != "root"}
    out = {"ik_true_angles": score(predict(models, true_b), target, clips),
           "ik_true_angles_anchored": score(predict(models, true_anchored), target, clips),
           "ik_angles_true_root": score(predict(models, mixed), target, clips),
           "ik_landmarks_only": score(predict(models, lab_b), target, clips),
           "ik_angles_anchored": score(predict(models, anchored), target, clips)}
    ang = np.sqrt(np.mean((ik_b["angles"].numpy() - true_b["angles"].numpy()) ** 2, (0, 1)))
    droot = lab_b["root"].numpy() - true_b["root"].numpy()
    out["ik_clips"] = {"n": len(ik_res), "ik_failed": failed,
                       "angle_rmse_deg": {c: float(ang[JOINT_ANGLES.index(c)]) for c in REPORTED},
                       "landmark_root_rmse": {  # root: pelvis tilt, list, rotation (deg), tx, ty, tz (m)
                           "rotation_deg": float(np.sqrt(np.mean(droot[..., :3] ** 2))),
                           "translation_mm": float(1e3 * np.sqrt(np.mean(np.sum(droot[..., 3:] ** 2, -1))))}}
    return out


def evaluate(processed_dir: Path, raw_dir: Path, models_dir: Path, ik_cache: Path | None,
             body_clips: int = 12, ik_n: int = 16, progress: bool = True) -> dict:
    torch.manual_seed(0)
    models = load_estimators(models_dir)
    p = preprocess_params(processed_dir)
    out = {"test": test_condition(models, processed_dir)}
    if body_clips:
        out.update(body_condition(models, p, body_clips, progress))
    if ik_cache is not None and ik_n:
        out.update(ik_condition(models, p, raw_dir, Path(processed_dir), Path(ik_cache), ik_n, progress))
    return out


CONDITIONS = {
    "test": "processed test windows with plates (true angles and pelvis pose: privileged)",
    "body_table": "simulated clips, de Leva's table body (exact plates, true coordinates)",
    "body_perturbed": "the same seeds, athletes off the table (lengths +-5 %, mass distribution +-10 %)",
    "ik_true_angles": "IK test clips, the generator's angles and pelvis pose (privileged; reference)",
    "ik_true_angles_anchored": "the same, no pelvis pose (torque_ne anchors it: exact for in-place stances only)",
    "ik_angles_true_root": "IK joint angles, the generator's pelvis pose (privileged root)",
    "ik_landmarks_only": "IK joint angles and pelvis pose from the landmarks + camera (no privileged input)",
    "ik_angles_anchored": "IK joint angles, no pelvis pose (anchored: exact for in-place stances only)",
}


def markdown(res: dict, command: str = "") -> str:
    """The report: RMSE per condition and estimator, then learned minus physics."""
    conds = [c for c, r in res.items() if "rmse" in r]
    head = " | ".join(f"{c}" for c in REPORTED)
    lines = ["# Trained torque estimators out of distribution (`evaluation.torque_learned_ood`)", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += ["physics: untrained torque_ne (residual heads zero = plain Newton-Euler); learned: the trained "
              "torque_ne; direct: the trained torque_direct (ablation). Moment RMSE in N m over every "
              "frame of the windows.", "", "| condition | what | windows |", "|---|---|---|"]
    lines += [f"| {c} | {CONDITIONS.get(c, '')} | {res[c]['n_windows']} |" for c in conds]
    lines += ["", f"| condition | estimator | {head} |", "|---|---|" + "---|" * len(REPORTED)]
    for c in conds:
        for k in ESTIMATORS:
            lines.append(f"| {c} | {k} | " + " | ".join(f"{res[c]['rmse'][k][f'{j}_moment']:.1f}" for j in REPORTED) + " |")
    lines += ["", "Learned minus physics (N m; positive: the learned residuals make it worse), with the 95 % "
              "interval over 1000 resamplings of the clips where the clips are known:", "",
              f"| condition | {head} |", "|---|" + "---|" * len(REPORTED)]
    for c in conds:
        r = res[c]["rmse"]
        ci = res[c].get("learned_minus_physics_ci95", {})
        lines.append(f"| {c} | " + " | ".join(
            f"{r['learned'][f'{j}_moment'] - r['physics'][f'{j}_moment']:+.1f}"
            + (" [{:+.1f}, {:+.1f}]".format(*ci[f"{j}_moment"]) if ci else "") for j in REPORTED) + " |")
    ik = res.get("ik_clips")
    if ik:
        lines += ["", f"IK clips: {ik['n']} ({ik['ik_failed']} IK failures); joint-angle RMSE (deg): "
                  + ", ".join(f"{c} {v:.1f}" for c, v in ik["angle_rmse_deg"].items())
                  + f"; landmark pelvis pose RMSE: rotation {ik['landmark_root_rmse']['rotation_deg']:.1f} deg, "
                  f"translation {ik['landmark_root_rmse']['translation_mm']:.0f} mm."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluation.torque_learned_ood", description=__doc__.splitlines()[0])
    ap.add_argument("--processed", type=Path, default=Path("data/processed/synth"))
    ap.add_argument("--raw", type=Path, default=Path("data/raw/synth"))
    ap.add_argument("--models", type=Path, default=Path("artifacts/train"))
    ap.add_argument("--ik-cache", type=Path, default=Path(".cache/feedback/ik"))
    ap.add_argument("--body-clips", type=int, default=12)
    ap.add_argument("--ik-clips", type=int, default=16)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    try:
        res = evaluate(a.processed, a.raw, a.models, a.ik_cache, a.body_clips, a.ik_clips)
    except (FileNotFoundError, RawDataError, ValueError) as exc:
        print(f"torque_learned_ood: {exc}", file=sys.stderr)
        return 1
    md = markdown(res, "python -m evaluation.torque_learned_ood " + " ".join(sys.argv[1:] if argv is None else argv))
    print(md)
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))
        a.out.with_suffix(".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
