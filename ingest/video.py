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
reported; decoding runs in its own thread, a few frames ahead of MediaPipe (`prefetch`). Frame times come from the decoder's presentation timestamps, so variable frame rates
keep their true timing; the nominal rate is reported as ``fps``. Frames whose longer side
exceeds `max_side` pixels are downscaled first (MediaPipe works at 256 px internally; the
normalised coordinates do not change). A file that cannot be opened or decodes no frame raises
`IngestError` naming it.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
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
            small = cv2.resize(bgr, size, dst=None if slot is None else slot[1], interpolation=cv2.INTER_AREA)
        else:
            small = bgr
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=None if slot is None else slot[2])
        if reuse:
            ring[k] = (bgr, small if scale < 1.0 else None, rgb)
            k = (k + 1) % reuse
        yield t, rgb


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
