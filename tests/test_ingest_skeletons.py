"""COCO-17 and HALPE-26 keypoints mapped onto MediaPipe-33: each mapped joint lands on the
matching body part of a generated clip (and not on the other side's)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from biomech.body import build_body, forward_kinematics
from biomech.conventions import COORDINATES, TRANSLATIONS
from biomech.io import read_json, read_mot, read_npz
from ingest.skeletons import COCO17, HALPE26, from_mediapipe33, to_mediapipe33
from tests.preprocess_fixtures import CFG, PRO


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from biomech.synth import ClipSpec, write_clip

    root = tmp_path_factory.mktemp("skel")
    spec = ClipSpec(clip_id="clip00000", athlete_id="athlete0000", sex="male", height=1.78, mass=74.0,
                    action="lunge", fault="none", preset="pro", duration=2.4, seed=77)
    write_clip(spec, PRO, CFG, root)
    d = root / spec.athlete_id / spec.clip_id
    meta = read_json(d / "meta.json")
    _, kp = read_npz(d / "keypoints.npz")
    t, cols, ang, _ = read_mot(d / "angles.mot")
    q = np.stack([np.interp(kp["time"], t, ang[:, cols.index(c)]) for c in COORDINATES], -1)
    rot = [i for i, c in enumerate(COORDINATES) if c not in TRANSLATIONS]
    q[:, rot] = np.deg2rad(q[:, rot])
    a = meta["athlete"]
    body = build_body(a["sex"], a["height_m"], a["mass_kg"])
    return body, forward_kinematics(body, torch.tensor(q, dtype=torch.float64)), kp["ground"]


def _part(body, pose, joint: str) -> np.ndarray:
    """The anatomical point of `joint` from the body model (segment frames), (T, 3)."""
    side = {"left": "l", "right": "r"}.get(joint.split("_")[0])
    base = joint.split("_", 1)[1] if side else joint
    o = body.joint_offsets
    lf, hb, ah = body.foot_length, body.heel_back, body.ankle_height
    pts = {
        "shoulder": ("trunk", o[f"upper_arm_{side}"] if side else None), "elbow": (f"forearm_{side}", np.zeros(3)),
        "wrist": (f"hand_{side}", np.zeros(3)), "hip": (f"thigh_{side}", np.zeros(3)) if side else None,
        "knee": (f"shank_{side}", np.zeros(3)), "ankle": (f"foot_{side}", np.zeros(3)),
        "heel": (f"foot_{side}", np.array([-hb * lf, -ah, 0.0])),
        "big_toe": (f"foot_{side}", np.array([(1 - hb) * lf, -ah, 0.0])),
    }
    if joint == "neck":
        return 0.5 * (_part(body, pose, "left_shoulder") + _part(body, pose, "right_shoulder"))
    if joint == "hip":
        return pose.p["pelvis"].numpy()
    if base in ("nose", "eye", "ear", "head") or joint in ("nose", "head"):
        return pose.point("head", body.segments["head"].com).numpy()
    seg, local = pts[base]
    return pose.point(seg, local).numpy()


def _mirror(joint: str) -> str | None:
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if joint.startswith(a):
            return b + joint[len(a):]
    return None


@pytest.mark.parametrize("name,names", [("coco17", COCO17), ("halpe26", HALPE26)])
def test_mapped_joints_land_on_their_body_part(clip, name, names):
    body, pose, ground = clip
    kp = from_mediapipe33(ground, name)
    assert kp.shape == (len(ground), len(names), 3)
    head_r = 0.6 * body.segments["head"].length
    for k, j in enumerate(names):
        if j.endswith("small_toe"):
            assert np.isnan(kp[:, k]).all()  # no MediaPipe counterpart
            continue
        d = np.linalg.norm(kp[:, k] - _part(body, pose, j), axis=-1)
        tol = head_r if j in ("nose", "head") or j.split("_")[-1] in ("eye", "ear") else 0.01
        assert d.max() < tol, (name, j, d.max())
        m = _mirror(j)
        if m and j.split("_")[-1] not in ("eye", "ear"):
            d_other = np.linalg.norm(kp[:, k] - _part(body, pose, m), axis=-1)
            assert (d < d_other).all(), (name, j)  # not swapped with the other side


def test_round_trip_and_errors(clip):
    _, _, ground = clip
    halpe = from_mediapipe33(ground, "halpe26")
    scores = np.full(halpe.shape[:2], 0.8)
    mp, vis = to_mediapipe33(halpe, scores, "halpe26")
    for n in ("left_knee", "right_heel", "left_foot_index", "nose"):
        from biomech.camera import MEDIAPIPE_LANDMARKS as L

        i = L.index(n)
        assert np.allclose(mp[:, i], ground[:, i]) and (vis[:, i] == 0.8).all()
    assert np.isnan(mp[:, L.index("mouth_left")]).all() and (vis[:, L.index("left_pinky")] == 0).all()
    with pytest.raises(ValueError, match="layout 'coco17' has 17 keypoints"):
        to_mediapipe33(halpe, scores, "coco17")
    with pytest.raises(ValueError, match="unknown keypoint layout 'body25'"):
        from_mediapipe33(ground, "body25")
