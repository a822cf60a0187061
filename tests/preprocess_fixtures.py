"""Shared tiny raw dataset + one preprocess run for the tests/test_preprocess_*.py modules
(built once per pytest process; both modules' fixtures reuse it)."""
from __future__ import annotations

from pathlib import Path

import pytest

from biomech.camera import LandmarkError
from biomech.conventions import GRAVITY
from biomech.io import write_manifest
from biomech.sensors import ImuSpec
from biomech.synth import ClipSpec, Preset, SynthConfig, write_clip
from preprocessing.params import PreprocessParams
from preprocessing.run import preprocess

PRO = Preset("pro", 60.0, ImuSpec(200.0, 0.05, 0.005, 0.003, 0.0005, 32 * GRAVITY, 35.0), 1000.0)
CONSUMER = Preset("consumer", 30.0, ImuSpec(100.0, 0.12, 0.01, 0.003, 0.0005, 8 * GRAVITY, 17.0), None)
# no generator-side missed frames: the view tests inject their own and count them exactly
CFG = SynthConfig(width=48, height=48, landmark_error=LandmarkError(miss_rate_hz=0.0))
CLIPS = [  # athlete, action, preset, seed
    ("athlete0000", "countermovement_jump", "pro", 1), ("athlete0000", "squat", "consumer", 2),
    ("athlete0001", "squat", "pro", 3), ("athlete0001", "run", "pro", 4),
    ("athlete0002", "jump_shot", "pro", 5), ("athlete0002", "countermovement_jump", "pro", 6),
    ("athlete0003", "squat", "pro", 7),
]
ATHLETES = {"athlete0000": ("male", 1.80, 78.0), "athlete0001": ("female", 1.66, 60.0),
            "athlete0002": ("male", 1.90, 90.0), "athlete0003": ("female", 1.72, 64.0)}


def _params(raw: Path, out: Path, **kw) -> PreprocessParams:
    base = dict(dataset="tiny", raw_dir=str(raw), out_dir=str(out / "processed"), report_dir=str(out / "reports"),
                workers=2, plots=False)
    base.update(kw)
    return PreprocessParams(**base)


_CACHE: dict = {}


def build_raw(tmp_path_factory):
    if "raw" in _CACHE:
        return _CACHE["raw"]
    root = tmp_path_factory.mktemp("raw") / "tiny"
    rows = []
    for i, (ath, action, preset, seed) in enumerate(CLIPS):
        sex, h, m = ATHLETES[ath]
        spec = ClipSpec(clip_id=f"clip{i:05d}", athlete_id=ath, sex=sex, height=h, mass=m, action=action,
                        fault="none", preset=preset, duration=2.4, seed=1000 + seed)
        rows += write_clip(spec, PRO if preset == "pro" else CONSUMER, CFG, root)["rows"]
    write_manifest(root, rows)
    _CACHE["raw"] = root
    return root


def build_run(raw, tmp_path_factory):
    if "run" in _CACHE:
        return _CACHE["run"]
    out = tmp_path_factory.mktemp("out")
    p = _params(raw.parent, out, plots=True)
    report = preprocess(p, progress=False, report_json=out / "preprocess.json")
    _CACHE["run"] = (p, report, Path(p.out_dir) / "tiny", out)
    return _CACHE["run"]




# module-scoped fixtures shared by the preprocessing test modules (import them by name)
@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return build_raw(tmp_path_factory)


@pytest.fixture(scope="module")
def run(raw, tmp_path_factory):
    return build_run(raw, tmp_path_factory)
