"""Synthesis of one multimodal clip: one motion drives every modality.

plan (action design) -> solve (IK, CoM-driven pelvis) -> q(t) as a C2 spline ->
segment kinematics at the simulation rate -> ground reaction (whole-body dynamics) ->
Newton-Euler and OpenSim inverse dynamics (ground truth) -> IMU, force plates, landmarks and
video through their own clocks (offsets, drift, jitter, dropped samples) -> raw-layout files.
"""
from __future__ import annotations

import gc
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from biomech import camera as cam
from biomech import render
from biomech.actions import build_plan
from biomech.actions.common import ActionContext
from biomech.body import (
    Body, Pose, build_body, capsule_specs, forward_kinematics, landmark_owner_capsules, landmarks_world,
)
from biomech.conventions import (
    ACTIONS, COORDINATES, GRAVITY, GRF_COLUMNS, IMU_CHANNELS, IMU_SENSORS, JOINT_ANGLES,
    MOMENT_COORDINATES, MOMENTS, TRANSLATIONS,
)
from biomech.dynamics import (
    body_state, kinematics_from_state, newton_euler_leg_moments, split_ground_reaction,
    whole_body_wrench,
)
from biomech.io import read_mot, sha256, write_mot, write_npz
from biomech.kinematics import solve_motion
from biomech.opensim_model import InverseDynamics
from sigproc.filters import butter_lowpass
from biomech.sensors import ImuSpec, StreamClock, add_imu_errors, drop_mask, ideal_imu, resample_at

MARGIN_S = 0.15  # motion simulated before and after the recorded window (clock offsets <= 0.1 s)
GENERATOR_VERSION = "1.0"


class ClipGenerationError(RuntimeError):
    """Generation of one clip failed; the message names the clip and its seed."""


@dataclass(frozen=True)
class Preset:
    name: str
    video_fps: float
    imu: ImuSpec
    grf_rate_hz: float | None  # None: no force plate


@dataclass(frozen=True)
class SynthConfig:
    design_rate_hz: float = 200.0
    sim_rate_hz: float = 250.0
    kinematics_cutoff_hz: float | None = 12.0
    max_foot_error_m: float = 0.03
    max_redraws: int = 24  # 8 left ~1 % of standing-long-jump stiff landings without a draw (2 of 160)
    gt_rate_hz: float = 100.0
    width: int = 128
    height: int = 128
    max_offset_s: float = 0.1
    drop_fraction: tuple[float, float] = (0.01, 0.05)
    clock_drift_ppm: float = 100.0
    jitter_fraction: float = 0.05  # SD of sample-time jitter as a fraction of the period
    landmark_noise: float = 0.004  # SD of image-normalised x, y noise when landmark_error is off
    landmark_error: cam.LandmarkError = field(default_factory=cam.LandmarkError)
    view: cam.ViewDistribution = field(default_factory=cam.ViewDistribution)
    plate_noise_n: float = 1.5
    plate_drift_n: float = 5.0
    presets: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ClipSpec:
    clip_id: str
    athlete_id: str
    sex: str
    height: float
    mass: float
    action: str
    fault: str
    preset: str
    duration: float
    seed: int


def sim_rate(preset: Preset, cfg: "SynthConfig") -> float:
    """Rate of the simulated kinematics and dynamics. Streams faster than this sample the
    exact kinematics by linear interpolation (the designed motions have no content above
    ~25 Hz); their noise and errors are added at the stream's own rate."""
    return float(cfg.sim_rate_hz)


def _rng(seed: int, stream: str) -> np.random.Generator:
    """Independent, reproducible random stream per (clip seed, purpose)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *map(ord, stream)]))


def simulate(body: Body, spec: ClipSpec, preset: Preset, cfg: SynthConfig) -> dict:
    """Motion and ground truth at the simulation rate (no sensor errors yet)."""
    total = spec.duration + 2 * MARGIN_S
    # A style draw whose feet cannot reach their planned poses (IK miss > max_foot_error_m) is
    # redrawn from the next random stream of the same clip seed; the redraws are recorded.
    for attempt in range(cfg.max_redraws + 1):
        ctx = ActionContext(body, _rng(spec.seed, "plan" if attempt == 0 else f"plan{attempt}"),
                            cfg.design_rate_hz, total, spec.fault)
        plan = build_plan(spec.action, ctx)
        q_design, info = solve_motion(body, plan)
        if info["foot_error_max_m"] <= cfg.max_foot_error_m:
            break
    else:
        raise ClipGenerationError(
            f"clip {spec.clip_id} (athlete {spec.athlete_id}, action {spec.action}, fault "
            f"{spec.fault}, seed {spec.seed}): no style draw within {cfg.max_redraws + 1} attempts "
            f"keeps the feet within {cfg.max_foot_error_m} m of their plan "
            f"(last miss {info['foot_error_max_m']:.3f} m)")
    info["redraws"] = attempt
    if cfg.kinematics_cutoff_hz:
        # Standard inverse-dynamics practice: zero-lag low-pass of the joint kinematics, which
        # also removes the IK's residual high-frequency content at contact transitions.
        q_design = butter_lowpass(q_design, cfg.design_rate_hz, cfg.kinematics_cutoff_hz, order=4)
    t_design = plan.t
    spline = CubicSpline(t_design, q_design, axis=0, bc_type="natural")
    fs = sim_rate(preset, cfg)
    t = np.arange(int(np.floor(t_design[-1] * fs)) + 1) / fs
    q, qd, qdd = spline(t), spline(t, 1), spline(t, 2)
    qt = torch.as_tensor(q)
    state = body_state(body, qt, torch.as_tensor(qd), torch.as_tensor(qdd))
    pose = state.pose
    kin = kinematics_from_state(body, state)
    F, N = whole_body_wrench(body, pose, kin)
    idx = np.clip(np.round(t * cfg.design_rate_hz).astype(int), 0, len(t_design) - 1)
    contact = {s: plan.feet[s].contact[idx] for s in ("r", "l")}
    load = None
    if all(plan.feet[s].load is not None for s in ("r", "l")):
        load = {s: np.asarray(plan.feet[s].load)[idx] for s in ("r", "l")}
    grf = split_ground_reaction(body, pose, F, N, contact, load, contact_rate_hz=fs)
    ne = newton_euler_leg_moments(body, pose, kin, qt, grf)
    return {"t": t, "fs": fs, "q": q, "qd": qd, "qdd": qdd, "spline": spline, "pose": pose, "kin": kin, "grf": grf,
            "ne": {k: v.numpy() for k, v in ne.items()}, "plan": plan, "state": state, "solve_info": info,
            "contact": contact, "F_total": F.numpy()}


_ID_CACHE: dict = {}


def _inverse_dynamics(body: Body) -> InverseDynamics:
    """One OpenSim model per athlete and process (building it costs ~50 ms)."""
    key = (body.sex, body.height, body.mass)
    if key not in _ID_CACHE:
        if len(_ID_CACHE) > 64:
            _ID_CACHE.clear()
        _ID_CACHE[key] = InverseDynamics(body)
    return _ID_CACHE[key]


def state_at(body: Body, sim: dict, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """q, qd, qdd (n, 29) from the motion's C2 spline and the per-foot ground reaction (linear
    between simulation samples, as the plates sample it) at exact simulation times `times`:
    ground truth at its own rate, not at the nearest simulation sample (100 Hz on a 250 Hz
    simulation would alternate 0 / 2 ms of timing error)."""
    sp = sim["spline"]
    grf = {s: {k: torch.as_tensor(resample_at(sim["t"], g[k].numpy(), times)) for k in ("force", "cop", "free_moment")}
           for s, g in sim["grf"].items()}
    return sp(times), sp(times, 1), sp(times, 2), grf


def opensim_moments(body: Body, sim: dict, times: np.ndarray, idm: InverseDynamics | None = None) -> np.ndarray:
    """OpenSim generalized forces (n, len(COORDINATES)) at simulation times `times`."""
    q, qd, qdd, grf = state_at(body, sim, times)
    pose = forward_kinematics(body, torch.as_tensor(q))
    idm = idm or _inverse_dynamics(body)
    wrench = {}
    for s in ("r", "l"):
        F, cop = grf[s]["force"].numpy(), grf[s]["cop"].numpy()
        M = np.cross(cop - pose.p[f"foot_{s}"].numpy(), F)
        M[:, 1] += grf[s]["free_moment"].numpy()
        wrench[s] = (F, M)
    return idm.solve(q, qd, qdd, wrench)


def newton_euler_moments(body: Body, sim: dict, times: np.ndarray) -> np.ndarray:
    """Newton-Euler moments (n, 10) in MOMENT_COORDINATES order at simulation times `times`."""
    q, qd, qdd, grf = state_at(body, sim, times)
    qt = torch.as_tensor(q)
    st = body_state(body, qt, torch.as_tensor(qd), torch.as_tensor(qdd))
    ne = newton_euler_leg_moments(body, st.pose, kinematics_from_state(body, st), qt, grf)
    return np.stack([ne[c].numpy() for c in MOMENT_COORDINATES], -1)


def _conventions() -> dict:
    return {
        "world_frame": "OpenSim ground: X forward (initial facing direction), Y up, Z right; floor y=0",
        "clock": "video clock is the reference; a sample stamped t in a stream with clock offset o "
                 "was measured at video time t + o",
        "angles": "OpenSim coordinate names; signs of the Rajagopal 2016 model (see "
                  "biomech/conventions.py): hip/knee flexion +, ankle dorsiflexion +, hip "
                  "adduction +, hip internal rotation +, knee adduction + = varus",
        "angle_units": "degrees in files (inDegrees=yes), pelvis_t* in metres",
        "moments": "net joint moments applied by the proximal on the distal segment about the "
                   "coordinate axis, OpenSim generalized-force signs, N m",
    }


def write_clip(spec: ClipSpec, preset: Preset, cfg: SynthConfig, out_dir: Path,
               idm: InverseDynamics | None = None) -> dict:
    """Simulate one clip and write it in the raw layout; returns manifest rows + summary."""
    # A clip allocates many short-lived containers (per-frame draw lists, tensors); with the
    # cyclic garbage collector on, its passes over the process' long-lived objects (torch,
    # OpenSim) cost ~5-10 % of the clip. Off for the clip, restored afterwards.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _write_clip(spec, preset, cfg, Path(out_dir), idm)
    except ClipGenerationError:
        raise
    except Exception as exc:
        raise ClipGenerationError(
            f"clip {spec.clip_id} (athlete {spec.athlete_id}, action {spec.action}, fault "
            f"{spec.fault}, seed {spec.seed}) failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if gc_was_enabled:
            gc.enable()


def _write_clip(spec: ClipSpec, preset: Preset, cfg: SynthConfig, root: Path,
                idm: InverseDynamics | None) -> dict:
    body = build_body(spec.sex, spec.height, spec.mass)
    sim = simulate(body, spec, preset, cfg)
    fs, t_sim = sim["fs"], sim["t"]
    D = spec.duration
    clip_dir = root / spec.athlete_id / spec.clip_id
    clip_dir.mkdir(parents=True, exist_ok=True)
    rng_clock = _rng(spec.seed, "clocks")
    offsets = {k: float(rng_clock.uniform(-cfg.max_offset_s, cfg.max_offset_s)) for k in ("imu", "grf")}
    drops = {k: float(rng_clock.uniform(*cfg.drop_fraction)) for k in ("video", "imu", "grf")}
    drift = {k: float(rng_clock.uniform(-cfg.clock_drift_ppm, cfg.clock_drift_ppm)) for k in ("imu", "grf")}

    # ---------------- video + landmarks (reference clock) ----------------
    rng_v = _rng(spec.seed, "video")
    n_frames = int(np.floor(D * preset.video_fps))
    keep_v = drop_mask(n_frames, drops["video"], rng_v, max_burst=2)
    frame_idx = np.nonzero(keep_v)[0]
    t_frames = frame_idx / preset.video_fps
    iv = np.clip(np.round((t_frames + MARGIN_S) * fs).astype(int), 0, len(t_sim) - 1)
    pose = sim["pose"]
    ivt = torch.as_tensor(iv)
    pose_v = Pose({k: v[ivt] for k, v in pose.R.items()}, {k: v[ivt] for k, v in pose.p.items()})  # video frames
    caps = _capsules(body, pose_v)
    pts = np.concatenate([np.stack([c.p0, c.p1], 1) for c in caps], axis=1)
    camera, viewpoint = cam.tracking_camera(pts, cfg.width, cfg.height, rng_v, body_height=body.height,
                                            fps=preset.video_fps, view=cfg.view)
    frames, rinfo = render.render_video(caps, camera, preset.video_fps, len(frame_idx), rng_v,
                                        return_info=True)
    render.write_mp4(clip_dir / "video.mp4", frames, preset.video_fps)
    lm = landmarks_world(body, pose_v).numpy()
    landmarks, landmark_truth = _detected_landmarks(lm, body, caps, camera, rinfo, frame_idx, preset.video_fps, cfg,
                                                    _rng(spec.seed, "landmarks"))
    _write_keypoints(clip_dir / "keypoints.npz", t_frames, frame_idx, landmarks, preset, cfg)

    # ---------------- IMU ----------------
    rng_i = _rng(spec.seed, "imu")
    ideal = ideal_imu(body, sim["state"], rng_i)
    imu_clock = StreamClock(preset.imu.rate_hz, offsets["imu"], drift["imu"],
                            cfg.jitter_fraction / preset.imu.rate_hz, drops["imu"])
    stamps, true_t = imu_clock.sample(D, rng_i)
    acc = np.empty((len(stamps), len(IMU_SENSORS), 3))
    gyro = np.empty_like(acc)
    for k, name in enumerate(IMU_SENSORS):
        a = resample_at(t_sim, ideal[name]["acc"], true_t + MARGIN_S)
        g = resample_at(t_sim, ideal[name]["gyro"], true_t + MARGIN_S)
        acc[:, k], gyro[:, k] = add_imu_errors(a, g, preset.imu, rng_i)
    write_npz(
        clip_dir / "imu.npz",
        {"sensors": list(IMU_SENSORS), "channels": list(IMU_CHANNELS),
         "time": "s, the IMU's own clock (see meta.json conventions.clock); dropped samples are "
                 "missing rows",
         "acc": "m/s^2, specific force in the sensor frame, gravity included (+9.81 on the "
                "upward axis at rest)",
         "gyro": "rad/s, angular velocity of the sensor in the sensor frame",
         "sensor_frame": "the segment frame (X anterior, Y proximal, Z right) rotated by the "
                         "mounting misalignment given in meta.json",
         "rate_hz": preset.imu.rate_hz, "saturation": {"acc": preset.imu.acc_range,
                                                       "gyro": preset.imu.gyro_range}},
        time=stamps, acc=acc.astype(np.float32), gyro=gyro.astype(np.float32),
    )

    # ---------------- force plates ----------------
    files = ["video.mp4", "keypoints.npz", "imu.npz"]
    if preset.grf_rate_hz:
        rng_g = _rng(spec.seed, "grf")
        clock = StreamClock(preset.grf_rate_hz, offsets["grf"], drift["grf"],
                            cfg.jitter_fraction / preset.grf_rate_hz, drops["grf"])
        stamps_g, true_g = clock.sample(D, rng_g)
        force = np.empty((len(stamps_g), 2, 3))
        cop = np.empty_like(force)
        free = np.empty((len(stamps_g), 2))
        for k, s in enumerate(("r", "l")):
            g = sim["grf"][s]
            f = resample_at(t_sim, g["force"].numpy(), true_g + MARGIN_S)
            c = resample_at(t_sim, g["cop"].numpy(), true_g + MARGIN_S)
            m = resample_at(t_sim, g["free_moment"].numpy(), true_g + MARGIN_S)
            zero = rng_g.uniform(-1, 1, 3) * cfg.plate_drift_n * np.array([1.0, 2.0, 1.0])
            slope = rng_g.uniform(-1, 1, 3) * cfg.plate_drift_n / D
            f = f + zero + np.outer(stamps_g, slope) + rng_g.normal(0, cfg.plate_noise_n, f.shape)
            loaded = f[:, 1] > 20.0
            c = np.where(loaded[:, None], c + rng_g.normal(0, 0.002, c.shape) * [1, 0, 1], 0.0)
            m = np.where(loaded, m + rng_g.normal(0, 0.2, m.shape), 0.0)
            force[:, k], cop[:, k], free[:, k] = f, c, m
        write_npz(
            clip_dir / "grf.npz",
            {"plates": ["r", "l"], "columns": list(GRF_COLUMNS),
             "time": "s, the force plates' own clock; dropped samples are missing rows",
             "force": "N, force the plate applies to the foot, lab frame (X forward, Y up, Z right)",
             "cop": "m, centre of pressure in the lab frame (0 when the plate is unloaded, Fy < 20 N)",
             "free_moment": "N m, free moment about +Y", "rate_hz": preset.grf_rate_hz,
             "errors": "zero offset + linear drift + white noise on force; drift is removable "
                       "from unloaded periods"},
            time=stamps_g, force=force.astype(np.float32), cop=cop.astype(np.float32),
            free_moment=free.astype(np.float32),
        )
        files.append("grf.npz")

    # ---------------- ground truth ----------------
    t_gt = np.arange(int(np.floor(D * cfg.gt_rate_hz))) / cfg.gt_rate_hz
    q_gt = sim["spline"](t_gt + MARGIN_S)
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    q_gt[:, rot] = np.degrees(q_gt[:, rot])
    write_mot(clip_dir / "angles.mot", t_gt, list(COORDINATES), q_gt, in_degrees=True,
              name=f"{spec.clip_id}_angles")
    tau = opensim_moments(body, sim, t_gt + MARGIN_S, idm)
    names = [f"{c}_force" if c in TRANSLATIONS else f"{c}_moment" for c in COORDINATES]
    write_mot(clip_dir / "moments.sto", t_gt, names, tau, in_degrees=False,
              name=f"{spec.clip_id}_inverse_dynamics")
    ne = newton_euler_moments(body, sim, t_gt + MARGIN_S)
    write_mot(clip_dir / "moments_ne.sto", t_gt, list(MOMENTS), ne, in_degrees=False,
              name=f"{spec.clip_id}_newton_euler")
    files += ["angles.mot", "moments.sto", "moments_ne.sto"]

    # ---------------- meta ----------------
    plan = sim["plan"]
    pelvis_res = np.abs(tau[:, :6])
    meta = {
        "clip_id": spec.clip_id, "athlete_id": spec.athlete_id, "dataset_kind": "synthetic",
        "action": spec.action, "action_index": ACTIONS.index(spec.action),
        "fault": spec.fault, "preset": preset.name, "duration_s": D, "seed": spec.seed,
        "athlete": body.to_dict(),
        "rates_hz": {"video": preset.video_fps, "imu": preset.imu.rate_hz,
                     "grf": preset.grf_rate_hz, "ground_truth": cfg.gt_rate_hz, "simulation": fs},
        "video": {"width": cfg.width, "height": cfg.height, "camera": {**viewpoint, **camera.to_dict()}},
        "modalities": {"video": True, "landmarks": True, "imu": True,
                       "grf": bool(preset.grf_rate_hz)},
        "files": {
            "video.mp4": "RGB video, delivered frames only (see keypoints.npz time/frame_index)",
            "keypoints.npz": "33 MediaPipe landmarks per delivered frame; units in its header",
            "imu.npz": "6 IMUs; units in its header",
            **({"grf.npz": "2 force plates (r, l feet); units in its header"} if preset.grf_rate_hz else {}),
            "angles.mot": "ground-truth coordinates, OpenSim names, degrees (pelvis_t* in m), video clock",
            "moments.sto": "OpenSim inverse dynamics generalized forces (N m; pelvis_t*_force in N)",
            "moments_ne.sto": "independent Newton-Euler hip/knee/ankle moments (N m)",
        },
        "conventions": _conventions(),
        "imu_mounts": {n: {"segment": ideal[n]["segment"], "offset_m": np.round(ideal[n]["offset_m"], 4).tolist(),
                           "misalignment_R": np.round(ideal[n]["mount_R"], 6).tolist()} for n in IMU_SENSORS},
        "style": _jsonable(plan.style),
        "events_s": {k: round(v - MARGIN_S, 4) for k, v in plan.events.items() if isinstance(v, float)},
        "synthetic_truth": {
            "note": "for evaluation only; preprocessing must not read this block",
            "clock_offsets_s": offsets if preset.grf_rate_hz else {"imu": offsets["imu"]},
            "clock_drift_ppm": drift, "dropped_fraction": drops,
            "solver": sim["solve_info"],
            "landmark_error": landmark_truth,
            "pelvis_residual_max": {"force_n": float(pelvis_res[:, 3:].max()),
                                    "moment_nm": float(pelvis_res[:, :3].max())},
        },
        "generator": {"version": GENERATOR_VERSION, "margin_s": MARGIN_S},
    }
    with open(clip_dir / "meta.json", "w") as fh:
        fh.write(json.dumps(meta, indent=1))  # = json.dump(meta, fh, indent=1), one write
    files.append("meta.json")
    rows = [{"athlete_id": spec.athlete_id, "clip_id": spec.clip_id, "action": spec.action,
             "fault": spec.fault, "preset": preset.name, "file": f,
             "bytes": (clip_dir / f).stat().st_size, "sha256": sha256(clip_dir / f)} for f in files]
    return {"rows": rows, "summary": {"clip_id": spec.clip_id, "action": spec.action,
                                      "fault": spec.fault, "preset": preset.name,
                                      **{k: v for k, v in sim["solve_info"].items()}}}


def _capsules(body: Body, pose_v: Pose) -> list[cam.Capsule]:
    """The body's rendering / occlusion capsules at the video frames' poses."""
    return [cam.Capsule(name, pose_v.point(seg, p0).numpy(), pose_v.point(seg, p1).numpy(), float(r))
            for name, seg, p0, p1, r in capsule_specs(body)]


def _detected_landmarks(lm: np.ndarray, body: Body, caps: list, camera: cam.Camera, rinfo, frame_idx: np.ndarray,
                        fps: float, cfg: SynthConfig, rng: np.random.Generator) -> tuple[dict, dict]:
    """keypoints.npz arrays from the true landmarks ``lm`` (T,33,3, lab frame) and the error
    model's record for ``synthetic_truth``: the detector-like ``image``/``world``/``visibility``
    (``cfg.landmark_error``; off: noise-free world and i.i.d. image x, y noise) and the
    noise-free ``world_true`` / ``ground``."""
    err = cfg.landmark_error
    uv, depth = camera.project(lm)
    vis = cam.visibility(lm, landmark_owner_capsules(body), caps, camera, rng)
    vis = np.where(render.points_in_occluders(uv, rinfo), np.minimum(vis, 0.2), vis)
    world_true = cam.mediapipe_world(lm, camera.R)
    truth = {"enabled": bool(err.enabled)}
    if err.enabled:
        noisy, vis, summary = cam.detector_landmarks(lm, vis, camera, frame_idx, fps, err, rng)
        uv_n, depth_n = camera.project(noisy)
        image = cam.mediapipe_normalized(uv_n, depth_n, None, cfg.width, cfg.height, fx=camera.fx)
        world = cam.mediapipe_world(noisy, camera.R)
        ok = ~np.isnan(world[:, 0, 0])
        rmse = float(np.sqrt(np.mean(np.sum((world[ok] - world_true[ok]) ** 2, -1)))) if ok.any() else float("nan")
        truth.update({**asdict(err), **summary, "world_rmse_m": round(rmse, 5)})
    else:
        image = cam.mediapipe_normalized(uv, depth, None, cfg.width, cfg.height, fx=camera.fx)
        image[..., :2] += rng.normal(0, cfg.landmark_noise, image[..., :2].shape)
        world = world_true
        truth["image_xy_noise_sd"] = cfg.landmark_noise
    arrays = {"image": image, "world": world, "world_true": world_true, "ground": lm, "visibility": vis}
    return arrays, _jsonable(truth)


def landmarks_from_viewpoints(clip_dir: str | Path, azimuths_deg) -> list[dict]:
    """The clip's detector-like landmarks re-derived for cameras at each of ``azimuths_deg``
    (degrees, ``ViewDistribution`` conventions), the other view parameters as drawn for the clip.

    The video frames' poses are rebuilt from the clip's ground-truth coordinates (``angles.mot``,
    C2 in time, forward kinematics of the athlete's body; they reproduce the stored noise-free
    ``ground`` landmarks to ~1e-5 m); the camera keeps the clip's elevation, distance, aim point,
    field of view and dolly track (``meta.json`` ``video.camera``) and turns to the new azimuth;
    the error model is the clip's own (``synthetic_truth.landmark_error``). Then the generator's
    own path per view: fresh moving occluders (the renderer's planner), self-occlusion visibility,
    detector error and image / world outputs (``_detected_landmarks``). Random streams are seeded
    per clip seed and azimuth: a call is reproducible and different azimuths draw independent
    errors. Evaluation only (it reads the clip's ground truth).

    Returns one dict per azimuth: the keypoints.npz arrays (``time``, ``frame_index``, ``image``,
    ``world``, ``world_true``, ``ground``, ``visibility``), ``camera`` (the new Camera),
    ``viewpoint`` (azimuth, elevation, distance, hfov; degrees, m) and ``summary`` (the error
    draw's swap / missed-frame counts and world RMSE, as in ``synthetic_truth.landmark_error``)."""
    d = Path(clip_dir)
    meta = json.loads((d / "meta.json").read_text())
    truth = (meta.get("synthetic_truth") or {}).get("landmark_error")
    if truth is None or "camera" not in meta.get("video", {}):
        raise ValueError(f"{d / 'meta.json'}: no synthetic_truth.landmark_error or video.camera "
                         "(a generated clip is needed to re-derive its landmarks from another viewpoint)")
    fields = set(cam.LandmarkError.__dataclass_fields__)
    err = cam.LandmarkError(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in truth.items() if k in fields})
    W, H = int(meta["video"]["width"]), int(meta["video"]["height"])
    cfg = SynthConfig(width=W, height=H, landmark_error=err,
                      landmark_noise=float(truth.get("image_xy_noise_sd", SynthConfig.landmark_noise)))
    fps, fs = float(meta["rates_hz"]["video"]), float(meta["rates_hz"]["simulation"])
    a = meta["athlete"]
    body = build_body(a["sex"], float(a["height_m"]), float(a["mass_kg"]))
    with np.load(d / "keypoints.npz") as kp:
        frame_idx, t_frames = kp["frame_index"].astype(np.int64), kp["time"].astype(np.float64)
    pose_v = _video_poses(body, d / "angles.mot", frame_idx, fps, fs)
    caps = _capsules(body, pose_v)
    lm = landmarks_world(body, pose_v).numpy()

    stored = cam.Camera.from_dict(meta["video"]["camera"])
    forward = stored.R[2]                                   # optical axis, camera -> aim point
    elevation = float(np.degrees(np.arcsin(np.clip(-forward[1], -1.0, 1.0))))
    distance = float(meta["video"]["camera"]["distance_m"])
    hfov = float(np.degrees(2.0 * np.arctan(0.5 * W / stored.fx)))
    target = stored.center + distance * forward
    out = []
    for az in np.atleast_1d(np.asarray(azimuths_deg, dtype=np.float64)) % 360.0:
        camera = cam.viewpoint_camera(target, W, H, float(az), elevation, distance, hfov)
        camera.track = stored.track
        rng = _rng(int(meta["seed"]), f"landmarks@{az:.3f}")
        rinfo = render.RenderInfo(occluders=render._plan_occluders(rng, len(frame_idx), *_image_box(caps, camera), W, H))
        arrays, summary = _detected_landmarks(lm, body, caps, camera, rinfo, frame_idx, fps, cfg, rng)
        out.append({"time": t_frames, "frame_index": frame_idx, **arrays, "camera": camera, "summary": summary,
                    "viewpoint": {"azimuth_deg": float(az), "elevation_deg": elevation, "distance_m": distance,
                                  "hfov_deg": hfov}})
    return out


def _video_poses(body: Body, angles_mot: Path, frame_idx: np.ndarray, fps: float, fs: float) -> Pose:
    """Segment poses at the delivered video frames from the ground-truth coordinates: the
    generator poses frame k at the simulation sample nearest to k / fps + MARGIN_S."""
    tt, cols, data, _ = read_mot(angles_mot)
    missing = [c for c in COORDINATES if c not in cols]
    if missing:
        raise ValueError(f"{angles_mot}: missing coordinates {missing[:5]}")
    q = data[:, [cols.index(c) for c in COORDINATES]].copy()
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    q[:, rot] = np.radians(q[:, rot])
    t_pose = np.round((frame_idx / fps + MARGIN_S) * fs) / fs - MARGIN_S
    return forward_kinematics(body, torch.as_tensor(CubicSpline(tt, q, axis=0)(t_pose)))


def _image_box(caps: list, camera: cam.Camera) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pixel bounding box (min (T,2), max (T,2)) of the capsule body, widened by the
    largest capsule radius in pixels (where the renderer places its occluders)."""
    P = np.concatenate([np.stack([c.p0, c.p1], 1) for c in caps], axis=1)  # (T,2K,3)
    rad = np.repeat([c.radius for c in caps], 2)
    uv, depth = camera.project(P)
    r_px = (camera.fx * rad[None, :] / np.maximum(depth, 0.05)).max(axis=1, keepdims=True)
    return uv.min(axis=1) - r_px, uv.max(axis=1) + r_px


def _write_keypoints(path: Path, t_frames: np.ndarray, frame_idx: np.ndarray, lmk: dict, preset: Preset,
                     cfg: SynthConfig) -> None:
    detector = ("detector-like error (see meta.json synthetic_truth.landmark_error and the README)"
                if cfg.landmark_error.enabled else "noise-free (landmark_error disabled)")
    write_npz(
        path,
        {"landmarks": list(cam.MEDIAPIPE_LANDMARKS),
         "time": "s, video clock, one row per delivered video frame",
         "frame_index": "index of the frame in the nominal frame sequence (gaps = dropped frames)",
         "image": "MediaPipe pose_landmarks: x, y normalised to [0,1] by image width/height, z depth "
                  "relative to the hip midpoint on the x scale (negative = closer); detector output: "
                  + ("same error as world" if cfg.landmark_error.enabled else "i.i.d. x, y noise")
                  + "; NaN rows on frames with no person detected",
         "world": "MediaPipe pose_world_landmarks: metres, origin at the (detected) hip midpoint, camera "
                  "axes (x right, y down, z away from the camera); " + detector
                  + "; NaN rows on frames with no person detected",
         "world_true": "privileged: noise-free world (same frame and axes as world), for evaluation and "
                       "for the privileged-input switch; a real detector does not give it",
         "ground": "privileged: metres, lab frame (X forward, Y up, Z right), noise-free ground truth",
         "visibility": "0-1, low when self-occluded, occluded by an object or out of frame; 0 on frames "
                       "with no person detected; follows the landmark's label through left/right swaps",
         "fps": preset.video_fps},
        time=t_frames.astype(np.float64), frame_index=frame_idx.astype(np.int32),
        image=lmk["image"].astype(np.float32), world=lmk["world"].astype(np.float32),
        world_true=lmk["world_true"].astype(np.float32), ground=lmk["ground"].astype(np.float32),
        visibility=lmk["visibility"].astype(np.float32),
    )


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.floating, float)):
        return round(float(x), 5)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def spec_dict(spec: ClipSpec) -> dict:
    return asdict(spec)


__all__ = ["ClipSpec", "Preset", "SynthConfig", "ClipGenerationError", "simulate", "write_clip", "landmarks_from_viewpoints",
           "opensim_moments", "sim_rate", "GRAVITY", "JOINT_ANGLES"]
