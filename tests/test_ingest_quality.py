"""Quality gates of real inputs with a bad input that triggers each message (issue 11, item 6):
the gap-fill limit (landmarks, IMU, force plates in preprocess; ingest-video; a lab trial's
markers and plates) and the pose gate's message. The other gates are tested where their inputs are built: anthropometry and IK marker
error in tests/test_ik.py, the plate not under a foot in tests/test_ingest_opensim.py, too few
frames with a detection in tests/test_preprocess_view.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from biomech.io import read_manifest, read_npz, sha256, write_manifest, write_npz
from ingest.quality import QualityError, check_gap_length, check_pose_fraction, longest_gap

from .preprocess_fixtures import _params, build_raw

LIMIT = "preprocess.filters.gap_fill.max_gap_s"


def test_longest_gap_counts_missing_samples_and_dropped_timestamps():
    t = np.arange(100) / 50.0
    ok = np.ones(100, bool)
    assert longest_gap(t, ok, 50.0) == (0.0, pytest.approx(np.nan, nan_ok=True))
    ok[30:40] = False                                             # 10 frames without data
    gap, start = longest_gap(t, ok, 50.0)
    assert gap == pytest.approx(0.2) and start == pytest.approx(0.6)
    t2 = np.delete(t, np.r_[60:75])                               # 15 dropped samples (0.3 s)
    assert longest_gap(t2, np.ones(len(t2), bool), 50.0)[0] == pytest.approx(0.3)
    jitter = t + np.random.default_rng(0).uniform(-0.002, 0.002, 100)
    assert longest_gap(jitter, np.ones(100, bool), 50.0)[0] == 0.0
    ends = np.ones(100, bool)
    ends[:20] = ends[-20:] = False                                # missing at the ends: no gap inside
    assert longest_gap(t, ends, 50.0)[0] == 0.0


def test_gap_gate_names_file_stream_gap_and_parameter():
    t = np.arange(100) / 50.0
    ok = np.ones(100, bool)
    ok[30:45] = False
    with pytest.raises(QualityError, match=r"clip7/keypoints.npz: landmarks has no data for 300 ms from t = 0.60 s "
                                           r"\(about 15 samples at 50 Hz\), longer than the gap-fill limit "
                                           r"x.max_gap_s = 200 ms.*raise x.max_gap_s"):
        check_gap_length("clip7/keypoints.npz", "landmarks", t, ok, 50.0, 0.2, "x.max_gap_s")
    assert check_gap_length("k", "landmarks", t, ok, 50.0, 0.5, "x") == pytest.approx(0.3)
    assert check_gap_length("k", "landmarks", t, ok, 50.0, None, "x") == pytest.approx(0.3)   # no limit


def test_pose_gate_message_says_what_to_do():
    with pytest.raises(QualityError, match=r"x.mp4: a person was found in only 3 of 10 frames \(30 %, below the "
                                           r"limit ingest.min_pose_fraction = 50 %\)\. Film the whole body"):
        check_pose_fraction("x.mp4", 3, 10, 0.5)


def _rewrite(raw: Path, clip_id: str, name: str, edit) -> Path:
    rows = read_manifest(raw)
    for r in rows:
        if r["clip_id"] == clip_id and r["file"] == name:
            f = raw / r["athlete_id"] / clip_id / name
            header, arrs = read_npz(f)
            write_npz(f, header, **edit(arrs))
            r["sha256"], r["bytes"] = sha256(f), f.stat().st_size
    write_manifest(raw, rows)
    return f


def test_preprocess_gap_limit_stops_or_skips_the_clip_with_a_long_gap(tmp_path_factory, tmp_path):
    from preprocessing.clip import ClipError
    from preprocessing.run import preprocess

    raw = tmp_path / "raw" / "tiny"
    shutil.copytree(build_raw(tmp_path_factory), raw)

    def no_pose(a):                      # clip00002 (pro, 60 fps): 0.5 s without a detection
        for k in ("image", "world"):
            a[k][30:60] = np.nan
        a["visibility"][30:60] = 0.0
        return a

    def drop_imu(a):                     # clip00004 (pro IMU, 200 Hz): 0.4 s of samples dropped
        keep = np.r_[0:100, 180:len(a["time"])]
        return {k: v[keep] for k, v in a.items()}

    lm_file = _rewrite(raw, "clip00002", "keypoints.npz", no_pose)
    imu_file = _rewrite(raw, "clip00004", "imu.npz", drop_imu)
    limited = {"filters": {"gap_fill": {"max_gap_s": 0.25}}}
    with pytest.raises(ClipError, match=rf"{lm_file}: landmarks \(frames without a pose detection\) has no data for "
                                        rf"500 ms from t = [\d.]+ s \(about 30 samples at 60 Hz\), longer than the "
                                        rf"gap-fill limit {LIMIT} = 250 ms"):
        preprocess(_params(raw.parent, tmp_path, workers=1, evaluate_sync=False, **limited), progress=False)
    report = preprocess(_params(raw.parent, tmp_path, workers=1, evaluate_sync=False, skip_bad_clips=True,
                                **limited), progress=False)
    skipped = {s["clip_id"]: s["error"] for s in report["clips"]["skipped_clips"]}
    assert sorted(skipped) == ["clip00002", "clip00004"]           # the untouched clips pass the limit
    assert f"{imu_file}: the IMU stream has no data for 40" in skipped["clip00004"]
    # off by default: the same data goes through (gap-filled)
    report = preprocess(_params(raw.parent, tmp_path, workers=1, evaluate_sync=False), progress=False)
    assert not report["clips"]["skipped_clips"]


def test_ingest_video_gap_limit(tmp_path, monkeypatch):
    import ingest.dataset as ds

    n = 120
    lm = {"time": np.arange(n) / 30.0, "frame_index": np.arange(n), "image": np.zeros((n, 33, 3)),
          "world": np.zeros((n, 33, 3)), "visibility": np.ones((n, 33)),
          "info": {"n_frames": n, "fps": 30.0, "frames_without_pose": 12}}
    lm["visibility"][50:62] = 0.0                                   # 0.4 s without a person
    monkeypatch.setattr(ds, "landmarks_from_video", lambda *a, **k: lm)
    row = {"athlete_id": "a", "action": "squat", "fault": "none", "sex": "male", "height_m": 1.8, "mass_kg": 80}
    with pytest.raises(QualityError, match=r"v.mp4: the pose \(frames without a person\) has no data for 400 ms "
                                           r"from t = 1.67 s .*ingest.max_gap_s = 300 ms"):
        ds.ingest_clip(Path("v.mp4"), row, tmp_path / "clip", ds.IngestSettings(max_gap_s=0.3, ik=False))
    assert not (tmp_path / "clip").exists()                         # nothing written for a failing video


def test_lab_trial_gap_limit_names_the_marker_and_the_plate(tmp_path):
    from biomech.io import write_grf_mot
    from ingest.opensim_lab import check_lab_gaps, import_trial, write_trc

    t = np.arange(200) / 100.0                                      # 2 s at 100 Hz
    pts = np.stack([np.column_stack([np.sin(t), np.ones_like(t), np.cos(t)]) + k for k in range(2)], 1)
    pts[50:80, 1] = np.nan                                          # 'knee' unseen for 0.3 s
    trc = write_trc(tmp_path / "m.trc", t, ["hip", "knee"], pts, units="mm")
    force = np.tile([0.0, 700.0, 0.0], (len(t), 1))
    force[120:125] = np.nan                                         # 50 ms of NaN on the plate
    grf = write_grf_mot(tmp_path / "g.mot", t, {"": {"force": force, "point": np.zeros((len(t), 3)),
                                                     "torque": np.zeros((len(t), 3))}})
    gaps = check_lab_gaps(trc, grf, None)                           # no limit: measured only
    assert gaps["marker hip"] == 0.0 and gaps["marker knee"] == pytest.approx(0.3)
    assert gaps["plate ''"] == pytest.approx(0.05)
    with pytest.raises(QualityError, match=r"m.trc: marker 'knee' has no data for 300 ms from t = 0.50 s .*"
                                           r"max_gap_s = 200 ms"):
        check_lab_gaps(trc, grf, 0.2)
    with pytest.raises(QualityError, match=r"g.mot: force plate '' has no data for 50 ms from t = 1.20 s .*"
                                           r"max_gap_s = 40 ms"):
        check_lab_gaps(write_trc(tmp_path / "ok.trc", t, ["hip"], pts[:, :1]), grf, 0.04)
    with pytest.raises(QualityError, match="marker 'knee'"):        # the importer runs the gate first
        import_trial(tmp_path / "no_model.osim", trc, grf, tmp_path / "out", max_gap_s=0.2)
