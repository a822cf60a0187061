"""Latency and load benchmark of a running service (figures printed, never asserted).

    bentoml serve athlete-mm:latest --port 3000 &
    python -m serving.benchmark --url http://127.0.0.1:3000 --clip data/raw/synth/<athlete>/<clip> \
        [--n 200] [--seconds 60] [--concurrency 32] [--out reports/serving_benchmark.json]

One run measures side by side, on the same 64-frame window (landmarks + IMU + GRF cut from a raw clip,
1.4 s so that 64 timeline samples at 50 Hz survive synchronisation):

* /recognize at concurrency 1, JSON lists vs compact base64 arrays, with and without clock
  synchronisation: p50 / p95 / p99 ms;
* a bounded asyncio client at concurrency C for S seconds against /recognize_batch (one window per
  request; the server batches concurrent requests): errors, p50 / p95 / p99, windows per second;
* in-process (no HTTP): request validation, the preprocess stage's path (preprocessing.clip.process_clip
  through serving.windows) and the model call, each p50, to show where the time goes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from serving.client import request_from_clip

SPAN = (0.5, 1.9)


def _pct(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2)}


def sequential(url: str, body: bytes, path: str, n: int, headers: dict) -> dict:
    import httpx

    ms = []
    with httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json", **headers}) as c:
        for i in range(n + 5):
            t = time.perf_counter()
            r = c.post(path, content=body)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {r.status_code} {r.text[:300]}")
            if i >= 5:  # warm-up
                ms.append(1e3 * (time.perf_counter() - t))
    return _pct(ms)


async def _load(url: str, body: bytes, path: str, seconds: float, concurrency: int, headers: dict) -> dict:
    import httpx

    ms, errors, codes = [], 0, {}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"content-type": "application/json", **headers}) as c:
        async def worker():
            nonlocal errors
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    r = await c.post(path, content=body)
                    ok = r.status_code == 200
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                except httpx.HTTPError as exc:
                    ok = False
                    codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
                if ok:
                    ms.append(1e3 * (time.perf_counter() - t))
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {**_pct(ms or [float("nan")]), "errors": errors, "status": {str(k): v for k, v in codes.items()},
            "seconds": round(wall, 1), "concurrency": concurrency, "windows_per_s": round(len(ms) / wall, 1)}


def in_process(bundle_dir: str, req: dict, n: int) -> dict:
    import torch

    from serving.bundle import load_bundle
    from serving.inference import _run_model, to_recording
    from serving.schemas import RecognizeRequest
    from serving.windows import recording_windows

    torch.set_num_threads(1)
    b = load_bundle(bundle_dir)
    out = {}
    r = RecognizeRequest.model_validate(req)
    w = recording_windows(to_recording(r), b)
    for name, f in (("validate", lambda: RecognizeRequest.model_validate(req)),
                    ("preprocess", lambda: recording_windows(to_recording(r), b)),
                    ("model", lambda: _run_model(b, [w]))):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            ts.append(1e3 * (time.perf_counter() - t))
        out[name] = _pct(ts)["p50_ms"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--clip", required=True, help="a raw-layout clip directory with keypoints, imu and grf")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--bundle", help="a bundle directory for the in-process breakdown (optional)")
    ap.add_argument("--api-key")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
    res = {"window": {"clip": a.clip, "span_s": SPAN}}
    for compact in (False, True):
        for sync in (True, False):
            q = {**request_from_clip(a.clip, span=SPAN, compact=compact), "synchronise": sync}
            body = json.dumps({"request": q}).encode()
            key = f"c1_{'b64' if compact else 'json'}_{'sync' if sync else 'nosync'}"
            res[key] = {**sequential(a.url, body, "/recognize", a.n, headers), "bytes": len(body)}
            print(key, res[key], flush=True)
    q = {**request_from_clip(a.clip, span=SPAN, compact=True), "synchronise": True}
    body = json.dumps({"requests": [q]}).encode()
    res["load_batch"] = asyncio.run(_load(a.url, body, "/recognize_batch", a.seconds, a.concurrency, headers))
    print("load_batch", res["load_batch"], flush=True)
    if a.bundle:
        res["in_process_p50_ms"] = in_process(a.bundle, request_from_clip(a.clip, span=SPAN), 50)
        print("in_process_p50_ms", res["in_process_p50_ms"])
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
