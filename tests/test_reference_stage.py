"""The reference stage's IK on worker processes (evaluation.feedback.fill_ik_cache): the same angles
as one process, in clip order, and a cache keyed on the clip's inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomech.io import write_manifest
from biomech.synth import ClipSpec, write_clip
from evaluation.feedback import (FeedbackParams, build_references, fill_ik_cache, ik_cache_file,
                                 reference_trajectories, split_clips)
from tests.preprocess_fixtures import CFG, PRO


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    rows = []
    for i, action in enumerate(("squat", "squat", "countermovement_jump")):
        spec = ClipSpec(clip_id=f"clip{i:05d}", athlete_id="athlete0000", sex="female", height=1.7, mass=62.0,
                        action=action, fault="none", preset="pro", duration=2.0, seed=40 + i)
        rows += write_clip(spec, PRO, CFG, raw)["rows"]
    write_manifest(raw, rows)
    processed = tmp_path_factory.mktemp("processed")
    (processed / "split.json").write_text(json.dumps({"athletes": {"train": ["athlete0000"]}}))
    return raw, processed


def test_two_workers_give_the_angles_of_one_and_the_same_reference(dataset, tmp_path):
    raw, processed = dataset
    clips = split_clips(raw, processed, "train")
    params = {w: FeedbackParams(raw_dir=str(raw), processed_dir=str(processed), cache_dir=str(tmp_path / f"c{w}"),
                                reference=str(tmp_path / f"ref{w}.npz"), workers=w) for w in (1, 2)}
    assert fill_ik_cache(clips, params[1].cache_dir, 1) == 3
    assert fill_ik_cache(clips, params[2].cache_dir, 2) == 3
    assert fill_ik_cache(clips, params[2].cache_dir, 2) == 0          # all cached now
    for c in clips:
        with np.load(ik_cache_file(c, tmp_path / "c1")) as a, np.load(ik_cache_file(c, tmp_path / "c2")) as b:
            assert a.files == b.files == ["time", "deg"]
            assert all(np.array_equal(a[k], b[k]) for k in a.files)
    t1, t2 = (reference_trajectories(params[w])[0] for w in (1, 2))
    assert sorted(t1) == ["countermovement_jump", "squat"] and [len(t1[a]) for a in sorted(t1)] == [1, 2]
    assert all(np.array_equal(x, y) for a in t1 for x, y in zip(t1[a], t2[a]))   # same clips, same order
    assert build_references(params[1]) == build_references(params[2])
    with np.load(params[1].reference) as r1, np.load(params[2].reference) as r2:
        assert r1.files == r2.files and all(np.array_equal(r1[k], r2[k]) for k in r1.files)


def test_the_cache_entry_follows_the_clips_inputs(dataset, tmp_path):
    raw, processed = dataset
    clip = split_clips(raw, processed, "train")[0]
    before = ik_cache_file(clip, tmp_path)
    assert before.parent == tmp_path / "athlete0000" and before.name.startswith("clip00000-")
    meta = clip["dir"] / "meta.json"
    text = meta.read_text()
    try:
        meta.write_text(text.replace('"height_m"', '"height_m" ', 1))   # other bytes: a regenerated clip
        assert ik_cache_file(clip, tmp_path) != before
    finally:
        meta.write_text(text)
    assert ik_cache_file(clip, tmp_path) == before
