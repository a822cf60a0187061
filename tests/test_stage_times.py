"""scripts/stage_times.py: `dvc repro` with the wall time of each stage (issue 12, per-stage times)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _mod():
    spec = importlib.util.spec_from_file_location("stage_times", ROOT / "scripts" / "stage_times.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dvc_lines_name_the_stages_and_times_run_to_the_next_one():
    st = _mod()
    assert st.stage_of("Running stage 'train@tcn':") == ("train@tcn", "ran")
    assert st.stage_of("Stage 'generate' didn't change, skipping") == ("generate", "skipped")
    assert st.stage_of("Stage 'a' is cached - skipping run, checking out outputs") == ("a", "skipped")
    assert st.stage_of("epoch 3: Running stage 'x'") is None and st.stage_of("Updating lock file 'dvc.lock'") is None
    rows = st.durations([(1.0, "a", "skipped"), (1.5, "b", "ran"), (4.0, "c", "ran")], 10.25)
    assert rows == [{"stage": "a", "how": "skipped", "seconds": 0.5}, {"stage": "b", "how": "ran", "seconds": 2.5},
                    {"stage": "c", "how": "ran", "seconds": 6.2}]
    assert st.table(rows, 10.3).splitlines()[-1].startswith("total")


def test_a_real_repro_prints_every_stage(tmp_path):
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "slow": {"cmd": f"{sys.executable} -c \"import time; time.sleep(1.5); open('a', 'w').write('1')\"",
                 "outs": ["a"]},
        "fast": {"cmd": "cp a b", "deps": ["a"], "outs": ["b"]}}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "stage_times.py"), "--json", "t.json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Running stage 'slow'" in r.stdout                    # DVC's own output passes through
    times = json.loads((tmp_path / "t.json").read_text())
    assert [(s["stage"], s["how"]) for s in times["stages"]] == [("slow", "ran"), ("fast", "ran")]
    assert times["stages"][0]["seconds"] >= 1.5 and times["total_s"] >= sum(s["seconds"] for s in times["stages"]) - 0.2
    assert "slow" in r.stderr.split("stage  ")[-1]                # the table at the end
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "stage_times.py"), "--json", "t.json"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert [s["how"] for s in json.loads((tmp_path / "t.json").read_text())["stages"]] == ["skipped", "skipped"]
    assert again.returncode == 0
