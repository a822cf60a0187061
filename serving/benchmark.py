"""Latency, throughput and /analyze benchmark of a running service (figures printed, never asserted).

    bentoml serve athlete-mm:latest --port 3000 &
    python -m serving.benchmark --url http://127.0.0.1:3000 --clip data/raw/synth/<athlete>/<clip> \
        [--before-url http://127.0.0.1:3001] [--sequence-seconds 60] \
        [--video VIDEO.mp4 --video-frames 100] [--bundle DIR] [--n 200] [--seconds 60] [--concurrency 32] \
        [--out reports/serving_benchmark.json]

One run measures, with ``--before-url`` on two servers back to back (figure by figure: first the
old code's, then the new one's, so both see the same machine load; the 1-minute load average at
the start of each figure is printed beside it):

* /recognize at concurrency 1 on one 64-frame window (landmarks + IMU + GRF cut from a raw clip,
  1.4 s so that 64 timeline samples at 50 Hz survive synchronisation), JSON lists vs compact base64
  float32 arrays, with and without clock synchronisation: p50 / p95 / p99 ms and the request size
  (goal p50 <= 5 ms, p99 <= 20 ms);
* /recognize at concurrency 1 on one sequence request (``--sequence-seconds`` of streams: the
  clips of the window's athlete back to back, ``sequence_request``; preprocessed once, all its
  windows in one model call);
* a bounded asyncio client at concurrency C for S seconds: /recognize_batch and /recognize with one
  window a request (the server's adaptive batching groups concurrent /recognize_batch requests),
  and /recognize with one sequence a request: errors, p50 / p95 / p99, requests and windows per
  second (goal >= 1,000 windows/s at C = 32; labelled by request form);
* with ``--video``: /analyze frames per second on the first N frames of a real video against
  MediaPipe alone on the same decoded frames (ingest.video's settings; goal >= 85 %), ``--video-repeats``
  pairs back to back (the median pair reported), with the CPU seconds of each side;
  ``--analyze-only`` runs just that (no ``--clip`` needed);
* a window already on the model's timeline (``serving.client.timeline_request_from_clip``: the same
  streams at 50 Hz on one clock, 64 samples, ``synchronise: false``; serving/timeline.py's path): /recognize
  c=1 (base64, JSON lists), /binary/recognize c=1 (npz), and at concurrency C /recognize and
  /binary/recognize (batched in the server, serving/batching.py), /recognize_batch with one window a
  request (BentoML's adaptive batching) and with 32 windows a request (labelled apart);
  ``--timeline-only`` measures just these;
* with ``--bundle``: in-process (no HTTP) request validation (JSON lists / base64), the preprocess
  stage's path (serving.windows -> preprocessing.clip.process_recording, sync on / off) with its
  per-step timings (sync, IMU, plates, landmarks, targets, windows), the model call and the
  response, each p50, and a cProfile of whole requests (CPU ms per request of each library step,
  ``PROFILED``: where the time goes); ``--in-process-only`` runs just that (no server: ``--url`` unused).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np

from serving.client import request_from_clip, timeline_request_from_clip

SPAN = (0.5, 1.9)
TIMELINE_T0 = 0.6   # the on-timeline window: 64 samples at 50 Hz from 0.6 s of the clip (inside SPAN)


def sequence_request(clip: str, seconds: float, gap_s: float = 0.5) -> tuple[dict, list[str]]:
    """A /recognize request of one long recording of about ``seconds`` (base64 float32, clock
    synchronisation on): the clips of ``clip``'s athlete that have all three streams (``clip`` first,
    then the others in name order, cycled when they are too few), whole, back to back, each clip's
    streams shifted by the running video time plus ``gap_s`` (so that no stamps overlap: every clip
    keeps its own IMU / plate clock offset, within +-0.15 s). Returns (request, the clips used)."""
    from serving.client import encode

    first = Path(clip)
    missing = [f for f in ("keypoints.npz", "imu.npz", "grf.npz", "meta.json") if not (first / f).is_file()]
    if missing:
        raise SystemExit(f"--clip {clip}: no {', '.join(missing)} (the benchmark needs a clip with landmarks, "
                         "IMU and plates: a 'pro' clip)")
    others = sorted(d for d in first.parent.iterdir() if d != first and (d / "grf.npz").is_file()
                    and (d / "imu.npz").is_file() and (d / "keypoints.npz").is_file())
    order = [first] + others
    meta = json.loads((first / "meta.json").read_text())
    rates = meta["rates_hz"]
    parts: dict[str, list] = {}
    used, t_run, i = [], 0.0, 0
    while t_run < seconds:
        d = order[i % len(order)]
        i += 1
        with np.load(d / "keypoints.npz") as kp, np.load(d / "imu.npz") as imu, np.load(d / "grf.npz") as g:
            for name, z, keys in (("kp", kp, ("world", "visibility", "image")), ("imu", imu, ("acc", "gyro")),
                                  ("grf", g, ("force", "cop", "free_moment"))):
                parts.setdefault(f"{name}.time", []).append(z["time"] + t_run)
                for k in keys:
                    parts.setdefault(f"{name}.{k}", []).append(z[k])
            t_run += float(kp["time"][-1]) + 1.0 / rates["video"] + gap_s
        used.append(f"{d.parent.name}/{d.name}")
    c = {k: encode(np.concatenate(v), compact=True) for k, v in parts.items()}
    a = meta["athlete"]
    req = {"athlete": {"mass_kg": a["mass_kg"], "height_m": a["height_m"], "sex": a.get("sex")}, "top_k": 3,
           "synchronise": True,
           "landmarks": {"rate_hz": rates["video"], "time": c["kp.time"], "world": c["kp.world"],
                         "visibility": c["kp.visibility"], "image": c["kp.image"],
                         "image_size": [meta["video"]["width"], meta["video"]["height"]]},
           "imu": {"rate_hz": rates["imu"], "time": c["imu.time"], "acc": c["imu.acc"], "gyro": c["imu.gyro"]},
           "grf": {"rate_hz": rates["grf"], "time": c["grf.time"], "force": c["grf.force"], "cop": c["grf.cop"],
                   "free_moment": c["grf.free_moment"]}}
    return req, used


def _pct(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2)}


def sequential(url: str, body: bytes, path: str, n: int, headers: dict, ctype: str = "application/json") -> dict:
    import httpx

    ms = []
    with httpx.Client(base_url=url, timeout=60, headers={"content-type": ctype, **headers}) as c:
        for i in range(n + 5):
            t = time.perf_counter()
            r = c.post(path, content=body)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {r.status_code} {r.text[:300]}")
            if i >= 5:  # warm-up
                ms.append(1e3 * (time.perf_counter() - t))
    return _pct(ms)


async def _load(url: str, body: bytes, path: str, seconds: float, concurrency: int, headers: dict,
                windows_per_request: int = 1, ctype: str = "application/json") -> dict:
    import httpx

    ms, errors, codes = [], 0, {}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"content-type": ctype, **headers}) as c:
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
            "seconds": round(wall, 1), "concurrency": concurrency, "requests_per_s": round(len(ms) / wall, 2),
            "windows_per_request": windows_per_request, "windows_per_s": round(len(ms) * windows_per_request / wall, 1)}


def windows_of(url: str, path: str, body: bytes, headers: dict) -> int:
    """Windows in the answer to one request (a /recognize_batch answer: summed over its requests)."""
    import httpx

    r = httpx.post(url + path, content=body, headers={"content-type": "application/json", **headers}, timeout=120)
    if r.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {r.status_code} {r.text[:300]}")
    out = r.json()
    return sum(len(o["windows"]) for o in (out if isinstance(out, list) else [out]))


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
    from serving.inference import _response, run_model, to_recording
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
    r = RecognizeRequest.model_validate(req)
    o = run_model(b, [w])[0]
    out["response"] = _p50(lambda: _response(b, r, w, o).model_dump_json(), n)
    out["profile_sync"] = profile_request(b, {**req, "synchronise": True}, n)
    out.update(in_process_timeline(b, clip, n))
    return out


def timeline_skew(bundle_dir: str, raw_dir: str, athletes: list[str], max_clips: int) -> dict:
    """Serving skew of one-window on-timeline requests: for up to ``max_clips`` clips (landmarks + IMU +
    plates) of ``athletes``, the whole clip through the general path (sync on: every window as the
    preprocess stage cuts it from the filtered clip) against each of its windows sent alone on the
    timeline (the raw streams linearly interpolated at the window's 50 Hz times on the video clock,
    the clip's recovered offsets applied, serving/timeline.py's path), each window sent with
    ``window.stride`` samples of context before and after it, and the whole clip
    sent on the timeline in one request (the same windows, filtered with their context): the share
    of windows whose predicted action agrees, the mean and 95th percentile of the largest
    class-probability difference, and each one's accuracy against the clip's action."""
    import torch

    from serving.bundle import load_bundle
    from serving.inference import recognize_many
    from serving.schemas import RecognizeRequest
    from serving.windows import warm_up

    torch.set_num_threads(1)
    b = load_bundle(bundle_dir)
    warm_up()
    clips = [d for a in athletes for d in sorted((Path(raw_dir) / a).glob("clip*"))
             if all((d / f).is_file() for f in ("keypoints.npz", "imu.npz", "grf.npz"))][:max_clips]
    L, stride = int(b.meta["window_length"]), int(b.meta["window_stride"])
    rows = {"one_window": [], "one_window_with_context": [], "whole_clip_on_timeline": []}
    # (agree, max prob diff, right) per window; with context: the window with `stride` samples before
    # and after it, one request of L + 2 stride samples whose middle window is the one compared
    right_clip = []
    for d in clips:
        action = json.loads((d / "meta.json").read_text())["action"]
        whole = recognize_many(b, [RecognizeRequest.model_validate(request_from_clip(d, compact=True))])[0]
        off = {k: v["offset_s"] for k, v in whole.sync.items()}
        t0 = whole.windows[0].t_start_s
        reqs = [RecognizeRequest.model_validate(timeline_request_from_clip(d, w.t_start_s, offsets_s=off))
                for w in whole.windows]
        ctx = RecognizeRequest.model_validate(timeline_request_from_clip(
            d, t0, length=(len(whole.windows) - 1) * stride + L, offsets_s=off))
        padded = [RecognizeRequest.model_validate(timeline_request_from_clip(
            d, w.t_start_s - stride / float(b.meta["timeline_hz"]), length=L + 2 * stride, offsets_s=off))
            for w in whole.windows]
        served = {"one_window": [o.windows[0] for o in recognize_many(b, reqs)],
                  "one_window_with_context": [o.windows[1] for o in recognize_many(b, padded)],
                  "whole_clip_on_timeline": recognize_many(b, [ctx])[0].windows}
        for key, ws in served.items():
            for w, ow in zip(whole.windows, ws):
                rows[key].append((w.action == ow.action,
                                  max(abs(w.probabilities[c] - ow.probabilities[c]) for c in w.probabilities),
                                  ow.action == action))
        right_clip += [w.action == action for w in whole.windows]
    out = {"clips": len(clips), "windows": len(right_clip),
           "accuracy_whole_clip_general_path": round(float(np.mean(right_clip)), 4)}
    for key, r in rows.items():
        a = np.asarray(r, dtype=float)
        out[key] = {"action_agreement": round(float(a[:, 0].mean()), 4),
                    "max_prob_diff_mean": round(float(a[:, 1].mean()), 4),
                    "max_prob_diff_p95": round(float(np.percentile(a[:, 1], 95)), 4),
                    "accuracy": round(float(a[:, 2].mean()), 4)}
    return out


def in_process_timeline_only(bundle_dir: str, clip: str, n: int) -> dict:
    import torch

    from serving.bundle import load_bundle
    from serving.windows import warm_up

    torch.set_num_threads(1)
    b = load_bundle(bundle_dir)
    warm_up()
    return in_process_timeline(b, clip, n)


def in_process_timeline(b, clip: str, n: int) -> dict:
    """The on-timeline window's steps in-process, wall / CPU p50 ms per window: validation, the
    general path vs serving/timeline.py's on the same request, the timeline path for a batch of 32,
    the model for 1 and 32 windows, and the whole ``recognize_many`` (validated requests -> response
    objects) for 1 and 32 requests."""
    from serving.inference import recognize_many, run_model, to_recording
    from serving.schemas import RecognizeRequest
    from serving.timeline import timeline_windows
    from serving.windows import recording_windows

    req = timeline_request_from_clip(clip, TIMELINE_T0)
    r = RecognizeRequest.model_validate(req)
    rec = to_recording(r)
    w1 = timeline_windows([rec], b)
    w32 = timeline_windows([rec] * 32, b)

    def per32(f):
        wall, cpu = _p50(f, max(5, n // 4)).split(" / ")
        return f"{round(float(wall) / 32, 2)} / {round(float(cpu) / 32, 2)}"

    return {"timeline_validate_b64": _p50(lambda: RecognizeRequest.model_validate(req), n),
            "timeline_general_path": _p50(lambda: recording_windows(rec, b), n),
            "timeline_path_batch1": _p50(lambda: timeline_windows([rec], b), n),
            "timeline_path_batch32_per_window": per32(lambda: timeline_windows([rec] * 32, b)),
            "timeline_model_batch1": _p50(lambda: run_model(b, w1), n),
            "timeline_model_batch32_per_window": per32(lambda: run_model(b, w32)),
            "timeline_recognize_many_1": _p50(lambda: recognize_many(b, [r]), n),
            "timeline_recognize_many_32_per_window": per32(lambda: recognize_many(b, [r] * 32))}


PROFILED = (   # (label, module path suffix, function): where a /recognize request's CPU goes
    ("validation (pydantic, base64)", "pydantic/main.py", "model_validate"),
    ("preprocessing (process_recording)", "preprocessing/clip.py", "process_recording"),
    ("  clock offsets (recover_offsets)", "preprocessing/sync.py", "recover_offsets"),
    ("    cross-correlation", "sigproc/sync.py", "estimate_offset_xcorr"),
    ("    DTW refinement", "sigproc/sync.py", "refine_offset_dtw"),
    ("  cubic spline fits (Resampler)", "sigproc/gaps.py", "__init__"),
    ("  spline evaluations", "sigproc/gaps.py", "__call__"),
    ("  Butterworth (butter_lowpass)", "sigproc/filters.py", "butter_lowpass"),
    ("  IQR outliers (block_iqr_outliers)", "preprocessing/clip.py", "block_iqr_outliers"),
    ("  outlier fill (_fill_nan)", "preprocessing/clip.py", "_fill_nan"),
    ("  attitude (complementary)", "sigproc/attitude.py", "complementary_attitude_multi"),
    ("  Euler angles", "sigproc/attitude.py", "to_euler"),
    ("  Kalman/RTS smoother", "sigproc/filters.py", "kalman_rts_smooth"),
    ("  landmarks on the timeline", "preprocessing/clip.py", "landmarks_on_timeline"),
    ("  view normalisation", "sigproc/normalize.py", "normalize_view"),
    ("  phases", "sigproc/phases.py", "segment_phases"),
    ("z-scores (bundle scalers)", "serving/bundle.py", "scaled"),
    ("model forward (run_model)", "serving/inference.py", "run_model"),
    ("response (probabilities, segments)", "serving/inference.py", "_response"),
)


def profile_request(bundle, req: dict, n: int) -> dict:
    """cProfile of ``n`` whole in-process requests (validation -> recognize_many -> response JSON):
    cumulative CPU ms per request of the steps in :data:`PROFILED` (the profiler's own overhead
    included, so the shares matter more than the sums) and the total."""
    import cProfile
    import pstats

    from serving.inference import recognize_many
    from serving.schemas import RecognizeRequest

    def once():
        recognize_many(bundle, [RecognizeRequest.model_validate(req)])[0].model_dump_json()

    once()
    prof = cProfile.Profile(time.thread_time)   # CPU time of this thread: waiting for a core is not counted
    t = time.thread_time()
    prof.enable()
    for _ in range(n):
        once()
    prof.disable()
    total = 1e3 * (time.thread_time() - t) / n
    stats = pstats.Stats(prof).stats
    out = {"total (profiled)": round(total, 2)}
    for label, path, fn in PROFILED:
        ct = sum(v[3] for (f, _, name), v in stats.items() if name == fn and f.endswith(path))
        out[label] = round(1e3 * ct / n, 2)
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


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


FIGURES = {   # key -> (label in the summary, goal)
    "c1_b64_sync": ("/recognize c=1, one window, base64, sync on: p50 / p99 ms", "<= 5 / <= 20"),
    "c1_b64_nosync": ("/recognize c=1, one window, base64, sync off: p50 / p99 ms", ""),
    "c1_json_sync": ("/recognize c=1, one window, JSON lists, sync on: p50 / p99 ms", ""),
    "c1_json_nosync": ("/recognize c=1, one window, JSON lists, sync off: p50 / p99 ms", ""),
    "c1_npz_sync": ("/binary/recognize c=1, one window, npz body, sync on: p50 / p99 ms", "<= 5 / <= 20"),
    "c1_npz_nosync": ("/binary/recognize c=1, one window, npz body, sync off: p50 / p99 ms", ""),
    "c1_seq": ("/recognize c=1, one sequence request, base64: p50 / p99 ms", ""),
    "c1_seq_npz": ("/binary/recognize c=1, one sequence request, npz: p50 / p99 ms", ""),
    "load_batch": ("/recognize_batch c=C, one window a request: windows/s", ">= 1000"),
    "load_single": ("/recognize c=C, one window a request: windows/s", ">= 1000"),
    "load_seq": ("/recognize c=C, one sequence a request, base64: windows/s", ">= 1000"),
    "load_seq_npz": ("/binary/recognize c=C, one sequence a request, npz: windows/s", ">= 1000"),
    "c1_tl_b64": ("on-timeline window: /recognize c=1, base64: p50 / p99 ms", "<= 5 / <= 20"),
    "c1_tl_json": ("on-timeline window: /recognize c=1, JSON lists: p50 / p99 ms", "<= 5 / <= 20"),
    "c1_tl_npz": ("on-timeline window: /binary/recognize c=1, npz: p50 / p99 ms", "<= 5 / <= 20"),
    "load_tl_single": ("on-timeline: /recognize c=C, one window a request, base64: windows/s", ">= 1000"),
    "load_tl_npz": ("on-timeline: /binary/recognize c=C, one window a request, npz: windows/s", ">= 1000"),
    "load_tl_batch": ("on-timeline: /recognize_batch c=C, one window a request: windows/s", ">= 1000"),
    "load_tl_batch32": ("on-timeline: /recognize_batch c=C, 32 windows a request: windows/s", ">= 1000"),
}


def _cell(key: str, r: dict) -> str:
    if key.startswith("c1_"):
        return f"{r['p50_ms']} / {r['p99_ms']}"
    return f"{r['windows_per_s']} ({r['errors']} err)"


def summary(res: dict) -> str:
    """The figures against the issue's goals, the old code's (``before``) beside the new one's, each
    with the 1-minute load average when it started."""
    cols = [c for c in ("before", "after") if c in res]
    lines = ["", "athlete-mm serving benchmark (figures; goals from issue 10); [load average, 1 min, at the start]",
             f"  window: {res['window']}"]
    if "sequence" in res:
        q = res["sequence"]
        lines.append(f"  sequence request: {q['seconds']} s stitched from {len(q['clips'])} clips of one athlete, "
                     f"{q['windows']} windows, {q['bytes']} B")
    lines.append(f"  {'figure':<64}" + "".join(f"{c:>24}" for c in cols) + "   goal")
    for key, (label, goal) in FIGURES.items():
        if not any(key in res[c] for c in cols):
            continue
        cells = []
        for c in cols:
            r = res[c].get(key)
            cells.append(f"{_cell(key, r)} [{r['load_avg'][0]}]" if r else "-")
        conc = next(res[c][key].get("concurrency") for c in cols if key in res[c])
        lines.append(f"  {label.replace('c=C', f'c={conc}'):<64}" + "".join(f"{x:>24}" for x in cells) + f"   {goal}")
    for c in cols:
        for key, r in res[c].items():
            if key.startswith("load_"):
                lines.append(f"  {c} {key}: p50/p95/p99 {r['p50_ms']}/{r['p95_ms']}/{r['p99_ms']} ms, "
                             f"{r['requests_per_s']} requests/s x {r['windows_per_request']} windows, "
                             f"{r['seconds']} s, status {r['status']}")
    if "analyze" in res:
        a, m = res["analyze"], res["mediapipe_alone"]
        lines.append(f"  /analyze fps vs MediaPipe alone ({a['frames']} frames): {a['frames_per_s']} / "
                     f"{m['frames_per_s']} = {100 * a['frames_per_s'] / m['frames_per_s']:.0f} %   (goal >= 85 %; "
                     f"median of {len(res['analyze_pairs'])} pairs: {[p['ratio'] for p in res['analyze_pairs']]})")
        lines.append(f"  /analyze server steps (s): {a['timings_s']}")
        cpu = a["timings_s"].get("cpu_s") or {}
        if cpu:
            lines.append(f"  CPU s: MediaPipe alone {m.get('cpu_s')}; /analyze server process {cpu.get('server_process')}"
                         f" + IK process {cpu.get('ik_process')} (2 cores: overlapped when one is free)")
    if "in_process_p50_ms" in res:
        for k, v in res["in_process_p50_ms"].items():
            if k == "profile_sync":
                lines.append("  in-process cProfile, one window, sync on: CPU ms per request (cumulative, profiler overhead included)")
                lines += [f"    {label:<44} {ms}" for label, ms in v.items()]
            else:
                lines.append(f"  in-process p50 ms (wall / CPU) {k:<24} {v}")
    lines.append(f"  load average (1, 5, 15 min) at the start / end: {res.get('load_average')} / {res.get('load_average_end')}")
    return "\n".join(lines)


def _timeline_plan(a, headers: dict) -> list:
    """The on-timeline window's HTTP figures (key, run(url))."""
    from serving.binary import MEDIA_TYPE, npz_body

    b64 = timeline_request_from_clip(a.clip, TIMELINE_T0)
    lists = timeline_request_from_clip(a.clip, TIMELINE_T0, compact=False)
    body_b64, body_json = json.dumps({"request": b64}).encode(), json.dumps({"request": lists}).encode()
    body_npz = npz_body(b64)
    plan = [("c1_tl_b64", lambda u: {**sequential(u, body_b64, "/recognize", a.n, headers), "bytes": len(body_b64)}),
            ("c1_tl_json", lambda u: {**sequential(u, body_json, "/recognize", a.n, headers), "bytes": len(body_json)}),
            ("c1_tl_npz", lambda u: {**sequential(u, body_npz, "/binary/recognize", a.n, headers, MEDIA_TYPE),
                                     "bytes": len(body_npz)})]
    for key, path, body, w, ctype in (
            ("load_tl_single", "/recognize", body_b64, 1, "application/json"),
            ("load_tl_npz", "/binary/recognize", body_npz, 1, MEDIA_TYPE),
            ("load_tl_batch", "/recognize_batch", json.dumps({"requests": [b64]}).encode(), 1, "application/json"),
            ("load_tl_batch32", "/recognize_batch", json.dumps({"requests": [b64] * 32}).encode(), 32,
             "application/json")):
        plan.append((key, lambda u, path=path, body=body, w=w, ctype=ctype:
                     asyncio.run(_load(u, body, path, a.seconds, a.concurrency, headers, w, ctype))))
    return plan


def _measure(a, urls: dict, headers: dict, res: dict) -> None:
    """Every HTTP figure, measured on each server of ``urls`` (label -> URL) back to back."""
    if a.timeline_only:
        return _run_plan(_timeline_plan(a, headers), urls, res, set())
    bodies = {}
    for compact in (False, True):
        for sync in (True, False):
            q = {**request_from_clip(a.clip, span=SPAN, compact=compact), "synchronise": sync}
            bodies[f"c1_{'b64' if compact else 'json'}_{'sync' if sync else 'nosync'}"] = json.dumps({"request": q}).encode()
    one = {**request_from_clip(a.clip, span=SPAN, compact=True), "synchronise": True}
    seq_body = None
    if a.sequence_seconds > 0:
        seq, used = sequence_request(a.clip, a.sequence_seconds)
        seq_body = json.dumps({"request": seq}).encode()
        res["sequence"] = {"seconds": a.sequence_seconds, "clips": used, "bytes": len(seq_body),
                           "windows": windows_of(next(iter(urls.values())), "/recognize", seq_body, headers)}
    plan = [(k, lambda u, b=b: {**sequential(u, b, "/recognize", a.n, headers), "bytes": len(b)})
            for k, b in bodies.items()]
    if seq_body is not None:
        plan.append(("c1_seq", lambda u: {**sequential(u, seq_body, "/recognize", max(5, a.n // 20), headers),
                                          "bytes": len(seq_body), "windows_per_request": res["sequence"]["windows"]}))
    for key, path, body, w in (("load_batch", "/recognize_batch", {"requests": [one]}, 1),
                               ("load_single", "/recognize", {"request": one}, 1)):
        plan.append((key, lambda u, path=path, body=json.dumps(body).encode(), w=w:
                     asyncio.run(_load(u, body, path, a.seconds, a.concurrency, headers, w))))
    if seq_body is not None:
        plan.append(("load_seq", lambda u: asyncio.run(_load(u, seq_body, "/recognize", a.seconds, a.concurrency,
                                                             headers, res["sequence"]["windows"]))))
    from serving.binary import MEDIA_TYPE, npz_body

    new_only = set()   # the binary body is new: not measured on the old code's server
    for sync in (True, False):
        b = npz_body({**one, "synchronise": sync})
        key = f"c1_npz_{'sync' if sync else 'nosync'}"
        plan.append((key, lambda u, b=b: {**sequential(u, b, "/binary/recognize", a.n, headers, MEDIA_TYPE),
                                          "bytes": len(b)}))
        new_only.add(key)
    if seq_body is not None:
        seq_npz = npz_body(seq)
        plan.append(("c1_seq_npz", lambda u: {**sequential(u, seq_npz, "/binary/recognize", max(5, a.n // 20),
                                                           headers, MEDIA_TYPE),
                                              "bytes": len(seq_npz), "windows_per_request": res["sequence"]["windows"]}))
        plan.append(("load_seq_npz", lambda u: asyncio.run(_load(u, seq_npz, "/binary/recognize", a.seconds,
                                                                 a.concurrency, headers, res["sequence"]["windows"],
                                                                 MEDIA_TYPE))))
        new_only.update({"c1_seq_npz", "load_seq_npz"})
    plan += _timeline_plan(a, headers)
    _run_plan(plan, urls, res, new_only)


def _run_plan(plan: list, urls: dict, res: dict, new_only: set) -> None:
    for key, run in plan:
        for label, url in urls.items():   # back to back: the same load for both
            if key in new_only and label == "before":
                continue
            load = _loadavg()
            res[label][key] = {**run(url), "load_avg": load}
            print(label, key, res[label][key], flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:3000", help="the server measured (\"after\")")
    ap.add_argument("--before-url", help="a server of the old code (e.g. a `git archive main` copy): every "
                                         "figure is measured on it and then on --url, back to back")
    ap.add_argument("--clip", help="a raw-layout clip directory with keypoints, imu and grf (the /recognize "
                                   "window; not needed with --analyze-only)")
    ap.add_argument("--n", type=int, default=200, help="requests per c=1 figure (sequence: n / 20, at least 5)")
    ap.add_argument("--seconds", type=float, default=60, help="duration of each concurrency figure")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--sequence-seconds", type=float, default=60,
                    help="length of the sequence request (clips of --clip's athlete back to back; 0: none)")
    ap.add_argument("--video", help="a real video for /analyze vs MediaPipe alone (optional)")
    ap.add_argument("--video-frames", type=int, default=100)
    ap.add_argument("--video-repeats", type=int, default=3, help="MediaPipe-alone / analyze pairs (median reported)")
    ap.add_argument("--analyze-only", action="store_true", help="only /analyze vs MediaPipe alone (needs --video)")
    ap.add_argument("--bundle", help="a bundle directory for the in-process breakdown (optional)")
    ap.add_argument("--n-in-process", type=int, default=50, help="calls per in-process step")
    ap.add_argument("--in-process-only", action="store_true",
                    help="only the in-process breakdown (needs --bundle; no server)")
    ap.add_argument("--timeline-skew", type=int, metavar="N", default=0,
                    help="with --bundle and --raw-dir: timeline_skew on N clips of the split's test athletes "
                         "(--split-json), in-process; nothing else is run")
    ap.add_argument("--raw-dir", default="data/raw/synth")
    ap.add_argument("--split-json", default="data/processed/synth/split.json")
    ap.add_argument("--timeline-only", action="store_true",
                    help="only the on-timeline window's HTTP figures (and, with --bundle, the in-process ones)")
    ap.add_argument("--api-key")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
    if a.timeline_skew:
        if not a.bundle:
            ap.error("--timeline-skew needs --bundle")
        athletes = json.loads(Path(a.split_json).read_text())["athletes"]["test"]
        out = {"load_average": _loadavg(), **timeline_skew(a.bundle, a.raw_dir, athletes, a.timeline_skew),
               "load_average_end": _loadavg()}
        print(json.dumps(out, indent=1))
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(out, indent=1))
        return 0
    res = {"window": {"clip": a.clip, "span_s": SPAN}, "load_average": _loadavg()}
    if a.in_process_only and not a.bundle:
        ap.error("--in-process-only needs --bundle")
    if a.analyze_only and not a.video:
        ap.error("--analyze-only needs --video")
    if not a.clip and not a.analyze_only:
        ap.error("--clip is required (except with --analyze-only)")
    if not a.in_process_only and not a.analyze_only:
        urls = {"before": a.before_url, "after": a.url} if a.before_url else {"after": a.url}
        res.update({label: {} for label in urls})
        _measure(a, urls, headers, res)
    if a.video and not a.in_process_only:
        res.update(analyze_vs_mediapipe(a.url, a.video, a.video_frames, a.video_repeats, headers))
    if a.bundle and a.clip and not a.analyze_only:
        res["in_process_p50_ms"] = (in_process_timeline_only(a.bundle, a.clip, a.n_in_process) if a.timeline_only
                                    else in_process(a.bundle, a.clip, a.n_in_process))
        print("in_process_p50_ms", res["in_process_p50_ms"])
    res["load_average_end"] = _loadavg()
    print(summary(res))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
