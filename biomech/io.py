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
    """Read an OpenSim .mot/.sto file -> (time, columns, data, header fields)."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: file not found")
    try:
        with open(path) as fh:
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
            cols = fh.readline().rstrip("\n").split("\t")
            data = np.loadtxt(fh, ndmin=2)
    except (OSError, ValueError) as exc:
        raise RawDataError(f"{path}: cannot parse ({exc})") from exc
    if data.shape[1] != len(cols):
        raise RawDataError(f"{path}: {len(cols)} column names but {data.shape[1]} data columns")
    if "nRows" in header and int(header["nRows"]) != data.shape[0]:
        raise RawDataError(f"{path}: header says nRows={header['nRows']}, found {data.shape[0]} rows")
    return data[:, 0], cols[1:], data[:, 1:], header


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
