"""The web view (GET /ui/ of the served bento) in a real headless Chromium (Playwright, the system
browser /usr/bin/chromium): upload Pose2Sim's demo video, the page runs /analyze_task (submit, progress,
get), then check the skeleton overlay on the video, the action timeline, the segments table, the
feedback, the joint-angle and moment plots; a screenshot is written next to the test's files (and to
$ATHLETE_MM_SCREENSHOT when set)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .test_feedback_service import served, squats  # noqa: F401  (fixtures: a served bento with a reference)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (scripts/setup.sh installs it "
                                                              "with apt-get when run as root)")

# the overlay's drawn pixels (alpha > 0) of the canvas
PAINTED = """() => { const c = document.getElementById('overlay'); const d = c.getContext('2d')
  .getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"""


def test_web_view_uploads_a_video_and_shows_overlay_timeline_plots_and_feedback(served, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from tests.real_data import fetch_pose2sim

    video = fetch_pose2sim() / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.goto(served + "/ui/")
        assert page.title() == "athlete-mm: analyze a video"
        page.set_input_files("#video", str(video))
        page.fill("#max_frames", "40")
        progress = []
        page.on("response", lambda r: progress.append(r.json()) if "/info/progress" in r.url and r.ok else None)
        with page.expect_response(lambda r: "/analyze_task/get" in r.url and r.status == 200, timeout=300_000) as resp:
            page.click("#run")
        out = resp.value.json()
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=60_000)
        # the task's progress was polled and shown
        assert progress and progress[-1]["frames_done"] == progress[-1]["frames_total"] == 40, progress[-3:]
        assert page.get_attribute("#progress", "value") == "1"
        segs = out["recognition"]["segments"]
        assert page.locator("#segments tbody tr").count() == len(segs) >= 1
        assert page.locator("#segments td.action").all_inner_texts() == [s["action"] for s in segs]
        assert page.locator("#timeline rect").count() == len(segs)
        assert page.locator("#feedback h3").count() == len(out["feedback"])
        for f in out["feedback"]:                       # every segment's feedback or its reason is on the page
            text = f["skipped"] or (f["messages"] or ["no joint beyond the threshold"])[0]
            assert page.get_by_text(text, exact=False).count() >= 1, text
        # joint angles (40 frames at 60 fps, a pose in >= 30) and moments (100 Hz) per side
        for j in ("hip_flexion", "knee_angle", "ankle_angle"):
            for s in ("r", "l"):
                assert len(page.get_attribute(f"#angle-{j}-{s}", "points").split()) >= 30
                assert len(page.get_attribute(f"#moment-{j}-{s}", "points").split()) == \
                    sum(v is not None for v in out["moments"]["moments"][f"{j}_{s}_moment"]) >= 40
        # the skeleton of the middle frame is on the overlay; scrubbing redraws another frame's
        mid = len(out["time_s"]) // 2
        assert page.get_attribute("#overlay", "data-drawn") == str(mid)
        assert page.evaluate(PAINTED) > 500
        page.locator("#scrub").fill("5")
        assert page.get_attribute("#overlay", "data-drawn") == "5"
        assert "frame 6 / 40" in page.inner_text("#frame-label")
        page.locator("#scrub").fill(str(mid))
        shot = tmp_path / "web_view.png"
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("ATHLETE_MM_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["ATHLETE_MM_SCREENSHOT"])
