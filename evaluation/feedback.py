"""Technique feedback evaluated on the generated test split, where the faults are labelled.

    python -m evaluation.feedback [--raw-dir data/raw/synth] [--processed-dir data/processed/synth]
                                  [--reference artifacts/reference/reference.npz] [--angles ik|true]

For every test clip the feedback of ``biomech.feedback`` is computed against the reference of the
clip's labelled action (built by ``python -m stages.reference`` from the clean training clips), and
scored per fault type:

* hit rate: faulty clips flagged on one of the fault's joints (``biomech.feedback.FAULT_JOINTS``),
  or, for the faults in ``biomech.feedback.LOAD_FAULTS`` (asymmetric landing), by the plate load flag
  (clips recorded with plates: grf.npz);
* false-trigger rate: clean (fault "none") clips flagged on any joint or by the load flag;
* the scalar detectors (``biomech.feedback.DETECTORS``: the landmark knee valgus angle, the plates'
  landing loading rate) as robust z against the class's clean training clips: a hit for their fault
  (DETECTOR_FAULTS), a false trigger on a clean clip; the threshold and both z are chosen together on
  ``feedback.select_split`` (``select_settings``), the z sweep goes to reports/feedback_detectors_sweep.csv;

at the threshold in ``params.yaml: feedback.threshold_deg`` and for every threshold of
``feedback.sweep_deg`` (3-15 deg). Angles in use (``--angles ik``, the default) are the ones the
service sees: OpenSim IK of the detector-like MediaPipe world landmarks (``serving.analyze.ik_angles``),
cached per clip under ``--cache-dir`` (2.6-15 s per clip the first time). The threshold is chosen on
``feedback.select_split`` (val; never the scored split): the report gives the one with the most hits
within ``max_false_trigger`` there, next to the one in params.yaml. ``--angles true`` scores the
generator's true joint angles (privileged; an upper bound).

Writes reports/feedback.json (headline + per fault + sweep), reports/feedback.md (tables) and
reports/feedback_sweep.csv (the DVC plot: threshold vs hit / false-trigger rate) and
reports/feedback_sweep_per_fault.csv (per fault type).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm import tqdm

from biomech.conventions import COORDINATES, JOINT_ANGLES
from biomech.feedback import (DETECTOR_FAULTS, DETECTORS, FAULT_JOINTS, FEEDBACK_JOINTS, LOAD_FAULTS, SETTINGS_KEYS,
                              FeedbackError, angle_matrix, build_reference, detector_z, joint_deviation, load_asymmetry,
                              load_references, prepare_landmarks, save_references, segment_detectors)
from biomech.io import RawDataError, read_coordinates_deg, read_json, read_npz

ANGLE_SOURCES = ("ik", "true")


class FeedbackParams(BaseModel):
    """params.yaml section ``feedback`` (the reference stage and this evaluation)."""
    model_config = ConfigDict(extra="forbid")
    raw_dir: str = "data/raw/synth"
    processed_dir: str = "data/processed/synth"
    reference: str = "artifacts/reference/reference.npz"
    angles: str = Field("ik", pattern="^(ik|true)$")
    cache_dir: str = ".cache/feedback/ik"
    workers: int = Field(2, ge=1, le=256)              # processes for the IK of uncached clips
    max_clips_per_class: int | None = Field(12, ge=1)
    rate_hz: float = Field(25.0, gt=0, le=200)
    iterations: int = Field(3, ge=1, le=20)
    band: float | None = Field(None, gt=0, le=1)        # Sakoe-Chiba band (null: none; a jump sits anywhere in a clip)
    window_s: float | None = Field(0.2, gt=0)           # deviation held this long (null: mean over the clip)
    corridor_sd: float = Field(2.0, ge=0, le=5)         # natural variation (clean clips' sd) subtracted first
    percentile: float | None = Field(95.0, gt=0, le=100)  # of the held deviation over the movement (null: max)
    unflagged_joints: list[str] = Field(default_factory=list)  # reported, never flagged (IK too unreliable there)
    threshold_deg: float = Field(9.0, ge=3, le=20)      # 7-11 in the TCN+GAT paper; chosen on select_split
    select_split: str | None = "val"                    # where the threshold is chosen (never the test split)
    max_false_trigger: float = Field(0.118, gt=0, lt=1)  # the selection rule: most hits with at most this
    knee_rmse_deg: float = Field(5.0, gt=0)
    valgus_moment_nm: float = Field(40.0, gt=0)
    load_margin: float = Field(0.15, gt=0, lt=1)         # plate load asymmetry beyond the clean clips' to flag
    valgus_z: float | None = Field(3.0, gt=0)   # landmark knee valgus angle this many robust sd beyond the clean clips
    landing_z: float | None = Field(3.0, gt=0)  # plate landing loading rate (log) this many robust sd above them
    trunk_z: float | None = Field(3.0, gt=0)    # landmark trunk tilt from the starting posture this many sd beyond
    # (null: the detector is off)
    detector_sweep_z: list[float] = Field(default_factory=lambda: [0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6])
    fault_head: str | None = None   # second detector: a bundle dir, the package stage's bento.json or a BentoML model tag
    sweep_deg: list[float] = Field(default_factory=lambda: [3, 5, 7, 9, 11, 13, 15])
    split: str = "test"
    report: str = "reports/feedback.json"
    markdown: str = "reports/feedback.md"
    plot: str = "reports/feedback_sweep.csv"

    def z_at(self) -> dict[str, float]:
        return {"valgus_angle": self.valgus_z, "landing_load_rate": self.landing_z, "trunk_lean_change": self.trunk_z}

    @field_validator("unflagged_joints")
    @classmethod
    def _known_joints(cls, v: list[str]) -> list[str]:
        bad = [j for j in v if j not in FEEDBACK_JOINTS]
        if bad:
            raise ValueError(f"unknown joints {bad} (expected some of {list(FEEDBACK_JOINTS)})")
        return v


class IKFailed(RuntimeError):
    """OpenSim IK did not converge on a clip's landmarks (the clip is counted as failed)."""


def split_clips(raw_dir: str | Path, processed_dir: str | Path, split: str) -> list[dict]:
    """The clips of ``split`` (split.json's athletes) with their meta.json: [{dir, action, fault, meta}]."""
    raw = Path(raw_dir)
    sp = read_json(Path(processed_dir) / "split.json")
    if split not in sp.get("athletes", {}):
        raise RawDataError(f"{processed_dir}/split.json: no split {split!r} (has {sorted(sp.get('athletes', {}))})")
    out = []
    for athlete in sorted(sp["athletes"][split]):
        for meta_path in sorted((raw / athlete).glob("*/meta.json")):
            meta = read_json(meta_path)
            out.append({"dir": meta_path.parent, "athlete": athlete, "clip": meta_path.parent.name,
                        "action": meta["action"], "fault": meta.get("fault", "none"), "meta": meta})
    if not out:
        raise RawDataError(f"{raw}: no clips of the {split!r} athletes (expected <athlete>/<clip>/meta.json)")
    return out


def true_angles(clip_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The generator's joint angles (angles.mot, degrees): privileged ground truth."""
    t, cols = read_coordinates_deg(clip_dir / "angles.mot")
    return t, {c: cols[c] for c in JOINT_ANGLES}


def clip_plates(clip: dict) -> dict | None:
    """The clip's two force plates (grf.npz: time, force (T, 2, 3) N) as the vertical forces for
    ``biomech.feedback.load_asymmetry`` ({"time", "force_y", "mass_kg"}); None when recorded without."""
    f = clip["dir"] / "grf.npz"
    if not f.is_file():
        return None
    _, z = read_npz(f, ("time", "force"))
    if z["force"].ndim != 3 or z["force"].shape[1:] != (2, 3):
        raise RawDataError(f"{f}: force of shape {list(z['force'].shape)}, expected (T, 2, 3)")
    return {"time": z["time"], "force_y": z["force"][:, :, 1], "mass_kg": float(clip["meta"]["athlete"]["mass_kg"])}


def clip_load(clip: dict) -> dict | None:
    """``load_asymmetry`` of the clip's plates over the whole clip (None: no plates or no double support)."""
    pl = clip_plates(clip)
    return None if pl is None else load_asymmetry(pl["time"], pl["force_y"], pl["mass_kg"])


def clip_landmarks(clip: dict) -> dict:
    """The clip's detector-like world landmarks (keypoints.npz) as ``biomech.feedback.prepare_landmarks``
    gives them to the IK: {"time", "points"}."""
    _, kp = read_npz(clip["dir"] / "keypoints.npz", ("time", "world"))
    t, pts = prepare_landmarks(kp["time"], kp["world"], float(clip["meta"]["rates_hz"]["video"]))
    return {"time": t, "points": pts}


def clip_detectors(clip: dict) -> dict[str, float | None]:
    """``biomech.feedback.segment_detectors`` over the whole clip: the detector-like landmarks' knee
    valgus angle and, with plates, the landing loading rate (no IK needed)."""
    return segment_detectors(None, None, clip_plates(clip), clip_landmarks(clip))


def ik_cache_file(clip: dict, cache_dir: Path) -> Path:
    """<cache_dir>/<athlete>/<clip>-<hash>.npz, the hash over the IK's inputs (keypoints.npz and
    meta.json bytes): regenerated data never reads a stale entry. The IK code is not in the key:
    delete the cache after changing it."""
    h = hashlib.sha256()
    for name in ("keypoints.npz", "meta.json"):
        h.update((clip["dir"] / name).read_bytes())
    return cache_dir / clip["athlete"] / f"{clip['clip']}-{h.hexdigest()[:16]}.npz"


def ik_angles_cached(clip: dict, cache_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """OpenSim IK of the clip's detector-like world landmarks (what /analyze computes from a video's
    MediaPipe landmarks), cached per clip (``ik_cache_file``)."""
    from serving.analyze import ik_angles

    f = ik_cache_file(clip, cache_dir)
    if not f.is_file():
        _, kp = read_npz(clip["dir"] / "keypoints.npz", ("time", "world", "visibility"))
        a = clip["meta"]["athlete"]
        sex = a.get("sex") if a.get("sex") in ("male", "female") else "male"
        f.parent.mkdir(parents=True, exist_ok=True)
        try:
            t, deg, _ = ik_angles(kp["time"], kp["world"], kp["visibility"], fps=float(clip["meta"]["rates_hz"]["video"]),
                                  sex=sex, height_m=float(a["height_m"]), mass_kg=float(a["mass_kg"]))
        except ValueError as exc:  # serving.inference.InputError: the IK gave up; counted, not hidden
            np.savez(f, error=str(exc).splitlines()[0][:300])
            raise IKFailed(f"{clip['dir']}: IK failed ({str(exc).splitlines()[0][:200]})") from None
        np.savez(f, time=t, deg=deg)
    with np.load(f) as z:
        if "error" in z.files:
            raise IKFailed(f"{clip['dir']}: IK failed ({z['error']})")
        t, deg = z["time"], z["deg"]
    return t, {c: deg[:, COORDINATES.index(c)] for c in JOINT_ANGLES}


def clip_angles(clip: dict, source: str, cache_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if source == "true":
        return true_angles(clip["dir"])
    if source == "ik":
        return ik_angles_cached(clip, cache_dir)
    raise ValueError(f"angles source {source!r}: expected one of {ANGLE_SOURCES}")


def prepare(raw_dir, processed_dir, splits, cache_dir, max_clean_per_class: int | None = None) -> None:
    """Fill the IK cache for ``splits`` (train: clean clips only, at most ``max_clean_per_class``)."""
    for split in splits:
        clips = split_clips(raw_dir, processed_dir, split)
        if split == "train":
            clips = select_reference_clips(clips, max_clean_per_class)
        failed = 0
        for c in tqdm(clips, desc=f"IK {split}", unit="clip"):
            try:
                ik_angles_cached(c, Path(cache_dir))
            except IKFailed as exc:
                failed += 1
                print(exc, file=sys.stderr)
        print(f"IK {split}: {len(clips) - failed} of {len(clips)} clips", file=sys.stderr)


def select_reference_clips(clips: list[dict], max_per_class: int | None) -> list[dict]:
    """Clean (fault "none") clips, at most ``max_per_class`` per action (in athlete / clip order)."""
    out, n = [], {}
    for c in clips:
        if c["fault"] != "none":
            continue
        if max_per_class is not None and n.get(c["action"], 0) >= max_per_class:
            continue
        n[c["action"]] = n.get(c["action"], 0) + 1
        out.append(c)
    return out


def _ik_to_cache(clip: dict, cache_dir: Path) -> None:
    try:
        ik_angles_cached(clip, cache_dir)
    except IKFailed:
        pass  # the failure is cached too; the caller reads and reports it in clip order


def fill_ik_cache(clips: list[dict], cache_dir: str | Path, workers: int, desc: str = "IK") -> int:
    """OpenSim IK of the clips not yet in the cache, on ``workers`` spawn processes (one clip each:
    the IK of a clip does not depend on the others, so the cached angles are those of a serial run).
    Returns the number of clips computed. Readers then take every clip from the cache in order."""
    cache_dir = Path(cache_dir)
    todo = [c for c in clips if not ik_cache_file(c, cache_dir).is_file()]
    workers = min(workers, len(todo))
    if workers <= 1:
        for c in tqdm(todo, desc=desc, unit="clip", disable=not todo):
            _ik_to_cache(c, cache_dir)
        return len(todo)
    # spawn, not fork: OpenSim / torch threads of this process must not be forked
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for _ in tqdm(pool.map(_ik_to_cache, todo, [cache_dir] * len(todo)), total=len(todo), desc=desc,
                      unit="clip"):
            pass
    return len(todo)


def reference_trajectories(p: FeedbackParams) -> tuple[dict[str, list[np.ndarray]], dict[str, list[float]],
                                                        dict[str, dict[str, list]]]:
    """Clean training clips' (N, J) trajectories per action (``p.angles`` source; at most
    ``max_clips_per_class``), the plate load asymmetries of every clean training clip with plates
    and double support and the scalar detectors of every clean training clip (no IK needed for
    these, so not capped): {action: {detector: [value or None per clip]}}, for the classes whose
    training clips hold the detector's fault (as the fault head's admissible faults): a class
    without it gets no detector reference, so the service never flags it there."""
    train = split_clips(p.raw_dir, p.processed_dir, "train")
    clips = select_reference_clips(train, p.max_clips_per_class)
    if p.angles == "ik":
        fill_ik_cache(clips, p.cache_dir, p.workers, desc=f"IK ({p.workers} workers)")
    out: dict[str, list[np.ndarray]] = {}
    loads: dict[str, list[float]] = {}
    dets: dict[str, dict[str, list]] = {}
    for c in tqdm(clips, desc=f"reference ({p.angles} angles)", unit="clip"):
        try:
            t, ang = clip_angles(c, p.angles, Path(p.cache_dir))
            out.setdefault(c["action"], []).append(angle_matrix(t, ang, p.rate_hz))
        except (IKFailed, FeedbackError) as exc:
            print(f"reference: skipped {exc}", file=sys.stderr)
    seen = {(c["action"], c["fault"]) for c in train}
    for c in tqdm(select_reference_clips(train, None), desc="reference (plates, landmarks)", unit="clip"):
        load = clip_load(c)
        if load is not None:
            loads.setdefault(c["action"], []).append(load["asymmetry"])
        try:   # no IK needed: every clean training clip
            for k, v in clip_detectors(c).items():
                if (c["action"], DETECTOR_FAULTS[k]) in seen:   # the fault exists for the class
                    dets.setdefault(c["action"], {}).setdefault(k, []).append(v)
        except FeedbackError as exc:
            print(f"reference: no detectors for {c['dir']} ({exc})", file=sys.stderr)
    return out, loads, dets


def build_references(p: FeedbackParams) -> dict:
    """The reference stage: DBA per class -> p.reference (npz); returns the header."""
    trajs, loads, dets = reference_trajectories(p)
    refs = {a: build_reference(a, x, p.rate_hz, iterations=p.iterations, band=p.band, load=loads.get(a),
                               detectors=dets.get(a)) for a, x in sorted(trajs.items())}
    meta = {"angles": p.angles, "angles_meaning": ANGLES_MEANING[p.angles], "split": "train", "fault": "none",
            "raw_dir": p.raw_dir, "iterations": p.iterations,
            "settings": {k: getattr(p, k) for k in SETTINGS_KEYS}}   # what the service applies
    save_references(p.reference, refs, meta)
    return {**meta, "classes": {a: r.n_clips for a, r in refs.items()},
            "detectors": {a: r.detectors for a, r in refs.items()}}


ANGLES_MEANING = {"ik": "OpenSim IK of the detector-like MediaPipe world landmarks (serving.analyze.ik_angles), "
                        "as the service computes them from a video",
                  "true": "the generator's true joint angles (angles.mot; privileged)"}


def clip_deviations(p: FeedbackParams, refs: dict, split: str) -> tuple[list[dict], list[str]]:
    """Per clip of ``split``: the per-joint mean signed DTW deviation against its class reference."""
    rows, failed = [], []
    for c in tqdm(split_clips(p.raw_dir, p.processed_dir, split), desc=f"feedback {split}", unit="clip"):
        if c["action"] not in refs:
            failed.append(f"{c['dir']}: no reference for {c['action']!r}")
            continue
        try:
            t, ang = clip_angles(c, p.angles, Path(p.cache_dir))
            dev, rmse = joint_deviation(angle_matrix(t, ang, p.rate_hz), refs[c["action"]], p.band,
                                        p.window_s, p.corridor_sd, p.percentile)
        except (IKFailed, FeedbackError) as exc:
            failed.append(str(exc))
            continue
        load, ref = clip_load(c), refs[c["action"]]
        det = clip_detectors(c)
        rows.append({"athlete": c["athlete"], "clip": c["clip"], "action": c["action"], "fault": c["fault"],
                     "deviation_deg": dict(zip(FEEDBACK_JOINTS, np.round(dev, 3).tolist())),
                     "rmse_deg": dict(zip(FEEDBACK_JOINTS, np.round(rmse, 3).tolist())),
                     "plates": (c["dir"] / "grf.npz").is_file(),
                     "load_asymmetry": None if load is None else round(load["asymmetry"], 4),
                     "load_reference": ref.load_asymmetry,
                     "load_flagged": bool(load is not None and ref.load_asymmetry is not None
                                          and load["asymmetry"] - ref.load_asymmetry >= p.load_margin),
                     "detectors": det, "detector_z": {k: detector_z(k, v, ref) for k, v in det.items()}})
    return rows, failed


def flagged(row: dict, threshold: float, joints=FEEDBACK_JOINTS, unflagged: tuple[str, ...] = (),
            load: bool = True, z_at: dict[str, float] | None = None, detectors=DETECTORS) -> bool:
    """Flagged on one of ``joints`` at ``threshold``, (``load``) by the plate load flag or (``z_at``:
    {detector: z threshold}, None: none) by one of the scalar ``detectors``."""
    return (load and bool(row.get("load_flagged"))) or bool(detector_hits(row, z_at, detectors)) or \
        any(abs(row["deviation_deg"][j]) >= threshold for j in joints if j not in unflagged)


def detector_hits(row: dict, z_at: dict[str, float] | None, detectors=DETECTORS) -> list[str]:
    """The scalar detectors among ``detectors`` that flag ``row`` at ``z_at`` (robust z >= threshold;
    a detector missing from ``z_at`` or None there is off)."""
    if not z_at:
        return []
    z = row.get("detector_z") or {}
    return [d for d in detectors if z_at.get(d) is not None and z.get(d) is not None and z[d] >= z_at[d]]


def fault_detectors(fault: str) -> tuple[str, ...]:
    return tuple(d for d, f in DETECTOR_FAULTS.items() if f == fault)


def rates(rows: list[dict], threshold: float, unflagged: tuple[str, ...] = (), head: bool = False,
          z_at: dict[str, float] | None = None) -> dict:
    """At ``threshold``: hit rate per fault type (flagged on one of its joints) and false-trigger rate
    (clean clip flagged on any joint or by the load flag); per fault type also its false-trigger rate:
    clean clips of the actions that fault exists for, flagged on the fault's joints (and, for the
    LOAD_FAULTS, by the load flag). Per fault also the hits on the angles alone and the clips with plates.
    ``head``: the feedback OR the fault head (each row's ``head_detected``, ``with_fault_head``): a
    fault is also hit when the head detects it, a clean clip also flagged when it detects any fault.
    ``z_at``: the scalar detectors' z thresholds (a fault is also hit, and a clean clip of its actions
    flagged for it, by its own detectors, DETECTOR_FAULTS; any detector counts as a false trigger)."""
    def hit(r, f, joints, use_load):
        return flagged(r, threshold, joints, unflagged, use_load, z_at, fault_detectors(f)) or \
            (head and r.get("head_detected") == f)

    clean = [r for r in rows if r["fault"] == "none"]
    faulty = [r for r in rows if r["fault"] != "none"]
    per_fault = {}
    for f in sorted({r["fault"] for r in faulty}):
        rs = [r for r in faulty if r["fault"] == f]
        actions = {r["action"] for r in rs}
        cs = [r for r in clean if r["action"] in actions]
        use_load = f in LOAD_FAULTS
        hits = sum(hit(r, f, FAULT_JOINTS[f], use_load) for r in rs)
        angle_hits = sum(flagged(r, threshold, FAULT_JOINTS[f], unflagged, False) for r in rs)
        det_hits = sum(bool(detector_hits(r, z_at, fault_detectors(f))) for r in rs)
        ft = sum(hit(r, f, FAULT_JOINTS[f], use_load) for r in cs)
        per_fault[f] = {"clips": len(rs), "hits": hits, "hit_rate": hits / len(rs), "angle_hits": angle_hits,
                        "detector_hits": det_hits,
                        "with_plates": sum(bool(r.get("plates")) for r in rs), "clean_clips": len(cs),
                        "false_triggers": ft, "false_trigger_rate": ft / max(len(cs), 1)}
    hits = sum(v["hits"] for v in per_fault.values())
    ft = sum(flagged(r, threshold, FEEDBACK_JOINTS, unflagged, True, z_at)
             or (head and r.get("head_detected") not in (None, "none")) for r in clean)
    ft_load = sum(bool(r.get("load_flagged")) for r in clean)
    ft_det = sum(bool(detector_hits(r, z_at)) for r in clean)
    return {"threshold_deg": threshold, "faulty_clips": len(faulty), "clean_clips": len(clean),
            "hit_rate": hits / max(len(faulty), 1), "false_trigger_rate": ft / max(len(clean), 1),
            "false_triggers": ft, "load_false_triggers": ft_load, "detector_false_triggers": ft_det,
            "per_fault": per_fault}


def select_threshold(sweep: list[dict], max_false_trigger: float) -> dict:
    """The sweep entry with the most hits among those with at most ``max_false_trigger`` false
    triggers (ties: the lower false-trigger rate, then the higher threshold); without one, the
    lowest false-trigger rate."""
    ok = [s for s in sweep if s["false_trigger_rate"] <= max_false_trigger]
    if not ok:
        return min(sweep, key=lambda s: (s["false_trigger_rate"], -s["threshold_deg"]))
    return max(ok, key=lambda s: (s["hit_rate"], -s["false_trigger_rate"], s["threshold_deg"]))


Z_KEYS = {"valgus_angle": "valgus_z", "landing_load_rate": "landing_z", "trunk_lean_change": "trunk_z"}


def select_settings(rows: list[dict], thresholds: list[float], zs: list[float], max_false_trigger: float,
                    unflagged: tuple[str, ...] = (), head: bool = False) -> dict:
    """The threshold_deg and the detectors' z (Z_KEYS: valgus_z, landing_z, trunk_z) of the grid
    thresholds x (off, zs) per detector that ``select_threshold`` picks on ``rows`` (most hits within
    ``max_false_trigger``); among equal ones a detector off, else the higher z (the grid is walked
    that way, and the first best is kept)."""
    from itertools import product

    grid = []
    for th in thresholds:
        for combo in product([None] + sorted(zs, reverse=True), repeat=len(DETECTORS)):
            z_at = dict(zip(DETECTORS, combo))
            r = rates(rows, th, unflagged, head, z_at)
            grid.append({"threshold_deg": th, **{Z_KEYS[d]: z for d, z in z_at.items()}, "hit_rate": r["hit_rate"],
                         "false_trigger_rate": r["false_trigger_rate"]})
    return select_threshold(grid, max_false_trigger)


def z_at_of(settings: dict) -> dict[str, float]:
    """{detector: z} of a dict with the Z_KEYS (FeedbackParams fields, a select_settings pick)."""
    return {d: settings[k] for d, k in Z_KEYS.items()}


def detector_sweep(rows: list[dict], p: FeedbackParams, head: bool = False) -> list[dict]:
    """Per scalar detector and z of ``p.detector_sweep_z`` (the other detector and the threshold at
    p's values): its fault's hit rate, its false-trigger rate (clean clips of the fault's actions
    flagged for it) and the overall rates (the DVC plot reports/feedback_detectors_sweep.csv)."""
    un, out = tuple(p.unflagged_joints), []
    for d in DETECTORS:
        for z in p.detector_sweep_z:
            r = rates(rows, p.threshold_deg, un, head, {**p.z_at(), d: z})
            f = r["per_fault"].get(DETECTOR_FAULTS[d])
            out.append({"detector": d, "fault": DETECTOR_FAULTS[d], "z": z,
                        "fault_hit_rate": None if f is None else f["hit_rate"],
                        "fault_false_trigger_rate": None if f is None else f["false_trigger_rate"],
                        "hit_rate": r["hit_rate"], "false_trigger_rate": r["false_trigger_rate"]})
    return out


def evaluate(p: FeedbackParams) -> dict:
    refs, head = load_references(p.reference)
    if p.select_split == p.split:
        raise FeedbackError(f"feedback.select_split {p.select_split!r}: the threshold must not be chosen on "
                            f"the split it is scored on ({p.split!r})")
    rows, failed = clip_deviations(p, refs, p.split)
    if not rows:
        raise FeedbackError(f"{p.split}: no clip could be scored ({len(failed)} failed)")
    thresholds = sorted(set(p.sweep_deg) | {p.threshold_deg})
    zs = sorted(set(p.detector_sweep_z) | {z for z in p.z_at().values() if z is not None})
    un, z_at = tuple(p.unflagged_joints), p.z_at()
    sweep = [rates(rows, th, un, z_at=z_at) for th in thresholds]
    at = rates(rows, p.threshold_deg, un, z_at=z_at)
    before = rates(rows, p.threshold_deg, un)    # the DTW deviation and the load flag alone
    selection = None
    if p.select_split:
        srows, sfailed = clip_deviations(p, refs, p.select_split)
        ssweep = [rates(srows, th, un, z_at=z_at) for th in thresholds]
        best = select_settings(srows, thresholds, zs, p.max_false_trigger, un)
        selection = {"split": p.select_split, "clips_scored": len(srows), "clips_failed": len(sfailed),
                     "rule": f"most hits with false-trigger rate <= {p.max_false_trigger} over threshold x "
                             f"valgus_z x landing_z x trunk_z (each off or {zs})",
                     "selected_threshold_deg": best["threshold_deg"], "selected": best,
                     "params_threshold_deg": p.threshold_deg, "params": {"threshold_deg": p.threshold_deg, **z_at},
                     "sweep": [{k: s[k] for k in ("threshold_deg", "hit_rate", "false_trigger_rate")} for s in ssweep],
                     "detector_sweep": detector_sweep(srows, p), "clips": srows}
    return {"split": p.split, "angles": p.angles, "angles_meaning": ANGLES_MEANING[p.angles],
            "reference_angles": head.get("angles"), "reference_clips": head["references"],
            "threshold_deg": p.threshold_deg, "valgus_z": p.valgus_z, "landing_z": p.landing_z, "trunk_z": p.trunk_z,
            "detector_references": {a: r.detectors for a, r in refs.items()},
            "before_detectors": {k: before[k] for k in ("hit_rate", "false_trigger_rate")},
            "detector_sweep": detector_sweep(rows, p), "z_grid": zs,
            "window_s": p.window_s, "corridor_sd": p.corridor_sd,
            "percentile": p.percentile, "band": p.band, "unflagged_joints": list(un), "load_margin": p.load_margin,
            "hit_rate": at["hit_rate"], "false_trigger_rate": at["false_trigger_rate"],
            "goal": {"hit_rate": 0.915, "false_trigger_rate": 0.118, "source": "TCN+GAT paper"},
            "clips_scored": len(rows), "clips_failed": len(failed), "failed": failed,
            "selection": selection, "at_threshold": at, "sweep": sweep, "clips": rows}


def resolve_bundle(spec: str) -> Path:
    """The bundle directory of ``spec``: a directory, the package stage's ``bento.json`` (its
    ``model`` tag) or a BentoML model tag (``athlete-mm-bundle:<version>``, in ``$BENTOML_HOME``)."""
    path = Path(spec)
    if path.is_dir():
        return path
    tag = spec
    if path.suffix == ".json":
        if not path.is_file():
            raise FeedbackError(f"feedback.fault_head {spec!r}: no such file (built by `python -m stages.package`)")
        tag = read_json(path).get("model")
        if not tag:
            raise FeedbackError(f"{path}: no 'model' (the bundle's BentoML tag)")
    import bentoml

    try:
        return Path(bentoml.models.get(tag).path)
    except (bentoml.exceptions.NotFound, ValueError) as exc:
        raise FeedbackError(f"feedback.fault_head {spec!r}: BentoML model {tag!r} not found ({exc})") from None


def fault_head_clips(bundle_dir: str | Path, processed_dir: str | Path, split: str, batch: int = 256) -> list[dict]:
    """The served recognizer's fault head as a second detector: per clip of ``split``'s processed
    windows (the model's own inputs), the fault probabilities given the predicted action
    (``serving.inference.fault_probabilities``, as /recognize gives them) averaged over the clip's
    windows; the clip's detected fault is their argmax ("none": not flagged)."""
    import torch

    from preprocessing.dataset import WindowDataset
    from serving.bundle import load_bundle
    from serving.inference import fault_probabilities

    b = load_bundle(bundle_dir)
    faults = b.meta.get("faults") or []
    if len(faults) < 2:
        raise FeedbackError(f"{bundle_dir}: the bundle's recognizer has no fault head (faults {faults})")
    ds = WindowDataset(processed_dir, split)
    keys = ("video", "landmarks", "imu", "grf", "modality_mask")
    logits, flog = [], []
    with torch.inference_mode():
        for i in tqdm(range(0, len(ds), batch), desc=f"fault head {split}", unit="batch"):
            items = [ds[k] for k in range(i, min(i + batch, len(ds)))]
            out = b.model({k: torch.stack([x[k] for x in items]) for k in keys})
            logits.append(out["logits"].numpy())
            flog.append(out["fault_logits"].numpy())
    action = np.concatenate(logits).argmax(1)
    probs = fault_probabilities(np.concatenate(flog), action, b.meta.get("fault_admissible"))
    fault_true = np.asarray(ds.arrays["fault"])
    w = ds.index["windows"]
    clips: dict[tuple, list[int]] = {}
    for i, (c, a) in enumerate(zip(w["clip_id"], w["athlete_id"])):
        clips.setdefault((a, c), []).append(i)
    rows = []
    for (a, c), idx in clips.items():
        mean = probs[idx].mean(0)
        rows.append({"athlete": a, "clip": c, "action": w["action"][idx[0]], "fault": faults[int(fault_true[idx[0]])],
                     "detected": faults[int(mean.argmax())], "probabilities": dict(zip(faults, np.round(mean, 4).tolist()))})
    return rows


def fault_head_rates(rows: list[dict]) -> dict:
    """Per fault type: hits (the clip's detected fault is its fault) and false triggers (clean clips
    of the actions it exists for detected as that fault); overall: faulty clips detected as their
    fault, clean clips detected as any fault."""
    clean = [r for r in rows if r["fault"] == "none"]
    faulty = [r for r in rows if r["fault"] != "none"]
    per_fault = {}
    for f in sorted({r["fault"] for r in faulty}):
        rs = [r for r in faulty if r["fault"] == f]
        cs = [r for r in clean if r["action"] in {r["action"] for r in rs}]
        hits, ft = sum(r["detected"] == f for r in rs), sum(r["detected"] == f for r in cs)
        per_fault[f] = {"clips": len(rs), "hits": hits, "hit_rate": hits / len(rs), "clean_clips": len(cs),
                        "false_triggers": ft, "false_trigger_rate": ft / max(len(cs), 1)}
    hits = sum(r["detected"] == r["fault"] for r in faulty)
    ft = sum(r["detected"] != "none" for r in clean)
    return {"faulty_clips": len(faulty), "clean_clips": len(clean), "hits": hits, "hit_rate": hits / max(len(faulty), 1),
            "false_triggers": ft, "false_trigger_rate": ft / max(len(clean), 1), "per_fault": per_fault}


def add_fault_head(res: dict, bundle_dir: str, head_rows: list[dict], select_rows: list[dict] | None = None,
                   max_false_trigger: float = 0.118) -> None:
    """The fault head's rates into ``res["fault_head"]`` and, with each scored clip's detected fault
    (``head_detected``), the combined detector (feedback OR fault head) at the threshold and over the
    sweep into ``res["combined"]``; with the selection split's head rows, the combined detector's
    settings chosen there (``select_settings``) as ``res["combined"]["selection"]``."""
    def attach(clips, rows):
        det = {(r["athlete"], r["clip"]): r["detected"] for r in rows}
        for r in clips:
            r["head_detected"] = det.get((r["athlete"], r["clip"]))

    attach(res["clips"], head_rows)
    un = tuple(res["unflagged_joints"])
    z_at = z_at_of(res)
    res["fault_head"] = {"bundle": str(bundle_dir), **fault_head_rates(head_rows)}
    res["combined"] = {"at_threshold": rates(res["clips"], res["threshold_deg"], un, head=True, z_at=z_at),
                       "sweep": [{k: v for k, v in rates(res["clips"], s["threshold_deg"], un, True, z_at).items()
                                  if k in ("threshold_deg", "hit_rate", "false_trigger_rate")} for s in res["sweep"]]}
    sel = res.get("selection")
    if sel and select_rows is not None:
        attach(sel["clips"], select_rows)
        ssweep = [rates(sel["clips"], s["threshold_deg"], un, True, z_at) for s in res["sweep"]]
        best = select_settings(sel["clips"], [s["threshold_deg"] for s in res["sweep"]], res["z_grid"],
                               max_false_trigger, un, head=True)
        at_sel = rates(res["clips"], best["threshold_deg"], un, True, z_at_of(best))
        res["combined"]["selection"] = {
            "split": sel["split"], "selected_threshold_deg": best["threshold_deg"], "selected": best,
            "at_selected": at_sel,
            "sweep": [{k: s[k] for k in ("threshold_deg", "hit_rate", "false_trigger_rate")} for s in ssweep]}


def fault_head_markdown(fh: dict, split: str, bundle_dir: str) -> str:
    lines = [f"## Second detector: the served recognizer's fault head ({split} split)", "",
             f"Bundle `{bundle_dir}`; per clip the fault probabilities given the predicted action, averaged over "
             f"its windows (the model's own inputs: the processed windows); detected = their argmax. Hit rate "
             f"**{fh['hit_rate']:.1%}** ({fh['hits']}/{fh['faulty_clips']}), false-trigger rate "
             f"**{fh['false_trigger_rate']:.1%}** ({fh['false_triggers']}/{fh['clean_clips']}).", "",
             "| fault | clips | hits | hit rate | clean clips | false triggers | false-trigger rate |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for f, v in fh["per_fault"].items():
        lines.append(f"| {f} | {v['clips']} | {v['hits']} | {v['hit_rate']:.1%} | {v['clean_clips']} | "
                     f"{v['false_triggers']} | {v['false_trigger_rate']:.1%} |")
    return "\n".join(lines) + "\n"


def combined_markdown(res: dict) -> str:
    c = res["combined"]["at_threshold"]
    lines = [f"## Combined: the feedback OR the fault head ({res['split']} split)", "",
             f"At {res['threshold_deg']:g} deg: hit rate **{c['hit_rate']:.1%}**, false-trigger rate "
             f"**{c['false_trigger_rate']:.1%}** ({c['false_triggers']}/{c['clean_clips']}).", "",
             "| fault | clips | hits | hit rate | false-trigger rate |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {f} | {v['clips']} | {v['hits']} | {v['hit_rate']:.1%} | {v['false_trigger_rate']:.1%} |"
              for f, v in c["per_fault"].items()]
    sel = res["combined"].get("selection")
    if sel:
        b, a = sel["selected"], sel["at_selected"]
        lines += ["", f"Combined, settings chosen on {sel['split']} (same rule): {b['threshold_deg']:g} deg, valgus z "
                  f"{_z(b['valgus_z'])}, landing z {_z(b['landing_z'])}, trunk z {_z(b['trunk_z'])} ({sel['split']}: {b['hit_rate']:.1%} / "
                  f"{b['false_trigger_rate']:.1%}); on {res['split']} there: hit rate **{a['hit_rate']:.1%}**, "
                  f"false-trigger rate **{a['false_trigger_rate']:.1%}** ({a['false_triggers']}/{a['clean_clips']}).", "",
                  "| fault | clips | hits | hits by its detector | hit rate | false-trigger rate |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {f} | {v['clips']} | {v['hits']} | {v.get('detector_hits', 0) if fault_detectors(f) else ''} | "
                  f"{v['hit_rate']:.1%} | {v['false_trigger_rate']:.1%} |" for f, v in a["per_fault"].items()]
        lines += ["", f"Combined sweep at the params' z:"]
        val = {s["threshold_deg"]: s for s in sel["sweep"]}
    lines += ["", f"| threshold (deg) | {res['split']} hit rate | {res['split']} false-trigger rate |"
              + (f" {sel['split']} hit rate | {sel['split']} false-trigger rate |" if sel else ""),
              "|---:|---:|---:|" + ("---:|---:|" if sel else "")]
    for s in res["combined"]["sweep"]:
        v = val[s["threshold_deg"]] if sel else None
        lines.append(f"| {s['threshold_deg']:g} | {s['hit_rate']:.1%} | {s['false_trigger_rate']:.1%} |"
                     + (f" {v['hit_rate']:.1%} | {v['false_trigger_rate']:.1%} |" if v else ""))
    return "\n".join(lines) + "\n"


def write_reports(res: dict, p: FeedbackParams) -> None:
    headline = {k: res[k] for k in ("split", "angles", "reference_angles", "threshold_deg", "valgus_z", "landing_z", "trunk_z",
                                    "before_detectors", "window_s", "corridor_sd",
                                    "percentile", "band", "unflagged_joints", "load_margin", "hit_rate", "false_trigger_rate", "clips_scored",
                                    "clips_failed", "goal")}
    headline["per_fault_hit_rate"] = {f: v["hit_rate"] for f, v in res["at_threshold"]["per_fault"].items()}
    headline["per_fault_false_trigger_rate"] = {f: v["false_trigger_rate"]
                                                for f, v in res["at_threshold"]["per_fault"].items()}
    if res["selection"]:
        headline["selection"] = {k: v for k, v in res["selection"].items() if k not in ("sweep", "clips")}
    headline["sweep"] = [{k: s[k] for k in ("threshold_deg", "hit_rate", "false_trigger_rate")} for s in res["sweep"]]
    if res.get("fault_head"):
        fh = res["fault_head"]
        headline["fault_head"] = {"bundle": fh["bundle"], "hit_rate": fh["hit_rate"], "false_trigger_rate": fh["false_trigger_rate"],
                                  "per_fault_hit_rate": {f: v["hit_rate"] for f, v in fh["per_fault"].items()}}
        c = res["combined"]["at_threshold"]
        headline["combined"] = {"hit_rate": c["hit_rate"], "false_trigger_rate": c["false_trigger_rate"],
                                "selected_threshold_deg": (res["combined"].get("selection") or {}).get("selected_threshold_deg"),
                                "per_fault_hit_rate": {f: v["hit_rate"] for f, v in c["per_fault"].items()}}
        cs = res["combined"].get("selection")
        if cs:
            a = cs["at_selected"]
            headline["combined"]["at_selected"] = {**cs["selected"], "split": res["split"], "hit_rate": a["hit_rate"],
                                                   "false_trigger_rate": a["false_trigger_rate"],
                                                   "selected_on": {k: cs["selected"][k] for k in ("hit_rate", "false_trigger_rate")},
                                                   "per_fault_hit_rate": {f: v["hit_rate"] for f, v in a["per_fault"].items()}}
    Path(p.report).parent.mkdir(parents=True, exist_ok=True)
    Path(p.report).write_text(json.dumps(headline, indent=1))
    details = Path(p.report).with_name(Path(p.report).stem + "_details.json")   # feedback_details.json
    details.write_text(json.dumps(res, indent=1))
    comb = {s["threshold_deg"]: s for s in (res.get("combined") or {}).get("sweep", [])}
    with open(p.plot, "w") as fh:   # the fig. 7 of the TCN+GAT paper: rates vs threshold (+ OR the fault head)
        fh.write("threshold_deg,hit_rate,false_trigger_rate" + (",combined_hit_rate,combined_false_trigger_rate" if comb else "")
                 + "\n")
        for s in res["sweep"]:
            c = comb.get(s["threshold_deg"])
            fh.write(f"{s['threshold_deg']:g},{s['hit_rate']:.4f},{s['false_trigger_rate']:.4f}"
                     + (f",{c['hit_rate']:.4f},{c['false_trigger_rate']:.4f}" if c else "") + "\n")
    with open(detector_plot(p), "w") as fh:   # per detector: its fault's hit rate and its false triggers vs z
        fh.write(",".join(["z"] + [f"{d}_{k}" for d in DETECTORS for k in ("hit", "false")]) + "\n")
        by = {(s["detector"], s["z"]): s for s in res["detector_sweep"]}
        for z in sorted({s["z"] for s in res["detector_sweep"]}):
            cells = [f"{by[d, z]['fault_hit_rate']:.4f},{by[d, z]['fault_false_trigger_rate']:.4f}"
                     if (d, z) in by and by[d, z]["fault_hit_rate"] is not None else "," for d in DETECTORS]
            fh.write(",".join([f"{z:g}"] + cells) + "\n")
    with open(per_fault_plot(p), "w") as fh:   # the per-fault DVC plot: <fault>_hit, <fault>_false per threshold
        fh.write(",".join(["threshold_deg"] + [f"{f}_{k}" for f in FAULT_JOINTS for k in ("hit", "false")]) + "\n")
        for s in res["sweep"]:
            v = s["per_fault"]
            cells = [f"{v[f]['hit_rate']:.4f},{v[f]['false_trigger_rate']:.4f}" if f in v else "," for f in FAULT_JOINTS]
            fh.write(",".join([f"{s['threshold_deg']:g}"] + cells) + "\n")
    md = markdown(res)
    if res.get("fault_head"):
        md += "\n" + fault_head_markdown(res["fault_head"], res["split"], res["fault_head"]["bundle"])
        md += "\n" + combined_markdown(res)
    Path(p.markdown).write_text(md)


def _z(z: float | None) -> str:
    return "off" if z is None else f"{z:g}"


def detector_plot(p: FeedbackParams) -> Path:
    """reports/feedback_detectors_sweep.csv next to ``p.plot``."""
    return Path(p.plot).with_name(Path(p.plot).stem.replace("_sweep", "") + "_detectors_sweep.csv")


def per_fault_plot(p: FeedbackParams) -> Path:
    """reports/feedback_sweep_per_fault.csv next to ``p.plot``."""
    return Path(p.plot).with_name(Path(p.plot).stem + "_per_fault.csv")


def markdown(res: dict) -> str:
    at = res["at_threshold"]
    lines = [f"# Technique feedback on the {res['split']} split", "",
             f"Angles scored: **{res['angles']}** ({res['angles_meaning']}); reference built from the clean training "
             f"clips' {res['reference_angles']} angles. A clip is flagged when, after multivariate DTW alignment "
             f"to its class reference (either leg leading, chosen per frame), a joint's deviation held for "
             f"{res['window_s']} s beyond {res['corridor_sd']:g} sd of the clean clips, its "
             f"{res['percentile'] if res['percentile'] is not None else 'largest'} percentile over the movement, is at least the threshold (15 leg and trunk "
             f"joints; a faulty clip counts as a hit when one of its fault's joints is flagged, "
             f"biomech.feedback.FAULT_JOINTS; asymmetric landing also when the plate load flag fires: with both "
             f"feet down, the 95th percentile of |F1 - F2| / (F1 + F2) at least {res['load_margin']:g} above the "
             f"clean training clips' of the class, clips with plates only; knee valgus also when the landmark "
             f"knee valgus angle is at least {_z(res['valgus_z'])} robust sd beyond the class's clean training clips, "
             f"stiff landing when the plates' landing loading rate is {_z(res['landing_z'])} robust sd above them, "
             f"trunk lean when the landmark trunk tilts from its starting posture {_z(res['trunk_z'])} sd beyond them: "
             f"biomech.feedback.DETECTORS, section below). Clips scored: {res['clips_scored']} "
             f"({res['clips_failed']} failed: IK did not converge or no reference). The clip's labelled action "
             f"selects the reference.", "",
             f"At the chosen threshold **{res['threshold_deg']:g} deg**: hit rate **{res['hit_rate']:.1%}** "
             f"({sum(v['hits'] for v in at['per_fault'].values())}/{at['faulty_clips']} faulty clips), false-trigger "
             f"rate **{res['false_trigger_rate']:.1%}** ({at['false_triggers']}/{at['clean_clips']} clean clips, "
             f"{at.get('load_false_triggers', 0)} of them by the load flag, {at.get('detector_false_triggers', 0)} by "
             f"the detectors); goal (TCN+GAT paper) >= 91.5 % hits with <= 11.8 % false triggers. Without the "
             f"detectors, at the same threshold: {res['before_detectors']['hit_rate']:.1%} / "
             f"{res['before_detectors']['false_trigger_rate']:.1%}.", "",
             "Per fault type: hit rate over its faulty clips; false-trigger rate over the clean clips of the "
             "actions it exists for, flagged on the fault's joints.", "",
             "| fault | clips | with plates | hits | hits on angles alone | hits by its detector | hit rate | clean clips "
             "| false triggers | false-trigger rate |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f, v in at["per_fault"].items():
        lines.append(f"| {f} | {v['clips']} | {v.get('with_plates', '')} | {v['hits']} | {v.get('angle_hits', '')} | "
                     f"{v.get('detector_hits', 0) if fault_detectors(f) else ''} | "
                     f"{v['hit_rate']:.1%} | {v['clean_clips']} | {v['false_triggers']} | {v['false_trigger_rate']:.1%} |")
    sel = res.get("selection")
    if sel:
        b = sel["selected"]
        lines += ["", f"Settings chosen on the **{sel['split']}** split ({sel['clips_scored']} clips; {sel['rule']}): "
                  f"{b['threshold_deg']:g} deg, valgus z {_z(b['valgus_z'])}, landing z {_z(b['landing_z'])}, trunk z {_z(b['trunk_z'])} ({sel['split']}: "
                  f"{b['hit_rate']:.1%} / {b['false_trigger_rate']:.1%}; params.yaml: {sel['params']['threshold_deg']:g} deg, "
                  f"{_z(sel['params']['valgus_angle'])}, {_z(sel['params']['landing_load_rate'])}, {_z(sel['params']['trunk_lean_change'])}). Its threshold sweep at the "
                  f"params' z:", "",
                  f"| threshold (deg) | {sel['split']} hit rate | {sel['split']} false-trigger rate |", "|---:|---:|---:|"]
        lines += [f"| {s['threshold_deg']:g} | {s['hit_rate']:.1%} | {s['false_trigger_rate']:.1%} |" for s in sel["sweep"]]
    lines += ["", f"Threshold sweep ({res['split']}):", "", "| threshold (deg) | hit rate | false-trigger rate |", "|---:|---:|---:|"]
    for s in res["sweep"]:
        lines.append(f"| {s['threshold_deg']:g} | {s['hit_rate']:.1%} | {s['false_trigger_rate']:.1%} |")
    return "\n".join(lines) + "\n" + "\n" + detectors_markdown(res)


DETECTOR_MEANING = {
    "valgus_angle": "the direction of the bent knee inwards of straight ahead (the pelvis' forward axis), deg: "
                    "per leg, over its stance frames with the knee >= 20 % of the hip-ankle distance off the "
                    "hip-ankle line, the angle of the summed offset; the larger leg (detector-like landmarks, as the "
                    "IK gets them)",
    "landing_load_rate": "the plates' peak total vertical force in the 0.3 s after a touchdown (body weights) over "
                         "the time to it, median over the touchdowns (clips with plates; z on its log)",
    "trunk_lean_change": "the 95th percentile of the trunk's tilt (hip centre to shoulder centre, in the pelvis' "
                         "sagittal plane) away from its median over the first 0.2 s, either way, deg (landmarks)",
}


def detectors_markdown(res: dict) -> str:
    """The scalar detectors: what each measures, the class references, the z sweep on test (and val)."""
    lines = ["## Scalar detectors (biomech.feedback.DETECTORS)", "",
             "Each is compared with the clean training clips of the class, as a robust z (median, 1.4826 MAD), only "
             "for the classes whose training clips hold its fault (as the fault head's admissible faults):", ""]
    lines += [f"* `{d}` ({DETECTOR_FAULTS[d]}): {DETECTOR_MEANING[d]}." for d in DETECTORS]
    val = {(s["detector"], s["z"]): s for s in ((res.get("selection") or {}).get("detector_sweep") or [])}
    vs = res.get("selection", {}).get("split", "val") if val else None
    lines += ["", f"Sweep of each detector's z (the threshold and the other detector at the params' values): its "
              f"fault's hit rate and false-trigger rate (clean clips of the fault's actions flagged for it), and the "
              f"overall rates; {res['split']}" + (f" | {vs}" if vs else "") + ":", "",
              "| detector | z | fault hit rate | fault false-trigger rate | hit rate | false-trigger rate |"
              + (f" {vs} fault hit | {vs} fault false | {vs} hit | {vs} false |" if vs else ""),
              "|---|---:|---:|---:|---:|---:|" + ("---:|---:|---:|---:|" if vs else "")]
    for s in res["detector_sweep"]:
        if s["fault_hit_rate"] is None:
            continue
        v = val.get((s["detector"], s["z"]))
        lines.append(f"| {s['detector']} | {s['z']:g} | {s['fault_hit_rate']:.1%} | {s['fault_false_trigger_rate']:.1%} | "
                     f"{s['hit_rate']:.1%} | {s['false_trigger_rate']:.1%} |"
                     + (f" {v['fault_hit_rate']:.1%} | {v['fault_false_trigger_rate']:.1%} | {v['hit_rate']:.1%} | "
                        f"{v['false_trigger_rate']:.1%} |" if v and v["fault_hit_rate"] is not None else ""))
    return "\n".join(lines) + "\n"


def load_params(argv: list[str] | None = None) -> tuple[FeedbackParams, argparse.Namespace]:
    from stages.params import section, validate

    ap = argparse.ArgumentParser(prog="python -m evaluation.feedback", description=__doc__.splitlines()[0])
    ap.add_argument("--raw-dir"), ap.add_argument("--processed-dir"), ap.add_argument("--reference")
    ap.add_argument("--angles", choices=ANGLE_SOURCES), ap.add_argument("--cache-dir"), ap.add_argument("--split")
    ap.add_argument("--report"), ap.add_argument("--markdown"), ap.add_argument("--plot")
    ap.add_argument("--threshold-deg", type=float)
    ap.add_argument("--fault-head", metavar="BUNDLE",
                    help="override feedback.fault_head: also score the served recognizer's fault head (a bundle "
                         "directory, the package stage's bento.json or a BentoML model tag) on the split's "
                         "processed windows")
    ap.add_argument("--prepare", nargs="*", metavar="SPLIT",
                    help="only fill the IK cache for these splits (train: the reference's clean clips)")
    a = ap.parse_args(argv)
    _, raw = section("feedback")
    over = {k: v for k, v in vars(a).items() if v is not None and k != "prepare"}
    return validate(FeedbackParams, {**raw, **over}, "feedback"), a


def main(argv: list[str] | None = None) -> int:
    from stages.params import ParamsError

    try:
        p, a = load_params(argv)
    except ParamsError as exc:
        print(f"feedback: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    try:
        if a.prepare is not None:
            prepare(p.raw_dir, p.processed_dir, a.prepare or ["test", "train"], p.cache_dir, p.max_clips_per_class)
            return 0
        res = evaluate(p)
        if p.fault_head:
            b = resolve_bundle(p.fault_head)
            add_fault_head(res, f"{p.fault_head} ({b.name})", fault_head_clips(b, p.processed_dir, p.split),
                           fault_head_clips(b, p.processed_dir, p.select_split) if p.select_split else None,
                           p.max_false_trigger)
    except (RawDataError, FeedbackError) as exc:
        print(f"feedback: {exc}", file=sys.stderr)
        return 1
    write_reports(res, p)
    print(markdown(res))
    print(f"feedback: {p.report}, {p.markdown}, {p.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
