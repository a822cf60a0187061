"""/analyze: a video (+ optional IMU / plate recordings) -> landmarks, actions, joint angles, moments.

One path per job, the project's own functions:

    ingest.video.landmarks_from_video      MediaPipe Pose 33 landmarks per frame
    serving.inference.recognize_many       the preprocess stage's path + the packaged recognizer
    biomech.ik.calibrate_body / solve_ik   OpenSim IK of the person's scaled model -> angles (deg)
    biomech.joint_moments.joint_moments    moments from the plates when given, else from the ground
                                           reaction estimated from the kinematics (flagged)

    serving.feedback.segment_feedback      technique feedback per recognised segment (biomech.feedback:
                                           DTW deviation from the class's reference movement)
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .feedback import segment_feedback
from .ik_stream import CALIBRATION_S
from .inference import InputError, moment_response, recognize_many
from .schemas import Athlete, GrfIn, ImuIn, LandmarksIn, RecognizeRequest, encode_plain

IK_RATE_HZ = 100.0   # joint_moments needs >= 100 Hz kinematics: video-rate angles are splined onto it


def warm_up() -> None:
    """At the service's start: MediaPipe imported and its pose graph built once, so that the first
    /analyze does not pay it."""
    from mediapipe.python.solutions import pose as mp_pose

    from ingest.video import MODEL_COMPLEXITY

    with mp_pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY):
        pass


def _npz(path: Path | None, fields: tuple[str, ...], what: str) -> dict | None:
    if path is None:
        return None
    from biomech.io import RawDataError, read_npz

    try:
        _, arr = read_npz(path, fields)
    except RawDataError as exc:
        raise InputError(f"{what}: {str(exc).split(': ', 1)[-1]} (expected the raw layout's {what}.npz "
                         f"with {', '.join(fields)})") from None
    return arr


def _angles_at(t: np.ndarray, deg: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.interpolate import CubicSpline

    ok = np.isfinite(deg).all(1)
    if ok.sum() < 4:
        raise InputError("video: inverse kinematics converged on fewer than 4 frames")
    tt = np.arange(t[ok][0], t[ok][-1], 1.0 / rate)
    return tt, CubicSpline(t[ok], deg[ok], axis=0)(tt)


def ik_angles(t: np.ndarray, world: np.ndarray, visibility: np.ndarray, *, fps: float, sex: str, height_m: float,
              mass_kg: float, cutoff_hz: float | None = 6.0):
    """MediaPipe world landmarks (T, 33, 3) -> (grid (M,) s, OpenSim IK coordinates (M, 29) in degrees
    (pelvis translations m) unwrapped over time (no 271 for -89), the IK result (marker errors)):
    the detector path of biomech.ik (as evaluation.ik_accuracy measures it): left/right swaps undone
    (`unswap_limbs`), the person's model scaled, landmarks on the video's frame grid with missed
    frames filled and a 6 Hz zero-lag low-pass (`uniform_landmarks`), then OpenSim IK on every
    landmark the detector placed with the weak coordinate prior and the backwards re-solve of the
    first frames. Shared by /analyze and evaluation.feedback."""
    from biomech.ik import (BACKTRACK_FRAMES, DETECTOR_PRIOR, calibrate_body, mediapipe_world_to_ylab, solve_ik,
                            uniform_landmarks, unswap_limbs)

    pts, _ = unswap_limbs(mediapipe_world_to_ylab(np.asarray(world, dtype=float)))
    seen = np.isfinite(pts).all((1, 2))
    if seen.sum() < 8:
        raise InputError(f"video: a pose in {int(seen.sum())} of {len(pts)} frames (need 8 for the IK)")
    try:
        body = calibrate_body(pts[seen], np.asarray(visibility)[seen], sex=sex, height=height_m, mass=mass_kg)
        grid, P, _ = uniform_landmarks(np.asarray(t, dtype=float), pts, float(fps), cutoff_hz)
        ik = solve_ik(body, grid, P, min_visibility=0.0, coordinate_weights=DETECTOR_PRIOR,
                      backtrack=BACKTRACK_FRAMES, progress=False)
    except (ValueError, RuntimeError) as exc:   # OpenSim's assembler gave up / nothing to fit
        raise InputError(f"video: inverse kinematics failed ({str(exc).splitlines()[0][:200]})") from None
    return grid, unwrapped_degrees(ik), ik


def unwrapped_degrees(ik) -> np.ndarray:
    """IK coordinates (T, 29) in degrees (pelvis translations m), rotations unwrapped over time."""
    from biomech.conventions import COORDINATES, TRANSLATIONS

    deg = ik.degrees()
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    ok = np.isfinite(deg).all(1)
    deg[np.ix_(ok, rot)] = np.degrees(np.unwrap(np.radians(deg[np.ix_(ok, rot)]), axis=0))
    return deg


def feedback_landmarks(lm: dict) -> dict | None:
    """The video's world landmarks as the valgus detector takes them (``biomech.feedback.prepare_landmarks``:
    the IK's preprocessing, on the angles' clock); None when too few frames have a pose."""
    from biomech.feedback import FeedbackError, prepare_landmarks

    try:
        t, pts = prepare_landmarks(lm["time"], lm["world"], lm["info"]["fps"] or 30.0)
    except FeedbackError:
        return None
    return {"time": t, "points": pts}


def clip_segments(segments: list, duration_s: float) -> list:
    """The recognizer's segments cut to the video: a window runs past the last frame (a 1.28 s window on a
    0.67 s clip), so each ``t_end_s`` is at most ``duration_s`` and segments starting after it are dropped."""
    out = []
    for s in segments:
        if s.t_start_s >= duration_s:
            continue
        out.append(s.model_copy(update={"t_end_s": min(s.t_end_s, round(duration_s, 4))}))
    return out


class _Streaming:
    """landmarks_from_video's per-frame hook: new frames to the IK process (`serving.ik_stream`) while
    MediaPipe goes on, and the progress (frames detected, expected) to `progress(done, total)`."""

    def __init__(self, ik_worker, athlete: Athlete, progress=None):
        self.worker, self.athlete, self.progress, self.job, self.fps = ik_worker, athlete, progress, None, None

    def __call__(self, info, times, world, vis, total) -> None:
        if self.progress is not None:
            self.progress(len(times), total)
        if self.worker is None or not info["fps"] > 0:
            return
        from concurrent.futures.process import BrokenProcessPool

        if self.job is None:
            self.fps = info["fps"]
            self.job = self.worker.job(fps=self.fps, sex=self.athlete.sex or "male", height_m=self.athlete.height_m,
                                       mass_kg=self.athlete.mass_kg)
        try:
            self.job.feed(_Shifted(times), world, vis)
        except BrokenProcessPool:   # the IK process died: the whole-clip IK after the detection instead
            self.worker, self.job = None, None

    def submit_finish(self, lm: dict) -> None:
        """The last frames and the finish to the IK process, without waiting (it solves them while this
        process runs the recognizer)."""
        from concurrent.futures.process import BrokenProcessPool

        if self.job is None:
            return
        if lm["info"]["fps"] != self.fps:
            self.drop()
            return
        try:
            self.job.submit_finish(lm["time"], lm["world"], lm["visibility"])
        except BrokenProcessPool:
            self.job = None

    def result(self):
        """The streamed IK's answer, or None (no IK process, it died, or the frame rate was not known up
        front): then the caller runs the whole-clip IK."""
        from concurrent.futures.process import BrokenProcessPool

        if self.job is None:
            return None
        try:
            *out, self.cpu_s = self.job.result()
        except BrokenProcessPool:
            return None
        finally:
            self.job = None
        return out

    def drop(self) -> None:
        """A failed request: forget its state in the IK process."""
        if self.job is not None:
            self.job.drop()
            self.job = None


class _Shifted:
    """A view of the decoded times with the first one at 0 (landmarks_from_video's clock), sliced lazily."""

    def __init__(self, times: list):
        self.times = times

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, sl):
        return np.asarray(self.times[sl], dtype=float) - self.times[0]


def analyze_video(bundle, video: Path, athlete: Athlete, imu_file: Path | None = None,
                  grf_file: Path | None = None, max_frames: int | None = None, ik_worker=None,
                  progress=None) -> dict:
    """The /analyze answer (module doc). `ik_worker` (a `serving.ik_stream.IKWorker`): the IK runs
    chunk-wise in that process while MediaPipe detects the later frames (the service); without it,
    `ik_angles` after the detection (the command line, evaluation.real_video). `progress(frames done,
    frames expected or None)` is called per detected frame. The IK process' last chunk is solved while
    this process runs the recognizer and the feedback's landmark preparation."""
    from ingest import IngestError
    from ingest.video import landmarks_from_video

    timings = {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    stream = _Streaming(ik_worker, athlete, progress)
    try:
        try:
            lm = landmarks_from_video(video, max_frames=max_frames, progress=False, on_frame=stream)
        except IngestError as exc:
            raise InputError(f"video: {str(exc).split(': ', 1)[-1]}") from None
    except BaseException:
        stream.drop()
        raise
    timings["landmarks_s"] = time.perf_counter() - t0
    info = lm["info"]
    n = len(lm["time"])
    has_pose = np.isfinite(lm["world"]).all(axis=(1, 2))
    if has_pose.sum() < 4:
        stream.drop()
        raise InputError(f"video: no person found (a pose in {int(has_pose.sum())} of {n} frames)")
    stream.submit_finish(lm)   # the IK process solves its last chunk while the recognizer runs here
    try:
        rec, imu, grf = _recognize(bundle, lm, athlete, imu_file, grf_file, timings)
        fb_landmarks = feedback_landmarks(lm)
    except BaseException:
        stream.drop()
        raise

    t1 = time.perf_counter()
    sex = athlete.sex or "male"
    streamed = stream.result()   # the IK process' last chunk (most of the IK ran during the detection)
    if streamed is None:
        t_ik, deg, ik = ik_angles(lm["time"], lm["world"], lm["visibility"], fps=info["fps"] or 30.0, sex=sex,
                                  height_m=athlete.height_m, mass_kg=athlete.mass_kg)
    else:
        t_ik, deg, ik = streamed
    timings["ik_s"] = time.perf_counter() - t1   # streamed: only the wait for it after the recognizer
    return _answer(bundle, lm, athlete, rec, grf, fb_landmarks, (t_ik, deg, ik),
                   None if streamed is None else stream.cpu_s, timings, t0, cpu0)


def _recognize(bundle, lm: dict, athlete: Athlete, imu_file, grf_file, timings: dict):
    """The uploads read, the recognizer on the video's landmarks (+ IMU / plates) -> (RecognizeResponse with
    the segments cut to the video, imu arrays or None, grf arrays or None)."""
    info = lm["info"]
    imu = _npz(imu_file, ("time", "acc", "gyro"), "imu")
    grf = _npz(grf_file, ("time", "force", "cop", "free_moment"), "grf")

    t1 = time.perf_counter()
    req = RecognizeRequest(
        athlete=athlete,
        landmarks=LandmarksIn(rate_hz=max(10.0, info["fps"] or 30.0), time=encode_plain(lm["time"]),
                              world=encode_plain(lm["world"]), visibility=encode_plain(lm["visibility"]),
                              image=encode_plain(lm["image"]), image_size=[info["width"], info["height"]]),
        imu=None if imu is None else ImuIn(rate_hz=1 / float(np.median(np.diff(imu["time"]))),
                                           time=encode_plain(imu["time"]), acc=encode_plain(imu["acc"]),
                                           gyro=encode_plain(imu["gyro"])),
        grf=None if grf is None else GrfIn(rate_hz=1 / float(np.median(np.diff(grf["time"]))),
                                           time=encode_plain(grf["time"]), force=encode_plain(grf["force"]),
                                           cop=encode_plain(grf["cop"]), free_moment=encode_plain(grf["free_moment"])))
    rec = recognize_many(bundle, [req])[0]
    fps = info["fps"] or 30.0
    rec = rec.model_copy(update={"segments": clip_segments(rec.segments, float(lm["time"][-1]) + 1.0 / fps)})
    timings["recognize_s"] = time.perf_counter() - t1
    return rec, imu, grf


def _answer(bundle, lm: dict, athlete: Athlete, rec, grf, fb_landmarks, ik_out, ik_cpu_s: float | None,
            timings: dict, t0: float, cpu0: float) -> dict:
    """Moments, feedback and the answer, from the landmarks, the recognition and the IK (`ik_cpu_s`: the
    IK process' CPU s; None: the whole-clip IK ran here)."""
    from biomech.conventions import COORDINATES
    from biomech.joint_moments import joint_moments

    info, n = lm["info"], len(lm["time"])
    has_pose = np.isfinite(lm["world"]).all(axis=(1, 2))
    sex = athlete.sex or "male"
    t_ik, deg, ik = ik_out
    streamed = ik_cpu_s is not None
    t1 = time.perf_counter()
    tt, q = _angles_at(t_ik, deg, IK_RATE_HZ)
    coords = {c: q[:, i] for i, c in enumerate(COORDINATES)}
    plates, tg = None, None
    if grf is not None:
        off = (rec.sync.get("grf") or {}).get("offset_s") or 0.0
        tg = grf["time"].astype(float) + off
        plates = {}
        for pre, k in (("", 0), ("1_", 1)):
            torque = np.zeros((len(tg), 3))
            torque[:, 1] = grf["free_moment"][:, k]
            plates[pre] = {"force": grf["force"][:, k].astype(float), "point": grf["cop"][:, k].astype(float),
                           "torque": torque}
    try:
        mom = joint_moments(tt, coords, tg, plates, mass_kg=athlete.mass_kg, height_m=athlete.height_m, sex=sex,
                            model="athlete-mm", cutoff_hz=6.0, uncertainty=0)
    except ValueError as exc:
        raise InputError(f"video: joint moments failed on the IK angles ({exc})") from None
    timings["moments_s"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    load_plates = None
    if plates is not None:   # the load flag: vertical forces of the two plates, sides from the assignment
        sides = tuple(mom.assignment.get(pre, "") for pre in ("", "1_"))
        load_plates = {"time": tg, "force_y": grf["force"][:, :2, 1].astype(float), "mass_kg": athlete.mass_kg,
                       "sides": sides if sorted(sides) == ["l", "r"] else None}
    fb = segment_feedback(bundle, t_ik, {c: deg[:, i] for i, c in enumerate(COORDINATES)},
                          [(g.action, g.t_start_s, g.t_end_s) for g in rec.segments], mom.time, mom.moments,
                          load_plates, fb_landmarks)
    timings["feedback_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    timings = {k: round(v, 3) for k, v in timings.items()}
    # CPU s: this process (MediaPipe's graph threads, decoding, the request; other requests running at
    # the same time too) and the IK process (this request's chunks); on a shared machine the wall times
    # above mostly measure the wait for a core
    timings["cpu_s"] = {"server_process": round(time.process_time() - cpu0, 3),
                        "ik_process": None if ik_cpu_s is None else round(ik_cpu_s, 3)}
    return {
        "video": {"frames": n, "fps": info["fps"], "width": info["width"], "height": info["height"],
                  "rotation_deg": info.get("rotation_deg", 0)},
        "time_s": np.round(lm["time"], 4).tolist(),
        "landmarks_image": np.round(np.nan_to_num(lm["image"][..., :2], nan=-1.0), 4).tolist(),
        "recognition": rec.model_dump(),
        "angles": {"time_s": np.round(t_ik, 4).tolist(),
                   "values": {c: [None if not np.isfinite(v) else round(float(v), 3) for v in deg[:, i]]
                              for i, c in enumerate(COORDINATES)}},
        "moments": {**moment_response(mom).model_dump(), "grf_estimated": plates is None},
        "feedback": [f.model_dump() for f in fb],
        "qc": {"frames_with_pose": int(has_pose.sum()), "frames_without_pose": int(n - has_pose.sum()),
               "ik_marker_error_rms_median_m": float(np.nanmedian(ik.marker_error_rms)),
               "sync": rec.sync, "plate_assignment": mom.assignment, "assignment_source": mom.assignment_source},
        "timings_s": timings,
        "ik": {"mode": "chunked, during the detection (serving.ik_stream)" if streamed else "whole clip",
               "calibration": f"the first {CALIBRATION_S} s of frames with a pose" if streamed else
               "every frame with a pose"},
        "frames_per_s": round(n / timings["total_s"], 2),
        "units": {"angles": "degrees (OpenSim names and signs, unwrapped; pelvis translations m)",
                  "moments": "N m", "landmarks_image": "x, y normalised to the frame (-1: no pose)",
                  "feedback": "deg against the recognised action's reference (biomech.feedback); valgus "
                              "moment N m from the moments above"},
    }
