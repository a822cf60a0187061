"""The BentoML service `athlete-mm`: one class, the model bundle loaded once, thin typed endpoints.

    POST /recognize         one recording (window or sequence, any modality subset) -> RecognizeResponse;
                            concurrent requests batched in-process (serving/batching.py); windows already
                            on the model's timeline take serving/timeline.py's path
    POST /recognize_batch   {"requests": [...]} -> [...]; BentoML's adaptive batching across clients
    POST /binary/recognize  /recognize with an application/x-npz body (serving/binary.py): no base64
    POST /torque            joint angles + plates (JSON) -> moments per side with sd (biomech.joint_moments)
    POST /torque_files      IK .mot + GRF .mot (+ ExternalLoads .xml) uploads -> the same, JSON or .sto
    POST /analyze           a video upload (+ imu.npz / grf.npz): landmarks, actions, angles, moments,
                            technique feedback per segment, QC
    /analyze_task/submit, /status, /get   the same as a BentoML task (long videos); GET /info/progress?task_id=
    POST /feedback          joint angles (deg) + segments (+ knee moments) -> technique feedback per segment
    GET  /info/model        versions, provenance, metrics, units and conventions of every output
    GET  /ui/               the web view: upload a video, see segments, probabilities and feedback
    /healthz /livez /readyz /metrics   BentoML's health, readiness and Prometheus endpoints (always open)

Run from source: ``bentoml serve serving.service:AthleteMM``; the packaged bento:
``bentoml serve athlete-mm:latest`` (see README "Serving"). The bundle comes from the BentoML model
store (``athlete-mm-bundle``, written by ``python -m stages.package``) or, for development,
from the directory in ``ATHLETE_MM_BUNDLE``.

Workers: ``ATHLETE_MM_WORKERS`` (default 2, at most the machine's cores) processes, each with the
bundle and ``ATHLETE_MM_THREADS`` (default 1) torch threads: the per-request preprocessing is
single-threaded Python, so throughput grows with workers (up to the free cores); batching helps the
requests on the model's timeline, whose preprocessing runs vectorised over the batch (README "Serving":
windows on the model's timeline), not the general path's (measured on the 2-core VM: 2 workers
43.9 / 34.9 windows/s on /recognize_batch / /recognize at c=32 against 32.2 / 30.7 with 1, at +4 ms
p50 at c=1; 1 is better when other work takes the cores).

Access: when ``ATHLETE_MM_API_KEY`` (or a file named by ``ATHLETE_MM_API_KEY_FILE``) is set at
start-up, every request but health / readiness needs ``Authorization: Bearer <key>`` (or
``X-API-Key``); otherwise 401 and no work is done. The key is never part of the bento.
Uploads are written to a private temporary directory deleted before the response returns.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated
from typing import Optional

import bentoml
from bentoml.exceptions import BadInput
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from serving.auth import ApiKeyMiddleware, load_api_key
from serving.bundle import BUNDLE_MODEL
from serving.limits import RequestLimits, max_request_bytes
from serving.schemas import (FeedbackRequest, FeedbackResponse, RecognizeRequest, RecognizeResponse, TorqueRequest,
                             TorqueResponse)

info_app = FastAPI(title="athlete-mm info")
binary_app = FastAPI(title="athlete-mm binary requests")   # POST /binary/recognize (serving/binary.py)
ui_app = FastAPI(title="athlete-mm web view")
STATIC = Path(__file__).resolve().parent / "static"


@ui_app.get("/", response_class=HTMLResponse)
def web_view() -> str:
    """The one-page web view (serving/static/index.html): upload a video to /analyze, see the
    action timeline, the segments' probabilities, the technique feedback and the knee angles."""
    return (STATIC / "index.html").read_text()


def _bundle_path(ref) -> Path:
    env = os.environ.get("ATHLETE_MM_BUNDLE")
    return Path(env) if env else Path(ref.path)


def _bundle_ref():
    if os.environ.get("ATHLETE_MM_BUNDLE"):
        return None
    return bentoml.models.BentoModel(f"{BUNDLE_MODEL}:latest")


@bentoml.service(name="athlete-mm", traffic={"timeout": 120, "max_concurrency": 64},
                 workers=int(os.environ.get("ATHLETE_MM_WORKERS", min(2, os.cpu_count() or 1))),
                 resources={"cpu": "2"})
@bentoml.asgi_app(info_app, path="/info")
@bentoml.asgi_app(binary_app, path="/binary")
@bentoml.asgi_app(ui_app, path="/ui")
class AthleteMM:
    bundle_ref = _bundle_ref()

    def __init__(self) -> None:
        import torch

        from serving.bundle import load_bundle

        from serving.windows import warm_up

        torch.set_num_threads(int(os.environ.get("ATHLETE_MM_THREADS", "1")))
        self.bundle = load_bundle(_bundle_path(self.bundle_ref))
        warm_up()   # the preprocessing's compiled kernels, before the first request
        from serving.batching import Batcher
        from serving.inference import InputError, recognize_many

        # concurrent /recognize and /binary/recognize requests of this process run as batches
        # (serving/batching.py: one at a time, up to 32; a request that finds it idle runs at once)
        self.batcher = Batcher(lambda reqs: recognize_many(self.bundle, reqs), max_batch_size=32, error=InputError)
        # /analyze's OpenSim IK runs in this process while MediaPipe detects (OpenSim holds the GIL)
        from serving.analyze import warm_up as warm_up_analyze
        from serving.ik_stream import IKWorker

        self.ik_worker = IKWorker()
        warm_up_analyze()   # while the IK process starts

    # ---------------- recognition ----------------
    # max_latency_ms bounds queueing + the batch: a request on the model's timeline costs ~3-6 ms of
    # preprocessing (serving/timeline.py, the batch's together), any other one 10-80 ms (the general
    # path, one after the other; README "Serving"), so a full batch of 32 of those takes 1-4 s on the
    # shared 2-core VM; 10 s keeps concurrency 32 free of 503s
    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=10_000)
    def recognize_batch(self, requests: Annotated[list[RecognizeRequest], Field(min_length=1, max_length=32)]
                        ) -> list[RecognizeResponse]:
        """Many recordings, one model call (requests of concurrent clients are batched together)."""
        from serving.inference import InputError, recognize_many

        try:
            return recognize_many(self.bundle, requests)
        except InputError as exc:
            raise BadInput(str(exc)) from None

    @bentoml.api
    async def recognize(self, request: RecognizeRequest) -> RecognizeResponse:
        """One recording; concurrent requests are batched (serving/batching.py) into one
        ``recognize_many`` (the on-timeline ones preprocessed together) and one model call."""
        from serving.inference import InputError

        try:
            return await self.batcher.submit(request)
        except InputError as exc:
            raise BadInput(str(exc)) from None

    @binary_app.post("/recognize")
    async def recognize_binary(self, request: Request) -> Response:
        """/recognize with an ``application/x-npz`` body (serving/binary.py: the request's JSON without
        its arrays + the arrays as float32 entries): no base64, no JSON text to scan; the same
        validation (400 naming the field) and the same RecognizeResponse JSON."""
        from pydantic import ValidationError

        from serving.binary import BinaryError, from_npz
        from serving.inference import InputError

        try:
            req = RecognizeRequest.model_validate(from_npz(await request.body()))
            out = await self.batcher.submit(req)   # batched with the concurrent /recognize requests
        except BinaryError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except ValidationError as exc:
            return JSONResponse({"error": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                    for e in exc.errors(include_input=False))}, status_code=400)
        except InputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(out.model_dump_json(), media_type="application/json")

    # ---------------- joint moments ----------------
    @bentoml.api
    def torque(self, request: TorqueRequest) -> TorqueResponse:
        """Hip / knee / ankle moments per side (N m) with a per-moment sd, from JSON arrays."""
        from serving.inference import InputError, torque

        try:
            return torque(request)
        except InputError as exc:
            raise BadInput(str(exc)) from None

    @bentoml.api
    def torque_files(self, ik: Path, mass_kg: float, height_m: float, grf: Path = None,
                     external_loads: Path = None, sex: str = "male", cutoff_hz: float = 12.0,
                     uncertainty: int = 8, sync_plates_s: float = 0.0, output: str = "json") -> TorqueResponse:
        """OpenSim files in (IK .mot, GRF .mot, optional ExternalLoads .xml; without it plates are
        assigned to feet automatically): moments as JSON; ``output=sto`` adds the OpenSim .sto text."""
        from biomech.io import RawDataError
        from biomech.joint_moments import joint_moments_from_files, write_moments
        from serving.inference import moment_response

        if not (20 < mass_kg < 300) or not (0.8 < height_m < 2.6):
            raise BadInput(f"mass_kg={mass_kg}, height_m={height_m}: expected 20-300 kg and 0.8-2.6 m")
        if sex not in ("male", "female") or output not in ("json", "sto") or not (0 <= uncertainty <= 64) \
                or not (0 <= sync_plates_s <= 0.5) or not (0 <= cutoff_hz <= 50):
            raise BadInput(f"sex={sex!r} (male|female), output={output!r} (json|sto), uncertainty={uncertainty} "
                           f"(0-64), sync_plates_s={sync_plates_s} (0-0.5), cutoff_hz={cutoff_hz} (0-50)")
        try:
            r = joint_moments_from_files(ik, grf, mass_kg=mass_kg, height_m=height_m, sex=sex,
                                         external_loads=external_loads, cutoff_hz=cutoff_hz or None,
                                         align_s=sync_plates_s, uncertainty=uncertainty)
        except (RawDataError, ValueError, KeyError) as exc:
            raise BadInput(_strip_tmp(str(exc))) from None
        resp = moment_response(r)
        if output == "sto":
            with tempfile.TemporaryDirectory(prefix="athlete-mm-out-") as tmp:
                resp.sto = write_moments(r, Path(tmp) / "moments.sto").read_text()
        return resp

    # ---------------- video analysis ----------------
    @bentoml.api
    def analyze(self, video: Path, mass_kg: float, height_m: float, sex: str = "male", imu: Path = None,
                grf: Path = None, max_frames: int = 1800) -> dict:
        """A video upload (+ optional raw-layout imu.npz / grf.npz): MediaPipe landmarks, action
        segments, joint angles (OpenSim IK), joint moments (plates, or GRF estimated and flagged),
        QC and per-step timings (serving/analyze.py)."""
        return self._analyze(video, mass_kg, height_m, sex, imu, grf, max_frames)

    @bentoml.task
    def analyze_task(self, video: Path, mass_kg: float, height_m: float, ctx: bentoml.Context, sex: str = "male",
                     imu: Path = None, grf: Path = None, max_frames: int = 20_000) -> dict:
        """/analyze for long videos as a BentoML task: POST /analyze_task/submit (the same form) ->
        {"task_id"}; GET /analyze_task/status?task_id= (BentoML's status), GET /info/progress?task_id=
        (frames detected of the expected, the step), GET /analyze_task/get?task_id= -> the /analyze answer."""
        from serving.tasks import Progress

        task_id = getattr(ctx.request.state, "task_id", None)   # None: called directly (POST /analyze_task)
        if task_id is None:
            return self._analyze(video, mass_kg, height_m, sex, imu, grf, max_frames)
        progress = Progress(task_id)
        try:
            out = self._analyze(video, mass_kg, height_m, sex, imu, grf, max_frames, progress)
        except BaseException as exc:
            progress.step(_strip_tmp(f"failed: {exc}")[:300])
            raise
        progress.step("completed")
        return out

    def _analyze(self, video, mass_kg, height_m, sex, imu, grf, max_frames, progress=None) -> dict:
        from serving.analyze import analyze_video
        from serving.inference import InputError
        from serving.schemas import Athlete

        if not (1 <= max_frames <= 20_000):
            raise BadInput(f"max_frames={max_frames}: expected 1..20000")
        try:
            athlete = Athlete(mass_kg=mass_kg, height_m=height_m, sex=sex)
        except ValueError as exc:
            raise BadInput(f"athlete: {exc}") from None
        try:
            return analyze_video(self.bundle, video, athlete, imu, grf, max_frames=max_frames,
                                 ik_worker=self.ik_worker, progress=progress)
        except InputError as exc:
            raise BadInput(_strip_tmp(str(exc))) from None

    @info_app.get("/progress")
    def task_progress(self, task_id: str) -> dict:
        """An /analyze_task's progress: frames detected so far of the expected number, the step."""
        from fastapi import HTTPException

        from serving.tasks import read_progress

        out = read_progress(task_id)
        if out is None:
            raise HTTPException(404, f"task_id={task_id!r}: no such /analyze_task on this server")
        return out

    # ---------------- technique feedback ----------------
    @bentoml.api
    def feedback(self, request: FeedbackRequest) -> FeedbackResponse:
        """DTW deviation per joint from the action's reference movement, flagged joints with the
        direction to correct, the knee-angle RMSE warning and the knee valgus moment flag."""
        from serving.feedback import feedback
        from serving.inference import InputError

        try:
            return feedback(self.bundle, request)
        except InputError as exc:
            raise BadInput(str(exc)) from None

    # ---------------- provenance ----------------
    @info_app.get("/model")
    def model_info(self) -> dict:
        """Versions, provenance, metrics, units and conventions of every output."""
        b = self.bundle
        return {
            "recognizer": {**b.meta["recognizer"], "model": b.model_name, "modalities": list(b.modalities),
                           "metrics": {k: v for k, v in b.metrics.items() if k != "history"}},
            "torque_estimator": _torque_estimator(b.meta.get("torque")),
            "torque_endpoint": "biomech.joint_moments (Newton-Euler inverse dynamics on the de Leva body)",
            "torque_metrics": None if b.torque_metrics is None else
            {k: v for k, v in b.torque_metrics.items() if k != "history"},
            "classes": b.classes, "faults": b.meta.get("faults"), "phases": b.meta.get("phases"),
            "window": {"timeline_hz": b.meta["timeline_hz"], "length": b.meta["window_length"],
                       "stride": b.meta["window_stride"]},
            "provenance": b.meta.get("provenance", {}),
            "feedback": {"settings": b.feedback_settings,
                         "references": None if not b.references else
                         {a: {"clean_clips": r.n_clips, "samples": len(r.mean), "rate_hz": r.rate_hz}
                          for a, r in b.references.items()}},
            "conventions": {
                "landmarks": "MediaPipe Pose 33 landmarks; world in m, camera axes (x right, y down, z away)",
                "imu": "6 sensors pelvis, trunk, wrist_l, wrist_r, shank_l, shank_r; m/s^2 (gravity included), rad/s",
                "plates": "[right, left]; ground frame X forward, Y up, Z right; N, m, N m",
                "angles": "degrees, OpenSim coordinate names and signs (knee flexion positive in athlete-mm)",
                "moments": "N m, '<coordinate>_moment', the input model's signs",
                "time": "s; /recognize on the video clock (first frame = 0)"},
        }


def _torque_estimator(meta: dict | None) -> dict | None:
    """The packaged learned torque estimator's entry, labelled with its scope: nothing served runs it
    (/torque, /torque_files and /analyze use biomech.joint_moments), and its learned residuals made hip
    flexion worse out of distribution (README "Joint moments": the learned torque_ne residuals out of
    distribution), so it is in-distribution only."""
    if meta is None:
        return None
    return {**meta, "scope": "in-distribution only",
            "in_use": False,
            "note": "not used by /torque, /torque_files or /analyze (biomech.joint_moments, physics only); "
                    "its learned residuals are for the generated dataset's bodies and true kinematics, not "
                    "for other bodies or IK angles (reports/torque_learned_ood.md)"}


def _strip_tmp(msg: str) -> str:
    """Error text without the server's temporary upload paths."""
    import re

    return re.sub(r"/tmp/[^\s:]*/", "", msg)


_key = load_api_key()
if _key:  # the outer one (added first): a request without the key is refused before its body is read
    AthleteMM.add_asgi_middleware(ApiKeyMiddleware, key=_key)
AthleteMM.add_asgi_middleware(RequestLimits, max_bytes=max_request_bytes())
