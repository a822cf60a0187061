"""WindowDataset / make_loader follow the model zoo's batch contract exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.testing import make_batch
from preprocessing.dataset import WindowDataset, make_loader

from .preprocess_fixtures import build_raw, build_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return build_run(build_raw(tmp_path_factory), tmp_path_factory)


def _contract():
    b = make_batch(batch_size=1, T=64, Tv=8, H=64, W=64)
    return {k: (tuple(v.shape[1:]), v.dtype) for k, v in b.items()}


def test_items_match_the_batch_contract(run):
    p, _, d, _ = run
    contract = _contract()
    for split in ("train", "val", "test"):
        ds = WindowDataset(d, split)
        if len(ds) == 0:
            continue
        item = ds[0]
        assert set(item) == set(contract)
        for k, (shape, dtype) in contract.items():
            assert tuple(item[k].shape) == shape, (k, item[k].shape, shape)
            assert item[k].dtype == dtype, (k, item[k].dtype, dtype)
            if item[k].is_floating_point():
                assert torch.isfinite(item[k]).all(), k


def test_consumer_clip_has_no_grf(run):
    _, _, d, _ = run
    found = 0
    for split in ("train", "val", "test"):
        ds = WindowDataset(d, split)
        for i, cid in enumerate(ds.index["windows"]["clip_id"]):
            item = ds[i]
            if cid == "clip00001":  # the consumer preset clip
                found += 1
                assert item["modality_mask"].tolist() == [True, True, True, False]
                assert torch.count_nonzero(item["grf"]) == 0
            else:
                assert item["modality_mask"].all()
                assert torch.count_nonzero(item["grf"]) > 0
    assert found > 0


def test_loader_yields_balanced_batches(run):
    _, _, d, _ = run
    ds = WindowDataset(d, "train")
    w = ds.sample_weights
    assert w.shape == (len(ds),) and abs(w.sum() - 1) < 1e-9
    labels = np.asarray(ds.arrays["label"])
    per_class = {int(c): w[labels == c].sum() for c in np.unique(labels)}
    assert np.allclose(list(per_class.values()), 1.0 / len(per_class))  # each class equally likely
    loader = make_loader("train", batch_size=4, balanced=True, root=d)
    batch = next(iter(loader))
    assert batch["imu"].shape[1:] == (64, 6, 9) and batch["video"].shape[1:] == (8, 3, 64, 64)
    assert batch["label"].dtype == torch.long and batch["modality_mask"].dtype == torch.bool
    n = sum(b["label"].shape[0] for b in make_loader("val", batch_size=3, balanced=True, root=d))
    assert n == len(WindowDataset(d, "val"))


def test_a_model_runs_on_a_loader_batch(run):
    from models import build_model

    _, _, d, _ = run
    batch = next(iter(make_loader("train", batch_size=2, root=d)))
    model = build_model("tcn", {"num_classes": 12})
    model.eval()
    with torch.no_grad():
        out = model(batch)
    assert out["logits"].shape == (2, 12)
