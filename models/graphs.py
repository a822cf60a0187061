"""Skeleton layouts as DATA. A layout is a dict:

    num_nodes       int
    edges           list of [i, j] (undirected, 0-based); self-loops are added by ``adjacency``
    imu_nodes       {IMU sensor name (biomech.conventions.IMU_SENSORS): node or [nodes]}  (optional;
                    a sensor between two landmarks, e.g. the pelvis IMU, feeds both hips)
    grf_nodes       [node of plate 1 (right foot), node of plate 2 (left foot)]  (optional)
    source_indices  [index into the input landmark array for each node]          (optional; lets a
                    layout be a subset of the MediaPipe-33 landmarks the batch carries)
    joint_nodes     {joint group: [nodes]} used to turn node attention into per-angle weights;
                    groups: hip_r/l, knee_r/l, ankle_r/l, lumbar, shoulder_r/l, elbow_r/l (optional)

Built in: "mediapipe33", "coco17" and "mediapipe_body" (the 17 body landmarks of MediaPipe-33: nose,
shoulders, elbows, wrists, hips, knees, ankles, heels, toes; no eyes, ears, mouth or fingers). Add one at run time with ``register_layout(name, spec)`` or
pass the spec dict directly as a model's ``layout`` cfg value (no code edit needed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from biomech.conventions import IMU_SENSORS, JOINT_ANGLES

_MEDIAPIPE33_EDGES = [
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
]
_COCO17_EDGES = [
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
]

# MediaPipe-33 indices of the "mediapipe_body" nodes 0..16
_BODY17_SOURCE = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]
_BODY17_EDGES = [
    (0, 1), (0, 2), (1, 2), (1, 3), (3, 5), (2, 4), (4, 6), (1, 7), (2, 8), (7, 8),
    (7, 9), (9, 11), (8, 10), (10, 12), (11, 13), (12, 14), (13, 15), (14, 16), (11, 15), (12, 16),
]

LAYOUT_SPECS: dict[str, dict[str, Any]] = {
    "mediapipe33": {
        "num_nodes": 33,
        "edges": _MEDIAPIPE33_EDGES,
        # MediaPipe: 15 left wrist, 16 right wrist, 27 left ankle, 28 right ankle.
        "imu_nodes": {"wrist_l": 15, "wrist_r": 16, "shank_l": 27, "shank_r": 28},
        "grf_nodes": [28, 27],
        "joint_nodes": {"hip_r": [24], "hip_l": [23], "knee_r": [26], "knee_l": [25], "ankle_r": [28],
                        "ankle_l": [27], "lumbar": [11, 12, 23, 24], "shoulder_r": [12], "shoulder_l": [11],
                        "elbow_r": [14], "elbow_l": [13]},
    },
    "coco17": {
        "num_nodes": 17,
        "edges": _COCO17_EDGES,
        "imu_nodes": {"wrist_l": 9, "wrist_r": 10, "shank_l": 15, "shank_r": 16},
        "grf_nodes": [16, 15],
        # COCO-17 keypoints picked from the MediaPipe-33 landmarks of the batch.
        "source_indices": [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28],
        "joint_nodes": {"hip_r": [12], "hip_l": [11], "knee_r": [14], "knee_l": [13], "ankle_r": [16],
                        "ankle_l": [15], "lumbar": [5, 6, 11, 12], "shoulder_r": [6], "shoulder_l": [5],
                        "elbow_r": [8], "elbow_l": [7]},
    },
    "mediapipe_body": {
        "num_nodes": 17,
        "edges": _BODY17_EDGES,
        # all six IMUs: pelvis -> both hips, trunk -> both shoulders, shanks -> ankles (as mediapipe33)
        "imu_nodes": {"pelvis": [7, 8], "trunk": [1, 2], "wrist_l": 5, "wrist_r": 6, "shank_l": 11, "shank_r": 12},
        "grf_nodes": [12, 11],
        "source_indices": _BODY17_SOURCE,
        "joint_nodes": {"hip_r": [8], "hip_l": [7], "knee_r": [10], "knee_l": [9], "ankle_r": [12],
                        "ankle_l": [11], "lumbar": [1, 2, 7, 8], "shoulder_r": [2], "shoulder_l": [1],
                        "elbow_r": [4], "elbow_l": [3]},
    },
}
_SPEC_KEYS = {"name", "num_nodes", "edges", "imu_nodes", "grf_nodes", "source_indices", "joint_nodes"}


@dataclass(frozen=True)
class Layout:
    name: str
    num_nodes: int
    edges: tuple[tuple[int, int], ...]
    imu_nodes: Mapping[str, int | tuple[int, ...]] = field(default_factory=dict)
    grf_nodes: tuple[int, ...] = ()
    source_indices: tuple[int, ...] | None = None
    joint_nodes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def adjacency(self, self_loops: bool = True) -> torch.Tensor:
        """Symmetric bool adjacency (num_nodes, num_nodes)."""
        a = torch.zeros(self.num_nodes, self.num_nodes, dtype=torch.bool)
        if self.edges:
            e = torch.tensor(self.edges, dtype=torch.long)
            a[e[:, 0], e[:, 1]] = True
            a[e[:, 1], e[:, 0]] = True
        if self_loops:
            a |= torch.eye(self.num_nodes, dtype=torch.bool)
        return a

    def imu_pairs(self) -> list[tuple[str, int]]:
        """(IMU sensor, node) for every node a sensor feeds (a sensor mapped to a list feeds each)."""
        return [(s, n) for s, nodes in self.imu_nodes.items()
                for n in ((nodes,) if isinstance(nodes, int) else nodes)]

    def angle_node_groups(self, angles: tuple[str, ...] = JOINT_ANGLES) -> list[tuple[int, ...]] | None:
        """Nodes belonging to each joint angle (via ``joint_nodes``), or None if the layout has none."""
        if not self.joint_nodes:
            return None
        groups = []
        for a in angles:
            side = a[-1] if a[-2:] in ("_r", "_l") else ""
            joint = ("lumbar" if a.startswith("lumbar") else "shoulder" if a.startswith("arm_")
                     else a.split("_")[0])  # hip / knee / ankle / elbow
            key = f"{joint}_{side}" if side else joint
            if key not in self.joint_nodes:
                return None
            groups.append(tuple(self.joint_nodes[key]))
        return groups


def _validate(name: str, spec: Mapping[str, Any]) -> Layout:
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"layout {name!r}: unknown key(s) {sorted(unknown)}; allowed {sorted(_SPEC_KEYS)}")
    if "num_nodes" not in spec or "edges" not in spec:
        raise ValueError(f"layout {name!r}: needs 'num_nodes' and 'edges'")
    n = int(spec["num_nodes"])

    def node(i: Any, what: str) -> int:
        i = int(i)
        if not 0 <= i < n:
            raise ValueError(f"layout {name!r}: {what} node {i} out of range [0, {n})")
        return i

    edges = tuple((node(i, "edge"), node(j, "edge")) for i, j in spec["edges"])
    imu = {}
    for s, i in dict(spec.get("imu_nodes") or {}).items():
        if s not in IMU_SENSORS:
            raise ValueError(f"layout {name!r}: unknown IMU sensor {s!r}; sensors are {IMU_SENSORS}")
        imu[s] = (node(i, "imu") if not isinstance(i, (list, tuple))
                  else tuple(node(j, "imu") for j in i))
    grf = tuple(node(i, "grf") for i in (spec.get("grf_nodes") or ()))
    if len(grf) not in (0, 2):
        raise ValueError(f"layout {name!r}: grf_nodes needs 2 nodes (right-foot plate, left-foot plate)")
    src = spec.get("source_indices")
    src = tuple(int(i) for i in src) if src is not None else None
    if src is not None and len(src) != n:
        raise ValueError(f"layout {name!r}: source_indices has {len(src)} entries for {n} nodes")
    joints = {k: tuple(node(i, "joint") for i in v) for k, v in dict(spec.get("joint_nodes") or {}).items()}
    return Layout(name, n, edges, imu, grf, src, joints)


_LAYOUTS: dict[str, Layout] = {name: _validate(name, spec) for name, spec in LAYOUT_SPECS.items()}


def register_layout(name: str, spec: Mapping[str, Any], *, overwrite: bool = False) -> Layout:
    """Add a layout from a data dict (see module doc). Raises ValueError on a duplicate name."""
    if name in _LAYOUTS and not overwrite:
        raise ValueError(f"layout {name!r} is already registered")
    layout = _validate(name, spec)
    _LAYOUTS[name] = layout
    return layout


def available_layouts() -> list[str]:
    return sorted(_LAYOUTS)


def get_layout(spec: str | Mapping[str, Any] | Layout) -> Layout:
    """A layout by registered name, or built from a spec dict (its optional "name" is just a label;
    a dict holding only {"name": x} looks x up)."""
    if isinstance(spec, Layout):
        return spec
    if isinstance(spec, str):
        if spec not in _LAYOUTS:
            raise KeyError(f"unknown layout {spec!r}; available: {available_layouts()}")
        return _LAYOUTS[spec]
    spec = dict(spec)
    if set(spec) == {"name"}:
        return get_layout(spec["name"])
    return _validate(str(spec.pop("name", "custom")), spec)
