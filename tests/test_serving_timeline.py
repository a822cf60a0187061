"""/recognize's on-timeline path (serving/timeline.py) gives the general path's model inputs, other
requests take the general path, and serving/batching.py batches concurrent requests.

The streams come from the golden request of tests/test_serving_preprocess.py (a 1.4 s cut of a
default-profile pro clip: landmarks 60 fps, IMU 200 Hz, plates 1 kHz), written as a raw-layout clip
and put on the 50 Hz timeline by ``serving.client.timeline_request_from_clip``."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "data" / "serving_preprocess_golden.npz"
KEYS = ("landmarks", "imu", "grf", "modality_mask", "anthro")


def _decode(v):
    import base64

    return np.frombuffer(base64.b64decode(v["b64"]), "<f4").reshape(v["shape"]).astype(float)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(raw-layout clip dir of the golden request's streams, preprocess params)."""
    from preprocessing.params import PreprocessParams

    with np.load(GOLDEN) as z:
        req, params = json.loads(str(z["request"])), json.loads(str(z["params"]))
    d = tmp_path_factory.mktemp("clip")
    lm, imu, grf = req["landmarks"], req["imu"], req["grf"]
    np.savez(d / "keypoints.npz", time=_decode(lm["time"]), world=_decode(lm["world"]),
             visibility=_decode(lm["visibility"]), image=_decode(lm["image"]))
    np.savez(d / "imu.npz", time=_decode(imu["time"]), acc=_decode(imu["acc"]), gyro=_decode(imu["gyro"]))
    np.savez(d / "grf.npz", time=_decode(grf["time"]), force=_decode(grf["force"]), cop=_decode(grf["cop"]),
             free_moment=_decode(grf["free_moment"]))
    (d / "meta.json").write_text(json.dumps({"athlete": req["athlete"]}))
    return d, PreprocessParams.model_validate(params)


def _recording(req: dict):
    from serving.inference import to_recording
    from serving.schemas import RecognizeRequest

    return to_recording(RecognizeRequest.model_validate(req))


def _subset(req: dict, keep: tuple) -> dict:
    return {k: v for k, v in req.items() if k not in ("landmarks", "imu", "grf") or k in keep}


def test_timeline_path_equals_general_path(clip):
    """A batch of on-timeline requests (three cuts, all streams, two modality subsets, one with context
    for two windows): every request's model inputs, phases, start times and sync block equal the
    general path's for it alone."""
    from serving.client import timeline_request_from_clip
    from serving.timeline import on_timeline, timeline_windows
    from serving.windows import recording_windows

    d, p = clip
    bundle = SimpleNamespace(preprocess=p, scalers={})
    reqs = [timeline_request_from_clip(d, t0) for t0 in (0.0, 0.04, 0.08)]
    reqs += [_subset(reqs[0], ("imu",)), _subset(reqs[1], ("landmarks", "grf"))]
    reqs += [timeline_request_from_clip(d, 0.02, length=64 + 32 + 5)]   # with context: 2 windows (stride 32)
    recs = [_recording(r) for r in reqs]
    assert all(on_timeline(r, bundle) for r in recs)
    fast = timeline_windows(recs, bundle)
    for i, (rec, w) in enumerate(zip(recs, fast)):
        g = recording_windows(rec, bundle)
        for k in KEYS:
            assert w.batch[k].shape == g.batch[k].shape and w.batch[k].dtype == g.batch[k].dtype, (i, k)
            np.testing.assert_allclose(w.batch[k], g.batch[k], rtol=1e-6, atol=1e-6, err_msg=f"request {i}: {k}")
        np.testing.assert_array_equal(w.phase, g.phase)
        np.testing.assert_allclose(w.t_start_s, g.t_start_s, atol=1e-12)
        assert w.sync == g.sync and w.timeline_hz == g.timeline_hz
    assert len(fast[-1].t_start_s) == 2 and np.allclose(fast[-1].t_start_s, [0.0, 32 / 50])
    # the landmarks were really filtered and normalised (not passed through): trunk-length units
    assert np.abs(fast[0].batch["landmarks"][..., :3]).max() < 10 and fast[0].batch["modality_mask"].tolist() == [
        [False, True, True, True]]


def test_other_requests_take_the_general_path(clip):
    """Requests that are not on the timeline: another rate, fewer samples than a window, streams of
    different lengths, a clock to synchronise,
    a start between two timeline samples, explicit times off the grid, a gap (NaN)."""
    from serving.client import timeline_request_from_clip
    from serving.timeline import on_timeline

    d, p = clip
    bundle = SimpleNamespace(preprocess=p, scalers={})
    base = timeline_request_from_clip(d, 0.0, compact=False)
    assert on_timeline(_recording(base), bundle)
    cases = {
        "imu at 60 Hz": {**base, "imu": {**base["imu"], "rate_hz": 60.0}},
        "63 samples": timeline_request_from_clip(d, 0.0, length=63, compact=False),
        "plates one sample longer": {**base, "grf": timeline_request_from_clip(d, 0.0, length=65, compact=False)["grf"]},
        "plates start 0.01 s late": {**base, "grf": {**base["grf"], "t0_s": 0.01}},
        "all start off the grid": {**base, "imu": {**base["imu"], "t0_s": 0.01}, "grf": {**base["grf"], "t0_s": 0.01},
                                   "landmarks": {**base["landmarks"], "time": (0.01 + np.arange(64) / 50).tolist()}},
        "jittered imu times": {**base, "imu": {**base["imu"], "time": (np.arange(64) / 50 + 1e-4 * (np.arange(64) % 2)
                                                                       ).tolist()}},
    }
    lm = dict(base["landmarks"])
    world = np.array(lm["world"])
    world[10] = np.nan   # a frame without a detection
    cases["a frame without a pose"] = {**base, "landmarks": {**lm, "world": world.tolist()}}
    sync = dict(base, synchronise=True)
    sync["landmarks"] = {**lm, "image": np.full((64, 33, 3), 0.5).tolist(), "image_size": [96, 96]}
    cases["synchronise with image landmarks"] = sync
    for name, req in cases.items():
        assert not on_timeline(_recording(req), bundle), name


def test_recognize_many_routes_requests(clip, monkeypatch):
    """recognize_many sends the on-timeline requests of a batch through timeline_windows together and
    the others through the general path, keeping the order."""
    import serving.inference as inf
    from serving.client import timeline_request_from_clip

    d, p = clip
    bundle = SimpleNamespace(preprocess=p, scalers={}, modalities=("landmarks", "imu", "grf"))
    calls = {"timeline": [], "general": 0}
    real_tw, real_rw = inf.timeline_windows, inf.recording_windows

    def tw(recs, b):
        calls["timeline"].append(len(recs))
        return real_tw(recs, b)

    def rw(rec, b):
        calls["general"] += 1
        return real_rw(rec, b)

    monkeypatch.setattr(inf, "timeline_windows", tw)
    monkeypatch.setattr(inf, "recording_windows", rw)
    monkeypatch.setattr(inf, "run_model", lambda b, wins: [{"w": w} for w in wins])
    monkeypatch.setattr(inf, "_response", lambda b, r, w, o: o["w"])
    on = [timeline_request_from_clip(d, t0) for t0 in (0.0, 0.06)]
    off = {**on[0], "imu": {**on[0]["imu"], "rate_hz": 60.0}}
    from serving.schemas import RecognizeRequest

    wins = inf.recognize_many(bundle, [RecognizeRequest.model_validate(r) for r in (on[0], off, on[1])])
    assert calls == {"timeline": [2], "general": 1}
    assert [w.qc.get("path") for w in wins] == ["timeline", None, "timeline"]


def test_a_bad_on_timeline_request_leaves_the_others_on_the_timeline_path(clip, monkeypatch):
    """A request whose skeleton has zero size cannot be normalised: the batch's vectorised pass fails,
    the good requests are redone on the timeline path one by one and the bad one gets the general
    path's InputError naming the problem."""
    import serving.inference as inf
    from serving.client import timeline_request_from_clip
    from serving.schemas import RecognizeRequest

    d, p = clip
    bundle = SimpleNamespace(preprocess=p, scalers={}, modalities=("landmarks", "imu", "grf"))
    monkeypatch.setattr(inf, "run_model", lambda b, wins: [{"w": w} for w in wins])
    monkeypatch.setattr(inf, "_response", lambda b, r, w, o: o["w"])
    good = timeline_request_from_clip(d, 0.0)
    bad = {**good, "landmarks": {"rate_hz": 50.0, "world": np.zeros((64, 33, 3)).tolist()}}
    wins = inf.recognize_many(bundle, [RecognizeRequest.model_validate(good)] * 2)
    assert [w.qc.get("path") for w in wins] == ["timeline", "timeline"]
    calls = []
    real_rw = inf.recording_windows
    monkeypatch.setattr(inf, "recording_windows", lambda rec, b: calls.append(1) or real_rw(rec, b))
    with pytest.raises(inf.InputError, match=r"requests\[1\]: .*reference length"):
        inf.recognize_many(bundle, [RecognizeRequest.model_validate(q) for q in (good, bad, good)])
    assert calls == [1]   # only the bad one reached the general path


def test_batcher_groups_concurrent_requests_and_isolates_bad_ones():
    """The first request runs alone at once; the ones arriving meanwhile run as one batch (up to
    max_batch_size); a bad request's error goes to it alone."""
    from serving.batching import Batcher

    seen = []

    def run(items):
        seen.append(list(items))
        time.sleep(0.05)
        if "bad" in items:
            raise ValueError("bad item")
        return [f"ok {x}" for x in items]

    async def main():
        b = Batcher(run, max_batch_size=4)
        first = asyncio.create_task(b.submit(0))
        await asyncio.sleep(0.01)   # the first batch is running
        rest = [asyncio.create_task(b.submit(x)) for x in (1, 2, "bad", 3, 4, 5)]
        return await asyncio.gather(first, *rest, return_exceptions=True), b.batch_sizes

    out, sizes = asyncio.run(main())
    assert out[0] == "ok 0" and out[1:3] == ["ok 1", "ok 2"] and out[4:] == ["ok 3", "ok 4", "ok 5"]
    assert isinstance(out[3], ValueError) and str(out[3]) == "bad item"
    assert sizes == [1, 4, 2]   # then 1, 2, bad, 3 together; 4, 5 together
    assert seen[1] == [1, 2, "bad", 3] and [1] in seen and ["bad"] in seen   # re-run one by one
