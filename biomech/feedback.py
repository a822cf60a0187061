"""Technique feedback: joint-angle deviation from a per-class reference movement (DTW).

Pure functions shared by the `reference` stage, the service (/analyze), the CLI and
``evaluation.feedback``:

    traj = angle_matrix(time, angles, rate_hz)                 # {joint: (T,)} deg -> (N, J) on a uniform grid
    ref = build_reference(action, [traj, ...], rate_hz)        # DTW barycentre of the clean clips
    save_references(path, {action: ref}, meta) / load_references(path)
    fb = segment_feedback(traj, ref, threshold_deg=9.0, moments={...})

The reference of a class is the DTW barycentre (DBA: Petitjean et al. 2011) of the clean training
clips' joint-angle trajectories, started from the clip of median length, with the per-sample standard
deviation of the aligned clips. A segment is aligned to it by DTW (``sigproc.sync.dtw_path``) on
mirror-invariant features (``invariant``), and each matched frame is compared with the reference or
its left-right mirror image, whichever is closer (``align``: either leg may lead, per frame, so a gait
clip with one step more still aligns). Per joint the difference beyond ``corridor_sd`` sd of the clean
clips, held for ``window_s``, gives the deviation as its ``percentile`` over the movement, and the
RMSE along the path. A joint whose |deviation| is at least the threshold (7-11 deg in the TCN+GAT
paper) is flagged with the direction to correct (``JOINT_CUES``), unless it is one of the
``unflagged_joints``. Two more flags follow the multimodal CNN paper: knee-angle RMSE above 5 deg,
and a knee valgus moment above 40 N m. With two force plates (one foot each), the load flag
(``load_asymmetry``) compares how unevenly the feet share the vertical load while both are down
with the clean clips of the class (``Reference.load_asymmetry``): an asymmetric landing is a load
share between the legs that joint angles do not show.

Sign conventions are ``biomech.conventions``'. The valgus moment is read from the internal
``knee_adduction_<side>_moment`` (OpenSim inverse dynamics: + towards varus): an external valgus
(abduction) load is balanced by a positive internal moment, so the flagged value is its maximum.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sigproc.sync import dtw_path

__all__ = ["FEEDBACK_JOINTS", "FAULT_JOINTS", "LOAD_FAULTS", "JOINT_CUES", "Reference", "load_asymmetry", "FeedbackError", "angle_matrix",
           "build_reference", "mirror", "invariant", "align", "aligned_difference", "joint_deviation", "segment_feedback", "save_references",
           "load_references", "feedback_for_segments", "DETECTORS", "DETECTOR_FAULTS", "prepare_landmarks",
           "knee_offsets", "valgus_angle", "touchdowns", "landing_load_rate", "trunk_inclination", "trunk_lean_change", "detector_reference", "detector_z",
           "segment_detectors"]

FORMAT = "athlete-mm-reference/2"   # /2: frames matched per pair with either side (align)

# Joints the feedback speaks about: legs and trunk (arm style is free in every class).
FEEDBACK_JOINTS: tuple[str, ...] = (
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "knee_adduction_r", "ankle_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "knee_adduction_l", "ankle_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
)

_SAGITTAL_LEGS = tuple(f"{j}_{s}" for s in "rl" for j in ("hip_flexion", "knee_angle", "ankle_angle"))
# The joints on which a labelled fault of the generator (biomech/actions) shows; a fault counts as
# found when one of them is flagged. Knee valgus is the hip-adduction / internal-rotation / knee-
# abduction pattern of dynamic valgus (Hewett et al. 2005); the generator makes it by rolling the feet.
FAULT_JOINTS: dict[str, tuple[str, ...]] = {
    "knee_valgus": tuple(f"{j}_{s}" for s in "rl" for j in ("hip_adduction", "hip_rotation", "knee_adduction")),
    "shallow_squat": _SAGITTAL_LEGS,
    "shallow_lunge": _SAGITTAL_LEGS,
    "stiff_landing": _SAGITTAL_LEGS,
    "asymmetric_landing": _SAGITTAL_LEGS,
    "asymmetric_gait": _SAGITTAL_LEGS,
    "overstriding": _SAGITTAL_LEGS,
    "no_leg_drive": _SAGITTAL_LEGS,
    "trunk_lean": ("lumbar_extension", "lumbar_bending", "lumbar_rotation", "hip_flexion_r", "hip_flexion_l"),
    "upright_posture": ("lumbar_extension", "hip_flexion_r", "hip_flexion_l"),
}
# Faults that the plate load flag (``load_asymmetry``) also finds: one leg takes ~70 % of the
# landing load in the generator (a load share; in jumps no joint angle changes at all).
LOAD_FAULTS: tuple[str, ...] = ("asymmetric_landing",)

# joint (side removed) -> (what it is, cue when the segment is above the reference, cue when below)
JOINT_CUES: dict[str, tuple[str, str, str]] = {
    "hip_flexion": ("hip flexion", "flex the hip less", "flex the hip more"),
    "hip_adduction": ("hip adduction", "keep the thigh out (less hip adduction)", "bring the thigh in"),
    "hip_rotation": ("hip internal rotation", "turn the thigh out", "turn the thigh in"),
    "knee_angle": ("knee flexion", "straighten the knee more", "bend the knee more"),
    "knee_adduction": ("knee varus", "keep the knee over the foot (it drifts out)",
                       "push the knee out over the toes (it collapses in)"),
    "ankle_angle": ("ankle dorsiflexion", "less ankle dorsiflexion", "bend the ankle more"),
    "lumbar_extension": ("trunk extension", "lean back less", "keep the chest up (less forward lean)"),
    "lumbar_bending": ("trunk side bend to the right", "lean less to the right", "lean less to the left"),
    "lumbar_rotation": ("trunk rotation to the left", "rotate the trunk less to the left",
                        "rotate the trunk less to the right"),
}
KNEES = ("knee_angle_r", "knee_angle_l")
MIRROR_NEGATED = ("lumbar_bending", "lumbar_rotation")
VALGUS_MOMENTS = ("knee_adduction_r_moment", "knee_adduction_l_moment")


class FeedbackError(ValueError):
    """Unusable input for the feedback (too short, missing joints, unknown class); names what."""


@dataclass
class Reference:
    action: str
    rate_hz: float
    joints: tuple[str, ...]
    mean: np.ndarray          # (N, J) deg
    sd: np.ndarray            # (N, J) deg, spread of the aligned clean clips
    n_clips: int
    load_asymmetry: float | None = None   # 95th percentile of the clean clips' plate load asymmetry
    load_clips: int = 0                   # clean clips with plates behind it
    # the clean clips' spread of each scalar detector (DETECTORS): {name: {"median", "sd", "clips"}}
    detectors: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- trajectories
def angle_matrix(time: np.ndarray, angles: dict[str, np.ndarray], rate_hz: float,
                 joints: tuple[str, ...] = FEEDBACK_JOINTS, t_start: float | None = None,
                 t_end: float | None = None) -> np.ndarray:
    """{joint: (T,) deg} at times ``time`` -> (N, J) on a uniform ``rate_hz`` grid over
    [t_start, t_end] (default the whole record); frames with NaN (no pose) are interpolated over."""
    missing = [j for j in joints if j not in angles]
    if missing:
        raise FeedbackError(f"angles: missing joints {missing} (expected OpenSim names {list(joints)})")
    t = np.asarray(time, dtype=float)
    a = np.stack([np.asarray(angles[j], dtype=float) for j in joints], axis=1)
    a = (a + 180.0) % 360.0 - 180.0   # joint angles in (-180, 180]: an IK unwrapped through a flip is not 360 off
    if a.shape[0] != len(t):
        raise FeedbackError(f"angles: {a.shape[0]} samples for {len(t)} time stamps")
    ok = np.isfinite(a).all(1) & np.isfinite(t)
    lo = t[ok].min() if ok.any() else np.nan
    hi = t[ok].max() if ok.any() else np.nan
    lo = lo if t_start is None else max(lo, t_start)
    hi = hi if t_end is None else min(hi, t_end)
    if ok.sum() < 4 or not hi - lo >= 4.0 / rate_hz:
        raise FeedbackError(f"angles: {int(ok.sum())} usable samples over {max(hi - lo, 0):.2f} s "
                            f"(need >= 4 covering {4.0 / rate_hz:.2f} s)")
    grid = np.arange(lo, hi + 1e-9, 1.0 / rate_hz)
    return np.stack([np.interp(grid, t[ok], a[ok, k]) for k in range(a.shape[1])], axis=1)


def _band(n: int, m: int, band: float) -> int:
    return max(2, int(np.ceil(band * max(n, m))))


def mirror(traj: np.ndarray, joints: tuple[str, ...] = FEEDBACK_JOINTS) -> np.ndarray:
    """The left-right mirror image of an (N, J) trajectory: _r and _l columns swapped, side bend and
    axial rotation of the trunk negated (a lunge or a kick led by the other leg)."""
    idx = [joints.index(j[:-2] + {"_r": "_l", "_l": "_r"}[j[-2:]]) if j[-2:] in ("_r", "_l") else k
           for k, j in enumerate(joints)]
    sign = np.array([-1.0 if j in MIRROR_NEGATED else 1.0 for j in joints])
    return traj[:, idx] * sign


def invariant(traj: np.ndarray, joints: tuple[str, ...] = FEEDBACK_JOINTS) -> np.ndarray:
    """Mirror-invariant features of an (N, J) trajectory: per left/right pair the sum and the
    absolute difference, per trunk joint the value (its magnitude where a mirror negates it). A
    movement and its mirror image have the same features, so DTW on them aligns a gait's left step
    with the reference's right one as readily as with its left one."""
    pairs = [(k, joints.index(j[:-2] + "_l")) for k, j in enumerate(joints) if j.endswith("_r")]
    centre = [k for k, j in enumerate(joints) if j[-2:] not in ("_r", "_l")]
    cols = [traj[:, r] + traj[:, l] for r, l in pairs] + [np.abs(traj[:, r] - traj[:, l]) for r, l in pairs]
    cols += [np.abs(traj[:, k]) if joints[k] in MIRROR_NEGATED else traj[:, k] for k in centre]
    return np.stack(cols, axis=1) / np.sqrt(2.0)


def align(seg: np.ndarray, ref: np.ndarray, band: float | None = None,
          joints: tuple[str, ...] = FEEDBACK_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """DTW warping path (K, 2) between segment (n, J) and reference (m, J) and, per matched pair,
    whether the segment's frame is compared with the reference's mirror image (either leg may lead,
    and a gait clip may hold one step more or less than the reference: the side is chosen per
    frame pair). The path is DTW on the mirror-invariant features (``invariant``; Euclidean, with
    a Sakoe-Chiba band of ``band`` x the longer length, None: no band: a jump may sit anywhere in
    its clip); the side per pair is the closer one over the joints."""
    w = None if band is None else _band(len(seg), len(ref), band)
    path, _ = dtw_path(invariant(seg, joints), invariant(ref, joints), window=w)
    a, b = seg[path[:, 0]], ref[path[:, 1]]
    flip = ((a - mirror(b, joints)) ** 2).sum(1) < ((a - b) ** 2).sum(1)
    return path, flip


def aligned_difference(seg: np.ndarray, ref: np.ndarray, band: float | None = None,
                       joints: tuple[str, ...] = FEEDBACK_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """(path (K, 2), difference (K, J) deg): segment - reference along the DTW path, on the
    segment's own sides (against the reference's mirror image where ``align`` chose it)."""
    path, flip = align(seg, ref, band, joints)
    r = ref[path[:, 1]]
    r = np.where(flip[:, None], mirror(r, joints), r)
    return path, seg[path[:, 0]] - r


# ---------------------------------------------------------------------------------- plate load share
LOAD_BOTH_DOWN_BW = 0.5    # both feet down: the plates together carry at least half the body weight ...
LOAD_FOOT_BW = 0.05        # ... and each at least 5 %
LOAD_WINDOW_S = 0.05       # the vertical forces are averaged over 50 ms first
LOAD_MIN_S = 0.05          # fewer double-support samples than this: no load figure


def load_asymmetry(time: np.ndarray, force_y: np.ndarray, mass_kg: float, t_start: float | None = None,
                   t_end: float | None = None, percentile: float = 95.0) -> dict | None:
    """How unevenly two force plates (one foot each) share the vertical load while both feet are
    down: the ``percentile`` over the double-support samples in [t_start, t_end] of
    |F1 - F2| / (F1 + F2) (0: even, 1: all on one plate), with the plate carrying more there
    (0 or 1) and the double-support time. None when the feet are both down for less than
    LOAD_MIN_S (a single-leg movement, or no plate contact). Side-agnostic: which plate holds
    which foot does not change the figure."""
    from scipy.ndimage import uniform_filter1d

    t = np.asarray(time, dtype=float)
    f = np.asarray(force_y, dtype=float)
    if f.ndim != 2 or f.shape[1] != 2 or len(f) != len(t):
        raise FeedbackError(f"plates: vertical force of shape {list(f.shape)} for {len(t)} time stamps "
                            f"(expected (T, 2): two plates)")
    if not mass_kg > 0:
        raise FeedbackError(f"plates: mass {mass_kg!r} kg (expected > 0)")
    inside = np.isfinite(t) & np.isfinite(f).all(1)
    if t_start is not None:
        inside &= t >= t_start
    if t_end is not None:
        inside &= t <= t_end
    t, f = t[inside], f[inside]
    if len(t) < 4:
        return None
    dt = float(np.median(np.diff(t)))
    f = uniform_filter1d(f, size=max(1, int(round(LOAD_WINDOW_S / dt))), axis=0, mode="nearest")
    bw = 9.81 * float(mass_kg)
    total = f.sum(1)
    both = (total >= LOAD_BOTH_DOWN_BW * bw) & (f.min(1) >= LOAD_FOOT_BW * bw)
    if both.sum() * dt < LOAD_MIN_S:
        return None
    asym = np.abs(f[both, 0] - f[both, 1]) / total[both]
    value = float(np.percentile(asym, percentile))
    top = asym >= value
    heavier = int((f[both, 1] - f[both, 0])[top].mean() > 0)
    return {"asymmetry": value, "heavier_plate": heavier, "double_support_s": float(both.sum() * dt)}


# ---------------------------------------------------------------------------------- scalar detectors
# Two faults that the DTW joint deviation misses on IK angles get the measures the field screens them
# with, each compared with the clean clips of the class as a robust z-score (``detector_z``):
#  * knee valgus: the frontal-plane direction of the knee, from the landmarks (the 2-D frontal-plane
#    projection of drop-jump / single-leg-squat screening: Munro et al. 2012, Hewett et al. 2005):
#    the angle, medial of straight ahead (the pelvis' forward axis), of the knee's offset from the
#    hip-ankle line, over the stance frames with the knee bent (``valgus_angle``). The IK's
#    knee_adduction (a DOF of this model, held only by a weak prior) swings 18-32 deg over clean
#    test squats, as much as over valgus ones, and hip adduction / rotation from 33 landmarks do
#    not show the generator's 12-20 deg leg swivel;
#  * stiff landing: the vertical loading rate of the landing on the force plates (peak total vertical
#    force in the first LANDING_WINDOW_S after touchdown, body weights, over the time to it:
#    Dufek & Bates 1991, Devita & Skelly 1992), ``landing_load_rate``; touchdowns: the total
#    vertical force back above TOUCHDOWN_BW after at least FLIGHT_MIN_S below FLIGHT_BW. The knee
#    flexion excursion after touchdown separates less (evaluation notes in reports/feedback.md);
#  * trunk lean: how far the trunk (hip centre to shoulder centre, landmarks) tilts in the pelvis'
#    sagittal plane away from its inclination over the segment's first TRUNK_BASE_S, either way
#    (forwards in a squat, backwards in a kick): ``trunk_lean_change``.
DETECTORS: tuple[str, ...] = ("valgus_angle", "landing_load_rate", "trunk_lean_change")
DETECTOR_FAULTS: dict[str, str] = {"valgus_angle": "knee_valgus", "landing_load_rate": "stiff_landing",
                                   "trunk_lean_change": "trunk_lean"}
DETECTOR_LOG: tuple[str, ...] = ("landing_load_rate",)   # z on the log: a rate's spread grows with it
_HIP, _KNEE, _ANKLE = ("right_hip", "left_hip"), ("right_knee", "left_knee"), ("right_ankle", "left_ankle")
VALGUS_MIN_OFFSET = 0.2     # knee this far (fraction of hip-ankle) off the hip-ankle line: bent enough
STANCE_M = 0.05             # a leg is in stance when its ankle is at most this above the lower ankle
FLIGHT_BW, TOUCHDOWN_BW, FLIGHT_MIN_S = 0.05, 0.2, 0.05
LANDING_WINDOW_S, LANDING_SMOOTH_S = 0.3, 0.01
TRUNK_BASE_S, TRUNK_PERCENTILE = 0.2, 95.0


def prepare_landmarks(time: np.ndarray, world: np.ndarray, fps: float, cutoff_hz: float = 6.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe world landmarks (T, 33, 3) -> (grid (M,) s, points (M, 33, 3) y-up) as the IK gets
    them (``serving.analyze.ik_angles``): swaps undone, on the frame grid, 6 Hz zero-lag low-pass."""
    from biomech.ik import mediapipe_world_to_ylab, uniform_landmarks, unswap_limbs

    w = np.asarray(world, dtype=float)
    if w.ndim != 3 or w.shape[1:] != (33, 3) or len(w) != len(time):
        raise FeedbackError(f"landmarks: world of shape {list(w.shape)} for {len(time)} time stamps "
                            f"(expected (T, 33, 3))")
    if np.isfinite(w).all((1, 2)).sum() < 4:
        raise FeedbackError("landmarks: a pose in fewer than 4 frames")
    pts, _ = unswap_limbs(mediapipe_world_to_ylab(w))
    grid, P, _ = uniform_landmarks(np.asarray(time, dtype=float), pts, float(fps), cutoff_hz)
    return grid, P


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _perp(v: np.ndarray, u: np.ndarray) -> np.ndarray:
    return v - (v * u).sum(-1, keepdims=True) * u


def knee_offsets(points: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame and leg (T, 2) [right, left] of (T, 33, 3) y-up points (``prepare_landmarks``): the
    knee's offset from the hip-ankle line, split into ``medial`` (towards the other leg) and
    ``forward`` (the pelvis' forward axis, both made perpendicular to the hip-ankle line) in m,
    its size as a fraction of the hip-ankle distance (``ratio``), and ``stance`` (the leg's ankle at
    most STANCE_M above the lower ankle)."""
    from biomech.camera import MEDIAPIPE_LANDMARKS as NAMES

    P = np.asarray(points, dtype=float)
    idx = {n: NAMES.index(n) for n in _HIP + _KNEE + _ANKLE}
    lat = P[:, idx["right_hip"]] - P[:, idx["left_hip"]]
    lat[:, 1] = 0.0
    lat = _unit(lat)
    fwd = np.cross(np.array([0.0, 1.0, 0.0]), lat)       # y-up: up x right = forward
    ankle_y = np.stack([P[:, idx[a], 1] for a in _ANKLE], axis=1)
    out = {k: np.zeros((len(P), 2)) for k in ("medial", "forward", "ratio")}
    for k, medial in enumerate((-1.0, 1.0)):              # the right leg's medial side is -lateral
        H, K, A = P[:, idx[_HIP[k]]], P[:, idx[_KNEE[k]]], P[:, idx[_ANKLE[k]]]
        u = _unit(A - H)
        off = _perp(K - H, u)
        e_fwd = _unit(_perp(fwd, u))
        e_med = _unit(_perp(_perp(medial * lat, u), e_fwd))
        out["medial"][:, k], out["forward"][:, k] = (off * e_med).sum(1), (off * e_fwd).sum(1)
        out["ratio"][:, k] = np.linalg.norm(off, axis=1) / np.maximum(np.linalg.norm(A - H, axis=1), 1e-6)
    out["stance"] = ankle_y - ankle_y.min(1, keepdims=True) <= STANCE_M
    return out


def valgus_angle(time: np.ndarray, points: np.ndarray, t_start: float | None = None, t_end: float | None = None,
                 min_offset: float = VALGUS_MIN_OFFSET) -> float | None:
    """Knee valgus angle (deg) over [t_start, t_end]: per leg, over its stance frames with the knee at
    least ``min_offset`` off the hip-ankle line, the direction of the summed offset (``knee_offsets``)
    medial of straight ahead (0: the knee points forward, +: inwards); the larger of the legs. None
    when no leg has 4 such frames (a straight-legged movement)."""
    t = np.asarray(time, dtype=float)
    inside = (t >= (-np.inf if t_start is None else t_start)) & (t <= (np.inf if t_end is None else t_end))
    o = knee_offsets(np.asarray(points)[inside])
    angles = []
    for k in range(2):
        m = o["stance"][:, k] & (o["ratio"][:, k] >= min_offset) & np.isfinite(o["medial"][:, k])
        if m.sum() >= 4:
            angles.append(float(np.degrees(np.arctan2(o["medial"][m, k].sum(), o["forward"][m, k].sum()))))
    return max(angles) if angles else None


def trunk_inclination(points: np.ndarray) -> np.ndarray:
    """(T,) deg: the trunk (hip centre to shoulder centre) forwards of vertical in the pelvis'
    sagittal plane (+: leaning forwards) of (T, 33, 3) y-up points (``prepare_landmarks``)."""
    from biomech.camera import MEDIAPIPE_LANDMARKS as NAMES

    P = np.asarray(points, dtype=float)
    i = {n: NAMES.index(n) for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")}
    lat = P[:, i["right_hip"]] - P[:, i["left_hip"]]
    lat[:, 1] = 0.0
    fwd = np.cross(np.array([0.0, 1.0, 0.0]), _unit(lat))
    trunk = 0.5 * (P[:, i["left_shoulder"]] + P[:, i["right_shoulder"]] - P[:, i["left_hip"]] - P[:, i["right_hip"]])
    return np.degrees(np.arctan2((trunk * fwd).sum(1), trunk[:, 1]))


def trunk_lean_change(time: np.ndarray, points: np.ndarray, t_start: float | None = None,
                      t_end: float | None = None, percentile: float = TRUNK_PERCENTILE) -> float | None:
    """The ``percentile`` over [t_start, t_end] of |trunk inclination - its median over the first
    TRUNK_BASE_S| (deg, ``trunk_inclination``); None with fewer than 4 frames or none in the base."""
    t = np.asarray(time, dtype=float)
    inside = (t >= (-np.inf if t_start is None else t_start)) & (t <= (np.inf if t_end is None else t_end))
    if inside.sum() < 4:
        return None
    ang, tt = trunk_inclination(np.asarray(points)[inside]), t[inside]
    base = ang[tt <= tt[0] + TRUNK_BASE_S]
    base = base[np.isfinite(base)]
    dev = np.abs(ang - np.median(base))[np.isfinite(ang)] if len(base) else np.array([])
    return float(np.percentile(dev, percentile)) if len(dev) >= 4 else None


def touchdowns(time: np.ndarray, force_y: np.ndarray, mass_kg: float) -> np.ndarray:
    """Times (s) where the plates' total vertical force rises back above TOUCHDOWN_BW body weights
    after at least FLIGHT_MIN_S below FLIGHT_BW (a landing from a flight)."""
    t = np.asarray(time, dtype=float)
    total = np.nansum(np.asarray(force_y, dtype=float).reshape(len(t), -1), axis=1) / (9.81 * float(mass_kg))
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    below = np.concatenate([[0], np.cumsum(total < FLIGHT_BW)])   # samples in flight before each index
    loaded = np.flatnonzero(total >= TOUCHDOWN_BW)
    flight = below[loaded] - below[np.concatenate([[0], loaded[:-1]])]   # since the previous loaded sample
    return t[loaded[flight * dt >= FLIGHT_MIN_S]]


def landing_load_rate(time: np.ndarray, force_y: np.ndarray, mass_kg: float, t_start: float | None = None,
                      t_end: float | None = None, window_s: float = LANDING_WINDOW_S) -> float | None:
    """Vertical loading rate of the landings in [t_start, t_end] (body weights / s; median over the
    touchdowns): the peak of the plates' total vertical force (averaged over LANDING_SMOOTH_S) in
    [td, td + window_s] over the time from the touchdown to it. None without a touchdown inside."""
    from scipy.ndimage import uniform_filter1d

    t = np.asarray(time, dtype=float)
    f = np.asarray(force_y, dtype=float).reshape(len(t), -1)
    if not mass_kg > 0 or len(t) < 4:
        return None
    dt = float(np.median(np.diff(t)))
    total = uniform_filter1d(np.nansum(f, axis=1), max(1, int(round(LANDING_SMOOTH_S / dt))), mode="nearest")
    total = total / (9.81 * float(mass_kg))
    td = touchdowns(t, f, mass_kg)
    td = td[(td >= (-np.inf if t_start is None else t_start)) & (td <= (np.inf if t_end is None else t_end))]
    rates = []
    for x in td:
        m = (t >= x) & (t <= x + window_s)
        if m.sum() < 4 or x + window_s > t[-1]:
            continue
        i = int(np.argmax(total[m]))
        rates.append(float(total[m][i] / max(t[m][i] - x, dt)))
    return float(np.median(rates)) if rates else None


def detector_reference(name: str, values: list[float | None]) -> dict | None:
    """The clean clips' median and robust sd (1.4826 MAD, at least 1e-3) of detector ``name``, on
    its z scale (DETECTOR_LOG: of the log); None without 3 values."""
    v = np.asarray([_scale(name, x) for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) < 3:
        return None
    med = float(np.median(v))
    return {"median": med, "sd": max(1.4826 * float(np.median(np.abs(v - med))), 1e-3), "clips": int(len(v))}


def detector_z(name: str, value: float | None, ref: Reference) -> float | None:
    """How far ``value`` of detector ``name`` lies beyond the class's clean clips, towards the fault,
    in their robust sd (``Reference.detectors``); None without a value or a reference."""
    r = ref.detectors.get(name)
    if value is None or r is None:
        return None
    return (_scale(name, value) - r["median"]) / r["sd"]


def _scale(name: str, value: float) -> float:
    """The scale a detector's z is taken on (DETECTOR_LOG: the natural log)."""
    return float(np.log(max(value, 1e-9))) if name in DETECTOR_LOG else float(value)


# ---------------------------------------------------------------------------------- the reference
def build_reference(action: str, trajs: list[np.ndarray], rate_hz: float,
                    joints: tuple[str, ...] = FEEDBACK_JOINTS, iterations: int = 3,
                    band: float | None = None, load: list[float] | None = None,
                    detectors: dict[str, list[float | None]] | None = None) -> Reference:
    """DTW barycentre averaging of the clean clips' (N_i, J) trajectories (each frame on the
    reference's sides: mirrored where ``align`` matched it with the mirror image). ``load``: the
    clean clips' plate load asymmetries (``load_asymmetry``; clips with double support only): their
    95th percentile is the class's load reference. ``detectors``: {name: the clean clips' values}
    of the scalar detectors (DETECTORS; ``detector_reference``)."""
    trajs = [np.asarray(x, dtype=float) for x in trajs]
    if not trajs:
        raise FeedbackError(f"reference {action!r}: no clean clips")
    bad = [i for i, x in enumerate(trajs) if x.ndim != 2 or x.shape[1] != len(joints) or not np.isfinite(x).all()]
    if bad:
        raise FeedbackError(f"reference {action!r}: trajectories {bad[:5]} are not finite (N, {len(joints)})")
    order = np.argsort([len(x) for x in trajs])
    mean = trajs[int(order[len(order) // 2])].copy()
    for _ in range(max(1, iterations)):
        s, s2, n = np.zeros_like(mean), np.zeros_like(mean), np.zeros(len(mean))
        for x in trajs:
            p, flip = align(x, mean, band, joints)
            xs = x[p[:, 0]]
            xs = np.where(flip[:, None], mirror(xs, joints), xs)
            np.add.at(s, p[:, 1], xs)
            np.add.at(s2, p[:, 1], xs ** 2)
            np.add.at(n, p[:, 1], 1)
        mean = s / n[:, None]
    sd = np.sqrt(np.maximum(s2 / n[:, None] - mean ** 2, 0.0))
    load = [float(v) for v in (load or []) if v is not None and np.isfinite(v)]
    det = {k: r for k, r in ((k, detector_reference(k, v)) for k, v in (detectors or {}).items()) if r is not None}
    return Reference(action, float(rate_hz), tuple(joints), mean, sd, len(trajs),
                     float(np.percentile(load, 95)) if load else None, len(load), det)


def save_references(path: str | Path, refs: dict[str, Reference], meta: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {"format": FORMAT, **(meta or {}),
            "references": {a: {"rate_hz": r.rate_hz, "joints": list(r.joints), "n_clips": r.n_clips,
                                "samples": len(r.mean), "load_asymmetry": r.load_asymmetry,
                                "load_clips": r.load_clips, "detectors": r.detectors} for a, r in refs.items()}}
    arrays = {}
    for a, r in refs.items():
        arrays[f"{a}.mean"], arrays[f"{a}.sd"] = r.mean.astype(np.float32), r.sd.astype(np.float32)
    np.savez(path, header=json.dumps(head), **arrays)
    return path


def load_references(path: str | Path) -> tuple[dict[str, Reference], dict]:
    """(references by action, header) of a file written by ``save_references``."""
    path = Path(path)
    if not path.is_file():
        raise FeedbackError(f"{path}: reference file not found (built by `python -m stages.reference`)")
    with np.load(path, allow_pickle=False) as z:
        head = json.loads(str(z["header"]))
        if head.get("format") != FORMAT:
            raise FeedbackError(f"{path}: format {head.get('format')!r}, expected {FORMAT!r}")
        refs = {a: Reference(a, float(h["rate_hz"]), tuple(h["joints"]), z[f"{a}.mean"].astype(float),
                             z[f"{a}.sd"].astype(float), int(h["n_clips"]), h.get("load_asymmetry"),
                             int(h.get("load_clips", 0)), h.get("detectors") or {})
                for a, h in head["references"].items()}
    return refs, head


# ---------------------------------------------------------------------------------- feedback
def joint_deviation(seg: np.ndarray, ref: Reference, band: float | None = None, window_s: float | None = 0.2,
                    corridor_sd: float = 2.0, percentile: float | None = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Per joint: the deviation (segment - reference, deg) and the RMSE along the DTW path.

    The difference along the path (``aligned_difference``: either leg may lead) is averaged per
    reference sample; ``corridor_sd`` > 0 first shrinks it by that many standard deviations of the
    clean clips (a normative corridor: natural variation is no fault). With ``window_s`` it is then
    averaged over ``window_s`` of reference time and the deviation is the ``percentile`` of its
    magnitude over the movement (None: the largest), signed as the samples at or beyond it: a
    deviation held over the last 5 % of the movement, not one sample's (a fault at the landing of a
    jump lasts a fraction of the clip); with ``window_s=None`` it is the mean over the whole path.
    Deviations are on the segment's own sides."""
    if seg.ndim != 2 or seg.shape[1] != len(ref.joints):
        raise FeedbackError(f"segment: shape {list(seg.shape)}, expected (N, {len(ref.joints)}) over {list(ref.joints)}")
    p, d = aligned_difference(seg, ref.mean, band, ref.joints)
    return _deviation(d, p, ref, window_s, corridor_sd, percentile), np.sqrt((d ** 2).mean(0))


def _deviation(d: np.ndarray, p: np.ndarray, ref: Reference, window_s: float | None, corridor_sd: float,
               percentile: float | None) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    if window_s is None and corridor_sd == 0:
        return d.mean(0)
    n = np.bincount(p[:, 1], minlength=len(ref.mean))
    per_ref = np.stack([np.bincount(p[:, 1], d[:, k], len(ref.mean)) for k in range(d.shape[1])], 1) / n[:, None]
    if corridor_sd > 0:
        per_ref = np.sign(per_ref) * np.maximum(np.abs(per_ref) - corridor_sd * ref.sd, 0.0)
    if window_s is None:
        return per_ref.mean(0)
    w = max(1, int(round(window_s * ref.rate_hz)))
    sm = uniform_filter1d(per_ref, size=min(w, len(per_ref)), axis=0, mode="nearest")
    if percentile is None:
        k = np.abs(sm).argmax(0)
        return sm[k, np.arange(sm.shape[1])]
    mag = np.percentile(np.abs(sm), percentile, axis=0)
    sign = np.sign((sm * (np.abs(sm) >= mag)).sum(0))
    return np.where(sign == 0, 1.0, sign) * mag


def _cue(joint: str, dev: float) -> str:
    base, side = (joint[:-2], {"_r": "right ", "_l": "left "}[joint[-2:]]) if joint[-2:] in ("_r", "_l") \
        else (joint, "")
    what, above, below = JOINT_CUES[base]
    return (f"{side}{what} {abs(dev):.0f} deg {'more' if dev > 0 else 'less'} than reference: "
            f"{above if dev > 0 else below}")


def segment_feedback(seg: np.ndarray, ref: Reference, *, threshold_deg: float = 9.0, knee_rmse_deg: float = 5.0,
                     valgus_moment_nm: float = 40.0, moments: dict[str, np.ndarray] | None = None,
                     band: float | None = None, window_s: float | None = 0.2, corridor_sd: float = 2.0,
                     percentile: float | None = 95.0, unflagged_joints: tuple[str, ...] | list[str] = (),
                     load: dict | None = None, load_margin: float = 0.15,
                     plate_sides: tuple[str, str] | None = None, detectors: dict[str, float | None] | None = None,
                     valgus_z: float | None = 3.0, landing_z: float | None = 3.0,
                     trunk_z: float | None = 3.0) -> dict:
    """Feedback on one segment (N, J) (``angle_matrix`` on the reference's rate) against ``ref``.

    ``moments`` (optional): {"knee_adduction_r_moment": (T,) N m, ...} over the segment; without
    them the valgus flag is None (not evaluated). ``unflagged_joints`` are reported but never flagged
    (the ankle angle from video landmarks: IK's least reliable angle). ``load`` (optional): the
    segment's ``load_asymmetry``; flagged when it exceeds the reference's clean clips
    (``ref.load_asymmetry``) by at least ``load_margin``; ``plate_sides`` names the foot on each
    plate for the message (None: "plate 1" / "plate 2"). ``detectors`` (optional): the segment's scalar
    detectors ({"valgus_angle": ``valgus_angle``, "landing_load_rate": ``landing_load_rate``,
    "trunk_lean_change": ``trunk_lean_change``}, None where not measured), flagged at ``valgus_z`` /
    ``landing_z`` / ``trunk_z`` robust sd beyond the class's clean clips."""
    mean_dev, rmse = joint_deviation(seg, ref, band, window_s, corridor_sd, percentile)
    joints = {j: {"deviation_deg": round(float(m), 2), "rmse_deg": round(float(r), 2),
                  "flagged": bool(abs(m) >= threshold_deg and j not in unflagged_joints)}
              for j, m, r in zip(ref.joints, mean_dev, rmse)}
    flagged = sorted((j for j, v in joints.items() if v["flagged"]), key=lambda j: -abs(joints[j]["deviation_deg"]))
    knee = {j: joints[j]["rmse_deg"] for j in KNEES if j in joints}
    knee_warn = [j for j, r in knee.items() if r > knee_rmse_deg]
    valgus = None
    if moments is not None:
        peak = {m: float(np.nanmax(moments[m])) for m in VALGUS_MOMENTS
                if m in moments and np.isfinite(np.asarray(moments[m], dtype=float)).any()}
        valgus = {"peak_nm": {m: round(v, 2) for m, v in peak.items()}, "threshold_nm": valgus_moment_nm,
                  "flagged": [m for m, v in peak.items() if v > valgus_moment_nm]}
    load_flag = _load_flag(load, ref, load_margin, plate_sides)
    det = _detector_flags(detectors or {}, ref, {"valgus_angle": valgus_z, "landing_load_rate": landing_z,
                                                 "trunk_lean_change": trunk_z})
    messages = [_cue(j, joints[j]["deviation_deg"]) for j in flagged]
    messages += [f"{'right' if j.endswith('_r') else 'left'} knee angle RMSE {knee[j]:.1f} deg vs reference "
                 f"(> {knee_rmse_deg:g} deg)" for j in knee_warn]
    if valgus and valgus["flagged"]:
        messages += [f"knee valgus moment {valgus['peak_nm'][m]:.0f} N m on the {'right' if '_r_' in m else 'left'} "
                     f"knee (> {valgus_moment_nm:g} N m): injury risk" for m in valgus["flagged"]]
    if load_flag and load_flag["flagged"]:
        messages.append(f"{load_flag['heavier']} takes {load_flag['heavier_share']:.0%} of the load with both feet "
                        f"down (clean {ref.action} up to {(1 + ref.load_asymmetry) / 2:.0%}): share it evenly")
    messages += [DETECTOR_CUES[k].format(action=ref.action, **v) for k, v in det.items() if v["flagged"]]
    return {"reference": ref.action, "reference_clips": ref.n_clips, "threshold_deg": threshold_deg,
            "joints": joints, "flagged_joints": flagged, "knee_rmse_warning": knee_warn,
            "knee_rmse_deg": knee, "knee_rmse_threshold_deg": knee_rmse_deg, "valgus": valgus,
            "load": load_flag, "detectors": det, "messages": messages}


DETECTOR_CUES = {
    "valgus_angle": "the bent knee points {value:.0f} deg inwards of straight ahead (z {z:.1f} against clean "
                    "{action}): push the knee out over the toes",
    "landing_load_rate": "landing loads at {value:.0f} body weights per second (z {z:.1f} against clean "
                         "{action}): land softer, bend the knees and hips more",
    "trunk_lean_change": "the trunk tilts {value:.0f} deg away from its starting posture (z {z:.1f} against clean "
                         "{action}): keep the chest up and the trunk steady",
}


def _detector_flags(values: dict[str, float | None], ref: Reference, z_at: dict[str, float]) -> dict:
    """{name: {value, reference_median, reference_sd, z, z_threshold, flagged}} of the measured
    detectors that the reference has a clean spread for (median and sd on the z scale: DETECTOR_LOG;
    a z threshold None: reported, never flagged)."""
    out = {}
    for k, v in values.items():
        z = detector_z(k, v, ref)
        if z is None:
            continue
        r = ref.detectors[k]
        out[k] = {"value": round(float(v), 4), "reference_median": round(r["median"], 4),
                  "reference_sd": round(r["sd"], 4), "z": round(z, 3), "z_threshold": z_at[k],
                  "flagged": bool(z_at[k] is not None and z >= z_at[k])}
    return out


def _load_flag(load: dict | None, ref: Reference, margin: float, sides: tuple[str, str] | None) -> dict | None:
    """The load block of ``segment_feedback``: None without plates, double support or a load reference."""
    if load is None or ref.load_asymmetry is None:
        return None
    names = (f"the {'right' if sides[0] == 'r' else 'left'} leg", f"the {'right' if sides[1] == 'r' else 'left'} leg") \
        if sides and set(sides) == {"r", "l"} else ("plate 1", "plate 2")
    a = float(load["asymmetry"])
    return {"asymmetry": round(a, 4), "reference_asymmetry": round(float(ref.load_asymmetry), 4),
            "margin": margin, "flagged": bool(a - ref.load_asymmetry >= margin),
            "heavier": names[load["heavier_plate"]], "heavier_share": round((1 + a) / 2, 4),
            "double_support_s": round(float(load["double_support_s"]), 3)}


# ---------------------------------------------------------------------------------- per segment
SETTINGS_KEYS = ("threshold_deg", "knee_rmse_deg", "valgus_moment_nm", "band", "window_s", "corridor_sd",
                 "percentile", "unflagged_joints", "load_margin", "valgus_z", "landing_z", "trunk_z")
MIN_SEGMENT_S = 0.5


def feedback_for_segments(refs: dict[str, Reference], settings: dict, time: np.ndarray,
                          angles: dict[str, np.ndarray], segments: list[tuple[str, float, float]],
                          moment_time: np.ndarray | None = None,
                          moments: dict[str, np.ndarray] | None = None, plates: dict | None = None,
                          landmarks: dict | None = None) -> list[dict]:
    """Feedback per (action, t_start_s, t_end_s) segment of one recording: ``segment_feedback`` of
    the angles inside it against its action's reference (``settings``: the reference file's
    ``settings``, see SETTINGS_KEYS). A segment without a reference, shorter than MIN_SEGMENT_S or
    without usable angles gets ``skipped`` with the reason instead. ``plates`` (optional): {"time":
    (T,) s on the angles' clock, "force_y": (T, 2) N, two plates, "mass_kg": kg, "sides": ("r", "l")
    or None} for the load flag and ``landing_load_rate``. ``landmarks`` (optional):
    {"time": (M,) s on the angles' clock, "points": (M, 33, 3) from ``prepare_landmarks``} for
    ``valgus_angle`` and ``trunk_lean_change``."""
    kw = {k: settings[k] for k in SETTINGS_KEYS if k in settings}
    out = []
    for action, t0, t1 in segments:
        item = {"action": action, "t_start_s": float(t0), "t_end_s": float(t1)}
        ref = refs.get(action)
        if ref is None:
            out.append({**item, "skipped": f"no reference movement for {action!r} (have {sorted(refs)})"})
            continue
        if t1 - t0 < MIN_SEGMENT_S:
            out.append({**item, "skipped": f"segment of {t1 - t0:.2f} s (< {MIN_SEGMENT_S} s)"})
            continue
        try:
            seg = angle_matrix(time, angles, ref.rate_hz, ref.joints, t0, t1)
        except FeedbackError as exc:
            out.append({**item, "skipped": str(exc)})
            continue
        mom = None
        if moments is not None and moment_time is not None:
            inside = (moment_time >= t0) & (moment_time <= t1)
            mom = {k: np.asarray(v, dtype=float)[inside] for k, v in moments.items() if k in VALGUS_MOMENTS}
        load = None if plates is None else load_asymmetry(plates["time"], plates["force_y"], plates["mass_kg"], t0, t1)
        det = segment_detectors(t0, t1, plates, landmarks)
        out.append({**item, **segment_feedback(seg, ref, moments=mom, load=load, detectors=det,
                                               plate_sides=None if plates is None else plates.get("sides"), **kw)})
    return out


def segment_detectors(t0: float | None = None, t1: float | None = None, plates: dict | None = None,
                      landmarks: dict | None = None) -> dict[str, float | None]:
    """The scalar detectors over [t0, t1] (None: the whole record): ``valgus_angle`` of the
    landmarks, their ``trunk_lean_change`` and, with plates, ``landing_load_rate`` (None where not
    measured)."""
    out: dict[str, float | None] = {d: None for d in DETECTORS}
    if landmarks is not None:
        out["valgus_angle"] = valgus_angle(landmarks["time"], landmarks["points"], t0, t1)
        out["trunk_lean_change"] = trunk_lean_change(landmarks["time"], landmarks["points"], t0, t1)
    if plates is not None:
        out["landing_load_rate"] = landing_load_rate(plates["time"], plates["force_y"], plates["mass_kg"], t0, t1)
    return out
