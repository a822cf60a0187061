"""Progress of the service's BentoML tasks (/analyze_task), readable by every server worker.

BentoML's task store (sqlite, `BENTOML_RESULT_STORE`, default `$BENTOML_HOME/task_result.db`) holds a
task's status and result; it has no progress. `Progress(task_id)` writes one small JSON file per task
(frames detected, frames expected, the step; no video content) under `progress_dir()`, replaced
atomically, so a status request that lands on another worker process reads it too.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

_ID = re.compile(r"^[0-9a-f]{32}$")   # BentoML's task ids: uuid4().hex


def progress_dir() -> Path:
    d = Path(os.environ.get("ATHLETE_MM_PROGRESS_DIR") or Path(tempfile.gettempdir()) / f"athlete-mm-tasks-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


class Progress:
    """`progress(done, total)` per detected frame (serving.analyze.analyze_video's hook), `step(name)`."""

    def __init__(self, task_id: str, every_s: float = 0.5):
        self.path = progress_dir() / f"{task_id}.json"
        self.state = {"task_id": task_id, "step": "detecting poses", "frames_done": 0, "frames_total": None,
                      "fraction": 0.0, "started_at": time.time()}
        self.every_s, self.last = every_s, 0.0
        self._write()

    def __call__(self, done: int, total: int | None) -> None:
        self.state.update(frames_done=int(done), frames_total=total,
                          fraction=None if not total else round(min(1.0, done / total), 4))
        if done == total:
            self.state["step"] = "inverse kinematics, recognition, moments, feedback"
        now = time.monotonic()
        if now - self.last >= self.every_s or done == total:
            self._write()
            self.last = now

    def step(self, name: str) -> None:
        self.state["step"] = name
        if name == "completed":
            self.state["fraction"] = 1.0
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.state, "updated_at": time.time()}))
        os.replace(tmp, self.path)


def read_progress(task_id: str) -> dict | None:
    if not _ID.match(task_id or ""):
        return None
    p = progress_dir() / f"{task_id}.json"
    try:
        return json.loads(p.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
