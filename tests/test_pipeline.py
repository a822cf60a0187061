"""End-to-end: the DVC pipeline on the tiny profile in a fresh copy of the repository, run as the
README documents it (`.venv/bin/dvc exp run -S profile=tiny`, then `.venv/bin/dvc repro`) with a
PATH that does not hold .venv/bin: the stage commands must find the project's interpreter
themselves (scripts/python)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _bare_env():
    """A new user's shell: system PATH only (no .venv/bin), no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if Path(p).is_dir())
    return env


def _run(args, cwd, check=True, env=None):
    # generous: the whole tiny pipeline (10 models) on a shared 2-core machine
    p = subprocess.run(args, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=2400)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh git + DVC checkout of the tracked files (like a clean clone)."""
    dst = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "ci@example.invalid"],
                ["git", "config", "user.name", "ci"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        _run(cmd, dst)
    (dst / ".venv").symlink_to(BIN.parent)  # what `make setup` (scripts/setup.sh) leaves in a clone
    return dst


@pytest.mark.slow
def test_tiny_pipeline_runs_and_second_repro_is_a_noop(repo):
    assert _run(["sh", "-c", "command -v dvc || echo none"], repo, env=_bare_env()).stdout.strip() == "none"
    _run([".venv/bin/dvc", "exp", "run", "-S", "profile=tiny"], repo, env=_bare_env())
    report = json.loads((repo / "reports/generate.json").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    n = params["profiles"]["tiny"]["generate"]["n_clips"]
    assert report["n_clips"] == n
    raw = repo / "data/raw/synth"
    manifest = (raw / "manifest.csv").read_text().splitlines()
    clips = {tuple(line.split(",")[:2]) for line in manifest[1:]}
    assert len(clips) == n
    assert len(list(raw.glob("*/*/meta.json"))) == n
    assert len(list(raw.glob("*/athlete.osim"))) == params["profiles"]["tiny"]["generate"]["n_athletes"]
    # preprocess: windows for every split, no athlete in two splits, sync report
    pre = json.loads((repo / "reports/preprocess.json").read_text())
    processed = repo / "data/processed/synth"
    split = json.loads((processed / "split.json").read_text())
    athletes = [set(split["athletes"][k]) for k in ("train", "val", "test")]
    assert athletes and not (athletes[0] & athletes[1] or athletes[0] & athletes[2] or athletes[1] & athletes[2])
    for name in ("train", "val", "test"):
        assert (processed / name / "index.json").is_file(), name
    assert pre["clips"] == n and pre["windows"]["train"] > 0 and pre["windows"]["test"] > 0
    again = _run([".venv/bin/dvc", "repro"], repo, env=_bare_env())
    out = again.stdout + again.stderr
    assert "didn't change" in out or "up to date" in out, out
    assert "Running stage" not in out
    # the lock just written matches code, params and commands (the root pipeline's: the held-out
    # cohort's stages follow `profile` and were not re-run, so they are stale by design here)
    lock = _run([".venv/bin/python", "scripts/dvc_checks.py", "--pipeline", "dvc.yaml"], repo, check=False,
                env=_bare_env())
    assert lock.returncode == 0, lock.stderr
    metrics = _run(["dvc", "metrics", "show"], repo).stdout
    assert "n_clips" in metrics
    # train@<arch>: every architecture has weights, a report listed by `dvc metrics show`, a summary row
    archs = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["train"]["foreach"]
    summary = (repo / "reports/summary.md").read_text()
    for arch in archs:
        rep = json.loads((repo / f"reports/train/{arch}.json").read_text())
        assert rep["model"] == arch
        assert "history" not in rep and len(rep) <= 16, arch  # headline figures only (details beside)
        full = json.loads((repo / "artifacts/train" / arch / "metrics.json").read_text())
        if rep["kind"] != "torque":  # recognizers are scored on every test window
            assert full["n_test"] == pre["windows"]["test"], arch
        assert any((repo / "artifacts/train" / arch).glob("model.*")), arch
        assert f"reports/train/{arch}.json" in metrics, arch
        assert arch in summary, arch
    assert "knee_angle_r_moment" in summary


def test_out_of_range_param_names_the_key(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"]["n_athletes"] = 0
    params["generate"]["video"]["width"] = 5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = _run([sys.executable, "-m", "stages.generate"], tmp_path, check=False)
    assert p.returncode == 2
    assert "generate.n_athletes" in p.stderr and "generate.video.width" in p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_profile_is_rejected(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = "huge"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = _run([sys.executable, "-m", "stages.generate"], tmp_path, check=False)
    assert p.returncode == 2 and "'profile'" in p.stderr and "Traceback" not in p.stderr


def test_missing_and_unknown_keys_are_named(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    del params["generate"]["seed"]
    params["generate"]["n_clipz"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = _run([sys.executable, "-m", "stages.generate"], tmp_path, check=False)
    assert p.returncode == 2
    assert "'generate.seed' is missing" in p.stderr
    assert "'generate.n_clipz' is not a known parameter" in p.stderr
