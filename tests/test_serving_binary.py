"""The binary (npz) form of a /recognize request: the same request as the JSON forms after validation,
and bad bodies named (the service answers 400 with these messages)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from serving.binary import BinaryError, from_npz, npz_body
from serving.schemas import RecognizeRequest


def _request() -> dict:
    rng = np.random.default_rng(2)
    t = np.arange(40) / 60.0
    return {"athlete": {"mass_kg": 70.0, "height_m": 1.75, "sex": "female"}, "top_k": 2, "synchronise": False,
            "landmarks": {"rate_hz": 60.0, "time": t.tolist(), "world": rng.normal(size=(40, 33, 3)).tolist(),
                          "image_size": [640, 480]},
            "imu": {"rate_hz": 200.0, "t0_s": 0.05, "acc": rng.normal(size=(130, 6, 3)).tolist(),
                    "gyro": rng.normal(size=(130, 6, 3)).tolist()}}


def test_npz_request_validates_to_the_json_request_arrays():
    q = _request()
    a = RecognizeRequest.model_validate(q)
    b = RecognizeRequest.model_validate(from_npz(npz_body(q)))
    for x, y in zip(a.landmarks.arrays()[:2] + a.imu.arrays(), b.landmarks.arrays()[:2] + b.imu.arrays()):
        # the npz carries float32, as the compact JSON form: equal to float32 rounding
        np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6)
        assert not np.array_equal(y, np.zeros_like(y))
    assert (b.top_k, b.synchronise, b.imu.t0_s, b.landmarks.image_size) == (2, False, 0.05, [640, 480])
    assert b.grf is None


def test_npz_request_equals_the_compact_json_request_bit_for_bit():
    from serving.client import encode

    q = _request()
    compact = {**q, "landmarks": {**q["landmarks"], "world": encode(np.array(q["landmarks"]["world"]), True)},
               "imu": {**q["imu"], "acc": encode(np.array(q["imu"]["acc"]), True),
                       "gyro": encode(np.array(q["imu"]["gyro"]), True)}}
    a = RecognizeRequest.model_validate(compact)
    b = RecognizeRequest.model_validate(from_npz(npz_body(compact)))
    for x, y in zip(a.imu.arrays() + a.landmarks.arrays()[:1], b.imu.arrays() + b.landmarks.arrays()[:1]):
        np.testing.assert_array_equal(x, y)


def test_bad_bodies_are_named():
    with pytest.raises(BinaryError, match="not an uncompressed numpy .npz"):
        from_npz(b"not a zip file")
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(3))
    with pytest.raises(BinaryError, match="no 'request' entry"):
        from_npz(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, request=np.array('{"athlete": {}}'), **{"video.frames": np.zeros(3)})
    with pytest.raises(BinaryError, match="video.frames: unknown array"):
        from_npz(buf.getvalue())


def test_npz_arrays_get_the_json_forms_validation():
    q = _request()
    q["imu"]["acc"] = np.random.default_rng(0).normal(size=(130, 5, 3)).tolist()   # 5 sensors, not 6
    with pytest.raises(ValueError, match=r"imu.acc: shape \[130, 5, 3\]"):
        RecognizeRequest.model_validate(from_npz(npz_body(q)))
    q = _request()
    bad = np.array(q["landmarks"]["world"])
    bad[3, 4, 1] = np.inf
    q["landmarks"]["world"] = bad.tolist()
    with pytest.raises(ValueError, match="landmarks.world: non-finite value"):
        RecognizeRequest.model_validate(from_npz(npz_body(q)))
    with pytest.raises(ValueError):   # numpy arrays never come from JSON: a JSON request cannot smuggle one
        RecognizeRequest.model_validate_json('{"athlete": {"mass_kg": 70, "height_m": 1.7}, '
                                             '"imu": {"rate_hz": 200, "acc": "x", "gyro": "y"}}')
