"""What /recognize and /torque compute, without BentoML (the service's methods are thin over this).

    recognize_many(bundle, [RecognizeRequest, ...]) -> [RecognizeResponse, ...]   one model call
    torque(TorqueRequest) -> TorqueResponse                                       biomech.joint_moments
"""
from __future__ import annotations

import numpy as np

from preprocessing.clip import moving_windows

from .schemas import (ClassProbability, RecognizeRequest, RecognizeResponse, Segment, TorqueRequest, TorqueResponse,
                      WindowResult, as_array, columns, timestamps)
from .timeline import on_timeline, timeline_windows
from .windows import REQUEST, Recording, Windows, recording_windows

__all__ = ["InputError", "to_recording", "recognize_many", "run_model", "segments_from_probs", "torque"]


class InputError(ValueError):
    """The request cannot be processed; the message names the field (the service answers 400)."""


def to_recording(req: RecognizeRequest) -> Recording:
    """Validated numpy arrays of a request (ValueError naming the field otherwise)."""
    if req.landmarks is None and req.imu is None and req.grf is None:
        raise InputError("request: no modality given (landmarks, imu and grf are all missing)")
    rec = Recording(mass_kg=req.athlete.mass_kg, height_m=req.athlete.height_m, sex=req.athlete.sex,
                    synchronise=req.synchronise)
    if req.landmarks is not None:
        rec.world, rec.visibility, rec.image = req.landmarks.arrays()
        rec.landmarks_hz = req.landmarks.rate_hz
        rec.image_size = req.landmarks.image_size
        rec.landmarks_t = timestamps(req.landmarks.time, "landmarks.time", len(rec.world))
    if req.imu is not None:
        rec.acc, rec.gyro = req.imu.arrays()
        rec.imu_hz, rec.imu_t0_s = req.imu.rate_hz, req.imu.t0_s
        rec.imu_t = timestamps(req.imu.time, "imu.time", len(rec.acc))
    if req.grf is not None:
        rec.force, rec.cop, rec.free_moment = req.grf.arrays()
        rec.grf_hz, rec.grf_t0_s = req.grf.rate_hz, req.grf.t0_s
        rec.grf_t = timestamps(req.grf.time, "grf.time", len(rec.force))
    return rec


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _timeline_series(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Per-window (N, L) frame values -> one (T,) timeline series (windows overlap; they agree)."""
    T = int(starts[-1]) + length
    out = np.zeros(T, values.dtype)
    for v, s in zip(values, starts):
        out[s:s + length] = v
    return out


def segments_from_probs(probs: np.ndarray, starts: np.ndarray, length: int, classes: list[str],
                        t0: float, fs: float) -> list[Segment]:
    """Action segments: each frame takes the mean calibrated probabilities of the windows covering it;
    runs of the same argmax become segments."""
    T = int(starts[-1]) + length
    acc = np.zeros((T, probs.shape[1]))
    n = np.zeros(T)
    for p, s in zip(probs, starts):
        acc[s:s + length] += p
        n[s:s + length] += 1
    frame = acc / np.maximum(n, 1)[:, None]
    lab = frame.argmax(1)
    cuts = np.flatnonzero(np.diff(lab)) + 1
    out = []
    for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [T]])):
        k = int(lab[a])
        out.append(Segment(action=classes[k], t_start_s=round(t0 + a / fs, 4), t_end_s=round(t0 + b / fs, 4),
                           probability=round(float(frame[a:b, k].mean()), 4)))
    return out


def run_model(bundle, wins: list[Windows]) -> list[dict]:
    import torch

    # only what the model reads (the served recognizers read no video: its zeros are never built), and
    # one request's arrays as they are (torch.from_numpy shares the memory: no copy)
    keys = tuple(m for m in ("video", "landmarks", "imu", "grf") if m in bundle.modalities) + ("modality_mask",)
    batch = {k: torch.from_numpy(wins[0].batch[k] if len(wins) == 1 else np.concatenate([w.batch[k] for w in wins]))
             for k in keys}
    with torch.inference_mode():
        out = bundle.model(batch)
    logits = out["logits"].numpy()
    fault = out.get("fault_logits")
    fault = fault.numpy() if fault is not None else None
    res, i = [], 0
    for w in wins:
        n = len(w.t_start_s)
        res.append({"logits": logits[i:i + n], "fault": None if fault is None else fault[i:i + n]})
        i += n
    return res


def fault_probabilities(fault_logits: np.ndarray, action: np.ndarray, admissible) -> np.ndarray:
    """Fault probabilities (N, F) given each window's (predicted) action (N,): the softmax over the
    faults ``admissible[action]`` (the bundle's ``fault_admissible``, as the head was trained);
    the others get 0. ``admissible`` None: over every fault."""
    fl = np.asarray(fault_logits, dtype=float)
    if admissible is not None:
        fl = np.where(np.asarray(admissible, dtype=bool)[np.asarray(action, dtype=int)], fl, -np.inf)
    return _softmax(fl)


def _response(bundle, req: RecognizeRequest, w: Windows, out: dict) -> RecognizeResponse:
    classes = bundle.classes
    probs = _softmax(out["logits"] / bundle.temperature)
    L, fs = int(bundle.meta["window_length"]), w.timeline_hz
    t0 = float(w.t_start_s[0])
    starts = np.round((w.t_start_s - t0) * fs).astype(int)
    faults = bundle.meta.get("faults") or []
    fprobs = (fault_probabilities(out["fault"], probs.argmax(1), bundle.meta.get("fault_admissible"))
              if out["fault"] is not None and faults else None)
    moving = moving_windows(w.phase, getattr(bundle.preprocess.window, "min_core_fraction", 0.0))
    windows = []
    for i, p in enumerate(probs):
        order = np.argsort(-p)[:req.top_k]
        windows.append(WindowResult(
            t_start_s=round(float(w.t_start_s[i]), 4), t_end_s=round(float(w.t_start_s[i] + L / fs), 4),
            action=classes[int(order[0])], probabilities={c: round(float(v), 5) for c, v in zip(classes, p)},
            top_k=[ClassProbability(action=classes[int(k)], probability=round(float(p[k]), 5)) for k in order],
            fault=None if fprobs is None else {f: round(float(v), 5) for f, v in zip(faults, fprobs[i])},
            moving=bool(moving[i])))
    phase_names = bundle.meta.get("phases") or ["preparation", "core", "recovery"]
    phase = _timeline_series(w.phase, starts, L)
    mask = w.batch["modality_mask"][0]
    used = {m: bool(mask[k]) and m in bundle.modalities for k, m in enumerate(("video", "landmarks", "imu", "grf"))}
    return RecognizeResponse(
        model=bundle.model_name, temperature=bundle.temperature,
        temperature_source=bundle.meta["recognizer"]["temperature_source"], modalities_used=used,
        windows=windows, frame_rate_hz=fs, frame_t0_s=round(t0, 4), phase=[phase_names[int(k)] for k in phase],
        segments=segments_from_probs(probs, starts, L, classes, t0, fs), sync=_plain(w.sync))


def _plain(d):
    """JSON-safe copy (numpy scalars -> floats, NaN -> None)."""
    if isinstance(d, dict):
        return {str(k): _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    if isinstance(d, (np.floating, float)):
        return None if not np.isfinite(d) else float(d)
    if isinstance(d, np.integer):
        return int(d)
    if isinstance(d, np.bool_):
        return bool(d)
    return d


def recognize_many(bundle, reqs: list[RecognizeRequest]) -> list[RecognizeResponse]:
    """Preprocess every request with the preprocess stage's path (the recordings already on the model's
    timeline together, by serving.timeline; the others one by one), then one batched model call.
    Raises InputError (naming the field, with the request's position when there are several)."""
    from biomech.io import RawDataError
    from preprocessing.clip import ClipError

    recs = []
    for i, req in enumerate(reqs):
        try:
            recs.append(to_recording(req))
        except ValueError as exc:
            raise _input_error(i, reqs, exc) from None
    wins: list = [None] * len(reqs)
    fast = [i for i, r in enumerate(recs) if on_timeline(r, bundle)]
    if fast:
        try:   # one vectorised pass over the on-timeline recordings (serving/timeline.py)
            done = timeline_windows([recs[i] for i in fast], bundle)
        except (ValueError, ArithmeticError):   # e.g. a degenerate skeleton: each one alone, and the one
            done = [_timeline_alone(recs[i], bundle) for i in fast]   # that fails takes the general path,
        for i, w in zip(fast, done):                                   # whose error names the field
            wins[i] = w
    for i, rec in enumerate(recs):
        if wins[i] is not None:
            continue
        try:
            wins[i] = recording_windows(rec, bundle)
        except (ValueError, ClipError, RawDataError) as exc:
            raise _input_error(i, reqs, exc) from None
    return [_response(bundle, r, w, o) for r, w, o in zip(reqs, wins, run_model(bundle, wins))]


def _timeline_alone(rec: Recording, bundle) -> Windows | None:
    try:
        return timeline_windows([rec], bundle)[0]
    except (ValueError, ArithmeticError):
        return None


def _input_error(i: int, reqs: list, exc: Exception) -> InputError:
    """The InputError of request ``i``: its position when there are several, no internal file name."""
    msg = str(exc)
    if msg.startswith(str(REQUEST)):  # "request/imu.npz: ..." names a file the caller never sent
        msg = msg.split(": ", 1)[-1]
    return InputError(f"{'requests[%d]: ' % i if len(reqs) > 1 else ''}{msg}")


def torque(req: TorqueRequest) -> TorqueResponse:
    """biomech.joint_moments on JSON arrays (the same call `athlete-mm torque` makes on files)."""
    try:
        return _torque(req)
    except InputError:
        raise
    except ValueError as exc:  # as_array / timestamps name the field
        raise InputError(str(exc)) from None


def _torque(req: TorqueRequest) -> TorqueResponse:
    from biomech.io import RawDataError
    from biomech.joint_moments import joint_moments

    if not req.coordinates:
        raise InputError("coordinates: empty (expected OpenSim coordinate names -> (T,) values)")
    coords, t = columns(req.coordinates, "coordinates", req.time, "time", req.rate_hz)
    for k, v in coords.items():
        if not np.isfinite(v).all():
            raise InputError(f"coordinates.{k}: non-finite values")
    plates, tg = None, None
    if req.plates:
        if req.grf_rate_hz is None:
            raise InputError("grf_rate_hz: required with plates")
        plates = {}
        for pre, p in req.plates.items():
            missing = [k for k in ("force", "point") if k not in p]
            if missing:
                raise InputError(f"plates.{pre}: missing {missing} (expected force, point, optional torque)")
            arr = {k: as_array(p[k], f"plates.{pre}.{k}", (3,)) for k in p if k in ("force", "point", "torque")}
            arr.setdefault("torque", np.zeros_like(arr["force"]))
            if len({len(a) for a in arr.values()}) != 1:
                raise InputError(f"plates.{pre}: force / point / torque of different lengths")
            for k, a in arr.items():
                if not np.isfinite(a).all():
                    raise InputError(f"plates.{pre}.{k}: non-finite values")
            plates[pre] = arr
        n = len(next(iter(plates.values()))["force"])
        if any(len(p["force"]) != n for p in plates.values()):
            raise InputError("plates: plates of different lengths (one time axis, grf_time, for all)")
        tg = timestamps(req.grf_time, "grf_time", n)
        tg = np.arange(n) / req.grf_rate_hz if tg is None else tg
    try:
        r = joint_moments(t, coords, tg, plates, mass_kg=req.athlete.mass_kg, height_m=req.athlete.height_m,
                          sex=req.athlete.sex or "male", model=req.model, assignment=req.external_loads,
                          cutoff_hz=req.cutoff_hz or None, align_s=req.sync_plates_s,
                          uncertainty=req.uncertainty)
    except (ValueError, KeyError, RawDataError) as exc:
        raise InputError(f"coordinates / plates: {exc}") from None
    return moment_response(r)


def moment_response(r) -> TorqueResponse:
    """A biomech.joint_moments.MomentResult as the API's response."""
    return TorqueResponse(
        time_s=np.round(r.time, 6).tolist(), moments={k: np.round(v, 4).tolist() for k, v in r.moments.items()},
        sd=None if r.sd is None else {k: np.round(v, 4).tolist() for k, v in r.sd.items()},
        model_signs=r.model, plate_assignment=r.assignment, assignment_source=r.assignment_source,
        grf_estimated=r.assignment_source.startswith("estimated"), cutoff_hz=r.cutoff_hz, notes=r.notes)
