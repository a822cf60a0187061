"""evaluation.nuisance_leak on a small generated set: it passes, and it fails once a class-dependent
nuisance is injected into the same set (so the check can fail)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from evaluation.nuisance_leak import LeakCheckError, leak_margin, leak_report, main
from stages.generate import GenerateParams, VideoParams, generate, load_params


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    _, p = load_params()
    small = p.model_copy(update={"n_clips": 48, "n_athletes": 8, "duration_s": (2.0, 2.2), "workers": 1,
                                 "video": VideoParams(width=32, height=32)})
    GenerateParams.model_validate(small.model_dump())
    out = tmp_path_factory.mktemp("raw")
    generate(small, out_root=out, progress=False)
    return out / small.dataset


def _inject(raw, tmp_path, key, value_of):
    dst = tmp_path / "leaky"
    shutil.copytree(raw, dst)
    rng = np.random.default_rng(0)
    for m in dst.glob("*/*/meta.json"):
        meta = json.loads(m.read_text())
        node = meta
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        node[last] = value_of(meta, rng)
        m.write_text(json.dumps(meta))
    return dst


def test_generated_set_has_no_nuisance_leak(raw):
    rep = leak_report(raw)
    assert rep["n_clips"] == 48 and rep["n_classes"] == 12 and rep["n_athletes"] == 8
    assert rep["passed"], rep
    assert main([str(raw)]) == 0


def test_class_dependent_camera_azimuth_is_caught(raw, tmp_path):
    leaky = _inject(raw, tmp_path, "video.camera.azimuth_deg",
                    lambda meta, rng: float((30.0 * meta["action_index"] + rng.uniform(0, 15)) % 360))
    rep = leak_report(leaky)
    assert not rep["passed"] and rep["accuracy"] > rep["threshold"], rep
    assert main([str(leaky)]) == 1


def test_class_dependent_duration_is_caught(raw, tmp_path):
    leaky = _inject(raw, tmp_path, "duration_s",
                    lambda meta, rng: 3.0 + 0.2 * meta["action_index"] + rng.uniform(0, 0.05))
    assert not leak_report(leaky)["passed"]


def test_margin_is_the_binomial_bound():
    # 1,200 balanced clips of 12 classes: z_0.99 * sqrt(p (1 - p) / n) = 0.0186 -> min_margin 0.02
    assert leak_margin(1 / 12, 1200) == pytest.approx(0.02)
    assert leak_margin(1 / 12, 24, min_margin=0.0) == pytest.approx(2.3263 * np.sqrt((1 / 12) * (11 / 12) / 24),
                                                                    rel=1e-3)


def test_missing_viewpoint_field_is_named(raw, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(raw, old)
    m = sorted(old.glob("*/*/meta.json"))[0]
    meta = json.loads(m.read_text())
    del meta["video"]["camera"]["azimuth_deg"]
    m.write_text(json.dumps(meta))
    with pytest.raises(LeakCheckError, match="video.camera.azimuth_deg"):
        leak_report(old)
    assert main([str(old)]) == 2
