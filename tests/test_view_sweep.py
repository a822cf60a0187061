"""Controlled azimuth sweep: landmarks re-derived from another camera azimuth
(biomech.synth.landmarks_from_viewpoints), the clip's landmark windows rebuilt on its stored
timeline (preprocessing.view.clip_landmark_windows), the sweep in the evaluate stage
(evaluation.view_sweep) and the headline-only reports/preprocess.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biomech.camera import LEFT_HIP, RIGHT_HIP
from biomech.synth import landmarks_from_viewpoints
from tests.preprocess_fixtures import CLIPS, raw, run  # noqa: F401 (module-scoped fixtures)


def _clip_dirs(raw: Path) -> list[Path]:
    return sorted(p for p in raw.glob("athlete*/clip*") if p.is_dir())


def _azimuth(clip_dir: Path) -> float:
    return float(json.loads((clip_dir / "meta.json").read_text())["video"]["camera"]["azimuth_deg"])


def _median_error(world, world_true) -> np.ndarray:
    ok = np.isfinite(world[:, 0, 0])
    return np.linalg.norm(world[ok] - world_true[ok], axis=-1).ravel()


@pytest.fixture(scope="module")
def views(raw):
    """Per clip: (stored keypoints, re-derived at its own azimuth, re-derived 90 deg further round)."""
    out = []
    for d in _clip_dirs(raw):
        az = _azimuth(d)
        own, turned = landmarks_from_viewpoints(d, [az, az + 90.0])
        out.append((d, dict(np.load(d / "keypoints.npz")), own, turned))
    return out


def test_own_azimuth_reproduces_the_stored_landmarks_statistically(views):
    stored_err, own_err, stored_occ, own_occ = [], [], [], []
    for d, kp, own, _ in views:
        # the same body, frames and camera: the noise-free outputs agree to float32 storage precision
        assert np.abs(own["ground"] - kp["ground"]).max() < 1e-4, d
        assert np.abs(own["world_true"] - kp["world_true"]).max() < 1e-4, d
        assert own["viewpoint"]["azimuth_deg"] == pytest.approx(_azimuth(d) % 360.0)
        assert own["world"].shape == kp["world"].shape and own["image"].shape == kp["image"].shape
        stored_err.append(_median_error(kp["world"], kp["world_true"]))
        own_err.append(_median_error(own["world"], own["world_true"]))
        stored_occ.append(kp["visibility"] < 0.5)
        own_occ.append(own["visibility"] < 0.5)
        # a fresh draw, not a copy of the stored one
        assert not np.allclose(own["world"], kp["world"], equal_nan=True)
    s, o = np.median(np.concatenate(stored_err)), np.median(np.concatenate(own_err))
    assert o == pytest.approx(s, rel=0.12), (o, s)          # same error model (median error ~ 3-4 cm)
    so = np.mean(np.concatenate([x.ravel() for x in stored_occ]))
    oo = np.mean(np.concatenate([x.ravel() for x in own_occ]))
    assert oo == pytest.approx(so, abs=0.05), (oo, so)       # same self-occlusion, fresh occluders


def test_another_azimuth_moves_the_camera_and_changes_the_occlusion_pattern(views):
    agree_own, agree_turned = [], []
    for d, kp, own, turned in views:
        cam = turned["camera"]
        # the camera centre sits at the requested azimuth round the aim point (0 = front, 90 = right)
        c = -cam.R[2]                                        # aim point -> camera centre
        assert np.degrees(np.arctan2(c[2], c[0])) % 360.0 == pytest.approx((_azimuth(d) + 90.0) % 360.0, abs=1e-6)
        # the same body in the lab frame: world_true rotated back by each camera equals ground - hip
        hip = 0.5 * (kp["ground"][:, LEFT_HIP] + kp["ground"][:, RIGHT_HIP])
        assert np.abs(turned["world_true"] @ cam.R - (kp["ground"] - hip[:, None])).max() < 1e-4
        # ... but seen from elsewhere: in camera axes the body is turned
        assert np.abs(turned["world_true"] - kp["world_true"]).max() > 0.1
        occ = kp["visibility"] < 0.5
        agree_own.append(np.mean(occ == (own["visibility"] < 0.5)))
        agree_turned.append(np.mean(occ == (turned["visibility"] < 0.5)))
    # which landmarks are hidden follows the viewpoint: the own view agrees with the stored
    # pattern far more often than the view 90 deg further round
    assert np.mean(agree_own) > np.mean(agree_turned) + 0.05, (agree_own, agree_turned)


def test_rederivation_is_reproducible_and_seeded_per_azimuth(raw):
    d = _clip_dirs(raw)[0]
    a, b = landmarks_from_viewpoints(d, [40.0, 40.0])
    c, = landmarks_from_viewpoints(d, 40.0)
    np.testing.assert_array_equal(a["world"], c["world"])
    np.testing.assert_array_equal(a["visibility"], b["visibility"])
    e, = landmarks_from_viewpoints(d, 400.0)                    # 400 = 40 deg round the circle
    np.testing.assert_array_equal(e["world"], a["world"])
    f, = landmarks_from_viewpoints(d, 41.0)
    assert not np.allclose(f["world"], a["world"], equal_nan=True)


def test_rederivation_needs_a_generated_clip(raw, tmp_path):
    src = _clip_dirs(raw)[0]
    meta = json.loads((src / "meta.json").read_text())
    meta.pop("synthetic_truth")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="synthetic_truth"):
        landmarks_from_viewpoints(tmp_path, 10.0)


def _clip_rows(d: Path, split: str):
    idx = json.loads((d / split / "index.json").read_text())["windows"]
    ids = np.asarray(idx["clip_id"])
    for clip in dict.fromkeys(idx["clip_id"]):
        rows = np.flatnonzero(ids == clip)
        yield clip, idx["athlete_id"][rows[0]], rows, [idx["start"][i] for i in rows], idx["t_start_s"][rows[0]]


def test_clip_landmark_windows_rebuild_the_stored_windows_exactly(run, raw):
    from preprocessing.params import PreprocessParams
    from preprocessing.view import clip_landmark_windows

    p, report, d, out = run
    info = json.loads((d / "dataset.json").read_text())
    pp = PreprocessParams(**info["params"])
    scalers = json.loads((d / "scalers.json").read_text())
    offsets = {r["clip_id"]: {k: v["offset_s"] for k, v in r.items() if isinstance(v, dict)}
               for r in json.loads(Path(report["sync_offsets_file"]).read_text())}
    n = 0
    for split in ("train", "test"):
        stored = np.load(d / split / "landmarks.npy")
        for clip, ath, rows, starts, t_start in _clip_rows(d, split):
            kp = dict(np.load(raw / ath / clip / "keypoints.npz"))
            t0 = t_start - starts[0] / pp.timeline_hz
            lm, again = clip_landmark_windows(raw / ath / clip, [kp, kp], starts, t0, offsets[clip], pp, scalers)
            np.testing.assert_allclose(lm, stored[rows], rtol=0, atol=1e-6)
            np.testing.assert_array_equal(lm, again)
            n += len(rows)
            with pytest.raises(ValueError, match="imu"):     # a clip with an IMU needs its recovered offset
                clip_landmark_windows(raw / ath / clip, [kp], starts, t0, {}, pp, scalers)
    assert n > 0


def test_sweep_in_the_evaluate_stage_on_the_tiny_fixture(run, tmp_path):
    import torch

    from evaluation.params import EvaluateParams
    from evaluation.runner import run_evaluation
    from training.loop import train

    torch.set_num_threads(1)
    p_pre, _, d, _ = run
    train("tcn", {}, {"epochs": 2, "batch_size": 8, "seed": 0, "tracking": {"enabled": False}}, d,
          tmp_path / "train" / "tcn", progress=False)
    p = EvaluateParams(dataset=d.name, data_dir=str(d.parent), train_dir=str(tmp_path / "train"),
                       seeds_dir=str(tmp_path / "seeds"), report_dir=str(tmp_path / "evaluation"),
                       metrics_file=str(tmp_path / "evaluate.json"), markdown=str(tmp_path / "evaluation.md"),
                       champion_file=str(tmp_path / "champion.json"), threads=1, bootstrap={"n_boot": 50},
                       latency={"runs": 30, "max_seconds": 1}, rotation_angles_deg=[0],
                       champion={"max_latency_ms": 1000.0}, tracking={"enabled": False},
                       view_sweep={"azimuths_deg": [0, 120, 240]})
    s = run_evaluation(p)
    assert s["champion"]["name"] == "tcn"
    sw = json.loads((tmp_path / "evaluation" / "view_sweep.json").read_text())
    assert sw["available"], sw
    n_test = json.loads((d / "test" / "index.json").read_text())["n_windows"]
    assert [r["azimuth_deg"] for r in sw["azimuths"]] == [0.0, 120.0, 240.0]
    assert all(r["n"] == n_test for r in sw["azimuths"]) and sw["own_view"]["n"] == n_test   # paired: every window
    stored = json.loads((tmp_path / "evaluation" / "models" / "tcn.json").read_text())["test"]["window"]["accuracy"]
    assert sw["overall"] == pytest.approx(stored)
    gaps = [abs(r["accuracy"] - stored) for r in sw["azimuths"]]
    assert sw["max_gap"] == pytest.approx(max(gaps))
    for r in sw["azimuths"]:
        assert r["errors"] == round((1 - r["accuracy"]) * r["n"]) and r["ci"][0] <= r["ci"][1]
    assert sw["wrong_in_every_view"] <= min(r["errors"] for r in sw["azimuths"])
    assert sw["wrong_in_some_view"] >= max(r["errors"] for r in sw["azimuths"])
    assert len(sw["natural_bins"]) == 12 and sum(b["n"] for b in sw["natural_bins"]) == n_test
    head = json.loads(Path(p.metrics_file).read_text())
    assert head["az_gap"] == pytest.approx(sw["max_gap"], abs=1e-4)
    plot = json.loads((tmp_path / "evaluation" / "plots" / "view_sweep.json").read_text())
    assert [r["azimuth_deg"] for r in plot] == [0.0, 120.0, 240.0]
    md = Path(p.markdown).read_text()
    assert "## Controlled azimuth sweep" in md and "Wilson" in md and "| own |" in md


def test_sweep_reports_why_it_cannot_run(run, tmp_path):
    from evaluation.params import BootstrapParams, ViewSweepParams
    from evaluation.predict import Trained, load_split
    from evaluation.view_sweep import view_sweep

    _, _, d, _ = run
    info = json.loads((d / "dataset.json").read_text())
    test = load_split(d, "test", needs_video=False)

    class Lm:
        modalities = ("landmarks", "imu")

    tr = Trained("x", "torch", Lm(), {}, tmp_path)
    r = view_sweep(tr, test, d, info, ViewSweepParams(raw_dir=str(tmp_path / "nowhere")), BootstrapParams(), 0.5)
    assert not r["available"] and "nowhere" in r["reason"]
    Lm.modalities = ("imu",)
    assert "reads no landmarks" in view_sweep(tr, test, d, info, ViewSweepParams(), BootstrapParams(), 0.5)["reason"]


def test_natural_bins_carry_wilson_intervals():
    from evaluation.view_sweep import natural_bins, wilson_interval

    rows = natural_bins({"bins": [{"lo_deg": 0, "hi_deg": 30, "n": 40, "accuracy": 39 / 40},
                                  {"lo_deg": 30, "hi_deg": 60, "n": 0, "accuracy": None}]})
    assert rows[0]["errors"] == 1 and rows[1]["ci"] is None and rows[1]["errors"] == 0
    lo, hi = rows[0]["ci"]
    assert lo == pytest.approx(0.8712, abs=1e-3) and hi == pytest.approx(0.9956, abs=1e-3)   # Wilson, 39/40
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_preprocess_json_holds_headline_figures_only(run):
    p, report, d, out = run
    head = json.loads((out / "preprocess.json").read_text())
    assert set(head) == {"clips", "skipped", "windows", "sync_ms", "seconds"}
    flat = [k for k, v in head.items() for _ in (v if isinstance(v, dict) else [v])]
    assert len(flat) <= 8, head                      # dvc metrics show: a handful of columns
    assert head["clips"] == len(CLIPS) and head["windows"] == report["windows"]
    assert head["sync_ms"]["imu"] == report["sync_accuracy"]["imu"]["median_ms"]
    details = json.loads(Path(report["details_file"]).read_text())
    assert Path(report["details_file"]) == Path(p.report_dir) / "details.json"
    assert "per_clip" in details["landmarks_missing_frames"] and "peak_memory" in details
    assert details["gapfill_rmse"] == json.loads(json.dumps(report["gapfill_rmse"]))


def test_sweep_windows_line_up_with_the_stored_windows(run):
    """Row i of every swept view is window i of the split (same clip, same start): at the clip's own
    azimuth with a fresh error draw it is nearer the stored window i than any other clip's window."""
    from evaluation.params import ViewSweepParams
    from evaluation.predict import load_split
    from evaluation.view_sweep import sweep_landmarks

    _, _, d, _ = run
    info = json.loads((d / "dataset.json").read_text())
    split = load_split(d, "train", needs_video=False)       # train: several clips and athletes
    views, _ = sweep_landmarks(split, d, info, [45.0], ViewSweepParams(), progress=False)
    assert set(views) == {"45", "own"}
    stored = np.concatenate([b["landmarks"].numpy() for b in split.batches])
    own = views["own"]
    clips = split.meta["clip_id"].astype(str)
    assert len(set(clips)) > 2
    dist = np.abs(own[:, None, ..., :3] - stored[None, ..., :3]).mean(axis=(2, 3, 4))   # (N, N)
    for i in range(len(own)):
        other = clips != clips[i]
        assert dist[i, i] < dist[i, other].min(), (i, clips[i])


def test_sweep_on_two_processes_gives_the_same_windows_as_one(run):
    """evaluate.view_sweep.workers is 2 in params.yaml for speed: each clip's draws are seeded by
    its own seed and azimuth, so the windows are bit for bit those of one process, in split order."""
    from evaluation.params import ViewSweepParams
    from evaluation.predict import load_split
    from evaluation.view_sweep import sweep_landmarks

    _, _, d, _ = run
    info = json.loads((d / "dataset.json").read_text())
    split = load_split(d, "train", needs_video=False)
    assert len(set(split.meta["clip_id"].tolist())) > 2      # several clips, spread over both workers
    one, t1 = sweep_landmarks(split, d, info, [45.0, 200.0], ViewSweepParams(workers=1), progress=False)
    two, t2 = sweep_landmarks(split, d, info, [45.0, 200.0], ViewSweepParams(workers=2), progress=False)
    assert (t1["workers"], t2["workers"]) == (1, 2)
    assert list(two) == list(one) == ["45", "200", "own"]
    for k in one:
        assert np.isfinite(one[k]).any() and np.array_equal(two[k], one[k], equal_nan=True), k
