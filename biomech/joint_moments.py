"""The public joint-moment API: OpenSim lab files in, hip / knee / ankle moments out.

    result = joint_moments_from_files("ik.mot", "grf.mot", mass_kg=72, height_m=1.78,
                                      external_loads="loads.xml")   # or None: automatic assignment
    write_moments(result, "moments.sto")                            # or .json

One path for the CLI (`athlete-mm torque`) and the service: the IK file's coordinates are mapped
to the project's model (`biomech.coordinate_maps`: names, signs, pelvis origin), every plate is
assigned to a foot (from the ExternalLoads file, or from where its centre of pressure lies
relative to the feet), the plates under one foot are summed as wrenches, and
`biomech.inverse_dynamics.inverse_dynamics` computes the moments at the IK file's rate. Moments
are written with OpenSim names (``knee_angle_r_moment``) and the *input model's* signs.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from biomech.body import Body, build_body, forward_kinematics
from biomech.coordinate_maps import detect_model, get_map, moments_from_project, to_project
from biomech.dynamics import sole_polygon
from biomech.inverse_dynamics import UNLOADED_N, IDResult, Plate, inverse_dynamics, moment_uncertainty
from biomech.io import GRF_FORCE, RawDataError, read_coordinates_deg, read_grf_mot, write_mot

__all__ = ["MomentResult", "read_external_loads", "assign_plates", "joint_moments", "joint_moments_from_files",
           "write_moments", "summary"]


@dataclass
class MomentResult:
    time: np.ndarray
    moments: dict[str, np.ndarray]  # '<coordinate>_moment' -> (T,) N m, the input model's signs
    model: str
    assignment: dict[str, str]  # plate prefix -> 'r' / 'l' / 'r+l' (automatic, per contact) or the XML's
    assignment_source: str
    cutoff_hz: float | None
    rate_hz: float
    mass_kg: float
    notes: list[str] = field(default_factory=list)
    id_result: IDResult | None = None
    sd: dict[str, np.ndarray] | None = None  # '<coordinate>_moment' -> (T,) N m, body-model spread


def read_external_loads(path: str | Path) -> dict[str, str]:
    """An OpenSim ExternalLoads .xml -> {plate prefix: foot side}. Each ExternalForce must apply to a
    right or left foot body (name ending in _r / _l: calcn_r, foot_l, ...), with force and point
    expressed in ground; its force_identifier (``1_ground_force_v``) gives the plate prefix."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise RawDataError(f"{path}: unreadable ExternalLoads XML ({exc})") from exc
    out = {}
    for ef in root.iter("ExternalForce"):
        name = ef.get("name", "?")

        def text(tag: str, default: str = "") -> str:
            el = ef.find(tag)
            return el.text.strip() if el is not None and el.text else default

        body = text("applied_to_body")
        side = "r" if body.endswith("_r") else "l" if body.endswith("_l") else None
        if side is None:
            raise RawDataError(f"{path}: ExternalForce {name!r} applied_to_body={body!r}, expected a foot body "
                               "ending in _r or _l")
        for tag in ("force_expressed_in_body", "point_expressed_in_body"):
            if text(tag, "ground") != "ground":
                raise RawDataError(f"{path}: ExternalForce {name!r} {tag}={text(tag)!r}; only 'ground' is supported")
        fid = text("force_identifier")
        if not fid.endswith(GRF_FORCE[0][:-1]):
            raise RawDataError(f"{path}: ExternalForce {name!r} force_identifier={fid!r}, expected "
                               "'<prefix>ground_force_v'")
        out[fid[: -len(GRF_FORCE[0][:-1])]] = side
    if not out:
        raise RawDataError(f"{path}: no ExternalForce element")
    return out


def _sole_centres(body: Body, q: np.ndarray) -> dict[str, np.ndarray]:
    x0, x1, _ = sole_polygon(body)
    pose = forward_kinematics(body, torch.as_tensor(q))
    return {s: pose.point(f"foot_{s}", ((x0 + x1) / 2, -body.ankle_height, 0.0)).numpy() for s in ("r", "l")}


def assign_plates(body: Body, t: np.ndarray, q: np.ndarray, tg: np.ndarray,
                  plates: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Automatic plate-to-foot assignment: each contact (a run of loaded samples) of each plate goes
    to the foot whose sole centre is nearest, on the floor, to its centre of pressure on average.
    Returns {prefix: (N,) array of 'r' / 'l' / '' (unloaded) per GRF sample}."""
    soles = _sole_centres(body, q)
    out = {}
    for pre, p in plates.items():
        lab = np.full(len(tg), "", dtype="<U1")
        loaded = p["force"][:, 1] > UNLOADED_N
        edges = np.diff(np.concatenate([[0], loaded.astype(int), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            ts = tg[a:b]
            d = {s: np.linalg.norm((np.stack([np.interp(ts, t, soles[s][:, k]) for k in (0, 2)], 1)
                                    - p["point"][a:b][:, [0, 2]]), axis=1).mean() for s in ("r", "l")}
            lab[a:b] = min(d, key=d.get)
        out[pre] = lab
    return out


def _foot_plates(tg: np.ndarray, plates: dict[str, dict[str, np.ndarray]],
                 owner: dict[str, np.ndarray]) -> dict[str, Plate | None]:
    """Sum, per foot, the wrenches (about the floor origin) of the plate samples it owns -> one Plate."""
    out = {}
    for s in ("r", "l"):
        F = np.zeros((len(tg), 3))
        M = np.zeros((len(tg), 3))
        used = False
        for pre, p in plates.items():
            mine = (owner[pre] == s)[:, None]
            if not mine.any():
                continue
            used = True
            F += np.where(mine, p["force"], 0.0)
            M += np.where(mine, np.cross(p["point"], p["force"]) + p["torque"], 0.0)
        if not used:
            out[s] = None
            continue
        fy = np.where(np.abs(F[:, 1]) > 1e-9, F[:, 1], np.inf)
        cop = np.stack([M[:, 2] / fy, np.zeros(len(tg)), -M[:, 0] / fy], 1)
        free = M[:, 1] - (cop[:, 2] * F[:, 0] - cop[:, 0] * F[:, 2])
        out[s] = Plate(tg, F, cop, free)
    return out


def _estimated_feet(body: Body, t: np.ndarray, q: np.ndarray, cutoff_hz: float | None) -> tuple[np.ndarray, dict]:
    """No plate: the coordinates low-passed once, and each foot's load estimated from them."""
    from biomech.grf_estimate import estimate_grf
    from sigproc.filters import butter_lowpass

    rate = 1.0 / float(np.median(np.diff(t)))
    qf = butter_lowpass(q, rate, cutoff_hz) if cutoff_hz else q
    grf, _ = estimate_grf(body, t, qf)
    return qf, {s: Plate(t, g["force"], g["cop"], g["free_moment"]) for s, g in grf.items()}


def _plate_feet(body: Body, t: np.ndarray, q: np.ndarray, tg: np.ndarray, plates: dict[str, dict[str, np.ndarray]],
                assignment: dict[str, str] | None) -> tuple[dict[str, Plate | None], str, dict[str, str]]:
    """Each foot's Plate from the GRF file's plates, assigned by the ExternalLoads table or automatically;
    with the assignment's source and a label per plate, for the summary."""
    if assignment is None:
        owner = assign_plates(body, t, q, tg, plates)
        source = "automatic (COP nearest to the sole centre, per contact)"
        labels = {pre: "+".join(sorted(set(o) - {""}, reverse=True)) or "unloaded" for pre, o in owner.items()}
    else:
        missing = [pre or "(no prefix)" for pre in assignment if pre not in plates]
        if missing:
            raise RawDataError(f"ExternalLoads names plate(s) {missing} absent from the GRF file "
                               f"(it has {[p or '(no prefix)' for p in plates]})")
        owner = {pre: np.full(len(tg), assignment.get(pre, ""), dtype="<U1") for pre in plates}
        source = "ExternalLoads file"
        labels = {pre: assignment.get(pre, "unused") for pre in plates}
    return _foot_plates(tg, plates, owner), source, labels


def joint_moments(t: np.ndarray, coordinates: dict[str, np.ndarray], tg: np.ndarray | None,
                  plates: dict[str, dict[str, np.ndarray]] | None, *, mass_kg: float, height_m: float,
                  sex: str = "male", model: str | None = None, assignment: dict[str, str] | None = None,
                  cutoff_hz: float | None = 12.0, align_s: float = 0.0, uncertainty: int = 0) -> MomentResult:
    """Moments from coordinates {name: (T,) deg / m} at times t and plates {prefix: force, point,
    torque (N,3)} at times tg (see module docstring); plates=None estimates each foot's load from
    the kinematics (`biomech.grf_estimate`). align_s > 0 refines the plates' clock within
    +-align_s against the kinematics; uncertainty > 0 adds the standard deviation over that many
    body models drawn around de Leva's (`moment_uncertainty`)."""
    knee = coordinates.get("knee_angle_r")
    model = model or detect_model(list(coordinates), knee)
    body = build_body(sex, height_m, mass_kg)
    q, unused = to_project(model, coordinates, height_m)
    notes = [f"ignored coordinates of {model}: {', '.join(unused)}"] if unused else []
    filter_hz = cutoff_hz
    if plates is None:
        q, feet = _estimated_feet(body, t, q, cutoff_hz)
        cutoff_hz, align_s = None, 0.0  # filtered once above; nothing to synchronise
        source, labels = "estimated from the kinematics (no GRF file)", {}
        notes.append("no force plates: ground reaction estimated from the body model (README, joint moments)")
    else:
        feet, source, labels = _plate_feet(body, t, q, tg, plates, assignment)
    sd = None
    if uncertainty > 0:
        res, sd_arr = moment_uncertainty(body, t, q, feet, n=uncertainty, cutoff_hz=cutoff_hz, align_s=align_s)
        sd = {k: np.abs(v) for k, v in moments_from_project(model, sd_arr).items()}
    else:
        res = inverse_dynamics(body, t, q, feet, cutoff_hz, align_s=align_s)
    if align_s > 0:
        notes.append(f"plate clock shifted by {1e3 * res.plate_shift_s:+.1f} ms to match the kinematics")
    if not res.covered.all():
        notes.append(f"{int((~res.covered).sum())} IK frames lie outside the GRF record (no load there)")
    return MomentResult(t, moments_from_project(model, res.moments), model, labels, source, filter_hz,
                        1.0 / float(np.median(np.diff(t))), mass_kg, notes, res, sd)


def joint_moments_from_files(ik: str | Path, grf: str | Path | None, *, mass_kg: float, height_m: float,
                             sex: str = "male", external_loads: str | Path | None = None,
                             model: str | None = None, cutoff_hz: float | None = 12.0, align_s: float = 0.0,
                             uncertainty: int = 0) -> MomentResult:
    """:func:`joint_moments` on an IK .mot, a GRF .mot and (optionally) an ExternalLoads .xml."""
    if model is not None:
        get_map(model)
    t, coords = read_coordinates_deg(ik)
    tg, plates = read_grf_mot(grf) if grf is not None else (None, None)
    assignment = read_external_loads(external_loads) if external_loads and grf is not None else None
    try:
        return joint_moments(t, coords, tg, plates, mass_kg=mass_kg, height_m=height_m, sex=sex, model=model,
                             assignment=assignment, cutoff_hz=cutoff_hz, align_s=align_s,
                             uncertainty=uncertainty)
    except ValueError as exc:
        raise RawDataError(f"{ik}: {exc}") from exc


def write_moments(result: MomentResult, path: str | Path) -> Path:
    """.sto (OpenSim storage, N m) or, when the name ends in .json, {time, moments, units, ...}."""
    path = Path(path)
    table = dict(result.moments)
    if result.sd is not None:
        table.update({f"{k}_sd": v for k, v in result.sd.items()})
    names = list(table)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({
            "time_s": result.time.round(6).tolist(), "units": "N m", "model_signs": result.model,
            "moments": {k: np.round(v, 4).tolist() for k, v in result.moments.items()},
            **({"sd": {k: np.round(v, 4).tolist() for k, v in result.sd.items()}} if result.sd else {}),
            "plate_assignment": result.assignment, "assignment_source": result.assignment_source,
            "cutoff_hz": result.cutoff_hz, "notes": result.notes}, indent=1))
        return path
    return write_mot(path, result.time, names, np.stack([table[n] for n in names], 1), in_degrees=False,
                     name="inverse_dynamics")


def summary(result: MomentResult) -> str:
    """A readable stdout summary: inputs, plate assignment, peaks per moment (N m and N m/kg)."""
    lines = [f"model conventions: {result.model}; {len(result.time)} frames at {result.rate_hz:.0f} Hz; "
             f"low-pass {result.cutoff_hz or 'none'} Hz (kinematics and forces)",
             f"plates -> feet ({result.assignment_source})"
             + (": " + ", ".join(f"{p or '(no prefix)'} -> {s}" for p, s in result.assignment.items())
                if result.assignment else "")]
    lines += [f"note: {n}" for n in result.notes]
    sd_head = f" {'mean sd':>8s}" if result.sd else ""
    lines.append(f"{'moment':28s} {'min':>9s} {'max':>9s} {'peak N m/kg':>12s}" + sd_head)
    for k, v in result.moments.items():
        peak = v[np.argmax(np.abs(v))]
        sd = f" {result.sd[k].mean():8.1f}" if result.sd else ""
        lines.append(f"{k:28s} {v.min():9.1f} {v.max():9.1f} {peak / result.mass_kg:12.2f}" + sd)
    return "\n".join(lines)
