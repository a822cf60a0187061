"""Distributed training: `torchrun --nproc_per_node 2 -m stages.train tcn` on CPU (gloo, loopback)
on a tiny processed dataset; both ranks must hold identical weights after the training steps, and
those weights must differ from the initial ones. A resumed run continues from the checkpoint."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import WeightedRandomSampler

from tests.train_fixtures import write_tiny_dataset
from training.loop import shard_indices, weights_digest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("processed") / "tiny")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(cwd: Path, epochs: int, nproc: int = 2) -> subprocess.CompletedProcess:
    params = {"profile": "default",
              "train": {"dataset": "tiny", "data_dir": str(cwd / "processed"), "epochs": epochs, "batch_size": 8,
                        "lr": 3e-3, "seed": 3, "patience": 10, "tracking": {"enabled": False},
                        "archs": {"tcn": {"dim": 16, "channels": [16, 16]}}}}
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")  # gloo on CPU
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--nnodes", "1",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "--module", "stages.train", "tcn"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_torchrun_two_cpu_ranks_identical_weights_and_resume(data, tmp_path):
    (tmp_path / "processed").symlink_to(data.parent, target_is_directory=True)
    r = _torchrun(tmp_path, epochs=2)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    out = tmp_path / "artifacts/train/tcn"
    m = json.loads((out / "metrics.json").read_text())
    ddp = m["ddp"]
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"
    d0, d1 = ddp["rank_digests"]
    assert d0 == d1, "the two ranks' weights differ"
    ck = torch.load(out / "checkpoint.pt", weights_only=False)  # written by rank 0 only
    assert weights_digest(ck["model"]) == d0
    assert ddp["init_digest"] != d0, "the weights did not change"
    assert m["epochs"] == 2 and len(m["history"]) == 2 and m["n_test"] == 12
    assert all(h["train_loss"] > 0 for h in m["history"])
    assert json.loads((tmp_path / "reports/train/tcn.json").read_text())["epochs"] == 2
    # resume: one more epoch from checkpoint.pt, still in sync
    r = _torchrun(tmp_path, epochs=3)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    m3 = json.loads((out / "metrics.json").read_text())
    assert m3["resumed_from_epoch"] == 2 and m3["epochs"] == 3 and len(m3["history"]) == 3
    assert m3["history"][:2] == m["history"]
    d0, d1 = m3["ddp"]["rank_digests"]
    assert d0 == d1 and d0 == weights_digest(torch.load(out / "checkpoint.pt", weights_only=False)["model"])
    assert m3["ddp"]["init_digest"] == weights_digest(ck["model"])  # started from the checkpoint


def test_shard_indices_disjoint_equal_and_balanced(data):
    from preprocessing.dataset import make_loader

    order = [int(i) for i in make_loader("train", 8, balanced=True, root=data, seed=5).sampler]
    again = [int(i) for i in make_loader("train", 8, balanced=True, root=data, seed=5).sampler]
    assert order == again  # every rank draws the same seeded order
    for world in (1, 2, 3, 5):
        shards = [shard_indices(order, r, world) for r in range(world)]
        assert len({len(s) for s in shards}) == 1  # same batch count on every rank
        assert sum(len(s) for s in shards) == -(-len(order) // world) * world
        interleaved = [s[i] for i in range(len(shards[0])) for s in shards]
        assert interleaved[:len(order)] == order  # disjoint positions of the one draw, nothing lost
    labels = [0] * 40 + [1] * 10 + [2] * 5 + [3] * 25  # skewed classes, inverse-frequency weights
    w = torch.tensor([1.0 / labels.count(y) for y in labels], dtype=torch.float64)
    big = [int(i) for i in WeightedRandomSampler(w, 4000, replacement=True, generator=torch.Generator().manual_seed(0))]
    for r in range(2):  # each rank's slice of the balanced draw stays balanced
        c = Counter(labels[i] for i in shard_indices(big, r, 2))
        assert len(c) == 4 and max(c.values()) / min(c.values()) < 1.25, c
