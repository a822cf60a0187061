"""The stages downstream of `generate` depend on data/raw/synth/manifest.csv, not on the directory
(DVC walks a directory of ~9,300 files once per listing, ~0.4 s each): correct only because the
manifest holds every clip file's sha256 and DVC still re-runs what a change affects. Also: the
repository's .dvcignore keeps Python byte-code out of the code directories' hashes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from biomech.io import read_manifest, write_manifest
from biomech.synth import ClipSpec, write_clip
from tests.preprocess_fixtures import CFG, CONSUMER, PRO

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
READERS = ("preprocess", "evaluate", "reference")   # stages that read the generated clips


def test_the_raw_readers_depend_on_the_generated_manifest():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "data/raw/synth" in stages["generate"]["outs"]
    for name in READERS:
        deps = stages[name]["deps"]
        assert "data/raw/synth/manifest.csv" in deps, name
        assert "data/raw/synth" not in deps, f"{name}: the directory again (DVC walks it once per listing)"


def test_the_manifest_lists_every_clip_file_with_its_checksum(tmp_path):
    """What the readers open (meta.json, keypoints.npz, imu.npz, ...) is in the manifest, so no clip
    file can change while manifest.csv stays the same."""
    rows = []
    for i, preset in enumerate((PRO, CONSUMER)):
        spec = ClipSpec(clip_id=f"clip{i:05d}", athlete_id="athlete0000", sex="male", height=1.8, mass=78.0,
                        action="squat", fault="none", preset=preset.name, duration=1.6, seed=7 + i)
        rows += write_clip(spec, preset, CFG, tmp_path)["rows"]
    write_manifest(tmp_path, rows)
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*/*") if p.is_file()}
    listed = {f"{r['athlete_id']}/{r['clip_id']}/{r['file']}" for r in read_manifest(tmp_path)}
    assert on_disk == listed and len(listed) >= 2 * 6
    assert all(len(r["sha256"]) == 64 for r in read_manifest(tmp_path))


MAKE = '''import csv, hashlib, pathlib, shutil, yaml
n = yaml.safe_load(open("params.yaml"))["make"]["n"]
root = pathlib.Path("raw"); shutil.rmtree(root, ignore_errors=True); (root / "a" / "c1").mkdir(parents=True)
(root / "a" / "c1" / "x.txt").write_text(f"n={n}\\n")
with open(root / "manifest.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["athlete_id", "clip_id", "file", "sha256"])
    for p in sorted(root.glob("*/*/*")):
        w.writerow([p.parts[1], p.parts[2], p.name, hashlib.sha256(p.read_bytes()).hexdigest()])
'''


def _run(args, cwd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout + r.stderr


def _ran(out: str) -> set[str]:
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}


def test_a_stage_on_the_manifest_reruns_when_the_data_changes_and_not_otherwise(tmp_path):
    """A two-stage DVC project shaped like generate -> preprocess (real dvc, nothing mocked)."""
    repo = tmp_path / "p"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "make.py").write_text(MAKE)
    (repo / "params.yaml").write_text("make: {n: 1}\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "make": {"cmd": f"{sys.executable} make.py", "deps": ["make.py"], "params": ["make.n"], "outs": ["raw"]},
        "use": {"cmd": "cat raw/a/c1/x.txt > used.txt", "deps": ["raw/manifest.csv", "pkg"],
                "outs": ["used.txt"]}}}))
    _run(["git", "init", "-q"], repo)
    _run(["dvc", "init", "-q"], repo)
    shutil.copy2(ROOT / ".dvcignore", repo / ".dvcignore")
    assert _ran(_run(["dvc", "repro"], repo)) == {"make", "use"}

    # a param that changes the data: both re-run, the reader sees the new data
    (repo / "params.yaml").write_text("make: {n: 2}\n")
    assert _ran(_run(["dvc", "repro"], repo)) == {"make", "use"}
    assert (repo / "used.txt").read_text() == "n=2\n"

    # a change of the generator that leaves the data as it was: the reader is not re-run
    (repo / "make.py").write_text(MAKE + "# a comment\n")
    assert _ran(_run(["dvc", "repro"], repo)) == {"make"}

    # a clip file edited by hand: `make`'s output changed, so `dvc repro` restores it (re-run or from
    # the run cache); the reader's result was made from the restored content, so it is current
    (repo / "raw" / "a" / "c1" / "x.txt").write_text("n=99\n")
    assert "modified:           raw" in _run(["dvc", "status", "make"], repo)
    assert "use" not in _ran(_run(["dvc", "repro"], repo))
    assert (repo / "raw" / "a" / "c1" / "x.txt").read_text() == (repo / "used.txt").read_text() == "n=2\n"

    # byte-code written into a code dependency (no PYTHONDONTWRITEBYTECODE) is not a change
    (repo / "pkg" / "__pycache__").mkdir()
    (repo / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00pyc")
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], repo)
