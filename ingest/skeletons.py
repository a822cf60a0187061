"""Keypoint layouts of other pose detectors as data, mapped onto MediaPipe's 33 landmarks.

MediaPipe-33 (`biomech.camera.MEDIAPIPE_LANDMARKS`) is the project's layout. COCO-17 (the COCO
keypoint order: OpenPose/MMPose/YOLO-pose) and HALPE-26 (AlphaPose, RTMPose body: COCO-17 plus
head, neck, hip, big toes, small toes, heels) are mapped landmark by landmark:

    to_mediapipe33(points, scores, "halpe26") -> (points33, visibility33)

puts each joint that has a MediaPipe counterpart at its MediaPipe index (big toe -> foot
index); MediaPipe landmarks the layout lacks (mouth, inner/outer eyes, fingers, and for COCO
heels and toes) are NaN with visibility 0, which the IK leaves out (`biomech.ik`).
`from_mediapipe33` goes the other way (derived HALPE points: neck = mid-shoulders, hip =
mid-hips, head = mid-ears; small toes have no MediaPipe counterpart and stay NaN).
"""
from __future__ import annotations

import numpy as np

from biomech.camera import MEDIAPIPE_LANDMARKS

COCO17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
HALPE26: tuple[str, ...] = COCO17 + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
    "left_heel", "right_heel",
)
LAYOUTS: dict[str, tuple[str, ...]] = {"mediapipe33": MEDIAPIPE_LANDMARKS, "coco17": COCO17, "halpe26": HALPE26}

# joint -> the MediaPipe landmarks whose mean is the same anatomical point ((): none)
_SAME = {n: (n,) for n in COCO17}
MEDIAPIPE_EQUIVALENT: dict[str, tuple[str, ...]] = {
    **{n: (n,) for n in MEDIAPIPE_LANDMARKS}, **_SAME,
    "head": ("left_ear", "right_ear"), "neck": ("left_shoulder", "right_shoulder"),
    "hip": ("left_hip", "right_hip"),
    "left_big_toe": ("left_foot_index",), "right_big_toe": ("right_foot_index",),
    "left_small_toe": (), "right_small_toe": (),
    "left_heel": ("left_heel",), "right_heel": ("right_heel",),
}
_MP = {n: i for i, n in enumerate(MEDIAPIPE_LANDMARKS)}


def layout(name: str) -> tuple[str, ...]:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown keypoint layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def to_mediapipe33(points: np.ndarray, scores: np.ndarray | None, layout_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, K, D) keypoints of `layout_name` (+ (T, K) scores) -> (T, 33, D) and (T, 33) visibility."""
    names = layout(layout_name)
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1] != len(names):
        raise ValueError(f"layout {layout_name!r} has {len(names)} keypoints; got an array of shape "
                         f"{points.shape} (expected (T, {len(names)}, 2 or 3))")
    scores = np.ones(points.shape[:2]) if scores is None else np.asarray(scores, dtype=float)
    out = np.full((points.shape[0], len(MEDIAPIPE_LANDMARKS), points.shape[2]), np.nan)
    vis = np.zeros((points.shape[0], len(MEDIAPIPE_LANDMARKS)))
    for k, n in enumerate(names):
        eq = MEDIAPIPE_EQUIVALENT[n]
        if len(eq) == 1:  # a one-to-one counterpart (derived mid-points are not MediaPipe landmarks)
            out[:, _MP[eq[0]]] = points[:, k]
            vis[:, _MP[eq[0]]] = scores[:, k]
    return out, vis


def from_mediapipe33(points33: np.ndarray, layout_name: str) -> np.ndarray:
    """(T, 33, D) MediaPipe landmarks -> (T, K, D) keypoints of `layout_name` (NaN: no counterpart)."""
    names = layout(layout_name)
    P = np.asarray(points33, dtype=float)
    out = np.full((P.shape[0], len(names), P.shape[2]), np.nan)
    for k, n in enumerate(names):
        eq = MEDIAPIPE_EQUIVALENT[n]
        if eq:
            out[:, k] = P[:, [_MP[e] for e in eq]].mean(axis=1)
    return out
