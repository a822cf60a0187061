"""scripts/resplit.py: the windows re-cut athlete-wise as preprocess.split would, each window once."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from resplit import resplit  # noqa: E402

from preprocessing.split import subject_split  # noqa: E402


def _processed(root: Path) -> Path:
    rng = np.random.default_rng(0)
    athletes = {"train": [f"a{i:02d}" for i in range(8)], "val": ["a08", "a09"], "test": ["a10", "a11"]}
    wid = 0
    for split, ids in athletes.items():
        ath = [a for a in ids for _ in range(3)]                   # 3 windows per athlete
        n = len(ath)
        d = root / split
        d.mkdir(parents=True)
        np.save(d / "label.npy", rng.integers(0, 3, n).astype(np.int64))
        np.save(d / "imu.npy", np.arange(wid, wid + n, dtype=np.float32)[:, None])   # the window's id
        np.save(d / "sample_weights.npy", np.full(n, 1.0 / n))
        (d / "index.json").write_text(json.dumps({"split": split, "n_windows": n, "fields": {
            "label": {}, "imu": {}, "sample_weights": {}}, "windows": {"athlete_id": ath, "clip_id": [f"c{wid + i}" for i in range(n)]}}))
        wid += n
    (root / "dataset.json").write_text(json.dumps({"classes": ["x", "y", "z"], "params": {"seed": 5, "split": {}}}))
    (root / "class_weights.json").write_text(json.dumps({"classes": ["x", "y", "z"]}))
    (root / "scalers.json").write_text("{}")
    return root


def test_resplit_moves_whole_athletes_and_keeps_every_window_once(tmp_path):
    src = _processed(tmp_path / "src")
    fr = {"train": 0.5, "val": 0.25, "test": 0.25}
    sizes = resplit(src, tmp_path / "out", fr)
    assert sizes == {"train": 18, "val": 9, "test": 9}
    want = subject_split([f"a{i:02d}" for i in range(12)], fr, 5)
    seen = []
    for s in ("train", "val", "test"):
        w = json.loads((tmp_path / "out" / s / "index.json").read_text())["windows"]
        ids = np.load(tmp_path / "out" / s / "imu.npy")[:, 0].astype(int).tolist()
        assert {want[a] for a in w["athlete_id"]} == {s}
        # rows still belong to their windows (clip c<k> holds imu value k)
        assert [f"c{k}" for k in ids] == w["clip_id"]
        assert np.load(tmp_path / "out" / s / "sample_weights.npy").sum() == pytest.approx(1.0)
        seen += ids
    assert sorted(seen) == list(range(36))
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["params"]["split"] == fr


def test_resplit_rejects_fractions_not_summing_to_one(tmp_path):
    with pytest.raises(ValueError, match="summing to 1"):
        resplit(_processed(tmp_path / "src"), tmp_path / "out", {"train": 0.6, "val": 0.3, "test": 0.3})
