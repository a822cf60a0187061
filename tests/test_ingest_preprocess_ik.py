"""`preprocess.angles.source: ik`: the joint-angle targets from the project's OpenSim IK on the
clip's landmarks (issue 11 item 2) instead of the generator's angles, on a tiny generated set."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from biomech.conventions import JOINT_ANGLES
from biomech.io import read_manifest, write_manifest
from preprocessing.run import preprocess

from .preprocess_fixtures import _params, build_raw

KEEP = ("clip00000", "clip00002")     # a countermovement jump (front-ish view) and a squat (side view)
JOINTS = ("hip_flexion_r", "knee_angle_r", "hip_flexion_l", "knee_angle_l")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    raw = tmp_path_factory.mktemp("ikraw") / "tiny"
    src = build_raw(tmp_path_factory)
    rows = [r for r in read_manifest(src) if r["clip_id"] in KEEP]
    for ath, clip in {(r["athlete_id"], r["clip_id"]) for r in rows}:
        shutil.copytree(src / ath / clip, raw / ath / clip)
    write_manifest(raw, rows)
    out = tmp_path_factory.mktemp("ikout")
    kw = dict(workers=1, evaluate_sync=False)
    res = {name: preprocess(_params(raw.parent, out / name, **kw, **extra), progress=False)
           for name, extra in (("generator", {}), ("ik", {"angles": {"source": "ik"}}),
                               ("ik_true", {"angles": {"source": "ik"}, "landmarks": {"source": "world_true"}}))}
    angles = {name: np.concatenate([np.load(out / name / "processed" / "tiny" / s / "angles.npy")
                                    for s in ("train", "val", "test")]) for name in res}
    return res, angles, out


def _rmse(a, b, joint):
    k = JOINT_ANGLES.index(joint)
    return float(np.sqrt(np.mean((a[..., k] - b[..., k]) ** 2)))


def test_ik_angles_replace_the_generator_angles(runs):
    reports, angles, out = runs
    gen, ik, ik_true = angles["generator"], angles["ik"], angles["ik_true"]
    assert gen.shape == ik.shape and not np.allclose(gen, ik)
    info = json.loads((out / "ik" / "processed" / "tiny" / "dataset.json").read_text())
    assert info["params"]["angles"]["source"] == "ik"
    assert reports["ik"]["qc"]["ik_s"] > 0 and "ik_s" not in reports["generator"]["qc"]
    fig = {j: (_rmse(ik_true, gen, j), _rmse(ik, gen, j)) for j in JOINTS}
    print("\nIK targets vs the generator's angles, RMSE deg (noise-free world_true / detector-like world): "
          + ", ".join(f"{j} {a:.1f} / {b:.1f}" for j, (a, b) in fig.items())
          + f"; IK per clip {reports['ik']['qc']['ik_s']:.1f} s, marker error "
          f"{1000 * reports['ik']['qc']['ik_marker_error_rms_median_m']:.0f} mm")
    # noise-free landmarks: the IK recovers the generator's flexion angles (the path is right)
    assert all(a < 2.0 for a, _ in fig.values()), fig             # measured 0.1-0.7 deg
