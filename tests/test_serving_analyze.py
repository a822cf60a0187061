"""/analyze's IK in chunks (serving.ik_stream) against the whole-clip IK, and /analyze_task (a BentoML task
with progress) against a real `bentoml serve` of the packaged bento, on Pose2Sim's demo video (a real
person, MediaPipe landmarks; fetched from PyPI by scripts/fetch_real_data.sh)."""
from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from .test_feedback_service import served, squats  # noqa: F401  (fixtures: a served bento with a reference)


@pytest.fixture(scope="module")
def landmarks():
    from ingest.video import landmarks_from_video
    from tests.real_data import fetch_pose2sim

    video = fetch_pose2sim() / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    return landmarks_from_video(video, max_frames=100, progress=False)


def _feed(ik, lm, step: int) -> list[int]:
    solved = []
    for a in range(0, len(lm["time"]), step):
        solved.append(ik.add(lm["time"][a:a + step], lm["world"][a:a + step], lm["visibility"][a:a + step]))
    return solved


def _wrapped_diff(a, b, joints):
    """|a - b| in deg per frame and joint, modulo full turns (the unwrapping may start a turn apart)."""
    from biomech.conventions import COORDINATES

    idx = [COORDINATES.index(j) for j in joints]
    return np.abs((a[:, idx] - b[:, idx] + 180) % 360 - 180)


def test_chunked_ik_equals_the_whole_clip_ik(landmarks):
    """The chunks' low-pass windows and solver restarts change the feedback joints' angles by < 0.3 deg
    (0.15 measured) when the body is the same; the body scaled to the first second instead of every frame
    (what lets the IK start before the video ends) by < 4 deg (2.6 measured, median 0.5). Most frames are
    solved before the last chunk arrives."""
    from biomech.feedback import FEEDBACK_JOINTS
    from biomech.ik import calibrate_body, mediapipe_world_to_ylab, unswap_limbs
    from serving.analyze import ik_angles
    from serving.ik_stream import ChunkedIK

    lm, fps = landmarks, landmarks["info"]["fps"]
    kw = dict(sex="male", height_m=1.72, mass_kg=70.0)
    grid, whole, _ = ik_angles(lm["time"], lm["world"], lm["visibility"], fps=fps, **kw)
    pts, _ = unswap_limbs(mediapipe_world_to_ylab(lm["world"].astype(float)))
    seen = np.isfinite(pts).all((1, 2))
    body = calibrate_body(pts[seen], lm["visibility"][seen], sex="male", height=1.72, mass=70.0)

    same_body = ChunkedIK(fps=fps, body=body, **kw)
    solved = _feed(same_body, lm, 15)
    g, deg, _ = same_body.finish()
    np.testing.assert_allclose(g, grid, atol=1e-12)
    d = _wrapped_diff(deg, whole, FEEDBACK_JOINTS)
    assert np.isfinite(d).all() and d.max() < 0.3, d.max(0)
    assert solved[-1] >= len(grid) - same_body.margin - 15     # only the margin + one chunk left for finish()

    default = ChunkedIK(fps=fps, **kw)                               # scaled to the first CALIBRATION_S
    _feed(default, lm, 15)
    _, deg1, _ = default.finish()
    d1 = _wrapped_diff(deg1, whole, FEEDBACK_JOINTS)
    assert d1.max() < 4.0 and np.median(d1) < 1.0, (d1.max(), np.median(d1))
    print(f"chunked IK vs whole clip, feedback joints: same body max {d.max():.3f} deg; "
          f"first-second body max {d1.max():.2f}, median {np.median(d1):.3f} deg")


def test_chunked_unswap_equals_the_whole_clip_unswap(landmarks):
    """unswap_limbs run chunk by chunk (after the last two frames with a pose) gives the whole clip's answer,
    here on the video's landmarks with the legs' labels swapped in frames 40-44 and no pose in 60-62."""
    from biomech.camera import SWAP_LIMBS
    from biomech.ik import mediapipe_world_to_ylab, unswap_limbs
    from serving.ik_stream import ChunkedIK

    lm = {k: np.array(v, dtype=float) if k != "info" else v for k, v in landmarks.items()}
    left, right = np.array(SWAP_LIMBS["legs"]).T
    w = lm["world"]
    w[40:45, left], w[40:45, right] = w[40:45, right].copy(), w[40:45, left].copy()
    w[60:63] = np.nan
    whole, n_fixed = unswap_limbs(mediapipe_world_to_ylab(w))
    assert n_fixed >= 1
    ik = ChunkedIK(fps=lm["info"]["fps"], sex="male", height_m=1.72, mass_kg=70.0, calibration_s=100.0)
    for a in range(0, len(w), 7):                      # (calibration_s=100: no IK starts, only the unswap)
        assert ik.add(lm["time"][a:a + 7], w[a:a + 7], lm["visibility"][a:a + 7]) == 0
    np.testing.assert_array_equal(np.array(ik.pts), whole)


def _form(frames: int) -> dict:
    return {"mass_kg": "70", "height_m": "1.72", "sex": "male", "max_frames": str(frames)}


def test_analyze_task_reports_progress_and_equals_analyze(served):  # noqa: F811
    from tests.real_data import fetch_pose2sim

    video = fetch_pose2sim() / "Demo_SinglePerson" / "videos" / "cam02.mp4"
    with open(video, "rb") as fh:
        r = httpx.post(served + "/analyze_task/submit", files={"video": fh}, data=_form(60), timeout=120)
    assert r.status_code == 200, r.text[-2000:]
    task = r.json()["task_id"]
    progress, status, t0 = [], None, time.monotonic()
    while time.monotonic() - t0 < 600:
        status = httpx.get(served + "/analyze_task/status", params={"task_id": task}, timeout=30).json()["status"]
        p = httpx.get(served + "/info/progress", params={"task_id": task}, timeout=30)
        assert p.status_code == 200, p.text
        progress.append(p.json())
        if status != "in_progress":
            break
        time.sleep(0.3)
    assert status == "completed", (status, progress[-1])
    done = [p["frames_done"] for p in progress]
    assert done == sorted(done) and done[-1] == progress[-1]["frames_total"] == 60, done
    assert progress[-1]["step"] == "completed" and progress[-1]["fraction"] == 1.0
    out = httpx.get(served + "/analyze_task/get", params={"task_id": task}, timeout=60).json()
    assert out["ik"]["mode"].startswith("chunked") and out["timings_s"]["cpu_s"]["ik_process"] > 0

    with open(video, "rb") as fh:                       # the plain endpoint: the same answer
        plain = httpx.post(served + "/analyze", files={"video": fh}, data=_form(60), timeout=300).json()
    assert out["recognition"]["segments"] == plain["recognition"]["segments"]
    duration = plain["video"]["frames"] / plain["video"]["fps"]      # 60 frames: shorter than a 1.28 s window
    assert plain["recognition"]["segments"][-1]["t_end_s"] <= duration + 1e-3, (plain["recognition"]["segments"], duration)
    assert all(f["t_end_s"] <= duration + 1e-3 for f in plain["feedback"])
    for j, v in plain["angles"]["values"].items():
        np.testing.assert_allclose(np.array(out["angles"]["values"][j], dtype=float), np.array(v, dtype=float),
                                   atol=1e-6, err_msg=j)
    print("analyze_task: progress polled", len(progress), "times; timings", out["timings_s"])


def test_analyze_task_failure_and_unknown_task(served, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with open(bad, "rb") as fh:
        task = httpx.post(served + "/analyze_task/submit", files={"video": fh}, data=_form(10), timeout=60).json()
    for _ in range(100):
        st = httpx.get(served + "/analyze_task/status", params={"task_id": task["task_id"]}, timeout=30).json()
        if st["status"] != "in_progress":
            break
        time.sleep(0.2)
    assert st["status"] == "failed", st
    r = httpx.get(served + "/analyze_task/get", params={"task_id": task["task_id"]}, timeout=30)
    assert r.status_code == 400 and "video" in r.text and "Traceback" not in r.text, r.text
    p = httpx.get(served + "/info/progress", params={"task_id": task["task_id"]}, timeout=30).json()
    assert p["step"].startswith("failed: video") and "/tmp/" not in p["step"], p
    r = httpx.get(served + "/info/progress", params={"task_id": "0" * 32}, timeout=30)
    assert r.status_code == 404 and "task_id" in r.text


def test_ik_process_exits_when_its_server_process_is_killed(tmp_path):
    """A server worker killed with SIGKILL leaves no orphaned IK process behind (it held ~750 MB)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = ("import os, sys\n"
              "from serving.ik_stream import IKWorker\n"
              "w = IKWorker(); w.ready.result(timeout=300)\n"
              "print(w.pool.submit(os.getpid).result(), flush=True)\n"
              "import time; time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    try:
        child = int(proc.stdout.readline())
        os.kill(child, 0)                      # alive while its parent is
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError(f"IK process {child} still running 30 s after its parent was killed")
    finally:
        if proc.poll() is None:
            proc.kill()
