"""A folder of videos plus a labels CSV -> a raw dataset (the layout of README "Raw data layout").

    ingest_videos(video_dir, labels_csv, out_dir)      # `athlete-mm ingest-video`, stage `ingest`

The labels CSV has one row per video, with a header:

    video,action,athlete_id,sex,height_m,mass_kg,fault
    jump1.mp4,countermovement_jump,anna,female,1.68,61,none

`video` (a path relative to the video folder) and `action` are required; `athlete_id` defaults
to the video's stem, `sex` / `height_m` / `mass_kg` to male / 1.75 / 70 (flagged in meta.json as
not stated), `fault` to none. Per video it writes ``<out>/<athlete_id>/<clip_id>/``:

    video.mp4      the video as recorded (copied)
    keypoints.npz  MediaPipe landmarks per decoded frame (`ingest.video`)
    angles.mot     OpenSim IK coordinates (`biomech.ik`) of the frames with a pose (degrees; m)
    ik_errors.sto  per-frame RMS / max marker error of the IK (m) and markers in use
    meta.json      labels, anthropometrics, rates, video info, scaling, conventions, provenance

and the dataset's ``manifest.csv``. A video that cannot be read or fails a quality gate stops
the run with a message naming it, unless ``skip_bad=True`` (then it is listed in the result).
"""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from biomech.body import build_body
from biomech.ik import (calibrate_body, measured_lengths, mediapipe_world_to_ylab, model_lengths, solve_ik,
                        write_ik_mot)
from biomech.io import write_manifest, write_mot, write_npz, sha256
from ingest import IngestError
from ingest.quality import check_anthropometry, check_gap_length, check_marker_error, check_pose_fraction
from ingest.video import keypoints_header, landmarks_from_video

REQUIRED = ("video", "action")
DEFAULTS = {"sex": "male", "height_m": 1.75, "mass_kg": 70.0, "fault": "none"}


@dataclass
class IngestSettings:
    min_pose_fraction: float = 0.5
    min_visibility: float = 0.5
    max_marker_error_mm: float = 60.0
    max_frames: int | None = None
    ik: bool = True
    max_gap_s: float | None = None    # longest run of frames without a pose inside the clip (None: no limit)


def read_labels(path: str | Path) -> list[dict]:
    """Rows of the labels CSV with defaults filled in; IngestError names the file, row and field."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: labels CSV not found")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise IngestError(f"{path}: missing column(s) {missing}; the header must have at least "
                              f"{', '.join(REQUIRED)} (optional: athlete_id, sex, height_m, mass_kg, fault)")
        rows = []
        for i, r in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in r.items() if k}
            if not row["video"] or not row["action"]:
                raise IngestError(f"{path}: line {i}: empty 'video' or 'action'")
            row["anthropometrics_stated"] = all(row.get(k) for k in ("sex", "height_m", "mass_kg"))
            for k, v in DEFAULTS.items():
                row[k] = row.get(k) or v
            row["athlete_id"] = row.get("athlete_id") or Path(row["video"]).stem
            try:
                row["height_m"], row["mass_kg"] = float(row["height_m"]), float(row["mass_kg"])
            except ValueError:
                raise IngestError(f"{path}: line {i}: height_m / mass_kg must be numbers, got "
                                  f"{row['height_m']!r} / {row['mass_kg']!r}") from None
            if not (1.2 <= row["height_m"] <= 2.3 and 30 <= row["mass_kg"] <= 160):
                raise IngestError(f"{path}: line {i}: height_m = {row['height_m']:g}, mass_kg = "
                                  f"{row['mass_kg']:g}: expected metres in 1.2-2.3 and kilograms in 30-160")
            if row["sex"] not in ("male", "female"):
                raise IngestError(f"{path}: line {i}: sex = {row['sex']!r}, expected male or female")
            rows.append(row)
    if not rows:
        raise IngestError(f"{path}: no rows")
    return rows


def ingest_clip(video: Path, row: dict, clip_dir: Path, settings: IngestSettings,
                progress: bool = True) -> dict:
    """One video -> one clip folder of the raw layout; returns its meta dict."""
    lm = landmarks_from_video(video, max_frames=settings.max_frames, progress=progress)
    info = lm["info"]
    has_pose = lm["visibility"].max(axis=1) > 0
    check_pose_fraction(video, int(has_pose.sum()), info["n_frames"], settings.min_pose_fraction)
    check_gap_length(video, "the pose (frames without a person)", lm["time"], has_pose, info["fps"] or 30.0,
                     settings.max_gap_s, "ingest.max_gap_s")
    clip_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video, clip_dir / "video.mp4")
    write_npz(clip_dir / "keypoints.npz", keypoints_header(info),
              **{k: lm[k] for k in ("time", "frame_index", "image", "world", "visibility")})
    files = ["video.mp4", "keypoints.npz"]
    meta = {
        "clip_id": clip_dir.name, "athlete_id": row["athlete_id"], "dataset_kind": "video",
        "action": row["action"], "fault": row["fault"], "preset": "video",
        "duration_s": float(lm["time"][-1]),
        "athlete": {"sex": row["sex"], "height_m": row["height_m"], "mass_kg": row["mass_kg"],
                    "stated": row["anthropometrics_stated"]},
        "rates_hz": {"video": info["fps"]},
        "video": {k: info[k] for k in ("width", "height", "rotation_deg", "n_frames", "source")},
        "pose": {"frames_with_pose": int(has_pose.sum()), "frames_without_pose": info["frames_without_pose"]},
        "modalities": {"video": True, "landmarks": True, "imu": False, "grf": False},
        "source_video": str(video),
    }
    if settings.ik:
        meta["ik"] = ik_for_clip(video, lm, has_pose, row, clip_dir, settings)
        files += ["angles.mot", "ik_errors.sto"]
    meta["files"] = files + ["meta.json"]
    (clip_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def ik_for_clip(video: Path, lm: dict, has_pose: np.ndarray, row: dict, clip_dir: Path,
                settings: IngestSettings) -> dict:
    """Scale the person's model on the landmarks and solve OpenSim IK on the frames with a pose."""
    pts = mediapipe_world_to_ylab(lm["world"][has_pose])
    vis, t = lm["visibility"][has_pose], lm["time"][has_pose]
    measured = measured_lengths(pts, vis, settings.min_visibility)
    table = build_body(row["sex"], row["height_m"], row["mass_kg"])
    ratio = check_anthropometry(video, measured, model_lengths(table), row["height_m"])
    body = calibrate_body(pts, vis, sex=row["sex"], height=row["height_m"], mass=row["mass_kg"],
                          min_visibility=settings.min_visibility)
    res = solve_ik(body, t, pts, vis, min_visibility=settings.min_visibility, progress=False)
    med = check_marker_error(video, res.marker_error_rms, settings.max_marker_error_mm / 1000.0)
    write_ik_mot(clip_dir / "angles.mot", res, name=f"{clip_dir.name}_inverse_kinematics")
    write_mot(clip_dir / "ik_errors.sto", t, ["marker_error_rms", "marker_error_max", "markers_in_use"],
              np.column_stack([res.marker_error_rms, res.marker_error_max, res.markers_in_use]),
              in_degrees=False, name=f"{clip_dir.name}_ik_marker_errors")
    return {"source": "MediaPipe world landmarks -> OpenSim InverseKinematicsSolver (biomech.ik)",
            "frames": int(len(t)), "marker_error_rms_median_m": round(med, 5),
            "leg_length_ratio_to_stated_height": round(ratio, 3),
            "scale_factors": body.extras.get("scale_factors", {}),
            "angles_file": "angles.mot: OpenSim names, degrees (pelvis_t* in m), frames with a pose only"}


def ingest_videos(video_dir: str | Path, labels_csv: str | Path, out_dir: str | Path,
                  settings: IngestSettings | None = None, skip_bad: bool = False,
                  progress: bool = True) -> dict:
    """Every video of the labels CSV -> `out_dir` (a raw dataset); returns a summary dict."""
    settings = settings or IngestSettings()
    video_dir, out_dir = Path(video_dir), Path(out_dir)
    rows = read_labels(labels_csv)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, skipped, clips = [], [], []
    for i, row in enumerate(tqdm(rows, desc="ingest videos", unit="video", disable=not progress)):
        video = video_dir / row["video"]
        clip_dir = out_dir / row["athlete_id"] / f"clip{i:05d}"
        try:
            meta = ingest_clip(video, row, clip_dir, settings, progress=progress)
        except IngestError as exc:
            if not skip_bad:
                raise IngestError(f"{exc}  (or set ingest.skip_bad_videos: true / --skip-bad to skip "
                                  "such videos)") from None
            skipped.append({"video": str(video), "error": str(exc)})
            continue
        clips.append({"clip_id": clip_dir.name, "athlete_id": row["athlete_id"], "video": str(video),
                      "frames": meta["video"]["n_frames"], "frames_with_pose": meta["pose"]["frames_with_pose"],
                      "marker_error_rms_median_m": meta.get("ik", {}).get("marker_error_rms_median_m")})
        manifest += [{"athlete_id": row["athlete_id"], "clip_id": clip_dir.name, "action": row["action"],
                      "fault": row["fault"], "preset": "video", "file": f,
                      "bytes": (clip_dir / f).stat().st_size, "sha256": sha256(clip_dir / f)}
                     for f in meta["files"]]
    write_manifest(out_dir, manifest)
    return {"clips": clips, "skipped": skipped, "out_dir": str(out_dir)}
