"""Detector-like inputs in the `preprocess` stage: view normalisation of the stored windows,
per-window evaluation metadata, frames without a detection (NaN) and the input switches."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from biomech.conventions import ACTIONS
from biomech.io import read_manifest, read_npz, sha256, write_manifest, write_npz
from preprocessing.clip import ClipError
from preprocessing.run import preprocess
from preprocessing.view import rotate_scaled_landmarks
from sigproc.normalize import ChannelScaler

from .preprocess_fixtures import CLIPS, _params, raw, run  # noqa: F401 (module-scoped fixtures)


def _split(d: Path, split: str):
    lm = np.load(d / split / "landmarks.npy")
    present = np.load(d / split / "modality_mask.npy")[:, 1]
    return lm, present, json.loads((d / "scalers.json").read_text())


def test_stored_windows_have_one_heading_and_any_vertical_rotation_maps_back(run):
    _, _, d, _ = run
    lm, present, scalers = _split(d, "train")
    assert present.all()
    xyz = ChannelScaler.from_dict(scalers["landmarks"]).inverse_transform(lm[..., :3])
    hip = (xyz[:, :, 24] - xyz[:, :, 23]).mean(1)        # window-mean hip line, physical units
    assert (hip[:, 0] < 0).all()
    np.testing.assert_allclose(hip[:, 2], 0, atol=1e-4)
    for angle in (-170.0, -65.0, 45.0, 90.0, 180.0):
        rot = rotate_scaled_landmarks(lm, angle, scalers)
        np.testing.assert_allclose(rot, lm, atol=2e-4)
    # without re-normalisation the rotation is visible, and undone by the opposite one
    turned = rotate_scaled_landmarks(lm, 90.0, scalers, view_normalize=False)
    assert np.abs(turned - lm).max() > 0.5
    np.testing.assert_array_equal(turned[..., 3], lm[..., 3])
    np.testing.assert_allclose(rotate_scaled_landmarks(turned, -90.0, scalers, view_normalize=False), lm, atol=2e-4)
    absent = np.zeros_like(lm[:2])
    np.testing.assert_array_equal(rotate_scaled_landmarks(absent, 30.0, scalers), absent)


def test_dataset_records_inputs_and_index_carries_window_metadata(run):
    _, _, d, _ = run
    info = json.loads((d / "dataset.json").read_text())
    assert info["landmark_source"] == "world" and info["landmark_source_privileged"] is False
    assert info["sync_landmark_source"] == "image" and info["sync_landmark_source_privileged"] is False
    assert info["view_normalization"]["function"] == "sigproc.normalize.normalize_view"
    presets = {f"clip{i:05d}": c[2] for i, c in enumerate(CLIPS)}
    for split in ("train", "val", "test"):
        w = json.loads((d / split / "index.json").read_text())["windows"]
        labels = np.load(d / split / "label.npy")
        for key in ("action", "fault", "preset", "camera_azimuth_deg", "view_heading_deg"):
            assert len(w[key]) == len(labels), key
        assert [ACTIONS[i] for i in labels] == w["action"]
        assert w["preset"] == [presets[c] for c in w["clip_id"]]
        assert set(w["fault"]) == {"none"}
        assert all(h is not None and -180 <= h <= 180 for h in w["view_heading_deg"])


def _rewrite_keypoints(raw2: Path, clip_id: str, edit) -> Path:
    rows = read_manifest(raw2)
    for r in rows:
        if r["clip_id"] == clip_id and r["file"] == "keypoints.npz":
            f = raw2 / r["athlete_id"] / clip_id / "keypoints.npz"
            header, arrs = read_npz(f)
            edit(arrs)
            write_npz(f, header, **arrs)
            r["sha256"], r["bytes"] = sha256(f), f.stat().st_size
    write_manifest(raw2, rows)
    return f


def _no_detection(frames):
    def edit(a):
        for k in ("image", "world"):
            a[k][frames] = np.nan
        a["visibility"][frames] = 0.0
    return edit


def test_frames_without_detection_are_gap_filled_counted_and_too_few_stop_the_clip(raw, tmp_path):
    raw2 = tmp_path / "raw" / "tiny"
    shutil.copytree(raw, raw2)
    t_kp = read_npz(raw2 / "athlete0001" / "clip00002" / "keypoints.npz")[1]["time"]
    n = len(read_npz(raw2 / "athlete0001" / "clip00003" / "keypoints.npz")[1]["time"])
    gappy = np.r_[10:20, 40:45]
    _rewrite_keypoints(raw2, "clip00002", _no_detection(gappy))                      # 15 frames lost
    bad = _rewrite_keypoints(raw2, "clip00003", _no_detection(np.arange(5, 5 + int(0.7 * n))))
    with pytest.raises(ClipError) as exc:
        preprocess(_params(raw2.parent, tmp_path, workers=1, evaluate_sync=False), progress=False)
    assert str(bad) in str(exc.value) and "min_detected_fraction" in str(exc.value)

    report = preprocess(_params(raw2.parent, tmp_path, workers=1, skip_bad_clips=True), progress=False)
    assert [s["clip_id"] for s in report["clips"]["skipped_clips"]] == ["clip00003"]
    assert report["landmarks_missing_frames"]["per_clip"] == {"clip00002": len(gappy)}
    assert report["sync_failures"] == []
    d = tmp_path / "processed" / "tiny"
    for split in ("train", "val", "test"):
        w = json.loads((d / split / "index.json").read_text())["windows"]
        sel = [i for i, c in enumerate(w["clip_id"]) if c == "clip00002"]
        if not sel:
            continue
        lm = np.load(d / split / "landmarks.npy")[sel]
        assert np.isfinite(lm).all()
        # visibility (channel 4) drops to 0 inside the 10-frame gap (timeline of the first window)
        t = np.asarray(w["t_start_s"])[sel][0] + np.arange(lm.shape[1]) / 50.0
        inside = (t > t_kp[11]) & (t < t_kp[18])
        assert inside.any() and (lm[0, inside, :, 3] < 1e-6).all()
        assert lm[0, ~inside, :, 3].mean() > 0.3
        break
    else:
        pytest.fail("clip00002 has no windows")


def test_privileged_sources_are_switches_with_clear_errors(raw, tmp_path):
    raw2 = tmp_path / "raw" / "tiny"
    shutil.copytree(raw, raw2)
    f = _rewrite_keypoints(raw2, "clip00001", lambda a: a.pop("world_true"))  # real data: no noise-free copy
    with pytest.raises(ClipError, match="world_true") as exc:
        preprocess(_params(raw2.parent, tmp_path, workers=1, evaluate_sync=False,
                           landmarks={"source": "world_true"}), progress=False)
    assert str(f.parent) in str(exc.value)
    f = _rewrite_keypoints(raw2, "clip00000", lambda a: a.pop("ground"))  # imported data: no lab markers
    with pytest.raises(ClipError) as exc:
        preprocess(_params(raw2.parent, tmp_path, workers=1, evaluate_sync=False,
                           sync={"landmark_source": "ground"}), progress=False)
    assert str(f.parent) in str(exc.value) and "landmark_source: image" in str(exc.value)
