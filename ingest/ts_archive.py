"""UEA / UCR time-series archive files (``.ts``, sktime's format) -> arrays.

    arc = read_ts("BasicMotions_TRAIN.ts")   # arc.X (N, dims, length), arc.y (N,) labels

The header lines (``@problemName``, ``@dimensions``, ``@seriesLength``, ``@classLabel true A B``,
``@equalLength``, ``@missing``, ``@timeStamps``) are checked against the data; each data line
holds one case: its dimensions separated by ``:``, the values of one dimension by ``,``, the
class label last. Missing values (``?``) become NaN. Files with time stamps or unequal lengths
are refused with a message (not needed by the archives used here). Errors name the file and line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest import IngestError


@dataclass
class TsArchive:
    name: str
    X: np.ndarray  # (N, dims, length) float
    y: np.ndarray  # (N,) str labels
    classes: tuple[str, ...]
    header: dict = field(default_factory=dict)


def _header(path: Path, lines: list[str]) -> tuple[dict, int]:
    header = {}
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.lower() == "@data":
            return header, i + 1
        if not s.startswith("@"):
            raise IngestError(f"{path}: line {i + 1}: expected a '@key value' header line or @data, got {s[:40]!r}")
        key, _, value = s[1:].partition(" ")
        header[key.lower()] = value.strip()
    raise IngestError(f"{path}: no '@data' line (not a .ts archive file)")


def read_ts(path: str | Path) -> TsArchive:
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: .ts file not found")
    lines = path.read_text().splitlines()
    header, start = _header(path, lines)
    if header.get("timestamps", "false").lower() == "true" or header.get("equallength", "true").lower() != "true":
        raise IngestError(f"{path}: time-stamped or unequal-length series are not supported")
    labels = header.get("classlabel", "false").split()
    if not labels or labels[0].lower() != "true":
        raise IngestError(f"{path}: '@classLabel true <labels>' is required (a classification archive)")
    classes = tuple(labels[1:])
    dims = int(header.get("dimensions", "1"))
    length = int(header["serieslength"]) if "serieslength" in header else None
    X, y = [], []
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if not s:
            continue
        *series, label = s.split(":")
        if len(series) != dims:
            raise IngestError(f"{path}: line {i + 1}: {len(series)} dimensions, header says {dims}")
        if label not in classes:
            raise IngestError(f"{path}: line {i + 1}: class {label!r} is not in @classLabel {list(classes)}")
        try:
            case = np.array([[np.nan if v == "?" else float(v) for v in d.split(",")] for d in series])
        except ValueError as exc:
            raise IngestError(f"{path}: line {i + 1}: not a number ({exc})") from None
        if length is not None and case.shape[1] != length:
            raise IngestError(f"{path}: line {i + 1}: series of length {case.shape[1]}, header says {length}")
        X.append(case)
        y.append(label)
    if not X:
        raise IngestError(f"{path}: no cases after @data")
    return TsArchive(header.get("problemname", path.stem), np.stack(X), np.array(y), classes, header)
