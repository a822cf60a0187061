"""A 15-segment articulated human scaled from de Leva's (1996) anthropometric tables.

One definition of the body serves the generator, the OpenSim model built in code
(`biomech.opensim_model`), the Newton-Euler inverse dynamics (`biomech.dynamics`) and the
torque estimator: segment lengths, masses, centres of mass and inertias all come from
`build_body(sex, height, mass)`.

Frames and signs: see `biomech.conventions`. Each segment frame sits at its proximal joint
centre with X anterior, Y pointing proximally along the segment and Z to the right, in the
anatomical standing pose (all coordinates zero). Forward kinematics is written in torch so
that the same code is differentiable for the torque estimator; numpy callers pass float64
tensors.

Anthropometry (de Leva 1996, adjustments of Zatsiorsky-Seluyanov's parameters):
mass fractions, segment lengths (relative to the reference subjects' stature, 1.741 m male,
1.735 m female), centre-of-mass positions along the segment and radii of gyration
(sagittal -> about Z; transverse -> about X and longitudinal -> about Y, except the foot,
which lies along X: longitudinal -> about X, transverse -> about Y).
The trunk is split into the lower trunk (our pelvis) and the middle+upper trunk (our trunk).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from biomech.conventions import COORDINATES

# --------------------------------------------------------------------------------------
# Anthropometric table (de Leva 1996). Per segment:
#   mass fraction, length / stature, CoM fraction of length from the proximal end,
#   radii of gyration (sagittal, transverse, longitudinal) / length.
# --------------------------------------------------------------------------------------
_DE_LEVA = {
    "male": {
        "head": (0.0694, 0.1395, 0.4024, 0.362, 0.376, 0.312),  # C7 -> vertex; CoM from C7
        "trunk": (0.3229, 0.2218, 0.5100, 0.330, 0.310, 0.190),  # L5/S1 -> C7 (MPT+UPT)
        "pelvis": (0.1117, 0.0837, 0.3885, 0.615, 0.551, 0.587),  # hips -> L5/S1 (LPT)
        "upper_arm": (0.0271, 0.1618, 0.5772, 0.285, 0.269, 0.158),
        "forearm": (0.0162, 0.1545, 0.4574, 0.276, 0.265, 0.121),
        "hand": (0.0061, 0.0495, 0.7900, 0.628, 0.513, 0.401),
        "thigh": (0.1416, 0.2425, 0.4095, 0.329, 0.329, 0.149),
        "shank": (0.0433, 0.2493, 0.4459, 0.255, 0.249, 0.103),
        "foot": (0.0137, 0.1482, 0.4415, 0.257, 0.245, 0.124),  # heel -> toe tip
    },
    "female": {
        "head": (0.0668, 0.1405, 0.4106, 0.330, 0.359, 0.318),
        "trunk": (0.3010, 0.2005, 0.5000, 0.320, 0.300, 0.180),
        "pelvis": (0.1247, 0.1046, 0.4920, 0.433, 0.402, 0.444),
        "upper_arm": (0.0255, 0.1586, 0.5754, 0.278, 0.260, 0.148),
        "forearm": (0.0138, 0.1523, 0.4559, 0.261, 0.257, 0.094),
        "hand": (0.0056, 0.0450, 0.7474, 0.531, 0.454, 0.335),
        "thigh": (0.1478, 0.2124, 0.3612, 0.369, 0.364, 0.162),
        "shank": (0.0481, 0.2492, 0.4416, 0.271, 0.267, 0.093),
        "foot": (0.0129, 0.1316, 0.4014, 0.299, 0.279, 0.139),
    },
}
# Geometry not in the table, as fractions of stature.
_ANKLE_HEIGHT = 0.039  # lateral malleolus above the floor
_HEEL_BACK = 0.25  # fraction of foot length behind the ankle joint centre
_HIP_HALF_WIDTH = 0.050  # hip joint centre lateral offset from the pelvis origin
_SHOULDER_HALF_WIDTH = {"male": 0.106, "female": 0.098}
_SHOULDER_DROP = 0.025  # shoulder joint centres below C7
_BODY_DENSITY = 1050.0  # kg/m^3, used only for capsule radii (rendering, occlusion)

SEGMENTS: tuple[str, ...] = (
    "pelvis", "trunk", "head",
    "upper_arm_r", "forearm_r", "hand_r", "upper_arm_l", "forearm_l", "hand_l",
    "thigh_r", "shank_r", "foot_r", "thigh_l", "shank_l", "foot_l",
)

_COORD_INDEX = {name: i for i, name in enumerate(COORDINATES)}


@dataclass(frozen=True)
class JointDef:
    """A joint between `parent` and `child`: body-fixed rotations applied in order.

    `axes` lists (coordinate name, axis in the child's frame) in rotation order (Z, X, Y as
    OpenSim's CustomJoint rotation1..3); an empty tuple is a weld.
    """

    name: str
    parent: str | None
    child: str
    axes: tuple[tuple[str, tuple[float, float, float]], ...]


def _side_joints(s: str) -> list[JointDef]:
    m = 1.0 if s == "r" else -1.0  # left-side adduction/rotation axes are mirrored
    return [
        JointDef(f"hip_{s}", "pelvis", f"thigh_{s}", (
            (f"hip_flexion_{s}", (0, 0, 1)), (f"hip_adduction_{s}", (m, 0, 0)),
            (f"hip_rotation_{s}", (0, m, 0)))),
        JointDef(f"knee_{s}", f"thigh_{s}", f"shank_{s}", (
            (f"knee_angle_{s}", (0, 0, -1)), (f"knee_adduction_{s}", (m, 0, 0)))),
        JointDef(f"ankle_{s}", f"shank_{s}", f"foot_{s}", ((f"ankle_angle_{s}", (0, 0, 1)),)),
        JointDef(f"shoulder_{s}", "trunk", f"upper_arm_{s}", (
            (f"arm_flex_{s}", (0, 0, 1)), (f"arm_add_{s}", (m, 0, 0)),
            (f"arm_rot_{s}", (0, m, 0)))),
        JointDef(f"elbow_{s}", f"upper_arm_{s}", f"forearm_{s}", ((f"elbow_flex_{s}", (0, 0, 1)),)),
        JointDef(f"wrist_{s}", f"forearm_{s}", f"hand_{s}", ()),
    ]


JOINTS: tuple[JointDef, ...] = tuple(
    [
        JointDef("ground_pelvis", None, "pelvis", (
            ("pelvis_tilt", (0, 0, 1)), ("pelvis_list", (1, 0, 0)), ("pelvis_rotation", (0, 1, 0)))),
        JointDef("back", "pelvis", "trunk", (
            ("lumbar_extension", (0, 0, 1)), ("lumbar_bending", (1, 0, 0)),
            ("lumbar_rotation", (0, 1, 0)))),
        JointDef("neck", "trunk", "head", ()),
    ]
    + _side_joints("r")
    + _side_joints("l")
)
JOINT_OF_CHILD = {j.child: j for j in JOINTS}


@dataclass
class Segment:
    name: str
    mass: float  # kg
    length: float  # m
    com: np.ndarray  # (3,) m, segment frame
    inertia: np.ndarray  # (3,) principal moments about the CoM (Ixx, Iyy, Izz), kg m^2
    radius: float  # m, capsule radius for rendering and occlusion


@dataclass
class Body:
    """A scaled athlete: segments, joint centres (in the parent frame) and landmarks."""

    sex: str
    height: float
    mass: float
    segments: dict[str, Segment]
    joint_offsets: dict[str, np.ndarray]  # child name -> joint centre in parent frame (3,)
    foot_length: float
    ankle_height: float
    heel_back: float
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def total_mass(self) -> float:
        return float(sum(s.mass for s in self.segments.values()))

    def to_dict(self) -> dict:
        """JSON-serialisable description (units: kg, m, kg m^2)."""
        return {
            "sex": self.sex,
            "height_m": self.height,
            "mass_kg": self.mass,
            "anthropometric_table": "de Leva (1996)",
            "segments": {
                n: {
                    "mass_kg": round(s.mass, 5),
                    "length_m": round(s.length, 5),
                    "com_m": [round(float(v), 5) for v in s.com],
                    "inertia_kgm2": [round(float(v), 7) for v in s.inertia],
                }
                for n, s in self.segments.items()
            },
            "joint_offsets_m": {k: [round(float(x), 5) for x in v] for k, v in self.joint_offsets.items()},
        }


def _table_key(segment: str) -> str:
    return segment[:-2] if segment.endswith(("_r", "_l")) else segment


def build_body(sex: str, height: float, mass: float) -> Body:
    """Scale de Leva's table to an athlete of `height` (m) and `mass` (kg)."""
    if sex not in _DE_LEVA:
        raise ValueError(f"sex={sex!r}: expected 'male' or 'female'")
    if not 1.2 <= height <= 2.3:
        raise ValueError(f"height={height} m is outside the supported range 1.2-2.3 m")
    if not 30 <= mass <= 160:
        raise ValueError(f"mass={mass} kg is outside the supported range 30-160 kg")
    table = _DE_LEVA[sex]
    total_fraction = sum(
        table[_table_key(n)][0] for n in SEGMENTS
    )
    segs: dict[str, Segment] = {}
    for name in SEGMENTS:
        mf, lf, cf, rs, rt, rl = table[_table_key(name)]
        m = mass * mf / total_fraction
        length = lf * height
        key = _table_key(name)
        if key == "foot":
            com = np.array([(cf - _HEEL_BACK) * length, -_ANKLE_HEIGHT * height * 0.5, 0.0])
        elif key in ("head", "trunk", "pelvis"):
            com = np.array([0.0, cf * length, 0.0])  # these segments extend upwards
        else:
            com = np.array([0.0, -cf * length, 0.0])
        # principal axes (X, Y, Z): the foot lies along X (longitudinal about X, transverse about
        # the vertical Y); every other segment lies along Y (transverse about X, longitudinal about Y)
        radii = (rl, rt, rs) if key == "foot" else (rt, rl, rs)
        inertia = m * (length * np.array(radii)) ** 2
        radius = float(np.sqrt(m / (_BODY_DENSITY * np.pi * length)))
        if key == "head":
            radius = float((3 * m / (4 * np.pi * _BODY_DENSITY)) ** (1 / 3))
        segs[name] = Segment(name, m, length, com, inertia, radius)

    L = {k: segs[k].length for k in segs}
    sw = _SHOULDER_HALF_WIDTH[sex] * height
    offsets = {
        "trunk": np.array([-0.01 * height, L["pelvis"], 0.0]),
        "head": np.array([0.0, L["trunk"], 0.0]),
    }
    for s, m in (("r", 1.0), ("l", -1.0)):
        offsets[f"thigh_{s}"] = np.array([0.0, 0.0, m * _HIP_HALF_WIDTH * height])
        offsets[f"shank_{s}"] = np.array([0.0, -L[f"thigh_{s}"], 0.0])
        offsets[f"foot_{s}"] = np.array([0.0, -L[f"shank_{s}"], 0.0])
        offsets[f"upper_arm_{s}"] = np.array([0.0, L["trunk"] - _SHOULDER_DROP * height, m * sw])
        offsets[f"forearm_{s}"] = np.array([0.0, -L[f"upper_arm_{s}"], 0.0])
        offsets[f"hand_{s}"] = np.array([0.0, -L[f"forearm_{s}"], 0.0])
    return Body(
        sex=sex, height=height, mass=mass, segments=segs, joint_offsets=offsets,
        foot_length=L["foot_r"], ankle_height=_ANKLE_HEIGHT * height, heel_back=_HEEL_BACK,
    )


def perturb_body(body: Body, rng: np.random.Generator, length_frac: float = 0.05, mass_frac: float = 0.10) -> Body:
    """A plausible other athlete of the same stature and mass: every segment's length (its joint
    offsets, centre of mass and inertia with it) scaled by U(1 - length_frac, 1 + length_frac),
    and the mass distribution changed by U(1 - mass_frac, 1 + mass_frac) per segment, renormalised
    to the same total mass. Left and right segments get the same factors."""
    base = sorted({_table_key(n) for n in SEGMENTS})
    ls = {k: float(rng.uniform(1 - length_frac, 1 + length_frac)) for k in base}
    ms = {k: float(rng.uniform(1 - mass_frac, 1 + mass_frac)) for k in base}
    total = sum(body.segments[n].mass * ms[_table_key(n)] for n in SEGMENTS)
    segs = {}
    for n, sg in body.segments.items():
        k = _table_key(n)
        m = sg.mass * ms[k] * body.total_mass / total
        segs[n] = Segment(n, m, sg.length * ls[k], sg.com * ls[k], sg.inertia * (m / sg.mass) * ls[k] ** 2, sg.radius)
    parent = {j.child: j.parent for j in JOINTS}
    offsets = {c: v * ls[_table_key(parent[c])] for c, v in body.joint_offsets.items()}
    return Body(body.sex, body.height, body.mass, segs, offsets, body.foot_length * ls["foot"],
                body.ankle_height, body.heel_back, dict(body.extras))


# --------------------------------------------------------------------------------------
# Rotations (torch, batched over leading dims)
# --------------------------------------------------------------------------------------
def axis_rotation(axis: tuple[float, float, float], angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) about a unit principal axis (+-X, +-Y or +-Z)."""
    ax = [i for i, v in enumerate(axis) if v != 0]
    if len(ax) != 1:
        raise ValueError(f"axis={axis}: only principal axes are supported")
    i = ax[0]
    a = angle * float(axis[i])
    c, s = torch.cos(a), torch.sin(a)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    if i == 0:
        flat = (one, zero, zero, zero, c, -s, zero, s, c)
    elif i == 1:
        flat = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        flat = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(flat, dim=-1).reshape(*a.shape, 3, 3)


def joint_rotation(joint: JointDef, q: torch.Tensor) -> torch.Tensor:
    """Child-in-parent rotation of `joint` for coordinates q (..., n_coordinates), radians."""
    R = None
    for coord, axis in joint.axes:
        Ri = axis_rotation(axis, q[..., _COORD_INDEX[coord]])
        R = Ri if R is None else R @ Ri
    if R is None:
        R = torch.eye(3, dtype=q.dtype, device=q.device).expand(*q.shape[:-1], 3, 3)
    return R


@dataclass
class Pose:
    """Segment poses over time: R[name] (T,3,3) segment->world, p[name] (T,3) origin (m)."""

    R: dict[str, torch.Tensor]
    p: dict[str, torch.Tensor]

    def point(self, segment: str, local) -> torch.Tensor:
        """World position (T,3) of a point given in a segment's frame."""
        loc = torch.as_tensor(np.asarray(local, dtype=np.float64), dtype=self.p[segment].dtype)
        return self.p[segment] + (self.R[segment] @ loc)


def forward_kinematics(body: Body, q: torch.Tensor) -> Pose:
    """Segment poses for coordinates q (T, len(COORDINATES)): angles in rad, pelvis_t* in m."""
    if q.shape[-1] != len(COORDINATES):
        raise ValueError(f"q has {q.shape[-1]} columns, expected {len(COORDINATES)} (COORDINATES)")
    R: dict[str, torch.Tensor] = {}
    p: dict[str, torch.Tensor] = {}
    for joint in JOINTS:
        Rj = joint_rotation(joint, q)
        if joint.parent is None:
            R[joint.child] = Rj
            p[joint.child] = q[..., [_COORD_INDEX["pelvis_tx"], _COORD_INDEX["pelvis_ty"],
                                     _COORD_INDEX["pelvis_tz"]]]
            continue
        off = torch.as_tensor(body.joint_offsets[joint.child], dtype=q.dtype)
        R[joint.child] = R[joint.parent] @ Rj
        p[joint.child] = p[joint.parent] + R[joint.parent] @ off
    return Pose(R, p)


def segment_coms(body: Body, pose: Pose) -> dict[str, torch.Tensor]:
    """World CoM positions (T,3) of every segment."""
    return {n: pose.point(n, body.segments[n].com) for n in SEGMENTS}


def whole_body_com(body: Body, pose: Pose) -> torch.Tensor:
    coms = segment_coms(body, pose)
    total = sum(body.segments[n].mass * coms[n] for n in SEGMENTS)
    return total / body.total_mass


# --------------------------------------------------------------------------------------
# Landmarks (MediaPipe Pose 33) and capsules
# --------------------------------------------------------------------------------------
def landmark_attachments(body: Body) -> list[tuple[str, np.ndarray]]:
    """(segment, local offset) of each of the 33 MediaPipe landmarks, in MediaPipe order."""
    hl = body.segments["head"].length
    hand = body.segments["hand_r"].length
    lf, ah, hb = body.foot_length, body.ankle_height, body.heel_back
    sh = body.joint_offsets["upper_arm_r"]
    hip = body.joint_offsets["thigh_r"]

    def side(v, s):  # mirror a right-side offset to the left
        v = np.array(v, dtype=float)
        if s == "l":
            v[2] = -v[2]
        return v

    face = [("head", np.array((0.42 * hl, 0.50 * hl, 0.0)))]  # nose
    # MediaPipe's "left" landmarks are on the subject's left (our -Z): inner, centre, outer.
    eyes = [("head", side((0.36 * hl, 0.60 * hl, dz * hl), s))
            for s in ("l", "r") for dz in (0.06, 0.12, 0.18)]
    ears = [("head", side((0.02 * hl, 0.55 * hl, 0.30 * hl), s)) for s in ("l", "r")]
    mouth = [("head", side((0.38 * hl, 0.38 * hl, 0.09 * hl), s)) for s in ("l", "r")]
    out = face + eyes + ears + mouth
    out += [("trunk", side(sh, s)) for s in ("l", "r")]  # shoulders (joint centres)
    out += [(f"forearm_{s}", np.zeros(3)) for s in ("l", "r")]  # elbows
    out += [(f"hand_{s}", np.zeros(3)) for s in ("l", "r")]  # wrists
    out += [(f"hand_{s}", side((-0.25 * hand, -1.55 * hand, 0.02), s)) for s in ("l", "r")]  # pinky
    out += [(f"hand_{s}", side((0.20 * hand, -1.75 * hand, 0.0), s)) for s in ("l", "r")]  # index
    out += [(f"hand_{s}", side((0.45 * hand, -0.90 * hand, -0.01), s)) for s in ("l", "r")]  # thumb
    out += [("pelvis", side(hip, s)) for s in ("l", "r")]  # hips
    out += [(f"shank_{s}", np.zeros(3)) for s in ("l", "r")]  # knees
    out += [(f"foot_{s}", np.zeros(3)) for s in ("l", "r")]  # ankles
    out += [(f"foot_{s}", (-hb * lf, -ah, 0.0)) for s in ("l", "r")]  # heels
    out += [(f"foot_{s}", ((1 - hb) * lf, -ah, 0.0)) for s in ("l", "r")]  # foot index
    assert len(out) == 33
    return [(seg, np.asarray(v, dtype=float)) for seg, v in out]


def landmarks_world(body: Body, pose: Pose) -> torch.Tensor:
    """(T, 33, 3) world positions of the MediaPipe landmarks."""
    return torch.stack([pose.point(seg, off) for seg, off in landmark_attachments(body)], dim=-2)


def capsule_specs(body: Body) -> list[tuple[str, str, np.ndarray, np.ndarray, float]]:
    """(name, segment, local p0, local p1, radius) of the rendering / occlusion capsules."""
    specs = []
    for n in SEGMENTS:
        seg = body.segments[n]
        key = _table_key(n)
        if key == "head":
            c = seg.com + np.array([0.02 * body.height, 0.0, 0.0])
            specs.append((n, n, c, c, seg.radius))
        elif key in ("trunk", "pelvis"):
            top = np.array([0.0, seg.length if key == "trunk" else seg.length * 0.9, 0.0])
            r = seg.radius * (0.75 if key == "trunk" else 0.9)
            specs.append((n, n, np.zeros(3), top, r))
        elif key == "foot":
            a, hb = body.ankle_height, body.heel_back
            specs.append((n, n, np.array([-hb * seg.length, -0.6 * a, 0.0]),
                          np.array([(1 - hb) * seg.length * 0.9, -0.6 * a, 0.0]), 0.4 * a))
        elif key == "hand":
            specs.append((n, n, np.zeros(3), np.array([0.0, -1.6 * seg.length, 0.0]), seg.radius * 0.8))
        else:
            specs.append((n, n, np.zeros(3), np.array([0.0, -seg.length, 0.0]), seg.radius))
    return specs


def landmark_owner_capsules(body: Body) -> np.ndarray:
    """Index into `capsule_specs` of the capsule each landmark belongs to (33,)."""
    names = [s[1] for s in capsule_specs(body)]
    owners = []
    for seg, _ in landmark_attachments(body):
        owners.append(names.index(seg))
    return np.asarray(owners)


def q_index(name: str) -> int:
    """Column of coordinate `name` in a q array."""
    try:
        return _COORD_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown coordinate {name!r}; known: {', '.join(COORDINATES)}") from None
