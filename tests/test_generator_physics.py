"""Physics of the generated data: every check here can fail if the generator is wrong."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch


from biomech.body import build_body
from biomech.conventions import GRAVITY, IMU_SENSORS, MOMENTS
from biomech.io import read_mot, read_npz
from biomech.sensors import ImuSpec, ideal_imu
from biomech.synth import MARGIN_S, ClipGenerationError, ClipSpec, Preset, SynthConfig, simulate, write_clip
from sigproc.attitude import integrate_gyro
from sigproc.sync import estimate_offset_xcorr

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
CFG = SynthConfig(width=64, height=64)


def _spec(action, seed, fault="none", duration=3.5, sex="male", height=1.80, mass=75.0):
    return ClipSpec(clip_id=f"{action}_{seed}", athlete_id="athlete0000", sex=sex, height=height,
                    mass=mass, action=action, fault=fault, preset="pro", duration=duration, seed=seed)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    out = {}
    for action, seed in (("squat", 11), ("countermovement_jump", 12), ("run", 13)):
        spec = _spec(action, seed)
        write_clip(spec, PRO, CFG, root)
        out[action] = (spec, root / spec.athlete_id / spec.clip_id)
    return out


@pytest.fixture(scope="module")
def sims():
    out = {}
    for action, seed in (("squat", 21), ("countermovement_jump", 22)):
        spec = _spec(action, seed)
        body = build_body(spec.sex, spec.height, spec.mass)
        out[action] = (body, simulate(body, spec, PRO, CFG))
    return out


def test_quiet_standing_grf_is_body_weight_and_accelerometer_reads_g(sims):
    body, sim = sims["squat"]
    standing = sim["t"] < MARGIN_S  # every action starts from quiet standing
    fy = sum(sim["grf"][s]["force"][:, 1].numpy() for s in ("r", "l"))[standing]
    bw = body.total_mass * GRAVITY
    assert np.all(np.abs(fy - bw) < 0.01 * bw)
    imu = ideal_imu(body, sim["state"], np.random.default_rng(0))
    for name in IMU_SENSORS:
        mag = np.linalg.norm(imu[name]["acc"][standing], axis=1)
        assert np.all(np.abs(mag - GRAVITY) < 0.05), name


def test_quiet_standing_recorded_accelerometer_within_noise(clips):
    spec, d = clips["squat"]
    header, imu = read_npz(d / "imu.npz", ("time", "acc"))
    first = imu["time"] < 0.05  # the squat never starts before 0.2 s of motion time
    mag = np.linalg.norm(imu["acc"][first, 0].astype(float), axis=1)
    # white noise 0.05 m/s^2 per axis + turn-on bias (<= ~0.01) -> mean within 0.05
    assert abs(mag.mean() - GRAVITY) < 0.05


def test_flight_has_zero_ground_reaction(sims, clips):
    body, sim = sims["countermovement_jump"]
    ev = sim["plan"].events
    t = sim["t"]
    flight = (t > ev["takeoff"] + 0.005) & (t < ev["landing"] - 0.005)
    assert flight.sum() > 100
    for s in ("r", "l"):
        assert np.all(sim["grf"][s]["force"].numpy()[flight] == 0.0)
    # and in contact the whole-body force is sum m_i (a_i - g), i.e. positive and large at push-off
    push = (t > ev["bottom"]) & (t < ev["takeoff"] - 0.05)
    fy = sum(sim["grf"][s]["force"][:, 1].numpy() for s in ("r", "l"))
    assert fy[push].max() > 1.5 * body.total_mass * GRAVITY
    # recorded plates: flight reads only zero offset + drift + noise (< ~12 N)
    spec, d = clips["countermovement_jump"]
    meta = json.loads((d / "meta.json").read_text())
    off = meta["synthetic_truth"]["clock_offsets_s"]["grf"]
    _, g = read_npz(d / "grf.npz", ("time", "force"))
    tv = g["time"] + off
    ev_v = meta["events_s"]
    fl = (tv > ev_v["takeoff"] + 0.02) & (tv < ev_v["landing"] - 0.02)
    assert fl.sum() > 50
    assert np.abs(g["force"][fl, :, 1]).max() < 30.0
    assert np.abs(g["force"][~fl, :, 1].sum(1)).max() > meta["athlete"]["mass_kg"] * GRAVITY


@pytest.mark.parametrize("action", ["squat", "countermovement_jump", "run"])
def test_opensim_and_newton_euler_moments_agree(clips, action):
    _, d = clips[action]
    t, cols, osim, hdr = read_mot(d / "moments.sto")
    t2, cols2, ne, _ = read_mot(d / "moments_ne.sto")
    assert hdr["inDegrees"] == "no" and cols2 == list(MOMENTS)
    np.testing.assert_allclose(t, t2)
    for j, name in enumerate(cols2):
        k = cols.index(name)
        peak = np.abs(osim[:, k]).max()
        rmse = np.sqrt(np.mean((osim[:, k] - ne[:, j]) ** 2))
        assert peak > 1.0, name
        assert rmse <= 0.01 * peak, f"{action} {name}: RMSE {rmse:.3f} > 1% of peak {peak:.1f}"


def test_landmark_bone_lengths_are_constant(clips):
    _, d = clips["run"]
    _, kp = read_npz(d / "keypoints.npz", ("ground",))
    g = kp["ground"].astype(float)
    for a, b in ((23, 25), (25, 27), (24, 26), (26, 28), (11, 13), (13, 15), (12, 14), (14, 16), (27, 31)):
        length = np.linalg.norm(g[:, a] - g[:, b], axis=1)
        assert length.std() < 1e-5, (a, b, length.std())
        assert 0.05 < length.mean() < 0.6


def test_integrated_gyroscope_reproduces_orientation_change(sims):
    body, sim = sims["countermovement_jump"]
    fs = sim["fs"]
    imu = ideal_imu(body, sim["state"], np.random.default_rng(1))
    for name in ("shank_r", "wrist_l", "trunk"):
        R = imu[name]["R"]
        Rhat = integrate_gyro(imu[name]["gyro"], fs, R0=R[0])
        rel = np.einsum("tji,tjk->tik", Rhat, R)  # Rhat^T R
        ang = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        rel0 = np.einsum("ji,tjk->tik", R[0], R)
        total = np.degrees(np.arccos(np.clip((np.trace(rel0, axis1=1, axis2=2) - 1) / 2, -1, 1)))
        assert ang.max() < 1.0, (name, ang.max())
        assert total.max() > 10.0, (name, total.max())  # the segment really rotated


def _hip_acc(kp, fps):
    hip = kp["ground"][:, [23, 24]].mean(1).astype(float)
    t = kp["time"]
    # resample onto a uniform grid (dropped frames) before differentiating
    tu = np.arange(t[0], t[-1], 1 / fps)
    y = np.interp(tu, t, hip[:, 1])
    x = np.interp(tu, t, hip[:, 0])
    ay = np.gradient(np.gradient(y, tu), tu)
    ax = np.gradient(np.gradient(x, tu), tu)
    return tu, ax, ay


@pytest.mark.parametrize("action", ["countermovement_jump", "run"])
def test_clock_offsets_are_recoverable_by_cross_correlation(clips, action):
    _, d = clips[action]
    meta = json.loads((d / "meta.json").read_text())
    truth = meta["synthetic_truth"]["clock_offsets_s"]
    fps = meta["rates_hz"]["video"]
    _, kp = read_npz(d / "keypoints.npz", ("time", "ground"))
    tu, ax, ay = _hip_acc(kp, fps)
    # IMU: pelvis specific force magnitude vs landmark-derived pelvis acceleration magnitude
    _, imu = read_npz(d / "imu.npz", ("time", "acc"))
    ref = np.hypot(ax, ay + GRAVITY)
    sig = np.linalg.norm(imu["acc"][:, 0].astype(float), axis=1)
    est = estimate_offset_xcorr(tu, ref, imu["time"], sig, max_lag_s=0.15)
    assert abs(est.offset_s - truth["imu"]) < 1.0 / fps, (est, truth)
    # force plates: total vertical force vs body mass x landmark-derived vertical acceleration
    _, g = read_npz(d / "grf.npz", ("time", "force"))
    fz = g["force"][:, :, 1].sum(1).astype(float)
    est_g = estimate_offset_xcorr(tu, ay, g["time"], fz, max_lag_s=0.15)
    assert abs(est_g.offset_s - truth["grf"]) < 1.0 / fps, (est_g, truth)


def test_generation_is_deterministic(tmp_path):
    spec = _spec("squat", 99, duration=3.0)
    a = write_clip(spec, PRO, CFG, tmp_path / "a")
    b = write_clip(spec, PRO, CFG, tmp_path / "b")
    sums_a = {r["file"]: r["sha256"] for r in a["rows"] if r["file"] != "video.mp4"}
    sums_b = {r["file"]: r["sha256"] for r in b["rows"] if r["file"] != "video.mp4"}
    assert sums_a == sums_b
    other = write_clip(_spec("squat", 98, duration=3.0), PRO, CFG, tmp_path / "c")
    assert {r["file"]: r["sha256"] for r in other["rows"]}["imu.npz"] != sums_a["imu.npz"]


def test_clip_failure_names_clip_and_seed(tmp_path):
    bad = _spec("squat", 5, fault="not_a_fault")
    with pytest.raises(ClipGenerationError) as exc:
        write_clip(bad, PRO, CFG, tmp_path)
    msg = str(exc.value)
    assert bad.clip_id in msg and "seed 5" in msg and "not_a_fault" in msg


def test_meta_states_units_and_truth(clips):
    _, d = clips["squat"]
    meta = json.loads((d / "meta.json").read_text())
    assert meta["conventions"]["world_frame"].startswith("OpenSim ground")
    assert set(meta["synthetic_truth"]["clock_offsets_s"]) == {"imu", "grf"}
    for f in ("imu.npz", "grf.npz", "keypoints.npz"):
        header, _ = read_npz(d / f)
        assert "time" in header and any("m/s^2" in str(v) or "N" in str(v) or "metres" in str(v)
                                        for v in header.values())
    _, cols, ang, hdr = read_mot(d / "angles.mot")
    assert hdr["inDegrees"] == "yes" and "knee_angle_r" in cols
    knee = ang[:, cols.index("knee_angle_r")]
    assert knee.max() > 60 and knee.min() > -5  # squat: flexion positive, never hyperextended



def test_recursive_kinematics_match_numerical_derivatives(sims):
    """body_state's exact accelerations agree with differentiating the segment positions."""
    from biomech.dynamics import body_state

    body, sim = sims["squat"]
    fs = sim["fs"]
    st = body_state(body, torch.as_tensor(sim["q"]), torch.as_tensor(sim["qd"]),
                    torch.as_tensor(sim["qdd"]))
    for seg in ("foot_r", "shank_l", "hand_r", "head"):
        p = st.pose.p[seg].numpy()
        v_num = np.gradient(p, 1 / fs, axis=0)
        a_num = np.gradient(v_num, 1 / fs, axis=0)
        inner = slice(10, -10)
        vmax = np.abs(v_num[inner]).max()
        assert np.abs(st.vel[seg].numpy()[inner] - v_num[inner]).max() < 0.03 * vmax + 0.02, seg
        scale = np.abs(a_num[inner]).max()
        assert np.abs(st.acc[seg].numpy()[inner] - a_num[inner]).max() < 0.05 * scale + 0.2, seg


@pytest.mark.parametrize("action", ["walk", "run", "tennis_serve", "lateral_shuffle"])
def test_motion_solver_agrees_with_forward_kinematics(action):
    """solve_motion works on the legs' own kinematics (numpy, no whole-body FK per
    iteration): the coordinates it returns, put through body.forward_kinematics, must give the
    CoM and feet it reports."""
    from biomech.actions import build_plan
    from biomech.actions.common import ActionContext
    from biomech.body import forward_kinematics, q_index, whole_body_com
    from biomech.kinematics import solve_motion

    body = build_body("female", 1.62, 58.0)
    plan = build_plan(action, ActionContext(body, np.random.default_rng(5), 200.0, 3.0))
    q, info = solve_motion(body, plan)
    pose = forward_kinematics(body, torch.as_tensor(q))
    com_err = np.linalg.norm(whole_body_com(body, pose).numpy() - plan.com, axis=1).max()
    foot_err = max(np.linalg.norm(pose.p[f"foot_{s}"].numpy() - plan.feet[s].pos, axis=1).max()
                   for s in ("r", "l"))
    assert com_err < 1e-5 and abs(com_err - info["com_error_max_m"]) < 1e-9
    assert abs(foot_err - info["foot_error_max_m"]) < 1e-9
    assert info["foot_error_max_m"] < 5e-3
    assert np.all(q[:, q_index("knee_adduction_r")] == 0) and np.all(q[:, q_index("knee_adduction_l")] == 0)


def test_keypoints_contract_detector_like_and_privileged_fields(clips):
    """keypoints.npz: detector-like image/world with NaN rows on missed frames (the same rows,
    visibility 0), noise-free world_true / ground; meta.json records the viewpoint numbers."""
    from biomech.camera import mediapipe_world

    for action, (_, d) in clips.items():
        header, kp = read_npz(d / "keypoints.npz")
        for k in ("time", "frame_index", "image", "world", "world_true", "ground", "visibility"):
            assert k in kp and k in header, (action, k)
        T = len(kp["time"])
        assert kp["image"].shape == kp["world"].shape == kp["world_true"].shape == (T, 33, 3)
        assert kp["visibility"].shape == (T, 33)
        miss_w = np.isnan(kp["world"]).any(axis=(1, 2))
        assert np.array_equal(miss_w, np.isnan(kp["image"]).any(axis=(1, 2)))
        assert np.array_equal(miss_w, np.isnan(kp["world"]).all(axis=(1, 2)))  # whole rows
        assert (kp["visibility"][miss_w] == 0).all() and not np.isnan(kp["world_true"]).any()
        meta = json.loads((d / "meta.json").read_text())
        camera = meta["video"]["camera"]
        assert 0 <= camera["azimuth_deg"] < 360 and -5 <= camera["elevation_deg"] <= 20
        assert camera["distance_m"] > 1.0
        # world_true is the noise-free MediaPipe world of the lab-frame landmarks
        np.testing.assert_allclose(kp["world_true"], mediapipe_world(kp["ground"].astype(float),
                                                                     np.array(camera["R"])), atol=1e-5)
        truth = meta["synthetic_truth"]["landmark_error"]
        assert truth["enabled"] and truth["missed_frames"] == int(miss_w.sum())
        err = kp["world"][~miss_w] - kp["world_true"][~miss_w]
        rmse = float(np.sqrt(np.mean(np.sum(err ** 2, -1))))
        assert rmse == pytest.approx(truth["world_rmse_m"], abs=1e-4)
        assert 0.03 < rmse < 0.12, (action, rmse)
        # depth (camera z) error larger than in-plane
        sd = err.reshape(-1, 3).std(0)
        assert sd[2] > 1.4 * sd[:2].mean(), (action, sd)


def test_landmark_error_switch_off_gives_noise_free_world(tmp_path):
    from dataclasses import replace

    from biomech.camera import LandmarkError

    cfg = replace(CFG, landmark_error=LandmarkError(enabled=False))
    spec = _spec("squat", 31, duration=2.5)
    write_clip(spec, PRO, cfg, tmp_path)
    _, kp = read_npz(tmp_path / spec.athlete_id / spec.clip_id / "keypoints.npz")
    np.testing.assert_array_equal(kp["world"], kp["world_true"])
    assert not np.isnan(kp["image"]).any()


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_ground_never_pulls_a_landing_foot_down(seed):
    # a standing long jump's planned touch-down comes a few frames before the body stops falling
    # faster than g; the plates must read no pulling force there (they read 56-311 N of pull once)
    spec = _spec("standing_long_jump", seed)
    body = build_body(spec.sex, spec.height, spec.mass)
    sim = simulate(body, spec, PRO, CFG)
    for s in ("r", "l"):
        assert sim["grf"][s]["force"][:, 1].numpy().min() >= 0.0, s
    # and what the feet get is still the whole body's wrench wherever the floor pushes
    fy = sum(sim["grf"][s]["force"][:, 1].numpy() for s in ("r", "l"))
    need = sim["F_total"][:, 1]
    contact = (sim["contact"]["r"] | sim["contact"]["l"]) & (need > 0)
    assert np.allclose(fy[contact], need[contact], atol=1e-6)
