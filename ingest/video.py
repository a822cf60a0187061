"""A video file -> MediaPipe Pose landmarks per frame, in the raw layout's keypoints format.

`landmarks_from_video(path)` is the one path from video to landmarks: the ingest stage, the
`athlete-mm ingest-video` command and the service call it. It runs MediaPipe Pose 0.10.21
(`solutions.pose`, model complexity 1, video mode: tracking between frames) on every decoded
frame and returns the same fields as the generator's ``keypoints.npz``:

    time         (T,)       s, presentation time of each decoded frame (video clock, from 0)
    frame_index  (T,)       index of the frame in decoding order
    image        (T,33,3)   pose_landmarks: x, y normalised to [0,1] by the (upright) frame's
                            width / height, z depth relative to the hip midpoint on the x scale
    world        (T,33,3)   pose_world_landmarks: metres, origin at the hip midpoint, camera axes
                            (x right, y down, z away from the camera)
    visibility   (T,33)     MediaPipe's visibility, 0-1

A frame where MediaPipe finds no person keeps its row: `image` and `world` are NaN and
`visibility` is 0 there, and the count is in ``info["frames_without_pose"]``. Real data has
no ``ground`` (lab-frame truth) field.

Video handling: frames are decoded with OpenCV (FFmpeg), which applies the container's
rotation metadata (phone videos) so landmarks are in the upright image; the rotation seen is
reported; decoding runs in its own thread, a few frames ahead of MediaPipe (`prefetch`). Frame
times come from the decoder's presentation timestamps, so variable frame rates keep their true
timing; the nominal rate is reported as ``fps``. Frames whose longer side exceeds `max_side`
pixels are downscaled first (INTER_AREA, `area_downscale`; MediaPipe works at 256 px internally;
the normalised coordinates do not change). A file that cannot be opened or decodes no frame raises
`IngestError` naming it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numba import njit
from tqdm import tqdm

from biomech.camera import MEDIAPIPE_LANDMARKS, N_LANDMARKS
from ingest import IngestError

MODEL_COMPLEXITY = 1
PREFETCH = 8          # decoded frames queued ahead of MediaPipe
KEYPOINT_FIELDS = ("time", "frame_index", "image", "world", "visibility")


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, dict]:
    """Open `path` with OpenCV -> (capture, info: width, height, fps, n_frames, rotation_deg)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise IngestError(f"{path}: cannot open as a video (corrupt file or unsupported codec; "
                          "re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`)")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # apply rotation metadata (phone videos)
    info = {
        "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        "fps": float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
        "n_frames_header": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
        "rotation_deg": int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0),
    }
    return cap, info


def iter_frames(cap: cv2.VideoCapture, max_side: int, reuse: int = 0):
    """Yield (time s, RGB frame) for every decodable frame, downscaled to at most `max_side`.

    `reuse` > 0: the frames are written into a ring of that many arrays, reused in turn (the same
    pixels; no new memory per frame: allocating and first touching a fresh 2.7 MB frame cost more CPU
    than decoding it, README "Serving"), so a frame is valid only until `reuse` more have been yielded:
    for a consumer that is done with each frame before it takes the next (`prefetch` with depth
    <= reuse - 3)."""
    ring, k = [None] * reuse, 0
    while True:
        slot = ring[k] if reuse else None
        ok, bgr = cap.read(slot[0]) if slot is not None else cap.read()
        if not ok:
            return
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        h, w = bgr.shape[:2]
        scale = max_side / max(h, w)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = area_downscale(bgr, size, dst=None if slot is None else slot[1])
        else:
            small = bgr
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=None if slot is None else slot[2])
        if reuse:
            ring[k] = (bgr, small if scale < 1.0 else None, rgb)
            k = (k + 1) % reuse
        yield t, rgb


def area_downscale(bgr: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None) -> np.ndarray:
    """``cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)`` for a 3-channel uint8 frame shrunk by a
    non-integer factor, bit for bit (tests/test_serving_analyze_speed.py: every frame of Pose2Sim's demo
    videos and random sizes), in about half the CPU (4.2 against 9.3 ms a 1080 x 1920 frame, README
    "Serving"): OpenCV's generic area resize (`ResizeArea_Invoker`: per source row the horizontal
    weighted sum in float32, then the rows' weighted sum, rounded half to even) with its tables
    (`computeResizeAreaTab`), compiled with numba, each source row's horizontal sum computed once
    instead of once per destination row it touches. Other frames (integer factors: OpenCV's fast path;
    not 3 x uint8): cv2.resize itself."""
    w, h = size
    if (bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8 or not bgr.flags.c_contiguous
            or w > bgr.shape[1] or h > bgr.shape[0]
            or (bgr.shape[1] % w == 0 and bgr.shape[0] % h == 0)):
        return cv2.resize(bgr, size, dst=dst, interpolation=cv2.INTER_AREA)
    if dst is None or dst.shape != (h, w, 3) or dst.dtype != np.uint8 or not dst.flags.c_contiguous:
        dst = np.empty((h, w, 3), np.uint8)
    xi, xw = _area_table(bgr.shape[1], w)
    yi, yw = _area_table(bgr.shape[0], h)
    _area_resize(bgr, dst, xi, xw, yi, yw)
    return dst


@lru_cache(maxsize=16)
def _area_table(ssize: int, dsize: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's computeResizeAreaTab (cn = 1) grouped by destination pixel: (source index (dsize, taps),
    float32 weight (dsize, taps)), each row's taps in OpenCV's order; rows with fewer taps are padded
    with weight 0 (adding 0.0 to a sum of non-negative products changes no bit)."""
    import math

    scale = 1.0 / (dsize / ssize)   # as cv::resize computes it
    taps: list[list[tuple[int, float]]] = []
    for dx in range(dsize):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, ssize - fsx1)
        sx2 = min(math.floor(fsx2), ssize - 1)
        sx1 = min(math.ceil(fsx1), sx2)
        row = []
        if sx1 - fsx1 > 1e-3:
            row.append((sx1 - 1, (sx1 - fsx1) / cell))
        row += [(sx, 1.0 / cell) for sx in range(sx1, sx2)]
        if fsx2 - sx2 > 1e-3:
            row.append((sx2, min(fsx2 - sx2, 1.0, cell) / cell))
        taps.append(row)
    n = max(len(r) for r in taps)
    idx = np.zeros((dsize, n), np.int64)
    wgt = np.zeros((dsize, n), np.float32)
    for dx, row in enumerate(taps):
        idx[dx] = row[-1][0]
        for k, (sx, a) in enumerate(row):
            idx[dx, k], wgt[dx, k] = sx, np.float32(a)
    return idx, wgt


@njit(cache=True)
def _area_rows(row, frow, xi, xw, out):  # pragma: no cover - compiled by numba
    """One source row's horizontal sums (OpenCV's order of operations; 0 + x = x for the first tap)."""
    for i in range(row.shape[0]):
        frow[i] = np.float32(row[i])
    if xi.shape[1] == 2:      # factors below 2 with aligned cells (1.5: 1920 -> 1280): unrolled
        for dx in range(xi.shape[0]):
            o0, o1, a0, a1 = xi[dx, 0] * 3, xi[dx, 1] * 3, xw[dx, 0], xw[dx, 1]
            out[3 * dx] = frow[o0] * a0 + frow[o1] * a1
            out[3 * dx + 1] = frow[o0 + 1] * a0 + frow[o1 + 1] * a1
            out[3 * dx + 2] = frow[o0 + 2] * a0 + frow[o1 + 2] * a1
        return
    for dx in range(xi.shape[0]):
        b0, b1, b2 = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for k in range(xi.shape[1]):
            o, a = xi[dx, k] * 3, xw[dx, k]
            b0 = b0 + frow[o] * a
            b1 = b1 + frow[o + 1] * a
            b2 = b2 + frow[o + 2] * a
        out[3 * dx], out[3 * dx + 1], out[3 * dx + 2] = b0, b1, b2


@njit(cache=True)
def _area_resize(src, dst, xi, xw, yi, yw):  # pragma: no cover - compiled by numba
    h, w = dst.shape[0], dst.shape[1]
    s2 = src.reshape(src.shape[0], src.shape[1] * 3)
    d2 = dst.reshape(h, w * 3)
    n = w * 3
    frow = np.empty(s2.shape[1], np.float32)
    bufs = np.empty((2, n), np.float32)     # the horizontal sums of the last two source rows
    rows = np.array([-1, -1])
    acc = np.empty(n, np.float32)
    for dy in range(h):
        for j in range(yi.shape[1]):
            beta = yw[dy, j]
            if beta == 0:
                continue
            sy = yi[dy, j]
            if rows[0] == sy:
                b = 0
            elif rows[1] == sy:
                b = 1
            else:
                b = 0 if rows[1] > rows[0] else 1   # overwrite the older one
                _area_rows(s2[sy], frow, xi, xw, bufs[b])
                rows[b] = sy
            buf = bufs[b]
            if j == 0:
                for i in range(n):
                    acc[i] = beta * buf[i]
            else:
                for i in range(n):
                    acc[i] = acc[i] + beta * buf[i]
        out = d2[dy]
        for i in range(n):
            out[i] = np.uint8(min(max(np.rint(acc[i]), 0.0), 255.0))


def prefetch(items, depth: int = 8):
    """Iterate ``items`` in a background thread, up to ``depth`` ahead: OpenCV decodes the next
    frames (it releases the GIL) while MediaPipe works on the current one. An exception in the
    producer is raised here; leaving the loop early stops the producer."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for x in items:
                while not stop.is_set():
                    try:
                        q.put((x, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer
            q.put((done, exc))

    th = threading.Thread(target=produce, name="video-decode", daemon=True)
    th.start()
    try:
        while True:
            x, exc = q.get()
            if x is done:
                if exc is not None:
                    raise exc
                return
            yield x
    finally:
        stop.set()
        th.join(timeout=5)


def _as_array(landmark_list) -> tuple[np.ndarray, np.ndarray]:
    lm = landmark_list.landmark
    xyz = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32)
    vis = np.array([p.visibility for p in lm], dtype=np.float32)
    return xyz, vis


def landmarks_from_video(path: str | Path, *, max_frames: int | None = None, max_side: int = 1280,
                         min_detection_confidence: float = 0.5, progress: bool = True,
                         on_frame=None) -> dict:
    """MediaPipe Pose landmarks of every frame of `path` (see module docstring).

    Returns a dict with the `KEYPOINT_FIELDS` arrays plus ``info`` (width, height of the
    upright frame, fps, rotation_deg, n_frames, frames_without_pose, source).
    `max_frames` stops after that many frames (tests, previews). `on_frame(info, times, world,
    visibility, total)`, when given, is called after every frame with the lists so far (times as
    decoded, not yet shifted to 0; `total` the expected frame count or None): the service feeds
    its IK process and reports progress from it.
    """
    from mediapipe.python.solutions import pose as mp_pose

    path = Path(path)
    cap, info = open_video(path)
    times, image, world, vis = [], [], [], []
    shape = None
    frames = None
    total = info["n_frames_header"] if info["n_frames_header"] > 0 else None
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    try:
        with mp_pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY,
                          smooth_landmarks=True, enable_segmentation=False,
                          min_detection_confidence=min_detection_confidence) as pose:
            # decoding pipelined with the pose model, into a ring of reused frames (MediaPipe copies
            # each frame into its own packet in process(), so a frame is free once that returns)
            frames = prefetch(iter_frames(cap, max_side, reuse=PREFETCH + 3), depth=PREFETCH)
            for t, rgb in tqdm(frames, total=total, desc=f"pose {path.name}", unit="frame",
                               disable=not progress, leave=False):
                shape = shape or rgb.shape[:2]
                res = pose.process(rgb)
                times.append(t)
                if res.pose_landmarks is None:
                    image.append(np.full((N_LANDMARKS, 3), np.nan, np.float32))
                    world.append(np.full((N_LANDMARKS, 3), np.nan, np.float32))
                    vis.append(np.zeros(N_LANDMARKS, np.float32))
                else:
                    xyz, v = _as_array(res.pose_landmarks)
                    image.append(xyz)
                    vis.append(v)
                    world.append(_as_array(res.pose_world_landmarks)[0])
                if on_frame is not None:
                    on_frame(info, times, world, vis, total)
                if max_frames is not None and len(times) >= max_frames:
                    break
    finally:
        if frames is not None:
            frames.close()   # stops the decoding thread before the capture is released
        cap.release()
    if not times:
        raise IngestError(f"{path}: no frame could be decoded (empty or corrupt video; "
                          "re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`)")
    time = np.asarray(times, dtype=np.float64)
    time -= time[0]
    vis_arr = np.stack(vis)
    no_pose = int((vis_arr.max(axis=1) == 0).sum())
    fps = info["fps"] if info["fps"] > 0 else (1.0 / np.median(np.diff(time)) if len(time) > 1 else 0.0)
    info.update(height=int(shape[0]), width=int(shape[1]), fps=float(fps), n_frames=len(times),
                frames_without_pose=no_pose, source=str(path))
    return {"time": time, "frame_index": np.arange(len(times), dtype=np.int32),
            "image": np.stack(image), "world": np.stack(world), "visibility": vis_arr, "info": info}


def keypoints_header(info: dict) -> dict:
    """The JSON header of a real clip's keypoints.npz (units, axes, provenance)."""
    return {
        "landmarks": list(MEDIAPIPE_LANDMARKS),
        "time": "s, video clock (decoder presentation time, 0 at the first frame), one row per "
                "decoded frame",
        "frame_index": "index of the frame in decoding order",
        "image": "MediaPipe pose_landmarks: x, y normalised to [0,1] by the upright frame's width/"
                 "height, z depth relative to the hip midpoint on the x scale (negative = closer); "
                 "NaN where no person was found",
        "world": "MediaPipe pose_world_landmarks: metres, origin at the hip midpoint, camera axes "
                 "(x right, y down, z away from the camera); NaN where no person was found",
        "visibility": "0-1, MediaPipe's visibility; 0 where no person was found",
        "fps": info["fps"],
        "detector": f"mediapipe {mediapipe_version()} solutions.pose, model_complexity={MODEL_COMPLEXITY}",
        "video": {k: info[k] for k in ("width", "height", "rotation_deg", "n_frames",
                                       "frames_without_pose", "source")},
    }


def mediapipe_version() -> str:
    import mediapipe

    return mediapipe.__version__
