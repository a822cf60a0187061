"""The binary form of a /recognize request: one ``application/x-npz`` body instead of JSON.

    body = npz_body(request)        # client: a /recognize request dict (nested lists, {b64, shape} or numpy)
    request = from_npz(body)        # server: the same dict with numpy arrays, for RecognizeRequest

The body is an uncompressed ``numpy.savez`` archive: the entry ``request`` holds the request's JSON
without its arrays (athlete, rates, ``synchronise``, ``top_k``, ...) and every array is an entry
named by its place in the request, ``<stream>.<field>`` (``landmarks.world``, ``imu.acc``,
``grf.time``, ...), float32 as the compact JSON form sends them. No base64 and no JSON text to
scan: the server reads the arrays straight from the body. Validation is the JSON form's
(``serving.schemas.RecognizeRequest``): a wrong shape, NaN or rate is a 400 naming the field.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np

__all__ = ["MEDIA_TYPE", "BinaryError", "npz_body", "from_npz"]

MEDIA_TYPE = "application/x-npz"


class BinaryError(ValueError):
    """The body is not a readable request archive (the service answers 400 with this message)."""


def _as_array(value) -> np.ndarray:
    if isinstance(value, dict):   # the compact JSON form
        return np.frombuffer(base64.b64decode(value["b64"]), "<f4").reshape(value["shape"])
    return np.asarray(value, dtype="<f4")


def npz_body(request: dict) -> bytes:
    """A /recognize request (as ``serving.client.request_from_clip`` builds it) as the npz body."""
    rest, arrays = {}, {}
    for key, value in request.items():
        if isinstance(value, dict) and key in ("landmarks", "imu", "grf"):
            rest[key] = {}
            for field, v in value.items():
                if field in ("rate_hz", "t0_s", "image_size"):
                    rest[key][field] = v
                elif v is not None:
                    arrays[f"{key}.{field}"] = np.ascontiguousarray(_as_array(v), dtype="<f4")
        else:
            rest[key] = value
    buf = io.BytesIO()
    np.savez(buf, request=np.array(json.dumps(rest)), **arrays)
    return buf.getvalue()


def from_npz(body: bytes) -> dict:
    """The request dict of an npz body (arrays as numpy); BinaryError naming the problem otherwise."""
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as z:
            entries = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BinaryError(f"body: not an uncompressed numpy .npz archive ({type(exc).__name__}: {exc})") from None
    if "request" not in entries or entries["request"].dtype.kind != "U" or entries["request"].ndim != 0:
        raise BinaryError(f"body: no 'request' entry with the request's JSON text (entries: {sorted(entries)[:12]})")
    try:
        req = json.loads(str(entries.pop("request")))
    except json.JSONDecodeError as exc:
        raise BinaryError(f"request: not JSON ({exc})") from None
    if not isinstance(req, dict):
        raise BinaryError("request: expected a JSON object")
    for name, arr in entries.items():
        stream, _, field = name.partition(".")
        if stream not in ("landmarks", "imu", "grf") or not field:
            raise BinaryError(f"{name}: unknown array (expected <landmarks|imu|grf>.<field>, e.g. landmarks.world)")
        part = req.setdefault(stream, {})
        if not isinstance(part, dict):
            raise BinaryError(f"request.{stream}: expected an object")
        if field in part:
            raise BinaryError(f"{name}: given both in the request JSON and as an array")
        part[field] = arr
    return req
