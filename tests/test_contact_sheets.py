"""evaluation.contact_sheets: one PNG per action class from a (tiny, generated) raw dataset."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation import contact_sheets as cs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ACTIONS = ("squat", "countermovement_jump")


@pytest.fixture(scope="module")
def raw_dataset(tmp_path_factory) -> Path:
    from biomech.io import write_manifest
    from biomech.sensors import ImuSpec
    from biomech.synth import ClipSpec, Preset, SynthConfig, write_clip

    imu = ImuSpec(200, 0.05, 0.005, 0.002, 0.0005, 160, 35)
    pro = Preset("pro", 60, imu, 1000)
    cfg = SynthConfig()
    raw = tmp_path_factory.mktemp("raw")
    rows = []
    for i, action in enumerate(ACTIONS):
        spec = ClipSpec(f"c{i:03d}", "a001", "female", 1.70, 62.0, action, "none", "pro", 3.0, 11 + i)
        rows += write_clip(spec, pro, cfg, raw)["rows"]
    write_manifest(raw, rows)
    return raw


def test_one_valid_png_per_class(raw_dataset, tmp_path, capsys):
    out = tmp_path / "sheets"
    assert cs.main(["--raw", str(raw_dataset), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == len(ACTIONS)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{a}.png" for a in ACTIONS)
    for action in ACTIONS:
        png = out / f"{action}.png"
        data = png.read_bytes()
        assert data[:8] == PNG_SIGNATURE
        assert 0 < len(data) < 1_000_000
        assert any(str(png) in line for line in printed)
        import cv2
        img = cv2.imread(str(png))
        assert img is not None and img.shape[0] > 1000 and img.shape[1] > 1000
        assert img.std() > 10  # not a blank canvas


@pytest.mark.parametrize("what", ["no_dir", "no_manifest"])
def test_missing_raw_or_manifest_exits_2_without_traceback(tmp_path, what):
    raw = tmp_path / "nowhere"
    if what == "no_manifest":
        raw.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation.contact_sheets", "--raw", str(raw), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=60,
    )
    assert proc.returncode == 2
    assert str(raw) in proc.stderr and ("not found" in proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_selection_prefers_clips_with_force_plates():
    def rows(athlete, clip, action, preset, files):
        return [{"athlete_id": athlete, "clip_id": clip, "action": action, "fault": "none",
                 "preset": preset, "file": f} for f in files]
    manifest = (rows("a001", "c000", "squat", "consumer", ["meta.json", "imu.npz"])
                + rows("a001", "c001", "squat", "pro", ["meta.json", "grf.npz"])
                + rows("a002", "c000", "squat", "pro", ["meta.json", "grf.npz"])
                + rows("a001", "c002", "run", "consumer", ["meta.json"]))
    sel = cs.select_clips(manifest, per_class=1)
    assert sel == {"run": [("a001", "c002")], "squat": [("a001", "c001")]}
    sel = cs.select_clips(manifest, per_class=3)
    assert sel["squat"] == [("a001", "c001"), ("a002", "c000"), ("a001", "c000")]


def test_skeleton_sides():
    left = [i for i in range(33) if cs._side(i) == "l"]
    right = [i for i in range(33) if cs._side(i) == "r"]
    assert {11, 13, 15, 23, 25, 27, 29, 31} <= set(left)
    assert {12, 14, 16, 24, 26, 28, 30, 32} <= set(right)
    assert np.all(np.array(cs.POSE_CONNECTIONS) < 33)
