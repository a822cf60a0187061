"""Video -> MediaPipe landmarks -> OpenSim IK on a real video from Pose2Sim's wheel, plus the
video edge cases (odd size and frame rate, rotation metadata, corrupt file, frames without a
person) and the `athlete-mm ingest-video` command."""
from __future__ import annotations

import csv
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from biomech.ik import calibrate_body, mediapipe_world_to_ylab, solve_ik
from biomech.io import read_manifest, read_mot, read_npz
from ingest import IngestError
from ingest.quality import QualityError
from ingest.video import landmarks_from_video
from tests.real_data import fetch_pose2sim

import mediapipe.python.solutions.pose  # noqa: E402,F401  (setup installs it: a missing one must fail)


@pytest.fixture(scope="module")
def real_clip() -> Path:
    return fetch_pose2sim() / "Demo_SinglePerson" / "videos" / "cam01.mp4"


@pytest.fixture(scope="module")
def real_frames(real_clip) -> list[np.ndarray]:
    """The first 24 frames of the real clip (BGR, 360x640) for re-encoded variants."""
    cap = cv2.VideoCapture(str(real_clip))
    frames = []
    while len(frames) < 24:
        ok, f = cap.read()
        assert ok
        frames.append(cv2.resize(f, (360, 640), interpolation=cv2.INTER_AREA))
    return frames


def _write(path: Path, frames, fps: float, fourcc: str = "mp4v") -> Path:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()
    return path


def test_real_video_pose_and_knee_angles(real_clip):
    t0 = time.perf_counter()
    lm = landmarks_from_video(real_clip, max_frames=60, progress=False)
    seconds = time.perf_counter() - t0
    info = lm["info"]
    print(f"\n{real_clip.name}: {info['n_frames']} frames {info['width']}x{info['height']} at "
          f"{info['fps']:.0f} fps, MediaPipe {1000 * seconds / info['n_frames']:.0f} ms per frame")
    assert info["n_frames"] == 60 and lm["image"].shape == (60, 33, 3) and lm["world"].shape == (60, 33, 3)
    assert np.allclose(np.diff(lm["time"]), 1 / 60, atol=1e-3)
    has_pose = lm["visibility"].max(1) > 0
    assert has_pose.mean() >= 0.9 and info["frames_without_pose"] == int((~has_pose).sum())
    pts = mediapipe_world_to_ylab(lm["world"][has_pose])
    vis = lm["visibility"][has_pose]
    body = calibrate_body(pts, vis, sex="male", height=1.75, mass=70)
    res = solve_ik(body, lm["time"][has_pose], pts, vis, progress=False)
    for side in ("r", "l"):
        knee = res.angle(f"knee_angle_{side}")
        print(f"knee_angle_{side}: {knee.min():.0f} .. {knee.max():.0f} deg")
        assert np.isfinite(knee).all()
        assert knee.min() > -15 and knee.max() < 150  # physiological range of knee flexion
        assert knee.max() - knee.min() > 10  # the person moves: the knee bends and extends
    assert np.nanmedian(res.marker_error_rms) < 0.04  # m


def test_unusual_size_and_frame_rate(tmp_path, real_frames):
    # 362 x 646: neither a multiple of 16 nor a common aspect (OpenCV's writers round odd sizes
    # down to even ones, so an odd size cannot be written here)
    frames = [cv2.resize(f, (362, 646)) for f in real_frames]
    path = _write(tmp_path / "odd.avi", frames, 25.0, "MJPG")
    lm = landmarks_from_video(path, progress=False)
    assert (lm["info"]["width"], lm["info"]["height"]) == (362, 646)
    assert lm["info"]["fps"] == pytest.approx(25.0)
    assert np.allclose(np.diff(lm["time"]), 0.04, atol=1e-3)
    assert (lm["visibility"].max(1) > 0).mean() >= 0.8


def _set_rotation_90(path: Path) -> None:
    """Write a 'display rotated by 90 deg' matrix into the video track's tkhd box (as phones do)."""
    b = bytearray(path.read_bytes())
    i = b.find(b"tkhd")
    version = b[i + 4]
    off = i + 8 + (20 if version == 0 else 32) + 16  # times, track id, duration; reserved, layer...
    b[off:off + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(b))


def test_rotation_metadata_gives_upright_landmarks(tmp_path, real_frames):
    # store the frames lying on their side (landscape), flagged "rotate 90" like a phone video
    lying = [cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE) for f in real_frames]
    path = _write(tmp_path / "phone.mp4", lying, 30.0)
    _set_rotation_90(path)
    lm = landmarks_from_video(path, progress=False)
    assert lm["info"]["rotation_deg"] == 90
    assert (lm["info"]["width"], lm["info"]["height"]) == (360, 640)  # upright, as filmed
    ok = lm["visibility"].max(1) > 0
    assert ok.mean() >= 0.8
    nose_y, ankle_y = lm["image"][ok, 0, 1], lm["image"][ok][:, [27, 28], 1].mean(1)
    assert (nose_y < ankle_y).all()  # head above the feet in the image


def test_corrupt_video_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(IngestError, match="broken.mp4"):
        landmarks_from_video(bad, progress=False)
    with pytest.raises(IngestError, match="not found"):
        landmarks_from_video(tmp_path / "missing.mp4", progress=False)


def test_frames_without_a_person_are_counted(tmp_path, real_frames):
    blank = [np.full_like(real_frames[0], 127) for _ in range(6)]
    path = _write(tmp_path / "half.mp4", real_frames[:12] + blank, 30.0)
    lm = landmarks_from_video(path, progress=False)
    assert lm["info"]["n_frames"] == 18
    no = lm["visibility"].max(1) == 0
    assert lm["info"]["frames_without_pose"] == int(no.sum()) >= 5
    assert no[12:].sum() >= 5 and not no[:10].any()
    assert np.isnan(lm["image"][no]).all() and np.isnan(lm["world"][no]).all()


def _labels(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_ingest_video_command(tmp_path, real_frames, capsys):
    from cli import main

    vids = tmp_path / "videos"
    vids.mkdir()
    _write(vids / "a.mp4", real_frames, 30.0)
    _write(vids / "empty_scene.mp4", [np.full_like(real_frames[0], 90)] * 8, 30.0)
    labels = _labels(tmp_path / "labels.csv", [
        {"video": "a.mp4", "action": "walk", "athlete_id": "p1", "sex": "female", "height_m": 1.7, "mass_kg": 60},
    ])
    out = tmp_path / "ds"
    assert main(["ingest-video", str(vids), "--labels", str(labels), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pose in 24/24 frames" in printed and "ms per frame" in printed
    clip = out / "p1" / "clip00000"
    header, kp = read_npz(clip / "keypoints.npz", required=("time", "frame_index", "image", "world", "visibility"))
    assert "ground" not in kp and kp["image"].shape == (24, 33, 3) and header["fps"] == pytest.approx(30.0)
    t, cols, ang, hdr = read_mot(clip / "angles.mot")
    assert hdr["inDegrees"] == "yes" and "knee_angle_r" in cols and len(t) == 24
    assert {r["file"] for r in read_manifest(out)} == {"video.mp4", "keypoints.npz", "angles.mot",
                                                        "ik_errors.sto", "meta.json"}
    # a video without a person fails the pose gate, naming the file and the switch
    bad = _labels(tmp_path / "bad.csv", [{"video": "empty_scene.mp4", "action": "walk"}])
    assert main(["ingest-video", str(vids), "--labels", str(bad), "--out", str(tmp_path / "ds2")]) == 2
    err = capsys.readouterr().err
    assert "empty_scene.mp4" in err and "found in only 0 of 8 frames" in err and "min_pose_fraction" in err
    # ... or is skipped and listed
    assert main(["ingest-video", str(vids), "--labels", str(bad), "--out", str(tmp_path / "ds3"),
                 "--skip-bad"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_labels_csv_errors_name_file_and_field(tmp_path):
    from ingest.dataset import read_labels

    p = tmp_path / "l.csv"
    p.write_text("file,label\na.mp4,walk\n")
    with pytest.raises(IngestError, match=r"l.csv: missing column\(s\) \['video', 'action'\]"):
        read_labels(p)
    p.write_text("video,action,height_m\na.mp4,walk,tall\n")
    with pytest.raises(IngestError, match="line 2: height_m"):
        read_labels(p)
    p.write_text("video,action,height_m,mass_kg\na.mp4,walk,175,70\n")  # centimetres
    with pytest.raises(IngestError, match=r"line 2: height_m = 175, mass_kg = 70: expected metres in 1.2-2.3"):
        read_labels(p)
    with pytest.raises(QualityError):
        from ingest.quality import check_pose_fraction
        check_pose_fraction("x.mp4", 3, 10, 0.5)


def _write_params(root: Path, **ingest) -> None:
    import yaml

    (root / "params.yaml").write_text(yaml.safe_dump({"profile": "default", "ingest": ingest}))


def test_ingest_stage_and_dvc_remote_round_trip(tmp_path, real_frames, monkeypatch):
    """The `ingest` stage writes a raw dataset and its report; the dataset goes to a local DVC
    remote, is removed, and comes back byte-identical."""
    import hashlib
    import json
    import shutil
    import subprocess
    import sys

    import stages.ingest as stage

    (tmp_path / "data" / "videos").mkdir(parents=True)
    _write(tmp_path / "data" / "videos" / "v1.mp4", real_frames[:12], 30.0)
    _labels(tmp_path / "data" / "videos" / "labels.csv", [{"video": "v1.mp4", "action": "squat"}])
    monkeypatch.chdir(tmp_path)
    _write_params(tmp_path, video_dir="data/videos", labels="data/videos/labels.csv", out_dir="data/raw/videos",
                  max_frames=0)
    assert stage.main() == 2  # max_frames must be >= 1: the message names the key
    _write_params(tmp_path, video_dir="data/videos", labels="data/videos/labels.csv", out_dir="data/raw/videos")
    assert stage.main() == 0
    report = json.loads((tmp_path / "reports" / "ingest.json").read_text())
    assert report["frames"] == 12 and report["clips"][0]["frames_with_pose"] == 12

    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    dvc = [sys.executable, "-m", "dvc"]
    run = lambda *a: subprocess.run([*a], cwd=tmp_path, check=True, capture_output=True, text=True)  # noqa: E731
    before = digest(tmp_path / "data" / "raw" / "videos")
    run("git", "init", "-q")
    run(*dvc, "init", "-q")
    run(*dvc, "remote", "add", "-d", "store", str(tmp_path / "remote"))
    run(*dvc, "add", "-q", "data/raw/videos")
    run(*dvc, "push", "-q")
    shutil.rmtree(tmp_path / "data" / "raw" / "videos")
    shutil.rmtree(tmp_path / ".dvc" / "cache")
    run(*dvc, "pull", "-q")
    assert digest(tmp_path / "data" / "raw" / "videos") == before
