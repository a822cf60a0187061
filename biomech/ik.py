"""MediaPipe landmarks -> OpenSim inverse kinematics -> joint angles (OpenSim names, degrees).

One path serves the ingest stage, the preprocess stage's IK option and the service:

    body = calibrate_body(points, visibility, sex=..., height=..., mass=...)   # scaling per person
    result = solve_ik(body, time, points, visibility)                         # OpenSim IK
    write_ik_mot(clip_dir / "angles.mot", result)

`points` are the 33 landmarks in metres in a right-handed, Y-up frame (the lab frame, or
MediaPipe's world landmarks turned Y-up by `mediapipe_world_to_ylab`). The pelvis has six
degrees of freedom, so the frame's origin and heading do not change the joint angles.

Model: the project's OpenSim model of the person (`biomech.opensim_model.build_model`) with the
MediaPipe-33 marker set (`add_mediapipe_markers`). Scaling: the person's stated height, sex and
mass give de Leva's segment table (`biomech.body.build_body`); then each segment length
(thigh, shank, foot, upper arm, forearm, hip width, shoulder width, pelvis-to-shoulder height)
is set to the median landmark distance over a calibration stretch of frames (by default every
frame where those landmarks are visible), as OpenSim's ScaleTool does with measurement pairs.

Solver: OpenSim's `InverseKinematicsSolver` (the engine of `InverseKinematicsTool`), marker
weights from Pose2Sim's BlazePose IK setup (hips, shoulders 2; elbows, wrists, knees, ankles,
heels, toes 1; nose 0.1; eyes and fingers 0.05; ears and mouth unused), accuracy 1e-5. A
landmark whose visibility is below `min_visibility` is left out of that frame (NaN marker).
Returned per frame: every coordinate, the RMS and maximum marker error (m) over the
`ERROR_MARKERS` in use.

A detector's landmarks (noisy, occasional left/right swaps and missed frames; evaluated in
`evaluation.ik_accuracy`) go through three more steps: `unswap_limbs` (labels swapped back by
temporal continuity), `uniform_landmarks` (missed / dropped frames filled on the frame grid, a
6 Hz zero-lag low-pass), and `solve_ik(..., min_visibility=0, coordinate_weights=DETECTOR_PRIOR,
backtrack=BACKTRACK_FRAMES)` (every returned landmark used; weak coordinate tasks on the poorly
observed lumbar extension, knee adduction and hip rotation; the first frames re-solved
backwards). `pelvis_to_lab` turns a pelvis solved in camera axes into a calibrated camera's lab.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from biomech.body import Body, build_body
from biomech.camera import MEDIAPIPE_LANDMARKS
from biomech.conventions import COORDINATES, TRANSLATIONS
from biomech.io import write_mot
from biomech.opensim_model import add_mediapipe_markers, build_model, osim

# Pose2Sim 0.10.49 OpenSim_Setup/IK_Setup_Pose2Sim_Blazepose.xml, IKMarkerTask weights.
MARKER_WEIGHTS: dict[str, float] = {
    "nose": 0.1, "left_eye": 0.05, "right_eye": 0.05,
    "left_shoulder": 2.0, "right_shoulder": 2.0, "left_hip": 2.0, "right_hip": 2.0,
    "left_elbow": 1.0, "right_elbow": 1.0, "left_wrist": 1.0, "right_wrist": 1.0,
    "left_knee": 1.0, "right_knee": 1.0, "left_ankle": 1.0, "right_ankle": 1.0,
    "left_heel": 1.0, "right_heel": 1.0, "left_foot_index": 1.0, "right_foot_index": 1.0,
    "left_thumb": 0.05, "right_thumb": 0.05, "left_index": 0.05, "right_index": 0.05,
    "left_pinky": 0.05, "right_pinky": 0.05,
}
_IDX = {n: i for i, n in enumerate(MEDIAPIPE_LANDMARKS)}
# Markers whose error is reported (weight >= 1: shoulders, hips, elbows, wrists, knees, ankles,
# heels, toes). Face and finger landmarks steer the solution a little but their placement on
# the model is rough, so they do not count in the reported marker error.
ERROR_MARKERS: tuple[str, ...] = tuple(n for n, w in MARKER_WEIGHTS.items() if w >= 1.0)


# Rotational coordinates are reported wrapped to (-180, 180] deg: a detector's flipped limb can
# wind a knee through a full turn, which is the same pose. (Clamping coordinates to ranges
# switches OpenSim's assembler to a bounded optimizer that stopped ~4 deg short in the weakly
# observed pelvis-tilt / lumbar direction on noise-free data, so ranges are not clamped.)
_ROTATIONAL = np.array([c not in TRANSLATIONS for c in COORDINATES])


def mediapipe_world_to_ylab(world: np.ndarray) -> np.ndarray:
    """MediaPipe world landmarks (camera axes: x right, y down, z away) -> a Y-up right-handed
    frame (x right, y up, z towards the camera): a 180 deg turn about x."""
    return np.asarray(world, dtype=float) * np.array([1.0, -1.0, -1.0])


# --------------------------------------------------------------------------------------
# Scaling per person
# --------------------------------------------------------------------------------------
def _dist(points: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(points[:, _IDX[a]] - points[:, _IDX[b]], axis=-1)


def _mid(points: np.ndarray, a: str, b: str) -> np.ndarray:
    return 0.5 * (points[:, _IDX[a]] + points[:, _IDX[b]])


def measured_lengths(points: np.ndarray, visibility: np.ndarray | None = None,
                     min_visibility: float = 0.5) -> dict[str, float]:
    """Median segment lengths (m) from landmarks (T,33,3) over the frames where both ends of
    a segment are visible; NaN where no frame qualifies."""
    P = np.asarray(points, dtype=float)
    V = np.ones(P.shape[:2]) if visibility is None else np.asarray(visibility)
    ok = (V >= min_visibility) & np.isfinite(P).all(-1)

    def med(values: np.ndarray, *names: str) -> float:
        m = np.all([ok[:, _IDX[n]] for n in names], axis=0)
        return float(np.median(values[m])) if m.any() else float("nan")

    out = {}
    for s, side in (("r", "right"), ("l", "left")):
        out[f"thigh_{s}"] = med(_dist(P, f"{side}_hip", f"{side}_knee"), f"{side}_hip", f"{side}_knee")
        out[f"shank_{s}"] = med(_dist(P, f"{side}_knee", f"{side}_ankle"), f"{side}_knee", f"{side}_ankle")
        out[f"foot_{s}"] = med(_dist(P, f"{side}_heel", f"{side}_foot_index"),
                               f"{side}_heel", f"{side}_foot_index")
        out[f"upper_arm_{s}"] = med(_dist(P, f"{side}_shoulder", f"{side}_elbow"),
                                    f"{side}_shoulder", f"{side}_elbow")
        out[f"forearm_{s}"] = med(_dist(P, f"{side}_elbow", f"{side}_wrist"),
                                  f"{side}_elbow", f"{side}_wrist")
    out["hip_width"] = med(_dist(P, "left_hip", "right_hip"), "left_hip", "right_hip")
    out["shoulder_width"] = med(_dist(P, "left_shoulder", "right_shoulder"),
                                "left_shoulder", "right_shoulder")
    torso = np.linalg.norm(_mid(P, "left_shoulder", "right_shoulder") - _mid(P, "left_hip", "right_hip"), axis=-1)
    out["torso"] = med(torso, "left_shoulder", "right_shoulder", "left_hip", "right_hip")
    return out


def model_lengths(body: Body) -> dict[str, float]:
    """The same distances as `measured_lengths`, on `body` in its neutral pose."""
    o = body.joint_offsets
    out = {}
    for s in ("r", "l"):
        out[f"thigh_{s}"] = float(np.linalg.norm(o[f"shank_{s}"]))
        out[f"shank_{s}"] = float(np.linalg.norm(o[f"foot_{s}"]))
        out[f"foot_{s}"] = float(body.foot_length)
        out[f"upper_arm_{s}"] = float(np.linalg.norm(o[f"forearm_{s}"]))
        out[f"forearm_{s}"] = float(np.linalg.norm(o[f"hand_{s}"]))
    out["hip_width"] = float(abs(o["thigh_r"][2] - o["thigh_l"][2]))
    out["shoulder_width"] = float(abs(o["upper_arm_r"][2] - o["upper_arm_l"][2]))
    sh = o["trunk"] + np.array([0.0, o["upper_arm_r"][1], 0.0])
    out["torso"] = float(np.linalg.norm(sh))
    return out


# Distances between landmarks on one rigid segment (measurement pairs of the scaling). The
# hip-to-shoulder distance ("torso") spans the lumbar joint, so it changes with the posture:
# the torso keeps the table's proportions of the stated height, and "torso" only feeds the
# anthropometry check (`ingest.quality`).
SCALED: tuple[str, ...] = tuple(f"{seg}_{s}" for s in ("r", "l")
                                for seg in ("thigh", "shank", "foot", "upper_arm", "forearm")) + (
    "hip_width", "shoulder_width")


def scale_body(body: Body, lengths: dict[str, float]) -> Body:
    """A copy of `body` whose joint centres give the segment `lengths` of the `SCALED` pairs (see
    `measured_lengths`; NaN entries keep the table's value). Masses and inertias keep the
    table's values."""
    new = copy.deepcopy(body)
    ref = model_lengths(body)
    k = {n: (lengths[n] / ref[n] if np.isfinite(lengths.get(n, np.nan)) and ref[n] > 0 else 1.0)
         for n in ref if n in SCALED}
    o = new.joint_offsets
    for s in ("r", "l"):
        for child, key in ((f"shank_{s}", f"thigh_{s}"), (f"foot_{s}", f"shank_{s}"),
                           (f"forearm_{s}", f"upper_arm_{s}"), (f"hand_{s}", f"forearm_{s}")):
            o[child] = o[child] * k[key]
            new.segments[key].length = body.segments[key].length * k[key]
        o[f"thigh_{s}"] = o[f"thigh_{s}"] * np.array([1.0, 1.0, k["hip_width"]])
        o[f"upper_arm_{s}"] = o[f"upper_arm_{s}"] * np.array([1.0, 1.0, k["shoulder_width"]])
    new.foot_length = body.foot_length * 0.5 * (k["foot_r"] + k["foot_l"])
    new.extras = {**body.extras, "scale_factors": {n: round(v, 4) for n, v in k.items()}}
    return new


def calibrate_body(points: np.ndarray, visibility: np.ndarray | None = None, *, sex: str,
                   height: float, mass: float, frames: slice | None = None,
                   min_visibility: float = 0.5) -> Body:
    """The person's body: de Leva's table for (sex, height, mass), segment lengths scaled to the
    landmarks of the calibration `frames` (default: all)."""
    body = build_body(sex, height, mass)
    sel = slice(None) if frames is None else frames
    V = None if visibility is None else np.asarray(visibility)[sel]
    return scale_body(body, measured_lengths(np.asarray(points)[sel], V, min_visibility))


# --------------------------------------------------------------------------------------
# Inverse kinematics
# --------------------------------------------------------------------------------------
@dataclass
class IKResult:
    time: np.ndarray  # (T,) s
    q: np.ndarray  # (T, n_coords) COORDINATES order; rad for rotations, m for translations
    marker_error_rms: np.ndarray  # (T,) m, over the markers in use in that frame
    marker_error_max: np.ndarray  # (T,) m
    markers_in_use: np.ndarray  # (T,) int, ERROR_MARKERS tracked in that frame

    def degrees(self) -> np.ndarray:
        """q with rotations in degrees (translations stay in m), as `.mot` files store them."""
        out = self.q.copy()
        rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
        out[:, rot] = np.rad2deg(out[:, rot])
        return out

    def angle(self, name: str) -> np.ndarray:
        """One coordinate over time, degrees (m for the pelvis translations)."""
        return self.degrees()[:, COORDINATES.index(name)]


def _marker_table(time: np.ndarray, points: np.ndarray, names: list[str]) -> "osim.TimeSeriesTableVec3":
    table = osim.TimeSeriesTableVec3()
    table.setColumnLabels(osim.StdVectorString(names))
    cols = [_IDX[n] for n in names]
    for t, frame in zip(time, points[:, cols]):
        row = osim.RowVectorVec3(len(names))
        for k, p in enumerate(frame):
            row[k] = osim.Vec3(float(p[0]), float(p[1]), float(p[2]))
        table.appendRow(float(t), row)
    return table


def initial_pelvis_pose(points: np.ndarray, body: Body) -> np.ndarray:
    """pelvis_tilt, list, rotation (rad) and tx, ty, tz (m) that put the model's pelvis on the
    first frame's hips and shoulders (the start of the IK search)."""
    P = points[0]
    hip_r, hip_l = P[_IDX["right_hip"]], P[_IDX["left_hip"]]
    sh = 0.5 * (P[_IDX["right_shoulder"]] + P[_IDX["left_shoulder"]])
    z = hip_r - hip_l
    z /= np.linalg.norm(z)
    origin = 0.5 * (hip_r + hip_l)
    y = sh - origin
    y -= z * (y @ z)
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    R = np.column_stack([x, y, z])  # pelvis axes in the frame of `points`
    tilt, lst, rot = Rotation.from_matrix(R).as_euler("ZXY")  # body-fixed Z-X-Y (CustomJoint)
    return np.array([tilt, lst, rot, *origin])


class _FrameSolver:
    """One frame of OpenSim IK (assemble or track at time t) -> (q, RMS and max marker error over
    the ERROR_MARKERS in use, their number)."""

    def __init__(self, solver, state, coords, points: np.ndarray):
        self.solver, self.state, self.coords, self.points = solver, state, coords, points
        self.errors = osim.SimTKArrayDouble()

    def __call__(self, t: float, k: int, assemble: bool) -> tuple[np.ndarray, float, float, int]:
        self.state.setTime(t)
        (self.solver.assemble if assemble else self.solver.track)(self.state)
        q = np.array([c.getValue(self.state) for c in self.coords])
        self.solver.computeCurrentMarkerErrors(self.errors)
        e = np.array([self.errors.getElt(i) for i in range(self.errors.size())])
        used = np.array([n in ERROR_MARKERS and np.isfinite(self.points[k, _IDX[n]]).all()
                         for n in (self.solver.getMarkerNameForIndex(i) for i in range(self.errors.size()))])
        if not used.any():
            return q, float("nan"), float("nan"), 0
        return q, float(np.sqrt(np.mean(e[used] ** 2))), float(e[used].max()), int(used.sum())


class IKTracker:
    """OpenSim IK of `body` frame by frame, the pose carried from one call to the next: the engine of
    `solve_ik`, and of IK that runs in chunks while later frames are still being detected
    (`serving.analyze`). `load(time, points)` puts a stretch of landmarks (T, 33, 3) m in front of the
    solver; `frame(k, assemble)` solves its frame k starting from the current pose (assemble: a full
    assembly, needed as the first call after `load`; otherwise OpenSim's cheaper tracking step) ->
    (q, RMS and max marker error, markers in use); `set_pose(q)` and `start_pose(points)` (the
    model's pelvis on a frame's hips and shoulders) set where the next solve starts."""

    def __init__(self, body: Body, *, weights: dict[str, float] = MARKER_WEIGHTS, accuracy: float = 1e-5,
                 coordinate_weights: dict[str, float] | None = None):
        self.body, self.weights, self.accuracy = body, weights, accuracy
        self.names = [n for n in MEDIAPIPE_LANDMARKS if weights.get(n, 0.0) > 0]
        self.model = build_model(body)
        add_mediapipe_markers(self.model, body)
        self.state = self.model.initSystem()
        self.crefs = osim.SimTKArrayCoordinateReference()
        for c, w in (coordinate_weights or {}).items():
            if c not in COORDINATES:
                raise ValueError(f"solve_ik: coordinate_weights names {c!r}, not a coordinate of the model")
            ref = osim.CoordinateReference(c, osim.Constant(0.0))
            ref.setWeight(float(w))
            self.crefs.push_back(ref)
        cs = self.model.getCoordinateSet()
        self.coords = [cs.get(c) for c in COORDINATES]
        self.step = None

    def load(self, time: np.ndarray, points: np.ndarray) -> None:
        wset = osim.SetMarkerWeights()
        for n in self.names:
            wset.cloneAndAppend(osim.MarkerWeight(n, float(self.weights[n])))
        mref = osim.MarkersReference(_marker_table(time, points, self.names), wset)
        solver = osim.InverseKinematicsSolver(self.model, mref, self.crefs, float("inf"))
        solver.setAccuracy(self.accuracy)
        self.time = np.asarray(time, dtype=float)
        self.step = _FrameSolver(solver, self.state, self.coords, points)

    def frame(self, k: int, assemble: bool) -> tuple[np.ndarray, float, float, int]:
        return self.step(float(self.time[k]), k, assemble=assemble)

    def set_pose(self, q: np.ndarray, n: int | None = None) -> None:
        for c, v in zip(self.coords[:n], q[:n]):
            c.setValue(self.state, float(v), False)

    def start_pose(self, points: np.ndarray) -> None:
        """Pelvis on the first frame of `points` that shows both hips and a shoulder."""
        first = next((k for k in range(len(points)) if np.isfinite(points[k, [_IDX["right_hip"], _IDX["left_hip"],
                                                                            _IDX["right_shoulder"]]]).all()), None)
        if first is None:
            raise ValueError("solve_ik: no frame shows both hips and a shoulder; nothing to fit")
        self.set_pose(initial_pelvis_pose(points[first:first + 1], self.body), 6)


def solve_ik(body: Body, time: np.ndarray, points: np.ndarray, visibility: np.ndarray | None = None,
             *, weights: dict[str, float] = MARKER_WEIGHTS, min_visibility: float = 0.5,
             accuracy: float = 1e-5, coordinate_weights: dict[str, float] | None = None,
             backtrack: int = 0, progress: bool = True) -> IKResult:
    """OpenSim inverse kinematics of `body` to landmarks `points` (T,33,3) m (see module doc).

    `coordinate_weights` {coordinate: weight} adds OpenSim IK coordinate tasks that hold those
    coordinates towards 0 (rad) with that weight beside the marker tasks (see `DETECTOR_PRIOR`);
    `backtrack` > 0 re-solves the first `backtrack` frames tracking backwards from the next one
    and keeps, per frame, the solution with the smaller maximum marker error."""
    points = np.array(points, dtype=float)
    time = np.asarray(time, dtype=float)
    if points.ndim != 3 or points.shape[1:] != (len(MEDIAPIPE_LANDMARKS), 3) or len(time) != len(points):
        raise ValueError(f"solve_ik: expected time (T,) and points (T, 33, 3), got {time.shape} "
                         f"and {points.shape}")
    if visibility is not None:
        points[np.asarray(visibility) < min_visibility] = np.nan
    tracker = IKTracker(body, weights=weights, accuracy=accuracy, coordinate_weights=coordinate_weights)
    tracker.load(time, points)
    tracker.start_pose(points)
    T = len(time)
    q = np.full((T, len(COORDINATES)), np.nan)
    err_rms, err_max = np.full(T, np.nan), np.full(T, np.nan)
    in_use = np.zeros(T, dtype=int)
    for k in tqdm(range(T), desc="inverse kinematics", unit="frame", disable=not progress, leave=False):
        q[k], err_rms[k], err_max[k], in_use[k] = tracker.frame(k, assemble=k == 0)
    # The start is assembled from the neutral pose and can land in a flipped limb (a detector's
    # noisy first frames); tracked back from a later frame, the start usually does better. Each of
    # the first `backtrack` frames keeps the solution with the smaller maximum marker error.
    m = min(backtrack, T - 1)
    if m > 0:
        tracker.set_pose(q[m])
        for k in range(m - 1, -1, -1):
            back = tracker.frame(k, assemble=False)
            if np.nan_to_num(back[2], nan=np.inf) < np.nan_to_num(err_max[k], nan=np.inf):
                q[k], err_rms[k], err_max[k], in_use[k] = back
    q[:, _ROTATIONAL] = np.angle(np.exp(1j * q[:, _ROTATIONAL]))  # wrap to (-pi, pi]
    return IKResult(time, q, err_rms, err_max, in_use)


# --------------------------------------------------------------------------------------
# Detector landmarks (camera axes, hip-centred, noisy) -> IK input and a lab-frame pelvis
# --------------------------------------------------------------------------------------
# The MediaPipe-33 markers put both hips on the pelvis' flexion (z) axis, so pelvis tilt is not
# observed: tilting the pelvis by d and the lumbar and both hips by -d moves no marker. On noise-free
# landmarks the tracking solver stays where it starts; on a detector's noisy ones it wanders along
# that null space (hip flexion errors of 15-20 deg, both sides together). A weak IK coordinate task
# holding lumbar extension towards 0 picks one point of it; the same for the knee's adduction,
# which lets a noisy shank flip sideways, and the hip's rotation, where a thigh turned by 180 deg
# (knee bent backwards, foot reversed) is a local minimum the tracking can fall into and keep. Weight 1e-3 against marker weights 1-2 (m^-2): it moves
# noise-free solutions by ~1-2 deg (hip), so the lab path does not use it.
DETECTOR_PRIOR: dict[str, float] = {"lumbar_extension": 1e-3, "knee_adduction_r": 1e-3, "knee_adduction_l": 1e-3,
                                  "hip_rotation_r": 1e-3, "hip_rotation_l": 1e-3}
# First frames re-solved backwards from frame 30 (`solve_ik(backtrack=...)`) on detector input.
BACKTRACK_FRAMES = 30


def unswap_limbs(points: np.ndarray, pairs: dict[str, tuple[tuple[int, int], ...]] | None = None,
                 margin: float = 0.5, min_jump_m: float = 0.1) -> tuple[np.ndarray, int]:
    """(points (T, 33, 3) with a detector's left/right label swaps undone, number of frames
    corrected). Per limb group (`biomech.camera.SWAP_LIMBS`: arm and leg landmark pairs), frame
    by frame: the labels are swapped back when the labelled group lies on average more than
    `min_jump_m` from the group's constant-velocity prediction from the two previous frames and
    the swapped group less than `margin` times as far (summed distances): a swap jumps by the
    distance between the limbs, while a fast limb at 30 fps misses its prediction by ~0.1 m and
    a swap wrongly undone would carry over to every later frame. A tracker's identity check (Pose2Sim does the same on its 2-D keypoints). Frames without
    a detection (NaN) are skipped; the first detected frame is taken as labelled correctly."""
    from biomech.camera import SWAP_LIMBS

    P = np.array(points, dtype=float)
    seen = np.flatnonzero(np.isfinite(P).all((1, 2)))
    swapped = np.zeros(len(P), dtype=bool)
    for group in (pairs or SWAP_LIMBS).values():
        left, right = np.array(group).T
        for n, k in enumerate(seen[1:], start=1):
            prev = P[seen[n - 1]]
            pred = 2 * prev - P[seen[n - 2]] if n >= 2 else prev
            keep = np.linalg.norm(P[k, left] - pred[left], axis=-1).sum() + \
                np.linalg.norm(P[k, right] - pred[right], axis=-1).sum()
            swap = np.linalg.norm(P[k, right] - pred[left], axis=-1).sum() + \
                np.linalg.norm(P[k, left] - pred[right], axis=-1).sum()
            if swap < margin * keep and keep > min_jump_m * 2 * len(left):
                P[k, left], P[k, right] = P[k, right].copy(), P[k, left].copy()
                swapped[k] = True
    return P, int(swapped.sum())


def uniform_landmarks(time: np.ndarray, points: np.ndarray, fps: float,
                      cutoff_hz: float | None = 6.0, grid: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid (M,), points (M, 33, 3), filled (M,) bool) of a detector's landmarks on the video's
    nominal frame grid: frames with no detection (NaN rows) and dropped frames are filled by a
    cubic spline (`sigproc.gaps.resample_uniform`; `filled` marks the grid frames without a
    detected frame within half a frame), then every coordinate
    is low-passed with the zero-lag Butterworth (`cutoff_hz`, None: none). `grid`: a given stretch of
    the frame grid instead (IK in chunks: a window of a longer clip's grid)."""
    from sigproc.filters import butter_lowpass
    from sigproc.gaps import resample_uniform, uniform_grid

    P = np.asarray(points, dtype=float)
    seen = np.isfinite(P).all((1, 2))
    if seen.sum() < 8:
        raise ValueError(f"uniform_landmarks: {int(seen.sum())} frames with a detection, need >= 8")
    t = np.asarray(time, dtype=float)[seen]
    grid = uniform_grid(t[0], t[-1], fps) if grid is None else np.asarray(grid, dtype=float)
    flat, _ = resample_uniform(t, P[seen].reshape(len(t), -1), grid, kind="cubic", nominal_hz=fps)
    k = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
    filled = np.minimum(np.abs(grid - t[k - 1]), np.abs(t[k] - grid)) > 0.5 / fps  # no detected frame there
    if cutoff_hz:
        flat = butter_lowpass(flat, fps, min(cutoff_hz, 0.45 * fps), 4)
    return grid, flat.reshape(len(grid), *P.shape[1:]), filled


def pelvis_to_lab(q: np.ndarray, R_cam: np.ndarray) -> np.ndarray:
    """Coordinates q (T, 29) solved on `mediapipe_world_to_ylab` landmarks -> the same pose with
    the pelvis rotation (tilt, list, rotation) in the lab frame of a calibrated camera
    (`X_cam = R_cam @ X_lab + t`). Joint coordinates do not depend on the frame and are kept; the
    pelvis translation is left as solved (hip-centred: ~0), since world landmarks carry none."""
    D = np.diag([1.0, -1.0, -1.0])  # the y-up frame's axes in camera axes (mediapipe_world_to_ylab)
    A = np.asarray(R_cam, dtype=float).T @ D  # y-up frame -> lab
    out = np.array(q, dtype=float)
    R_pelvis = Rotation.from_euler("ZXY", out[:, :3]).as_matrix()  # body-fixed Z-X-Y (CustomJoint)
    out[:, :3] = Rotation.from_matrix(A @ R_pelvis).as_euler("ZXY")
    return out


def write_ik_mot(path: str | Path, result: IKResult, name: str | None = None) -> Path:
    """Write the IK coordinates as an OpenSim `.mot` (degrees; pelvis_t* in m)."""
    return write_mot(path, result.time, list(COORDINATES), result.degrees(), in_degrees=True,
                     name=name or "inverse_kinematics")
