"""The web view (GET /ui/ of the served bento) in a real headless Chromium (Playwright, the system
browser /usr/bin/chromium): upload Pose2Sim's demo video, wait for /analyze, check the timeline,
the segments table, the feedback and the knee-angle plot; a screenshot is written next to the test's
files (and to $ATHLETE_MM_SCREENSHOT when set)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .test_feedback_service import served, squats  # noqa: F401  (fixtures: a served bento with a reference)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (scripts/setup.sh installs it "
                                                              "with apt-get when run as root)")


def test_web_view_uploads_a_video_and_shows_segments_and_feedback(served, tmp_path):  # noqa: F811
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
        with page.expect_response(lambda r: r.url.endswith("/analyze"), timeout=300_000) as resp:
            page.click("#run")
        assert resp.value.status == 200, resp.value.text()[:2000]
        out = resp.value.json()
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=60_000)
        segs = out["recognition"]["segments"]
        assert page.locator("#segments tbody tr").count() == len(segs) >= 1
        assert page.locator("#segments td.action").all_inner_texts() == [s["action"] for s in segs]
        assert page.locator("#timeline rect").count() == len(segs)
        assert page.locator("#feedback h3").count() == len(out["feedback"])
        for f in out["feedback"]:                       # every segment's feedback or its reason is on the page
            text = f["skipped"] or (f["messages"] or ["no joint beyond the threshold"])[0]
            assert page.get_by_text(text, exact=False).count() >= 1, text
        assert len(page.get_attribute("#knee-r", "points").split()) >= 30   # 40 frames, a pose in >= 30
        shot = tmp_path / "web_view.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("ATHLETE_MM_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["ATHLETE_MM_SCREENSHOT"])
