"""The `preprocess` stage on a handful of tiny generated clips (3 athletes, pro + consumer)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from biomech.io import read_manifest, read_npz, sha256, write_manifest, write_npz
from preprocessing.clip import ClipError
from preprocessing.params import PreprocessParams
from preprocessing.run import preprocess
from stages.params import ParamsError, validate

from .preprocess_fixtures import CLIPS, _params, raw, run  # noqa: F401 (module-scoped fixtures)


def test_report_counts_and_files(run):
    p, report, d, out = run
    assert report["clips"] == {"listed": len(CLIPS), "processed": len(CLIPS), "skipped": 0, "skipped_clips": []}
    assert sum(report["windows"].values()) > 0 and report["windows"]["train"] > 0
    for f in ("dataset.json", "split.json", "scalers.json", "class_weights.json"):
        assert (d / f).is_file(), f
    for split in ("train", "val", "test"):
        idx = json.loads((d / split / "index.json").read_text())
        for name, meta in idx["fields"].items():
            arr = np.load(d / split / f"{name}.npy", mmap_mode="r")
            assert list(arr.shape) == meta["shape"] and str(arr.dtype) == meta["dtype"]
        assert len(idx["windows"]["clip_id"]) == idx["n_windows"]
    # MB, not kB or bytes: a Python process with numpy and the clips loaded holds tens of MB, far below 16 GiB
    assert 40 < json.loads(Path(report["details_file"]).read_text())["peak_memory"]["main_mb"] < 16384
    pngs = sorted(Path(p.report_dir).glob("window_*.png"))
    assert len(pngs) == len({c[1] for c in CLIPS})
    assert set(report["gapfill_rmse"]) == {"imu_acc", "imu_gyro", "grf_force", "landmarks"}


def test_no_athlete_in_two_splits(run):
    _, _, d, _ = run
    split = json.loads((d / "split.json").read_text())
    seen = {}
    for s, athletes in split["athletes"].items():
        for a in athletes:
            assert a not in seen, (a, s, seen.get(a))
            seen[a] = s
    assert all(split["athletes"][s] for s in ("train", "val", "test"))
    for s in ("train", "val", "test"):
        idx = json.loads((d / s / "index.json").read_text())
        assert set(idx["windows"]["athlete_id"]) <= set(split["athletes"][s])


def test_sync_accuracy_loosely(run):
    _, report, _, _ = run
    acc = report["sync_accuracy"]
    assert set(acc) == {"imu", "grf"}
    for k in ("imu", "grf"):
        assert acc[k]["median_frames"] <= 2.0, acc
    rows = json.loads(Path(report["sync_offsets_file"]).read_text())
    assert len(rows) == len(CLIPS) and all("offset_s" in r["imu"] for r in rows)


def test_train_windows_are_zscored_and_scaler_ignores_test_split(run, raw, tmp_path):
    p, _, d, _ = run
    tr = np.load(d / "train" / "imu.npy")
    m = np.load(d / "train" / "modality_mask.npy")[:, 2]
    flat = tr[m].reshape(-1, 54)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(flat.std(0), 1, atol=1e-2)
    # change the IMU data of every test-split clip: the scalers must not move
    split = json.loads((d / "split.json").read_text())
    raw2 = tmp_path / "raw" / "tiny"
    shutil.copytree(raw, raw2)
    rows = read_manifest(raw2)
    test_clips = set(split["clips"]["test"])
    for r in rows:
        if r["clip_id"] in test_clips and r["file"] == "imu.npz":
            f = raw2 / r["athlete_id"] / r["clip_id"] / "imu.npz"
            header, arrs = read_npz(f)
            arrs["acc"] = arrs["acc"] * 3.0 + 5.0
            write_npz(f, header, **arrs)
            r["sha256"], r["bytes"] = sha256(f), f.stat().st_size
    write_manifest(raw2, rows)
    p2 = _params(raw2.parent, tmp_path, workers=1)
    preprocess(p2, progress=False)
    d2 = Path(p2.out_dir) / "tiny"
    assert json.loads((d2 / "scalers.json").read_text()) == json.loads((d / "scalers.json").read_text())
    assert not np.allclose(np.load(d2 / "test" / "imu.npy"), np.load(d / "test" / "imu.npy"))
    np.testing.assert_array_equal(np.load(d2 / "train" / "imu.npy"), tr)


def test_corrupt_file_stops_with_path_and_skip_mode_lists_it(raw, tmp_path):
    raw2 = tmp_path / "raw" / "tiny"
    shutil.copytree(raw, raw2)
    bad = raw2 / "athlete0001" / "clip00003" / "imu.npz"
    bad.write_bytes(bad.read_bytes()[:500])  # truncated
    with pytest.raises(ClipError) as exc:
        preprocess(_params(raw2.parent, tmp_path, evaluate_sync=False), progress=False)
    assert str(bad) in str(exc.value)
    (raw2 / "athlete0002" / "clip00004" / "video.mp4").unlink()
    report = preprocess(_params(raw2.parent, tmp_path, skip_bad_clips=True, evaluate_sync=False), progress=False)
    assert report["clips"]["skipped"] == 2 and report["clips"]["processed"] == len(CLIPS) - 2
    listed = {s["clip_id"]: s["error"] for s in report["clips"]["skipped_clips"]}
    assert str(bad) in listed["clip00003"] and "video.mp4" in listed["clip00004"]


def test_params_errors_name_the_key():
    with pytest.raises(ParamsError, match=r"preprocess\.window\.length"):
        validate(PreprocessParams, {"window": {"length": 20}}, "preprocess")
    with pytest.raises(ParamsError, match=r"preprocess\.filters\.iqr\.kk"):
        validate(PreprocessParams, {"filters": {"iqr": {"kk": 1}}}, "preprocess")
    with pytest.raises(ParamsError, match="Nyquist"):
        validate(PreprocessParams, {"timeline_hz": 30}, "preprocess")


def test_stage_main_exit_codes(raw, tmp_path, monkeypatch, capsys):
    import yaml

    from stages import preprocess as stage

    raw2 = tmp_path / "raw" / "tiny"
    shutil.copytree(raw, raw2)
    (raw2 / "athlete0000" / "clip00000" / "grf.npz").unlink()
    monkeypatch.chdir(tmp_path)
    sec = {"dataset": "tiny", "raw_dir": str(raw2.parent), "out_dir": "processed", "report_dir": "rep",
           "workers": 1, "plots": False}
    Path("params.yaml").write_text(yaml.safe_dump({"profile": "default", "preprocess": sec}))
    assert stage.main() == 1
    err = capsys.readouterr().err
    assert str(raw2 / "athlete0000" / "clip00000" / "grf.npz") in err and "Traceback" not in err
    Path("params.yaml").write_text(yaml.safe_dump({"profile": "default", "preprocess": {**sec, "workers": 0}}))
    assert stage.main() == 2
    assert "preprocess.workers" in capsys.readouterr().err


def test_force_plate_windows_are_physically_consistent(run):
    """Loaded plates' COP lies under the athlete (it was interpolated across touch-down before:
    metres off in a run), unloaded plates read zero, and Newton-Euler on the processed angles,
    pelvis pose and physical GRF reproduces the OpenSim moment targets."""
    from models import build_model
    from models.torque import torque_metrics
    from preprocessing.dataset import WindowDataset, grf_to_physical

    _, _, d, _ = run
    model = build_model("torque_ne").eval()
    preds, targets = [], []
    for split in ("train", "val", "test"):
        ds = WindowDataset(d, split)
        for i in range(len(ds)):
            it = ds[i]
            if not bool(it["modality_mask"][3]):
                continue
            g = grf_to_physical(it["grf"][None], d)[0]
            loaded = g[..., 1] > 1e-3  # (BW; float noise of the inverse z-score aside, unloaded = 0)
            for k in range(2):
                off = (g[:, k, [3, 5]] - it["root"][:, [3, 5]])[loaded[:, k]]
                assert off.numel() == 0 or off.abs().max() < 0.8, (split, i, off.abs().max())
            assert torch.all(g[~loaded].abs() < 1e-3)
            with torch.no_grad():
                preds.append(model({k: it[k][None] for k in ("angles", "root", "anthro")} | {"grf": g[None]})["moments"][0])
            targets.append(it["moments"])
    m = torque_metrics(torch.cat(preds), torch.cat(targets))
    print({k: round(v, 2) for k, v in m["rmse"].items()}, {k: round(v, 3) for k, v in m["icc"].items()})
    for side in ("r", "l"):
        assert m["icc"][f"knee_angle_{side}_moment"] > 0.9 and m["icc"][f"hip_flexion_{side}_moment"] > 0.9
