"""Latency, throughput and /analyze benchmark of a running service (figures printed, never asserted).

    bentoml serve athlete-mm:latest --port 3000 &
    python -m serving.benchmark --url http://127.0.0.1:3000 --clip data/raw/synth/<athlete>/<clip> \
        [--video VIDEO.mp4 --video-frames 100] [--bundle DIR] [--n 200] [--seconds 60] [--concurrency 32] \
        [--out reports/serving_benchmark.json]

One run measures side by side, on the same 64-frame window (landmarks + IMU + GRF cut from a raw clip,
1.4 s so that 64 timeline samples at 50 Hz survive synchronisation):

* /recognize at concurrency 1, JSON lists vs compact base64 float32 arrays, with and without clock
  synchronisation: p50 / p95 / p99 ms and the request size (goal p50 <= 5 ms, p99 <= 20 ms);
* a bounded asyncio client at concurrency C for S seconds against /recognize_batch (one window per
  request; the server's adaptive batching groups concurrent requests) and against /recognize:
  errors, p50 / p95 / p99, windows per second (goal >= 1,000 at C = 32);
* with ``--video``: /analyze frames per second on the first N frames of a real video against
  MediaPipe alone on the same decoded frames (ingest.video's settings; goal >= 85 %);
* with ``--bundle``: in-process (no HTTP) request validation (JSON lists / base64), the preprocess
  stage's path (serving.windows -> preprocessing.clip.process_recording, sync on / off) with its
  per-step timings (sync, IMU, plates, landmarks, targets, windows) and the model call, each p50;
  ``--in-process-only`` runs just that (no server: ``--url`` unused).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def _p50(f, n: int) -> str:
    """"wall / CPU" p50 ms of ``f()`` over ``n`` calls (the CPU time of this thread: on a shared,
    overloaded machine the wall time mostly measures the waiting for a core)."""
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.thread_time()
        f()
        cpu.append(1e3 * (time.thread_time() - c))
        wall.append(1e3 * (time.perf_counter() - t))
    return f"{_pct(wall)['p50_ms']} / {_pct(cpu)['p50_ms']}"


def in_process(bundle_dir: str, clip: str, n: int) -> dict:
    """The service's per-request steps without HTTP, wall / CPU p50 ms over ``n`` calls: request validation
    (JSON lists / base64 float32, from the parsed body), the preprocessing (sync on / off) with the
    preprocess stage's own per-step timings (``process_streams``' ``timing``), and the model."""
    import torch

    from preprocessing.clip import process_recording
    from serving.bundle import load_bundle
    from serving.inference import run_model, to_recording
    from serving.schemas import RecognizeRequest
    from serving.windows import recording_windows, request_params, streams, warm_up

    torch.set_num_threads(1)
    b = load_bundle(bundle_dir)
    warm_up()
    out = {}
    for compact in (False, True):
        req = request_from_clip(clip, span=SPAN, compact=compact)
        out[f"validate_{'b64' if compact else 'json'}"] = _p50(lambda: RecognizeRequest.model_validate(req), n)
    for sync in (True, False):
        rec = to_recording(RecognizeRequest.model_validate({**req, "synchronise": sync}))
        w = recording_windows(rec, b)
        key = f"preprocess_{'sync' if sync else 'nosync'}"
        out[key] = _p50(lambda: recording_windows(rec, b), n)
        p = request_params(b.preprocess, sync)
        steps = [process_recording(streams(rec), p)["timing"] for _ in range(n)]
        out[key + "_steps"] = {k[:-2]: round(1e3 * float(np.median([s[k] for s in steps])), 2)
                               for k in ("sync_s", "imu_s", "grf_s", "landmarks_s", "targets_s", "windows_s")}
    out["model"] = _p50(lambda: run_model(b, [w]), n)
    return out


def mediapipe_alone(video: str, frames: int) -> dict:
    """MediaPipe Pose (ingest.video's settings) on the first ``frames`` decoded frames of ``video``,
    decoding excluded from the time: frames per second."""
    from mediapipe.python.solutions import pose as mp_pose

    from ingest.video import MODEL_COMPLEXITY, iter_frames, open_video

    cap, _ = open_video(video)
    try:
        rgb = [f for _, (_, f) in zip(range(frames), iter_frames(cap, 1280))]
    finally:
        cap.release()
    with mp_pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=True,
                      enable_segmentation=False, min_detection_confidence=0.5) as pose:
        t, c = time.perf_counter(), time.process_time()
        for f in rgb:
            pose.process(f)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    return {"frames": len(rgb), "seconds": round(wall, 2), "frames_per_s": round(len(rgb) / wall, 2),
            "cpu_s": round(cpu, 2)}


def analyze_fps(url: str, video: str, frames: int, headers: dict) -> dict:
    """One /analyze request on the first ``frames`` frames of ``video``: frames per second end to end
    (upload, MediaPipe, recognition, IK, moments, feedback) and the server's per-step timings."""
    import httpx

    with open(video, "rb") as fh:
        t = time.perf_counter()
        r = httpx.post(url + "/analyze", files={"video": fh}, headers=headers, timeout=1800,
                       data={"mass_kg": "70", "height_m": "1.72", "sex": "male", "max_frames": str(frames)})
        wall = time.perf_counter() - t
    if r.status_code != 200:
        raise RuntimeError(f"/analyze: HTTP {r.status_code} {r.text[:300]}")
    out = r.json()
    n = out["video"]["frames"]
    return {"frames": n, "seconds": round(wall, 2), "frames_per_s": round(n / wall, 2), "timings_s": out["timings_s"]}


def analyze_vs_mediapipe(url: str, video: str, frames: int, repeats: int, headers: dict) -> dict:
    """``repeats`` pairs, each MediaPipe alone then one /analyze, back to back (a shared machine's load
    drifts): per pair the ratio, and the pair with the median ratio as the figure (the first /analyze
    of a fresh server also pays its lazy imports)."""
    pairs = []
    for i in range(repeats):
        m = mediapipe_alone(video, frames)
        a = analyze_fps(url, video, frames, headers)
        pairs.append({"mediapipe_alone": m, "analyze": a, "ratio": round(a["frames_per_s"] / m["frames_per_s"], 3),
                      "load_average": [round(x, 2) for x in os.getloadavg()]})
        print(f"pair {i}", pairs[-1], flush=True)
    mid = sorted(pairs, key=lambda p: p["ratio"])[len(pairs) // 2]
    return {"mediapipe_alone": mid["mediapipe_alone"], "analyze": mid["analyze"], "analyze_pairs": pairs}


def _goal(name: str, value: float, goal: str) -> str:
    return f"  {name:<44} {value:>10}   goal {goal}"


def summary(res: dict) -> str:
    """The side-by-side figures against the issue's goals."""
    lines = ["", "athlete-mm serving benchmark (figures; goals from issue 10)"]
    for k in ("c1_json_sync", "c1_b64_sync", "c1_json_nosync", "c1_b64_nosync"):
        if k in res:
            lines.append(_goal(f"/recognize c=1 {k[3:]} p50 / p99 ms", f"{res[k]['p50_ms']} / {res[k]['p99_ms']}",
                               "<= 5 / <= 20") + f"   ({res[k]['bytes']} B)")
    for k in ("load_batch", "load_single"):
        if k in res:
            r = res[k]
            lines.append(_goal(f"{'/recognize_batch' if k == 'load_batch' else '/recognize'} c={r['concurrency']} "
                               f"{r['seconds']} s windows/s", r["windows_per_s"], ">= 1000")
                         + f"   errors {r['errors']}, p50/p95/p99 {r['p50_ms']}/{r['p95_ms']}/{r['p99_ms']} ms")
    if "analyze" in res:
        a, m = res["analyze"], res["mediapipe_alone"]
        lines.append(_goal(f"/analyze fps vs MediaPipe alone ({a['frames']} frames)",
                           f"{a['frames_per_s']} / {m['frames_per_s']}", ">= 85 %")
                     + f"   = {100 * a['frames_per_s'] / m['frames_per_s']:.0f} % (median of "
                       f"{len(res['analyze_pairs'])} pairs: {[p['ratio'] for p in res['analyze_pairs']]})")
        lines.append(f"  /analyze server steps (s): {a['timings_s']}")
        cpu = a["timings_s"].get("cpu_s") or {}
        if cpu:
            lines.append(f"  CPU s: MediaPipe alone {m.get('cpu_s')}; /analyze server process {cpu.get('server_process')}"
                         f" + IK process {cpu.get('ik_process')} (2 cores: overlapped when one is free)")
    if "in_process_p50_ms" in res:
        for k, v in res["in_process_p50_ms"].items():
            lines.append(f"  in-process p50 ms (wall / CPU) {k:<24} {v}")
    lines.append(f"  load average (1, 5, 15 min) at the start: {res.get('load_average')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--clip", help="a raw-layout clip directory with keypoints, imu and grf (the /recognize window)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--video", help="a real video for /analyze vs MediaPipe alone (optional)")
    ap.add_argument("--video-frames", type=int, default=100)
    ap.add_argument("--video-repeats", type=int, default=3, help="MediaPipe-alone / analyze pairs (median reported)")
    ap.add_argument("--analyze-only", action="store_true", help="only /analyze vs MediaPipe alone (needs --video)")
    ap.add_argument("--bundle", help="a bundle directory for the in-process breakdown (optional)")
    ap.add_argument("--n-in-process", type=int, default=50, help="calls per in-process step")
    ap.add_argument("--in-process-only", action="store_true",
                    help="only the in-process breakdown (needs --bundle; no server)")
    ap.add_argument("--api-key")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
    res = {"window": {"clip": a.clip, "span_s": SPAN}, "load_average": [round(x, 2) for x in os.getloadavg()]}
    if a.in_process_only and not a.bundle:
        ap.error("--in-process-only needs --bundle")
    if a.analyze_only and not a.video:
        ap.error("--analyze-only needs --video")
    if not a.clip and not a.analyze_only:
        ap.error("--clip is required (except with --analyze-only)")
    skip = a.in_process_only or a.analyze_only
    for compact in (False, True) if not skip else ():
        for sync in (True, False):
            q = {**request_from_clip(a.clip, span=SPAN, compact=compact), "synchronise": sync}
            body = json.dumps({"request": q}).encode()
            key = f"c1_{'b64' if compact else 'json'}_{'sync' if sync else 'nosync'}"
            res[key] = {**sequential(a.url, body, "/recognize", a.n, headers), "bytes": len(body)}
            print(key, res[key], flush=True)
    q = {} if skip else {**request_from_clip(a.clip, span=SPAN, compact=True), "synchronise": True}
    for key, path, body in (("load_batch", "/recognize_batch", {"requests": [q]}),
                            ("load_single", "/recognize", {"request": q})) if not skip else ():
        res[key] = asyncio.run(_load(a.url, json.dumps(body).encode(), path, a.seconds, a.concurrency, headers))
        print(key, res[key], flush=True)
    if a.video and not a.in_process_only:
        res.update(analyze_vs_mediapipe(a.url, a.video, a.video_frames, a.video_repeats, headers))
    if a.bundle and a.clip and not a.analyze_only:
        res["in_process_p50_ms"] = in_process(a.bundle, a.clip, a.n_in_process)
        print("in_process_p50_ms", res["in_process_p50_ms"])
    print(summary(res))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
