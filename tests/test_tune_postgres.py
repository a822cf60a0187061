"""Two real `python -m stages.tune` worker processes on one Optuna study in a real PostgreSQL
server (initdb + pg_ctl on 127.0.0.1, a free port; as the `postgres` user when the tests run as
root, since postgres refuses to run as root). `.ci/run` installs postgresql with apt-get."""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import psycopg2
import pytest
import yaml

from tests.test_tune import write_project
from tests.train_fixtures import write_tiny_dataset
from tuning.study import make_storage

ROOT = Path(__file__).resolve().parents[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} not found under /usr/lib/postgresql/*/bin or on PATH: "
                    "install it (`apt-get install -y postgresql`, as .ci/run does)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_db_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres():
    """(URL of a fresh database `optuna` as user postgres, port); the server is stopped after."""
    base = Path(tempfile.mkdtemp(prefix="athlete-mm-pg-"))
    pgdata = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(_as_db_user([_pg_bin("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                                "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
    port = _free_port()
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_db_user([_pg_bin("pg_ctl"), "-D", str(pgdata), "-o", opts, "-l", str(base / "log.txt"),
                                "-w", "-t", "60", "start"]), check=True, capture_output=True, timeout=90)
    try:
        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE optuna")
        con.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna", port
    finally:
        subprocess.run(_as_db_user([_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_study(postgres, tmp_path):
    url, port = postgres
    data = write_tiny_dataset(tmp_path / "processed" / "tiny")
    write_project(tmp_path, data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    tune = [sys.executable, "-m", "stages.tune", "tcn", "--storage", url]
    procs = [subprocess.Popen([*tune, "--n-trials", "3", "--worker", str(k), "--no-export"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    assert not (tmp_path / "params/tuned/tcn.yaml").exists()  # --no-export
    export = subprocess.run([*tune, "--n-trials", "0"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)  # the README's last step: the whole study's best, no new trial
    assert export.returncode == 0, export.stderr[-3000:]

    study = optuna.load_study(study_name="athlete-mm-tcn-tiny", storage=make_storage(url))
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(6)), numbers  # 3 + 3 trials, no number twice
    host = socket.gethostname()
    assert {t.user_attrs["worker"] for t in trials} == {f"{host}:{p.pid}" for p in procs}  # both workers
    assert sum(bool(t.user_attrs.get("baseline")) for t in trials) == 1  # the current config tried once
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)

    # the best trial, read back three ways: Optuna, plain SQL on the server, the exported file
    con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="optuna")
    with con, con.cursor() as cur:
        cur.execute("SELECT t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
                    "JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = %s AND t.state = 'COMPLETE' "
                    "ORDER BY v.value ASC, t.number ASC LIMIT 1", ("athlete-mm-tcn-tiny",))
        sql_number, sql_value = cur.fetchone()
    con.close()
    assert study.best_value == pytest.approx(min(t.value for t in done))
    assert (study.best_trial.number, study.best_value) == (sql_number, pytest.approx(sql_value))
    report = json.loads((tmp_path / "reports/tune/tcn.json").read_text())
    assert report["best"]["number"] == sql_number and report["best"]["value"] == pytest.approx(sql_value)
    # the tuned file (what training reads) is written only when the best beat trial 0
    assert (tmp_path / "params/tuned/tcn.yaml").is_file() == report["adopt"] == (sql_number != 0)
    if report["adopt"]:
        rec = yaml.safe_load((tmp_path / "params/tuned/tcn.yaml").read_text())
        assert rec["best_trial"] == sql_number and rec["best_value"] == pytest.approx(sql_value)
        assert rec["params"]["train"]["lr"] == study.best_trial.params["train.lr"]
