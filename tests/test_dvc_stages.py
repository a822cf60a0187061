"""dvc.yaml's bookkeeping: each train@<arch> stage names exactly its own params keys, every stage
lists the code its command imports, and scripts/dvc_checks.py catches a stale dvc.lock."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _checks():
    spec = importlib.util.spec_from_file_location("dvc_checks", ROOT / "scripts" / "dvc_checks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _train_stage_params(item: str, seed_replica: bool = False) -> set[str]:
    """What train@<item> (or train_seed@<item>-<k>) must list: profile, every common train key, its
    own arch key, and the same for each profile's overrides. Only a seed replica reads seeds_dir;
    only the pipeline's own training writes out_dir / report_dir."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    own = {"out_dir", "report_dir"} if seed_replica else {"seeds_dir"}
    keys = {"profile", f"train.archs.{item}"} | {f"train.{k}" for k in params["train"] if k not in {"archs", *own}}
    for prof, over in params["profiles"].items():
        t = over.get("train") or {}
        keys |= {f"profiles.{prof}.train.{k}" for k in t if k != "archs"} | {f"profiles.{prof}.train.archs.{item}"}
    return keys


def test_each_train_stage_depends_on_its_own_arch_keys_only():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    archs = dvc["foreach"]
    assert set(archs) == set(params["train"]["archs"])
    for prof, over in params["profiles"].items():  # DVC refuses a missing key: every profile names every arch
        assert set(over["train"]["archs"]) == set(archs), prof
    for item in archs:
        listed = {p.replace("${item}", item) for p in dvc["do"]["params"]}
        assert listed == _train_stage_params(item), item
        assert not any(k.endswith(f".archs.{other}") for k in listed for other in archs if other != item)


def test_each_seed_replica_stage_depends_on_its_own_arch_keys_only():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train_seed"]
    archs = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["foreach"]
    assert set(stage["matrix"]["name"]) <= set(archs)
    for item in stage["matrix"]["name"]:
        listed = {p.replace("${item.name}", item) for p in stage["params"]}
        assert listed == _train_stage_params(item, seed_replica=True), item


def test_every_stage_lists_the_code_it_imports():
    p = subprocess.run([str(ROOT / "scripts" / "python"), "scripts/dvc_checks.py", "deps"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr


def test_static_imports_follow_lazy_and_relative_imports(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "other" / "__init__.py").write_text("from .deep import x\n")
    (tmp_path / "other" / "deep.py").write_text("x = 1\n")
    (tmp_path / "other" / "unused.py").write_text("")
    (tmp_path / "pkg" / "main.py").write_text("import numpy\nfrom . import helper\n")
    (tmp_path / "pkg" / "helper.py").write_text("def f():\n    from other import x\n    return x\n")
    files = _checks().imported_files("pkg.main", tmp_path)
    assert files == {Path(p) for p in ("pkg/__init__.py", "pkg/main.py", "pkg/helper.py", "other/__init__.py",
                                       "other/deep.py")}


def _run(args, cwd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_lock_check_passes_a_fresh_lock_and_names_a_stale_one(tmp_path):
    """A two-stage project: `dvc repro`, delete the data (a clean clone) -> ok; edit a code dep,
    a param or a command without re-running -> exit 1 naming the stage and what changed."""
    repo = tmp_path / "p"
    (repo / "pkg").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "dvc_checks.py", repo / "scripts")
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "make.py").write_text("import pathlib\npathlib.Path('data').mkdir(exist_ok=True)\n"
                                          "pathlib.Path('data/x.txt').write_text('1')\n")
    (repo / "params.yaml").write_text("make: {n: 1}\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "make": {"cmd": f"{sys.executable} -m pkg.make", "deps": ["pkg"], "params": ["make.n"], "outs": ["data"]},
        "use": {"cmd": "cat data/x.txt > used.txt", "deps": ["data"], "outs": ["used.txt"]}}}))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        assert _run(cmd, repo).returncode == 0, cmd
    shutil.rmtree(repo / "data")
    (repo / "used.txt").unlink()
    check = [sys.executable, "scripts/dvc_checks.py", "lock"]
    ok = _run(check, repo)
    assert ok.returncode == 0, ok.stderr
    (repo / "pkg" / "make.py").write_text((repo / "pkg" / "make.py").read_text() + "# changed\n")
    (repo / "params.yaml").write_text("make: {n: 2}\n")
    stale = _run(check, repo)
    assert stale.returncode == 1
    assert "make: pkg modified" in stale.stderr and "make: params.yaml key make.n modified" in stale.stderr
    assert "use:" not in stale.stderr  # its only dep is data made by `make`
    assert "dvc.lock is stale" in stale.stderr
