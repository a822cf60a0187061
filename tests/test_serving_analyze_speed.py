"""/analyze's speed-ups change no result: the landmarks of the prefetching decoder against MediaPipe on
cv2.resize's frames, and the /analyze answer of the overlapped steps (IK finish while the recognizer runs) against
the same steps one after the other (README "Serving", "/analyze speed")."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.real_data import fetch_pose2sim


def _video(cam: int):
    return fetch_pose2sim() / "Demo_SinglePerson" / "videos" / f"cam0{cam}.mp4"


def _size(shape, max_side=1280):
    h, w = shape[:2]
    s = max_side / max(h, w)
    return max(1, round(w * s)), max(1, round(h * s))


def test_landmarks_equal_mediapipe_on_cv2_resized_frames():
    """landmarks_from_video (prefetch thread, reused frame ring) = MediaPipe on the
    frames as cv2.resize makes them, one after the other, for the first 30 frames."""
    from mediapipe.python.solutions import pose as mp_pose

    from ingest.video import MODEL_COMPLEXITY, landmarks_from_video

    video = _video(3)
    lm = landmarks_from_video(video, max_frames=30, progress=False)
    cap = cv2.VideoCapture(str(video))
    world = []
    with mp_pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY, smooth_landmarks=True,
                      enable_segmentation=False, min_detection_confidence=0.5) as pose:
        for _ in range(30):
            ok, bgr = cap.read()
            rgb = cv2.cvtColor(cv2.resize(bgr, _size(bgr.shape), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            res = pose.process(rgb).pose_world_landmarks
            world.append(np.full((33, 3), np.nan) if res is None else [(p.x, p.y, p.z) for p in res.landmark])
    cap.release()
    assert np.isfinite(lm["world"]).all(axis=(1, 2)).sum() >= 25
    np.testing.assert_array_equal(lm["world"], np.asarray(world, dtype=np.float32))


def test_ik_finished_during_the_recognizer_equals_the_in_process_ik():
    """/analyze sends the last frames and the finish to the IK process and runs the recognizer before it
    waits (`IKJob.submit_finish`, `result`): the answer is, bit for bit, `ChunkedIK` fed the same chunks in
    this process; a chunk's error still reaches the request."""
    from ingest.video import landmarks_from_video
    from serving.ik_stream import CHUNK_FRAMES, ChunkedIK, IKWorker
    from serving.inference import InputError

    lm = landmarks_from_video(_video(2), max_frames=50, progress=False)
    settings = {"fps": lm["info"]["fps"], "sex": "male", "height_m": 1.72, "mass_kg": 70.0}
    local = ChunkedIK(**settings)
    worker = IKWorker()
    try:
        job = worker.job(**settings)
        for n in range(1, len(lm["time"]) + 1):        # as the detection loop feeds it, frame by frame
            job.feed(lm["time"][:n], lm["world"][:n], lm["visibility"][:n])
        for a in range(0, len(lm["time"]), CHUNK_FRAMES):
            local.add(lm["time"][a:a + CHUNK_FRAMES], lm["world"][a:a + CHUNK_FRAMES],
                      lm["visibility"][a:a + CHUNK_FRAMES])
        job.submit_finish(lm["time"], lm["world"], lm["visibility"])
        want = local.finish()                         # meanwhile, this process works (here: the same IK)
        grid, deg, ik, cpu_s = job.result()
        np.testing.assert_array_equal(grid, want[0])
        np.testing.assert_array_equal(deg, want[1])
        np.testing.assert_array_equal(ik.marker_error_rms, want[2].marker_error_rms)
        assert cpu_s > 0.05 and np.isfinite(deg).all(1).sum() > 40

        bad = worker.job(**settings)                  # three frames with a pose: the IK's InputError
        bad.submit_finish(lm["time"][:3], lm["world"][:3], lm["visibility"][:3])
        with pytest.raises(InputError, match="video: a pose in 3 of 3 frames"):
            bad.result()
    finally:
        worker.close()
