"""OpenSim lab files -> joint angles in the project's convention (part of issue 11, item 3).

    result = import_ik(model_osim, markers_trc, out_dir, ik_setup=None)

runs OpenSim's `InverseKinematicsTool` on the lab's model and marker file (`.trc`; mm or m, as
its header says) and writes ``angles.mot`` with the project's coordinate names and signs
(`biomech.conventions`). The lab's IK setup (`--ik-setup`) carries its marker weights; without
it every marker the model and the file share gets weight 1, with a warning (uniform weights
moved hip flexion by ~8.7 deg on a lab trial, see the issue).

Coordinate conventions of the common OpenSim models, mapped explicitly (`CONVENTIONS`): the
project follows Rajagopal et al. 2016 (knee flexion positive). Gait2354 / Gait2392 measure
knee flexion as negative `knee_angle`; Pose2Sim's models follow Rajagopal. A model whose family
is not in the table is recognised by its knee range (flexion is the side of the range away
from 0).

    result = import_trial(model_osim, markers_trc, grf_mot, out_dir, external_loads=None)

adds OpenSim's `InverseDynamicsTool` (coordinates low-passed by the tool at `lowpass_hz`,
default 15 Hz: above the ~12 Hz band of athletic movement, so the filter does not cut the
motion; on a generated jump 6 Hz, common for gait, cut hip flexion moments by ~15 % RMSE) with the force plates of the GRF `.mot` applied to the feet: from the lab's
ExternalLoads `.xml`, or assigned automatically to the foot nearest each plate's centre of
pressure (reported; a plate under neither foot fails with a message). It writes
``moments.sto`` (project names and signs). Still open: IMU signals synthesised from the IK
kinematics.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from biomech.conventions import COORDINATES, TRANSLATIONS
from biomech.io import read_grf_mot, read_mot, write_mot
from biomech.opensim_model import osim, run_inverse_dynamics_tool, write_external_loads
from ingest import IngestError

# model family -> {coordinate: sign that turns the model's value into the project's}
CONVENTIONS: dict[str, dict[str, float]] = {
    "rajagopal2016": {},
    "pose2sim": {},
    "gait2392": {"knee_angle_r": -1.0, "knee_angle_l": -1.0},
    "gait2354": {"knee_angle_r": -1.0, "knee_angle_l": -1.0},
    "athlete-mm": {},
}
_NAME_HINTS = (("gait2392", "gait2392"), ("gait2354", "gait2354"), ("rajagopal", "rajagopal2016"),
               ("pose2sim", "pose2sim"), ("athlete", "athlete-mm"))


def model_family(model_path: str | Path) -> str:
    """The `CONVENTIONS` key of an .osim model: from its name, else from its knee range."""
    model_path = Path(model_path)
    model = _load_model(model_path)
    name = model.getName().lower()
    for hint, family in _NAME_HINTS:
        if hint in name:
            return family
    cs = model.getCoordinateSet()
    if not cs.contains("knee_angle_r"):
        raise IngestError(f"{model_path}: model {model.getName()!r} has no knee_angle_r coordinate; "
                          f"cannot tell its sign convention (known families: {', '.join(CONVENTIONS)})")
    knee = cs.get("knee_angle_r")
    lo, hi = knee.getRangeMin(), knee.getRangeMax()
    return "gait2392" if abs(lo) > abs(hi) else "rajagopal2016"


def to_project_convention(columns: list[str], data: np.ndarray, family: str) -> tuple[np.ndarray, list[str]]:
    """Model coordinates (T, n) named `columns` -> (T, len(COORDINATES)) in the project's names and
    signs (NaN for coordinates the model lacks) and the list of project coordinates it lacks."""
    if family not in CONVENTIONS:
        raise IngestError(f"unknown model family {family!r}; known: {', '.join(CONVENTIONS)}")
    signs = CONVENTIONS[family]
    out = np.full((data.shape[0], len(COORDINATES)), np.nan)
    missing = []
    for j, c in enumerate(COORDINATES):
        if c in columns:
            out[:, j] = data[:, columns.index(c)] * signs.get(c, 1.0)
        else:
            missing.append(c)
    return out, missing


def _load_model(path: Path) -> "osim.Model":
    if not path.is_file():
        raise IngestError(f"{path}: OpenSim model file not found")
    try:
        return osim.Model(str(path))
    except Exception as exc:  # OpenSim raises RuntimeError with its own XML message
        raise IngestError(f"{path}: not a readable OpenSim model ({exc})") from None


def read_trc(path: str | Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A .trc marker file -> (time (T,), marker names, positions (T, M, 3) in metres)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: marker file not found")
    try:
        table = osim.TimeSeriesTableVec3(str(path))
    except Exception as exc:
        raise IngestError(f"{path}: not a readable .trc marker file ({exc})") from None
    units = table.getTableMetaDataAsString("Units") if table.hasTableMetaDataKey("Units") else "m"
    scale = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}.get(units.strip().lower())
    if scale is None:
        raise IngestError(f"{path}: Units = {units!r}; expected mm, cm or m")
    names = list(table.getColumnLabels())
    T, M = table.getNumRows(), table.getNumColumns()
    pos = np.array([[list(table.getRowAtIndex(i)[k].to_numpy()) for k in range(M)] for i in range(T)]) * scale
    return np.array(table.getIndependentColumn()), names, pos


def write_trc(path: str | Path, time: np.ndarray, names: list[str], points_m: np.ndarray,
              units: str = "mm") -> Path:
    """Write markers (T, M, 3) in metres as a .trc file in `units` (mm or m)."""
    scale = {"mm": 1e3, "m": 1.0}[units]
    table = osim.TimeSeriesTableVec3()
    table.setColumnLabels(osim.StdVectorString(names))
    for t, frame in zip(time, np.asarray(points_m) * scale):
        row = osim.RowVectorVec3(len(names))
        for k, p in enumerate(frame):
            row[k] = osim.Vec3(*map(float, p))
        table.appendRow(float(t), row)
    rate = 1.0 / float(np.median(np.diff(time)))
    table.addTableMetaDataString("DataRate", f"{rate:.6f}")
    table.addTableMetaDataString("Units", units)
    osim.TRCFileAdapter().write(table, str(path))
    return Path(path)


def write_ik_setup(path: str | Path, weights: dict[str, float]) -> Path:
    """An IK setup file carrying marker weights (as a lab's SETUP_IK.xml does)."""
    tool = osim.InverseKinematicsTool()
    tasks = tool.getIKTaskSet()
    for name, w in weights.items():
        task = osim.IKMarkerTask()
        task.setName(name)
        task.setApply(True)
        task.setWeight(float(w))
        tasks.cloneAndAppend(task)
    tool.printToXML(str(path))
    return Path(path)


def run_ik(model_path: Path, trc_path: Path, out_mot: Path, ik_setup: Path | None = None) -> list[str]:
    """OpenSim's InverseKinematicsTool over the whole .trc; returns notes (e.g. the weights used)."""
    model = _load_model(model_path)
    time, names, _ = read_trc(trc_path)
    notes = []
    if ik_setup is not None:
        if not Path(ik_setup).is_file():
            raise IngestError(f"{ik_setup}: IK setup file not found")
        tool = osim.InverseKinematicsTool(str(ik_setup))
        notes.append(f"marker weights from {ik_setup}")
    else:
        tool = osim.InverseKinematicsTool()
        shared = [m for m in names if model.getMarkerSet().contains(m)]
        if not shared:
            raise IngestError(f"{trc_path}: none of its markers ({', '.join(names[:8])}...) is on the model "
                              f"{model_path}")
        for m in shared:
            task = osim.IKMarkerTask()
            task.setName(m)
            task.setApply(True)
            task.setWeight(1.0)
            tool.getIKTaskSet().cloneAndAppend(task)
        msg = (f"{trc_path}: no IK setup given: uniform marker weights on {len(shared)} markers; pass the "
               "lab's SETUP_IK.xml (--ik-setup) for its weights")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    tool.setModel(model)
    tool.set_marker_file(str(trc_path))
    tool.setStartTime(float(time[0]))
    tool.setEndTime(float(time[-1]))
    tool.set_output_motion_file(str(out_mot))
    tool.set_report_errors(False)
    tool.setResultsDir(str(out_mot.parent))
    if not tool.run():
        raise IngestError(f"{trc_path}: OpenSim inverse kinematics failed on {model_path}")
    return notes


def check_lab_gaps(trc_path: str | Path, grf_mot: str | Path | None, max_gap_s: float | None,
                   param: str = "max_gap_s") -> dict[str, float]:
    """The gap-fill limit on a lab trial: each marker of the ``.trc`` (NaN rows: the marker was
    not seen) and each plate of the GRF ``.mot`` (NaN rows or dropped time stamps) must have no
    stretch without data longer than ``max_gap_s`` inside the trial (``QualityError`` naming the
    file, the marker or plate and the gap; None: no limit). Returns the longest gap per stream, s."""
    from ingest.quality import check_gap_length

    t, names, pos = read_trc(trc_path)
    rate = 1.0 / float(np.median(np.diff(t)))
    gaps = {f"marker {n}": check_gap_length(trc_path, f"marker {n!r}", t, np.isfinite(pos[:, k]).all(1), rate,
                                            max_gap_s, param) for k, n in enumerate(names)}
    if grf_mot is not None:
        tg, plates = read_grf_mot(grf_mot)
        rate_g = 1.0 / float(np.median(np.diff(tg)))
        for pre, pl in plates.items():
            ok = np.isfinite(pl["force"]).all(1) & np.isfinite(pl["point"]).all(1)
            gaps[f"plate {pre!r}"] = check_gap_length(grf_mot, f"force plate {pre!r}", tg, ok, rate_g, max_gap_s, param)
    return gaps


def import_ik(model_path: str | Path, trc_path: str | Path, out_dir: str | Path,
              ik_setup: str | Path | None = None, max_gap_s: float | None = None) -> dict:
    """Lab model + markers -> ``out_dir/angles.mot`` in the project's names and signs (markers with
    a gap longer than ``max_gap_s`` stop it, see :func:`check_lab_gaps`)."""
    model_path, trc_path, out_dir = Path(model_path), Path(trc_path), Path(out_dir)
    check_lab_gaps(trc_path, None, max_gap_s)
    out_dir.mkdir(parents=True, exist_ok=True)
    family = model_family(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        raw_mot = Path(tmp) / "ik_model_convention.mot"
        notes = run_ik(model_path, trc_path, raw_mot, None if ik_setup is None else Path(ik_setup))
        t, cols, data, hdr = read_mot(raw_mot)
    in_deg = hdr.get("inDegrees", "yes").lower() == "yes"
    if not in_deg:
        rot = [i for i, c in enumerate(cols) if c not in TRANSLATIONS]
        data[:, rot] = np.rad2deg(data[:, rot])
    angles, missing = to_project_convention(cols, data, family)
    write_mot(out_dir / "angles.mot", t, list(COORDINATES), angles, in_degrees=True,
              name=f"{trc_path.stem}_inverse_kinematics")
    return {"family": family, "signs": CONVENTIONS[family], "missing_coordinates": missing, "notes": notes,
            "frames": int(len(t)), "angles": str(out_dir / "angles.mot")}


# --------------------------------------------------------------------------------------
# Force plates -> OpenSim inverse dynamics -> reference moments
# --------------------------------------------------------------------------------------
MIN_LOAD_N = 20.0  # below this a plate is unloaded (as in preprocessing)
MAX_PLATE_FOOT_DISTANCE_M = 0.30


def assign_plates(model_path: Path, ik_mot: Path, grf_mot: Path) -> tuple[dict[str, str], dict[str, float]]:
    """Each plate -> the foot body (calcn_* / foot_*) nearest its centre of pressure while loaded.

    Returns (prefix -> body, prefix -> mean horizontal distance m); a plate farther than
    `MAX_PLATE_FOOT_DISTANCE_M` from every foot fails the gate `QualityError`."""
    from ingest.quality import QualityError

    model = _load_model(model_path)
    state = model.initSystem()
    feet = [model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())]
    feet = [b for b in feet if b.startswith(("calcn", "foot"))]
    t_ik, cols, q, hdr = read_mot(ik_mot)
    in_deg = hdr.get("inDegrees", "yes").lower() == "yes"
    t_g, plates = read_grf_mot(grf_mot)
    cs = model.getCoordinateSet()
    out, dist = {}, {}
    for pre, plate in plates.items():
        fy = plate["force"][:, 1]
        loaded = np.flatnonzero(fy > MIN_LOAD_N)
        if not len(loaded):
            continue
        pick = loaded[np.linspace(0, len(loaded) - 1, min(40, len(loaded))).astype(int)]
        d = {b: [] for b in feet}
        for i in pick:
            k = int(np.argmin(np.abs(t_ik - t_g[i])))
            for j, c in enumerate(cols):
                if cs.contains(c):
                    coord = cs.get(c)
                    v = q[k, j]
                    rotational = coord.getMotionType() == 1  # Rotational
                    coord.setValue(state, float(np.deg2rad(v) if (in_deg and rotational) else v), False)
            model.realizePosition(state)
            cop = plate["point"][i]
            for b in feet:
                p = model.getBodySet().get(b).getPositionInGround(state).to_numpy()
                d[b].append(float(np.hypot(*(cop - p)[[0, 2]])))
        best = min(feet, key=lambda b: np.mean(d[b]))
        dist[pre] = float(np.mean(d[best]))
        if dist[pre] > MAX_PLATE_FOOT_DISTANCE_M:
            raise QualityError(
                f"{grf_mot}: force plate '{pre}' is not under either foot: its centre of pressure is "
                f"{100 * dist[pre]:.0f} cm from the nearest foot ({best}) on average while loaded (limit "
                f"{100 * MAX_PLATE_FOOT_DISTANCE_M:.0f} cm). Check the plate's position / axes in the lab "
                "frame, or pass the lab's ExternalLoads .xml (--external-loads).")
        out[pre] = best
    return out, dist


def import_trial(model_path: str | Path, trc_path: str | Path, grf_mot: str | Path, out_dir: str | Path,
                 external_loads: str | Path | None = None, ik_setup: str | Path | None = None,
                 lowpass_hz: float = 15.0, max_gap_s: float | None = None) -> dict:
    """Lab model + markers + GRF -> ``angles.mot`` and ``moments.sto`` (project names and signs);
    a marker or plate gap longer than ``max_gap_s`` stops it first (:func:`check_lab_gaps`)."""
    model_path, trc_path, grf_mot, out_dir = map(Path, (model_path, trc_path, grf_mot, out_dir))
    if not grf_mot.is_file():
        raise IngestError(f"{grf_mot}: GRF file not found")
    read_grf_mot(grf_mot)  # a file without plate columns stops here, naming it
    check_lab_gaps(trc_path, grf_mot, max_gap_s)
    res = import_ik(model_path, trc_path, out_dir, ik_setup)
    family = res["family"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ik_mot = tmp / "ik.mot"
        run_ik(model_path, trc_path, ik_mot, None if ik_setup is None else Path(ik_setup))
        if external_loads is None:
            assignment, dist = assign_plates(model_path, ik_mot, grf_mot)
            external_loads = write_external_loads(tmp / "external_loads.xml", grf_mot, assignment)
            res["plates"] = {"assigned": "automatically (nearest foot to the centre of pressure)",
                             "bodies": assignment, "mean_distance_m": {k: round(v, 3) for k, v in dist.items()}}
        else:
            res["plates"] = {"assigned": f"from {external_loads}"}
        t_ik, _, _, _ = read_mot(ik_mot)
        sto = run_inverse_dynamics_tool(model_path, ik_mot, external_loads, tmp, float(t_ik[0]),
                                        float(t_ik[-1]), cutoff_hz=lowpass_hz)
        t, cols, tau, _ = read_mot(sto)
    signs = CONVENTIONS[family]
    names = [f"{c}_force" if c in TRANSLATIONS else f"{c}_moment" for c in COORDINATES]
    out = np.full((len(t), len(COORDINATES)), np.nan)
    for j, (c, n) in enumerate(zip(COORDINATES, names)):
        if n in cols:
            out[:, j] = tau[:, cols.index(n)] * signs.get(c, 1.0)
    write_mot(out_dir / "moments.sto", t, names, out, in_degrees=False, name=f"{trc_path.stem}_inverse_dynamics")
    res["moments"] = str(out_dir / "moments.sto")
    return res
