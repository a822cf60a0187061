"""/analyze's OpenSim IK in chunks, in a second process, while MediaPipe detects the later frames.

OpenSim's Python bindings hold the GIL through every solver call, so the IK cannot overlap MediaPipe
in a thread; `IKWorker` is one spawned process (per server worker, started and warmed up with the
service) that keeps one `ChunkedIK` per running /analyze request. The request sends each new run of
detected frames as MediaPipe produces them (`IKWorker.feed`), and the last call (`finish`) returns
what `serving.analyze.ik_angles` returns for the whole clip.

`ChunkedIK` is `ik_angles` done chunk-wise (the same library functions, in the same order):

* `unswap_limbs` is causal, so on a prefix of the frames it gives the whole clip's answer there;
* the body is scaled to the first `calibration_frames` frames with a pose (`ik_angles`: every frame;
  the only step whose input differs);
* `uniform_landmarks` (spline fill + 6 Hz zero-lag low-pass) runs on all frames received so far, and
  only the frames more than `margin_frames` before the last one are solved: the filtfilt's answer
  there no longer depends on the frames still to come (to rounding, for a margin of a few filter
  time constants);
* the OpenSim tracking continues from the previous chunk's pose (`biomech.ik.IKTracker`: each chunk
  is loaded into a new solver, whose first frame is a full assembly from that pose), and the first
  `BACKTRACK_FRAMES` frames are re-solved backwards as soon as the frame after them is solved.

The answers agree with the whole-clip `ik_angles` within the tolerance measured in README "Serving"
(tests/test_serving_analyze.py asserts it on Pose2Sim's demo video).
"""
from __future__ import annotations

import numpy as np

CHUNK_FRAMES = 15          # frames per message from the detection loop to the IK process
MARGIN_S = 0.25            # frames this close to the newest one wait for the next chunk (low-pass settling)
CALIBRATION_S = 1.0        # the body is scaled to this much of the start (frames with a pose)


class ChunkedIK:
    """Incremental `serving.analyze.ik_angles` (module doc): `add(t, world, visibility)` with the new
    frames (video clock s, MediaPipe world landmarks (n, 33, 3), visibility (n, 33)), then `finish()`
    -> (grid s, degrees (M, 29) unwrapped, IKResult); `cpu_s`: the CPU time spent in them."""

    def __init__(self, *, fps: float, sex: str, height_m: float, mass_kg: float, cutoff_hz: float | None = 6.0,
                 margin_s: float = MARGIN_S, calibration_s: float = CALIBRATION_S, body=None):
        self.body = body       # a scaled biomech.body.Body: no calibration (tests, a known athlete)
        self.fps, self.sex, self.height_m, self.mass_kg, self.cutoff_hz = float(fps), sex, height_m, mass_kg, cutoff_hz
        self.margin = max(1, round(margin_s * self.fps))
        self.calibration = max(8, round(calibration_s * self.fps))
        self.t, self.world, self.vis = [], [], []
        self.tracker = None
        self.q, self.err_rms, self.err_max, self.in_use = [], [], [], []
        self.P = None          # filtered landmarks of the solved frames (for the backtrack)
        self.backtracked = False
        self.pts = []          # landmarks turned y-up, left/right swaps undone (unswap_limbs is causal)
        self.cpu_s = 0.0       # this process' CPU time in add / finish

    def add(self, t: np.ndarray, world: np.ndarray, visibility: np.ndarray) -> int:
        """Append frames, solve what is settled; -> number of frames solved so far."""
        import time

        c = time.process_time()
        self.t.append(np.asarray(t, dtype=float))
        self.vis.append(np.asarray(visibility, dtype=float))
        self._unswap(np.asarray(world, dtype=float))
        self._solve(final=False)
        self.cpu_s += time.process_time() - c
        return len(self.q)

    def finish(self):
        from biomech.conventions import COORDINATES, TRANSLATIONS
        from biomech.ik import IKResult

        from .analyze import unwrapped_degrees

        import time

        c = time.process_time()
        grid = self._solve(final=True)
        self.cpu_s += time.process_time() - c
        q = np.array(self.q)
        rot = np.array([c not in TRANSLATIONS for c in COORDINATES])
        q[:, rot] = np.angle(np.exp(1j * q[:, rot]))  # wrap to (-pi, pi], as solve_ik does
        ik = IKResult(grid, q, np.array(self.err_rms), np.array(self.err_max), np.array(self.in_use, dtype=int))
        return grid, unwrapped_degrees(ik), ik

    # ---- steps ----
    def _unswap(self, world: np.ndarray) -> None:
        """unswap_limbs on the new frames after the last two frames with a pose (already corrected):
        their constant-velocity prediction is what the whole clip's pass would use, so the result is
        the whole clip's."""
        from biomech.ik import mediapipe_world_to_ylab, unswap_limbs

        new = mediapipe_world_to_ylab(world)
        prev = [p for p in self.pts[::-1] if np.isfinite(p).all()][:2][::-1]
        out, _ = unswap_limbs(np.concatenate([np.array(prev).reshape(-1, *new.shape[1:]), new]))
        self.pts.extend(out[len(prev):])

    def _points(self):
        return np.concatenate(self.t), np.array(self.pts), np.concatenate(self.vis)

    def _start(self, pts, vis, seen, final: bool) -> bool:
        from biomech.ik import DETECTOR_PRIOR, IKTracker, calibrate_body

        from .inference import InputError

        if seen.sum() < self.calibration and not final and self.body is None:
            return False
        if seen.sum() < 8 and not final:
            return False
        if seen.sum() < 8:
            raise InputError(f"video: a pose in {int(seen.sum())} of {len(pts)} frames (need 8 for the IK)")
        first = np.flatnonzero(seen)[:self.calibration]
        body = self.body or calibrate_body(pts[first], vis[first], sex=self.sex, height=self.height_m,
                                           mass=self.mass_kg)
        self.tracker = IKTracker(body, coordinate_weights=DETECTOR_PRIOR)
        return True

    def _solve(self, final: bool):
        from biomech.ik import BACKTRACK_FRAMES, uniform_landmarks
        from sigproc.gaps import uniform_grid

        from .inference import InputError

        t, pts, vis = self._points()
        seen = np.isfinite(pts).all((1, 2))
        if (self.tracker is None and not self._start(pts, vis, seen, final)) or not seen.any():
            return None
        try:
            done = len(self.q)
            grid = uniform_grid(t[seen][0], t[seen][-1], self.fps)   # the whole clip's frame grid (so far)
            upto = len(grid) if final else len(grid) - self.margin
            if upto > done:
                # the low-pass on a window from 4 margins before the first unsolved frame (its start's
                # transient has settled there as the end's has `margin` before the newest frame)
                lo = max(0, done - 4 * self.margin)
                use = t >= grid[lo] - 2.0 / self.fps
                _, P, _ = uniform_landmarks(t[use], pts[use], self.fps, self.cutoff_hz, grid=grid[lo:])
                self._forward(grid, P, done, upto, lo)
            if not self.backtracked and (len(self.q) > BACKTRACK_FRAMES or (final and len(self.q) > 1)):
                self._backtrack(grid, min(BACKTRACK_FRAMES, len(self.q) - 1))
        except (ValueError, RuntimeError) as exc:   # OpenSim's assembler gave up / nothing to fit
            raise InputError(f"video: inverse kinematics failed ({str(exc).splitlines()[0][:200]})") from None
        return grid

    def _forward(self, grid, P, done: int, upto: int, lo: int) -> None:
        """Solve grid frames [done, upto); P holds the filtered landmarks of grid frames lo...."""
        tr = self.tracker
        new = P[done - lo:upto - lo]
        tr.load(grid[done:upto], new)
        if done == 0:
            tr.start_pose(new)
        for k in range(upto - done):
            q, rms, mx, n = tr.frame(k, assemble=k == 0)
            self.q.append(q), self.err_rms.append(rms), self.err_max.append(mx), self.in_use.append(n)
        self.P = new if self.P is None else np.concatenate([self.P, new])

    def _backtrack(self, grid, m: int) -> None:
        """solve_ik's backtrack: frames m-1..0 re-solved tracking backwards from frame m, each keeping the
        solution with the smaller maximum marker error; then the pose goes back to the newest frame."""
        tr = self.tracker
        tr.load(grid[:m + 1], self.P[:m + 1])
        tr.set_pose(self.q[m])
        tr.frame(m, assemble=True)   # a new solver starts with an assembly (from frame m's solution)
        for k in range(m - 1, -1, -1):
            back = tr.frame(k, assemble=False)
            if np.nan_to_num(back[2], nan=np.inf) < np.nan_to_num(self.err_max[k], nan=np.inf):
                self.q[k], self.err_rms[k], self.err_max[k], self.in_use[k] = back
        tr.set_pose(self.q[-1])
        self.backtracked = True


# ---------------- the IK process ----------------
_JOBS: dict[str, ChunkedIK] = {}


def _warm() -> bool:
    """Imports and one OpenSim model built in the IK process (its first request then starts at once)."""
    from biomech.body import build_body
    from biomech.ik import IKTracker, uniform_landmarks

    IKTracker(build_body("male", 1.75, 70.0))
    uniform_landmarks(np.arange(20) / 30.0, np.random.default_rng(0).normal(size=(20, 33, 3)), 30.0)  # scipy, sigproc
    return True


def _add(job: str, settings: dict | None, t, world, vis) -> int:
    if settings is not None:
        _JOBS[job] = ChunkedIK(**settings)
    return _JOBS[job].add(t, world, vis)


def _finish(job: str):
    try:
        return (*_JOBS[job].finish(), _JOBS[job].cpu_s)
    finally:
        _JOBS.pop(job, None)


def _drop(job: str) -> None:
    _JOBS.pop(job, None)


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """In the IK process: exit when the server process that started it is gone. A server worker
    stopped with SIGKILL (as `bentoml serve` may stop its workers) cannot shut its pool down, and the
    orphaned IK process (~750 MB with OpenSim loaded) would otherwise live on."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="ik-parent-watch", daemon=True).start()


class IKWorker:
    """One spawned process running `ChunkedIK`s; calls go in order (one worker), each request under its
    own job id, so concurrent requests share the process without mixing their state. The process exits
    by itself when its parent dies."""

    def __init__(self):
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_exit_with_parent, initargs=(os.getpid(),))
        self.ready = self.pool.submit(_warm)

    def job(self, **settings) -> "IKJob":
        return IKJob(self, settings)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class IKJob:
    """One request's IK: `feed(t, world, visibility)` with every frame detected so far (only the new
    ones are sent, every `CHUNK_FRAMES`), `finish(...)` with all of them -> (*ChunkedIK.finish(), the IK
    process' CPU s for this request)."""

    def __init__(self, worker: IKWorker, settings: dict):
        import uuid

        self.worker, self.settings, self.id, self.sent, self.futures = worker, settings, uuid.uuid4().hex, 0, []

    def feed(self, t, world, vis, force: bool = False) -> None:
        n = len(t)
        if n - self.sent < CHUNK_FRAMES and not (force and n > self.sent):
            return
        first = self.sent == 0
        self.futures.append(self.worker.pool.submit(_add, self.id, self.settings if first else None,
                                                    np.asarray(t[self.sent:n]), np.asarray(world[self.sent:n]),
                                                    np.asarray(vis[self.sent:n])))
        self.sent = n

    def finish(self, t, world, vis):
        self.submit_finish(t, world, vis)
        return self.result()

    def submit_finish(self, t, world, vis) -> None:
        """Send the last frames and the finish, without waiting: the IK process solves the last chunk
        while this process goes on (the recognizer); `result()` then waits for it."""
        try:
            self.feed(t, world, vis, force=True)
            self.futures.append(self.worker.pool.submit(_finish, self.id))
        except BaseException:
            self.drop()
            raise

    def result(self):
        """The finish's answer (`finish`); an error of any chunk (InputError) is raised here."""
        try:
            for f in self.futures[:-1]:
                f.result()
            return self.futures[-1].result()
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        """Forget this request's state in the IK process (a failed request)."""
        try:
            self.worker.pool.submit(_drop, self.id)
        except Exception:   # the process is gone (BrokenProcessPool) or shut down: nothing to forget
            pass
