"""The service's in-memory preprocessing equals the preprocess stage's file path, and the speed-ups
of the shared library (sigproc/, preprocessing/) left the numbers unchanged.

``tests/data/serving_preprocess_golden.npz`` holds one /recognize request (a 1.4 s landmarks + IMU +
GRF window cut from a default-profile pro clip, the benchmark's window) and the windows the
implementation before the speed-ups (main at 16c55aa: temporary clip files + ``process_clip``) made
of it, with clock synchronisation on and off and for the IMU alone. Regenerate (only when the
preprocessing is meant to change) with ``python -m tests.test_serving_preprocess CLIP_DIR DATASET_JSON``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "data" / "serving_preprocess_golden.npz"
CASES = {"sync": {"synchronise": True}, "nosync": {"synchronise": False}, "imu_only": {"synchronise": True}}
KEYS = ("landmarks", "imu", "grf", "modality_mask", "phase", "t_start_s")


def _request(base: dict, case: str) -> dict:
    q = {**base, **CASES[case]}
    if case == "imu_only":
        q = {k: v for k, v in q.items() if k not in ("landmarks", "grf")}
    return q


def _windows(req: dict, params):
    from serving.inference import to_recording
    from serving.schemas import RecognizeRequest
    from serving.windows import recording_windows

    bundle = SimpleNamespace(preprocess=params, scalers={})   # no scalers: the raw preprocessed windows
    w = recording_windows(to_recording(RecognizeRequest.model_validate(req)), bundle)
    out = {k: w.batch[k] for k in ("landmarks", "imu", "grf", "modality_mask")}
    out.update(phase=w.phase, t_start_s=w.t_start_s)
    return out, w.sync


def write_golden(clip_dir: str, dataset_json: str) -> None:
    from preprocessing.params import PreprocessParams
    from serving.benchmark import SPAN
    from serving.client import request_from_clip

    params = json.loads(Path(dataset_json).read_text())["params"]
    p = PreprocessParams.model_validate(params)
    base = request_from_clip(clip_dir, span=SPAN, compact=True)
    data = {"request": np.array(json.dumps(base)), "params": np.array(json.dumps(params))}
    for case in CASES:
        out, sync = _windows(_request(base, case), p)
        data.update({f"{case}/{k}": v for k, v in out.items()})
        data[f"{case}/sync"] = np.array(json.dumps(sync, default=float))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **data)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


@pytest.fixture(scope="module")
def golden():
    from preprocessing.params import PreprocessParams

    with np.load(GOLDEN) as z:
        g = {k: z[k] for k in z.files}
    return g, json.loads(str(g["request"])), PreprocessParams.model_validate(json.loads(str(g["params"])))


@pytest.mark.parametrize("case", list(CASES))
def test_service_windows_equal_the_implementation_before_the_speed_ups(golden, case):
    g, base, p = golden
    out, sync = _windows(_request(base, case), p)
    for k in KEYS:
        want = g[f"{case}/{k}"]
        assert out[k].shape == want.shape and out[k].dtype == want.dtype, (case, k, out[k].shape, want.shape)
        np.testing.assert_allclose(out[k], want, rtol=1e-10, atol=1e-10, err_msg=f"{case}: {k}")
    want_sync = json.loads(str(g[f"{case}/sync"]))
    for stream, s in want_sync.items():
        if isinstance(s, dict) and "offset_s" in s:
            assert sync[stream]["offset_s"] == pytest.approx(s["offset_s"], abs=1e-10), (case, stream)


if __name__ == "__main__":
    write_golden(*sys.argv[1:3])


def test_iqr_outliers_fast_path_gives_the_nan_aware_quartiles():
    """Without NaN, sigproc.filters.iqr_outliers takes np.percentile; the mask equals the one from
    np.nanpercentile's fences, with and without NaN, along either axis."""
    from sigproc.filters import iqr_outliers

    rng = np.random.default_rng(3)
    x = rng.standard_t(2, size=(8, 40, 12))
    for data in (x, np.where(rng.random(x.shape) < 0.1, np.nan, x)):
        for axis in (0, 1):
            q1, q3 = np.nanpercentile(data, [25, 75], axis=axis, keepdims=True)
            with np.errstate(invalid="ignore"):
                want = (data < q1 - 1.5 * (q3 - q1)) | (data > q3 + 1.5 * (q3 - q1))
            got = iqr_outliers(data, 1.5, axis=axis)
            assert got.any() and np.array_equal(got, want)
