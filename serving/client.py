"""Python client of the athlete-mm service, and requests built from a raw-layout clip.

    c = Client("http://127.0.0.1:3000", api_key=None)
    c.recognize(request_from_clip("data/raw/synth/athlete0000/clip00000"))
    c.recognize_npz(request_from_clip(...))         # the same, as one application/x-npz body
    c.torque_files("ik.mot", "grf.mot", mass_kg=72, height_m=1.78)
    c.model_info()

``timeline_request_from_clip`` makes a request already on the model's timeline (every stream at
``rate_hz`` on one clock, ``length`` samples, ``synchronise: false``: serving/timeline.py's path).
``request_from_clip`` reads keypoints.npz / imu.npz / grf.npz / meta.json (never meta.json's
``synthetic_truth``) and returns the /recognize JSON; ``compact=True`` sends the arrays as base64
float32 (serving/schemas.py ``EncodedArray``) instead of nested lists.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

__all__ = ["Client", "ServiceError", "request_from_clip", "timeline_request_from_clip", "encode"]


class ServiceError(RuntimeError):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status, self.body = status, body


def encode(a: np.ndarray, compact: bool):
    a = np.asarray(a, dtype=np.float64)
    if compact:
        return {"b64": base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode(), "shape": list(a.shape)}
    return a.tolist()


def _crop(t: np.ndarray, span: tuple[float, float] | None) -> np.ndarray:
    if span is None:
        return np.ones(len(t), bool)
    return (t >= span[0]) & (t < span[1])


def request_from_clip(clip_dir: str | Path, modalities=("landmarks", "imu", "grf"), span: tuple[float, float] | None = None,
                      compact: bool = False, top_k: int = 3) -> dict:
    """The /recognize request of a raw-layout clip; ``span`` = (start, stop) s crops every stream
    to that part of the video clock (stamps as recorded; the IMU / plate clocks are within
    +-0.1 s of it, the service synchronises them)."""
    d = Path(clip_dir)
    meta = json.loads((d / "meta.json").read_text())
    meta.pop("synthetic_truth", None)
    a = meta["athlete"]
    req: dict = {"athlete": {"mass_kg": a["mass_kg"], "height_m": a["height_m"], "sex": a.get("sex")}, "top_k": top_k}
    rates = meta["rates_hz"]
    if "landmarks" in modalities:
        with np.load(d / "keypoints.npz") as kp:
            k = _crop(kp["time"], span)
            t = kp["time"][k]
            req["landmarks"] = {"rate_hz": rates["video"], "time": encode(t - (span[0] if span else 0.0), compact),
                                "world": encode(kp["world"][k], compact),
                                "visibility": encode(kp["visibility"][k], compact),
                                "image": encode(kp["image"][k], compact),
                                "image_size": [meta["video"]["width"], meta["video"]["height"]]}
    t0 = span[0] if span else 0.0
    if "imu" in modalities and (d / "imu.npz").is_file():
        with np.load(d / "imu.npz") as imu:
            k = _crop(imu["time"], span)
            req["imu"] = {"rate_hz": rates["imu"], "time": encode(imu["time"][k] - t0, compact),
                          "acc": encode(imu["acc"][k], compact), "gyro": encode(imu["gyro"][k], compact)}
    if "grf" in modalities and (d / "grf.npz").is_file():
        with np.load(d / "grf.npz") as g:
            k = _crop(g["time"], span)
            req["grf"] = {"rate_hz": rates["grf"], "time": encode(g["time"][k] - t0, compact),
                          "force": encode(g["force"][k], compact), "cop": encode(g["cop"][k], compact),
                          "free_moment": encode(g["free_moment"][k], compact)}
    return req


def _on_grid(t: np.ndarray, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``x`` (N, ...) sampled at ``t`` linearly interpolated at ``grid`` from its complete rows (rows with
    a NaN, e.g. frames without a pose, are skipped)."""
    x2 = x.reshape(len(t), -1)
    ok = np.isfinite(x2).all(1)
    return np.stack([np.interp(grid, t[ok], x2[ok, c]) for c in range(x2.shape[1])], 1).reshape(
        (len(grid),) + x.shape[1:])


def timeline_request_from_clip(clip_dir: str | Path, t0_s: float, rate_hz: float = 50.0, length: int = 64,
                               compact: bool = True, top_k: int = 3, offsets_s: dict | None = None) -> dict:
    """A /recognize request on the model's timeline from a raw-layout clip, as a client whose streams
    share one clock and are sampled at the timeline rate would send it: landmarks, IMU and plates
    linearly interpolated at ``t0_s + k / rate_hz`` (k < length) of each stream's own clock (the
    clip's few-hundredths-of-a-second clock offsets are not corrected unless ``offsets_s`` gives them,
    ``{"imu": s, "grf": s}`` as the service's ``sync`` block reports them: a stream stamped t was
    measured at video time t + offset), no time arrays (the request's clock starts at its first
    sample: the answer's times are relative to ``t0_s``), ``synchronise: false``."""
    off = offsets_s or {}
    d = Path(clip_dir)
    meta = json.loads((d / "meta.json").read_text())
    a = meta["athlete"]
    grid = t0_s + np.arange(length) / rate_hz
    req: dict = {"athlete": {"mass_kg": a["mass_kg"], "height_m": a["height_m"], "sex": a.get("sex")},
                 "top_k": top_k, "synchronise": False}
    with np.load(d / "keypoints.npz") as kp:
        req["landmarks"] = {"rate_hz": rate_hz, "world": encode(_on_grid(kp["time"], kp["world"], grid), compact),
                            "visibility": encode(_on_grid(kp["time"], kp["visibility"], grid), compact)}
    if (d / "imu.npz").is_file():
        with np.load(d / "imu.npz") as imu:
            req["imu"] = {"rate_hz": rate_hz, **{k: encode(_on_grid(imu["time"], imu[k], grid - off.get("imu", 0.0)),
                                                                compact)
                                                               for k in ("acc", "gyro")}}
    if (d / "grf.npz").is_file():
        with np.load(d / "grf.npz") as g:
            req["grf"] = {"rate_hz": rate_hz, **{k: encode(_on_grid(g["time"], g[k], grid - off.get("grf", 0.0)),
                                                                compact)
                                                               for k in ("force", "cop", "free_moment")}}
    return req


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:3000", api_key: str | None = None, timeout: float = 120.0):
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def _check(self, r):
        if r.status_code >= 400:
            raise ServiceError(r.status_code, r.text)
        return r.json()

    def recognize(self, request: dict) -> dict:
        return self._check(self.http.post("/recognize", json={"request": request}))

    def recognize_npz(self, request: dict) -> dict:
        """/recognize with the binary body (serving/binary.py): the same answer, less to encode and parse."""
        from serving.binary import MEDIA_TYPE, npz_body

        return self._check(self.http.post("/binary/recognize", content=npz_body(request),
                                          headers={"content-type": MEDIA_TYPE}))

    def recognize_batch(self, requests: list[dict]) -> list[dict]:
        return self._check(self.http.post("/recognize_batch", json={"requests": requests}))

    def torque(self, request: dict) -> dict:
        return self._check(self.http.post("/torque", json={"request": request}))

    def torque_files(self, ik, grf=None, external_loads=None, **fields) -> dict:
        files = {"ik": open(ik, "rb")}
        if grf is not None:
            files["grf"] = open(grf, "rb")
        if external_loads is not None:
            files["external_loads"] = open(external_loads, "rb")
        try:
            return self._check(self.http.post("/torque_files", files=files,
                                              data={k: str(v) for k, v in fields.items()}))
        finally:
            for f in files.values():
                f.close()

    def model_info(self) -> dict:
        return self._check(self.http.get("/info/model"))
