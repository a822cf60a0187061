"""Raw-layout files: OpenSim .mot/.sto tables, sensor .npz streams, meta.json, manifest.

Layout of one clip (see README "Raw data layout"):

    data/raw/<dataset>/<athlete_id>/<clip_id>/
        video.mp4        RGB video, video clock (the reference clock)
        keypoints.npz    MediaPipe-33 landmarks per delivered video frame
        imu.npz          6 IMUs, own clock
        grf.npz          2 force plates (one per foot), own clock (absent in the consumer preset)
        angles.mot       ground-truth joint angles (OpenSim names, degrees), video clock
        moments.sto      ground-truth joint moments from OpenSim inverse dynamics (N m)
        moments_ne.sto   the same moments from the independent Newton-Euler recursion (N m)
        meta.json        labels, anthropometrics, rates, conventions, units, synthetic truth
    data/raw/<dataset>/<athlete_id>/athlete.osim   the athlete's OpenSim model
    data/raw/<dataset>/manifest.csv                every file of every clip with its sha256

Every .npz stores, next to its arrays, a JSON string `header` that states units, axes,
frames and column names, so a reader never has to guess.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np


class RawDataError(RuntimeError):
    """A raw-layout file is missing, corrupt or inconsistent; the message names the path."""


def write_mot(path: str | Path, time: np.ndarray, columns: list[str], data: np.ndarray,
              *, in_degrees: bool, name: str | None = None) -> Path:
    """Write an OpenSim storage file (.mot / .sto), tab separated, version 1 header."""
    path = Path(path)
    data = np.asarray(data, dtype=float)
    if data.shape != (len(time), len(columns)):
        raise ValueError(f"{path}: data shape {data.shape} != ({len(time)}, {len(columns)})")
    header = (
        f"{name or path.stem}\nversion=1\nnRows={len(time)}\nnColumns={len(columns) + 1}\n"
        f"inDegrees={'yes' if in_degrees else 'no'}\nendheader\n"
        + "\t".join(["time", *columns]) + "\n"
    )
    body = np.column_stack([time, data])
    # the text np.savetxt(fmt="%.6f", delimiter="\t") writes, formatted in one go
    row = "\t".join(["%.6f"] * body.shape[1]) + "\n"
    with open(path, "w") as fh:
        fh.write(header)
        fh.write((row * body.shape[0]) % tuple(body.ravel().tolist()))
    return path


def read_mot(path: str | Path) -> tuple[np.ndarray, list[str], np.ndarray, dict]:
    """Read an OpenSim .mot/.sto file -> (time, columns, data, header fields).

    Accepts what real lab files contain: column names padded with spaces, tab- or
    space-separated columns, trailing tabs, CRLF line ends, `datarows=` instead of `nRows=`.
    Column names are returned stripped; header keys as written (`inDegrees`, `nRows`, ...)."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: file not found")
    try:
        with open(path, newline=None) as fh:
            header = {}
            for line in fh:
                line = line.strip()
                if line.lower() == "endheader":
                    break
                if "=" in line:
                    k, v = line.split("=", 1)
                    header[k.strip()] = v.strip()
            else:
                raise RawDataError(f"{path}: no 'endheader' line (not an OpenSim storage file)")
            cols = fh.readline().split()  # names never contain blanks: padding and trailing tabs go
            data = np.loadtxt(fh, ndmin=2)
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{path}: cannot parse ({exc})") from exc
    if not cols or cols[0].lower() != "time":
        raise RawDataError(f"{path}: the first column is {cols[:1]}, expected 'time'")
    if data.shape[1] != len(cols):
        raise RawDataError(f"{path}: {len(cols)} column names but {data.shape[1]} data columns")
    rows = header.get("nRows", header.get("datarows"))
    if rows is not None and int(rows) != data.shape[0]:
        raise RawDataError(f"{path}: header says {rows} rows, found {data.shape[0]}")
    return data[:, 0], cols[1:], data[:, 1:], header


def mot_in_degrees(path: str | Path, header: dict) -> bool:
    """The file's `inDegrees` flag (yes/no); a file without one is read as degrees, as OpenSim does
    for .mot coordinate files."""
    v = header.get("inDegrees", "yes").strip().lower()
    if v not in ("yes", "no"):
        raise RawDataError(f"{path}: inDegrees={v!r}, expected 'yes' or 'no'")
    return v == "yes"


def is_translation(column: str) -> bool:
    """A coordinate column in metres (pelvis_tx, knee_angle_r_tx ...), not an angle."""
    return column.endswith(("_tx", "_ty", "_tz"))


def read_coordinates_deg(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An IK / coordinates .mot -> (time, {column: values}), rotations in degrees whatever the
    file's `inDegrees` says, translations (``*_tx/_ty/_tz``) in metres."""
    t, cols, data, header = read_mot(path)
    scale = 1.0 if mot_in_degrees(path, header) else 180.0 / np.pi
    return t, {c: data[:, i] * (1.0 if is_translation(c) else scale) for i, c in enumerate(cols)}


def require_columns(path: str | Path, columns: list[str], needed: list[str] | tuple[str, ...]) -> list[int]:
    """Indices of `needed` in `columns`; RawDataError naming the file, the missing columns and
    what the file has otherwise."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise RawDataError(f"{path}: missing column(s) {missing}; the file has {columns}")
    return [columns.index(c) for c in needed]


GRF_FORCE = ("ground_force_vx", "ground_force_vy", "ground_force_vz")
GRF_POINT = ("ground_force_px", "ground_force_py", "ground_force_pz")
GRF_TORQUE = ("ground_torque_x", "ground_torque_y", "ground_torque_z")


def grf_prefixes(columns: list[str]) -> list[str]:
    """Prefixes of the force-plate column groups in a GRF file, in file order: '' for
    ``ground_force_vx``, '1_' for ``1_ground_force_vx``, 'r_' for ``r_ground_force_vx`` ..."""
    return [c[: -len(GRF_FORCE[0])] for c in columns if c.endswith(GRF_FORCE[0])]


def read_grf_mot(path: str | Path) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """A GRF .mot -> (time, {prefix: {"force", "point", "torque"} (N,3) each}) per plate.

    A plate is the column group ``<prefix>ground_force_v[xyz]``, ``<prefix>ground_force_p[xyz]``
    and, when present, ``<prefix>ground_torque_[xyz]`` (zeros when absent). Other columns (the
    zero-filled extras of lab exports) are ignored."""
    t, cols, data, _ = read_mot(path)
    prefixes = grf_prefixes(cols)
    if not prefixes:
        raise RawDataError(f"{path}: no '*ground_force_vx' column (not a GRF file?); the file has {cols}")
    plates = {}
    for pre in prefixes:
        f = require_columns(path, cols, [pre + c for c in GRF_FORCE + GRF_POINT])
        plate = {"force": data[:, f[:3]], "point": data[:, f[3:]]}
        tq = [pre + c for c in GRF_TORQUE]
        plate["torque"] = data[:, require_columns(path, cols, tq)] if all(c in cols for c in tq) \
            else np.zeros_like(plate["force"])
        plates[pre] = plate
    return t, plates


def write_grf_mot(path: str | Path, time: np.ndarray, plates: dict[str, dict[str, np.ndarray]]) -> Path:
    """A GRF .mot in OpenSim's naming: per plate prefix ('', '1_', ...) force (N,3) N, point (N,3) m,
    torque (N,3) N m columns ``<prefix>ground_force_v*``, ``_p*``, ``<prefix>ground_torque_*``."""
    cols, data = [], []
    for pre, p in plates.items():
        for names, key in ((GRF_FORCE, "force"), (GRF_POINT, "point"), (GRF_TORQUE, "torque")):
            cols += [pre + n for n in names]
            data.append(np.asarray(p[key], dtype=float))
    return write_mot(path, time, cols, np.concatenate(data, 1), in_degrees=False, name=Path(path).stem)


def read_json(path: str | Path) -> dict:
    """Read a JSON file of the raw layout (e.g. meta.json); RawDataError names the path."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{path}: unreadable or corrupt JSON ({exc})") from exc


def write_npz(path: str | Path, header: dict, **arrays: np.ndarray) -> Path:
    path = Path(path)
    np.savez(path, header=np.array(json.dumps(header)), **arrays)
    return path


def read_npz(path: str | Path, required: tuple[str, ...] = ()) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a raw-layout .npz -> (header dict, arrays). Raises RawDataError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError ...
        raise RawDataError(f"{path}: corrupt or unreadable npz ({type(exc).__name__}: {exc})") from exc
    if "header" not in arrays:
        raise RawDataError(f"{path}: missing the 'header' entry")
    header = json.loads(str(arrays.pop("header")))
    missing = [k for k in required if k not in arrays]
    if missing:
        raise RawDataError(f"{path}: missing arrays {missing}")
    return header, arrays


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


MANIFEST_FIELDS = ("athlete_id", "clip_id", "action", "fault", "preset", "file", "bytes", "sha256")


def write_manifest(dataset_dir: Path, rows: list[dict]) -> Path:
    path = Path(dataset_dir) / "manifest.csv"
    rows = sorted(rows, key=lambda r: (r["athlete_id"], r["clip_id"], r["file"]))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return path


def read_manifest(dataset_dir: str | Path) -> list[dict]:
    path = Path(dataset_dir) / "manifest.csv"
    if not path.is_file():
        raise RawDataError(f"{path}: manifest not found (is {dataset_dir} a raw dataset?)")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def verify_clip(dataset_dir: str | Path, rows: list[dict]) -> None:
    """Check that every manifest file of one clip exists with the recorded checksum."""
    for r in rows:
        p = Path(dataset_dir) / r["athlete_id"] / r["clip_id"] / r["file"]
        if not p.is_file():
            raise RawDataError(f"{p}: listed in the manifest but missing")
        if sha256(p) != r["sha256"]:
            raise RawDataError(f"{p}: checksum mismatch (file changed or corrupt)")
