"""Technique feedback in the service: biomech.feedback against the references in the bundle.

    segment_feedback(bundle, time, angles, segments, moment_time, moments) -> [SegmentFeedback]  (/analyze)
    feedback(bundle, FeedbackRequest) -> FeedbackResponse                                         (/feedback)
"""
from __future__ import annotations

import numpy as np

from .inference import InputError
from .schemas import FeedbackRequest, FeedbackResponse, SegmentFeedback, as_array, columns, timestamps

MAX_ABS_DEG = 1e4      # a joint angle beyond this is not degrees
MAX_ABS_N = 1e5        # a plate force beyond this is not newtons
NO_REFERENCE = "no reference movements in this bento (package built without `python -m stages.reference`)"


def segment_feedback(bundle, time, angles: dict, segments, moment_time=None, moments=None,
                     plates: dict | None = None, landmarks: dict | None = None) -> list[SegmentFeedback]:
    """Feedback per (action, t_start_s, t_end_s) segment; every segment is skipped (with the reason)
    when the bundle carries no reference. ``plates``: {"time", "force_y" (T, 2) N, "mass_kg", "sides"}
    for the load flag and the landing detector; ``landmarks``: {"time", "points"} of
    ``biomech.feedback.prepare_landmarks`` for the valgus detector (``biomech.feedback.feedback_for_segments``)."""
    from biomech.feedback import feedback_for_segments

    segments = [(s[0], float(s[1]), float(s[2])) for s in segments]
    if not bundle.references:
        return [SegmentFeedback(action=a, t_start_s=t0, t_end_s=t1, skipped=NO_REFERENCE) for a, t0, t1 in segments]
    out = feedback_for_segments(bundle.references, bundle.feedback_settings or {}, np.asarray(time, dtype=float),
                                angles, segments, moment_time, moments, plates, landmarks)
    return [SegmentFeedback.model_validate(x) for x in out]


def feedback(bundle, req: FeedbackRequest) -> FeedbackResponse:
    from biomech.feedback import FEEDBACK_JOINTS

    missing = [j for j in FEEDBACK_JOINTS if j not in req.angles]
    if missing:
        raise InputError(f"angles: missing {missing} (expected OpenSim coordinate names, degrees)")
    try:
        ang, t = columns({k: v for k, v in req.angles.items() if k in FEEDBACK_JOINTS}, "angles", req.time,
                         "time", req.rate_hz)
        mt, mom = None, None
        if req.moments:
            mom, mt = columns(req.moments, "moments", req.moments_time, "moments_time")
            if mt is None:
                raise InputError("moments_time: required with moments")
    except InputError:
        raise
    except ValueError as exc:  # as_array / timestamps name the field
        raise InputError(str(exc)) from None
    for k, v in ang.items():
        if (np.abs(v[np.isfinite(v)]) > MAX_ABS_DEG).any() or np.isinf(v).any():
            raise InputError(f"angles.{k}: values beyond +-{MAX_ABS_DEG:g} deg (expected degrees)")
        if np.isfinite(v).sum() < 4:
            raise InputError(f"angles.{k}: fewer than 4 finite values")
    if mom is not None:
        for k, v in mom.items():
            if not np.isfinite(v).all() or (np.abs(v) > 1e5).any():
                raise InputError(f"moments.{k}: non-finite or beyond +-1e5 N m")
    plates = None if req.plates is None else _plates(req.plates)
    bad = [i for i, s in enumerate(req.segments) if not s.t_end_s > s.t_start_s]
    if bad:
        raise InputError(f"segments[{bad[0]}]: t_end_s must be after t_start_s")
    segs = [(s.action, s.t_start_s, s.t_end_s) for s in req.segments]
    try:
        out = segment_feedback(bundle, t, ang, segs, mt, mom, plates)
    except ValueError as exc:   # biomech.feedback.FeedbackError and DTW on unusable input
        raise InputError(f"angles: {exc}") from None
    return FeedbackResponse(segments=out, settings=bundle.feedback_settings or {"note": NO_REFERENCE})


def _plates(pl) -> dict:
    """The request's plates as ``biomech.feedback.feedback_for_segments`` takes them; InputError names the field."""
    try:
        fy = as_array(pl.force_y, "plates.force_y", (2,))
        t = timestamps(pl.time, "plates.time", len(fy))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not np.isfinite(fy).all() or (np.abs(fy) > MAX_ABS_N).any():
        raise InputError(f"plates.force_y: non-finite or beyond +-{MAX_ABS_N:g} N")
    return {"time": t, "force_y": fy, "mass_kg": pl.mass_kg, "sides": tuple(pl.sides) if pl.sides else None}
