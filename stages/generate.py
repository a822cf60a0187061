"""DVC stage `generate`: the embedded default dataset (synthetic multimodal athlete clips).

Reads the `generate` section of params.yaml (active profile applied), samples virtual athletes
and clip specifications deterministically from the seed, synthesises every clip in parallel
worker processes (biomech.synth) and writes data/raw/<dataset>/ in the raw layout with its
manifest, plus reports/generate.json (counts and timing) for `dvc metrics show`.

    python -m stages.generate            # what `dvc repro generate` runs
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tqdm import tqdm

from stages.params import ParamsError, section, validate

REPORT = Path("reports/generate.json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PresetParams(_Strict):
    video_fps: float = Field(ge=10, le=240)
    imu_rate_hz: float = Field(ge=50, le=4000)
    grf_rate_hz: float | None = Field(default=None, ge=100, le=4000)
    imu_acc_noise: float = Field(default=0.05, ge=0, le=2)
    imu_gyro_noise: float = Field(default=0.005, ge=0, le=0.5)
    imu_acc_range_g: float = Field(default=16, ge=2, le=400)
    imu_gyro_range_dps: float = Field(default=2000, ge=125, le=10000)


class VideoParams(_Strict):
    width: int = Field(ge=32, le=1920)
    height: int = Field(ge=32, le=1080)


def _range(lo: float, hi: float):
    """Validator of a [min, max] pair inside [lo, hi]."""
    def check(v: tuple) -> tuple:
        if not (lo <= v[0] <= v[1] <= hi):
            raise ValueError(f"{list(v)} must satisfy {lo} <= min <= max <= {hi}")
        return v
    return check


class ViewParams(_Strict):
    """Camera viewpoint distribution, the same for every class (biomech.camera.ViewDistribution)."""
    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    elevation_deg: tuple[float, float] = (-5.0, 20.0)
    hfov_deg: tuple[float, float] = (50.0, 60.0)
    frame_height: tuple[float, float] = (1.4, 1.8)
    follow_threshold_m: float = Field(default=1.0, ge=0.0, le=100.0)
    follow_cutoff_hz: float = Field(default=1.0, gt=0.0, le=10.0)

    @model_validator(mode="after")
    def _ranges(self):
        _range(0.0, 360.0)(self.azimuth_deg)
        _range(-45.0, 60.0)(self.elevation_deg)
        _range(20.0, 120.0)(self.hfov_deg)
        _range(1.0, 5.0)(self.frame_height)
        return self


class JointFactorParams(_Strict):
    face: float = Field(default=0.8, gt=0, le=10)
    torso: float = Field(default=1.0, gt=0, le=10)
    elbow_knee: float = Field(default=1.3, gt=0, le=10)
    wrist_ankle: float = Field(default=1.6, gt=0, le=10)
    hand_foot: float = Field(default=1.9, gt=0, le=10)


class LandmarkErrorParams(_Strict):
    """Detector-like landmark error (biomech.camera.LandmarkError); README 'How realistic the
    landmarks are' gives the published figures behind the defaults."""
    enabled: bool = True
    sd_m: float = Field(default=0.012, ge=0, le=0.5)
    joint_factor: JointFactorParams = JointFactorParams()
    depth_factor: float = Field(default=2.0, ge=0, le=20)
    correlation_s: float = Field(default=0.1, ge=0, le=5)
    occlusion_gain: float = Field(default=1.0, ge=0, le=20)
    swap_rate_hz: float = Field(default=0.15, ge=0, le=10)
    swap_frames: tuple[int, int] = (2, 6)
    miss_rate_hz: float = Field(default=0.1, ge=0, le=10)
    miss_frames: tuple[int, int] = (1, 4)

    @model_validator(mode="after")
    def _ranges(self):
        _range(1, 1000)(self.swap_frames)
        _range(1, 1000)(self.miss_frames)
        return self


class LeakCheckParams(_Strict):
    """evaluation.nuisance_leak: fail above chance + max(min_margin, z_(1-alpha) binomial SD)."""
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    min_margin: float = Field(default=0.02, ge=0, le=0.5)


class GenerateParams(_Strict):
    dataset: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    seed: int = Field(ge=0)
    n_athletes: int = Field(ge=2, le=10000)
    n_clips: int = Field(ge=1, le=1_000_000)
    duration_s: tuple[float, float]
    fault_rate: float = Field(ge=0, le=1)
    preset_mix: dict[Literal["pro", "consumer"], float]
    workers: int = Field(ge=1, le=256)
    video: VideoParams
    design_rate_hz: float = Field(ge=100, le=1000)
    sim_rate_hz: float = Field(ge=100, le=4000)
    kinematics_cutoff_hz: float = Field(ge=4, le=50)
    gt_rate_hz: float = Field(ge=10, le=1000)
    max_clock_offset_s: float = Field(ge=0, le=0.1)
    drop_fraction: tuple[float, float]
    presets: dict[Literal["pro", "consumer"], PresetParams]
    view: ViewParams = ViewParams()
    landmark_error: LandmarkErrorParams = LandmarkErrorParams()
    leak_check: LeakCheckParams = LeakCheckParams()
    allow_missing_actions: bool = False  # development switch: generate only registered actions

    @model_validator(mode="after")
    def _ranges(self):
        lo, hi = self.duration_s
        if not (1.0 <= lo <= hi <= 30.0):
            raise ValueError(f"duration_s={list(self.duration_s)} must satisfy 1 <= min <= max <= 30")
        dlo, dhi = self.drop_fraction
        if not (0.0 <= dlo <= dhi <= 0.2):
            raise ValueError(f"drop_fraction={list(self.drop_fraction)} must satisfy 0 <= min <= max <= 0.2")
        if any(v < 0 for v in self.preset_mix.values()) or sum(self.preset_mix.values()) <= 0:
            raise ValueError("preset_mix weights must be >= 0 with a positive sum")
        missing = [p for p, w in self.preset_mix.items() if w > 0 and p not in self.presets]
        if missing:
            raise ValueError(f"preset_mix uses presets {missing} that are not defined in presets")
        return self


def load_params() -> tuple[str, GenerateParams]:
    profile, raw = section("generate")
    return profile, validate(GenerateParams, raw, "generate")


def sample_athletes(n: int, rng: np.random.Generator, prefix: str = "athlete") -> list[dict]:
    """Virtual athletes: both sexes, height 1.50-2.05 m, mass 45-110 kg (athletic BMI); ids
    ``<prefix>0000``, ``<prefix>0001``, ... (another cohort: another prefix, so no id collides)."""
    out = []
    for i in range(n):
        sex = "male" if i % 2 == 0 else "female"
        mu, sd = (1.79, 0.09) if sex == "male" else (1.67, 0.08)
        h = float(np.clip(rng.normal(mu, sd), 1.50, 2.05))
        bmi = float(np.clip(rng.normal(22.8 if sex == "male" else 21.5, 2.2), 17.5, 30.0))
        m = float(np.clip(bmi * h * h, 45.0, 110.0))
        out.append({"athlete_id": f"{prefix}{i:04d}", "sex": sex, "height": round(h, 3),
                    "mass": round(m, 1)})
    return out


def make_specs(p: GenerateParams, athletes: list[dict]):
    from biomech.actions import FAULTS, registered_actions
    from biomech.conventions import ACTIONS
    from biomech.synth import ClipSpec

    missing = [a for a in ACTIONS if a not in registered_actions()]
    if missing and not p.allow_missing_actions:
        raise ParamsError(f"actions {missing} are listed in biomech.conventions.ACTIONS but not "
                          "registered in biomech.actions")
    actions = [a for a in ACTIONS if a in registered_actions()]
    rng = np.random.default_rng(np.random.SeedSequence([p.seed, 1]))
    presets = list(p.preset_mix)
    weights = np.array([p.preset_mix[k] for k in presets], dtype=float)
    weights /= weights.sum()
    specs = []
    order = rng.permutation(len(actions))
    # every athlete gets a first clip, in a random order: athletes are listed by alternating sex,
    # so taking them in list order would tie the sex to the class of the first clips
    first = rng.permutation(len(athletes))
    for i in range(p.n_clips):
        # class, athlete, fault, preset and duration are drawn independently of each other
        # (the fault is drawn among the class's own faults); evaluation.nuisance_leak checks it
        action = actions[order[i % len(actions)]]
        ath = athletes[int(rng.integers(len(athletes)))] if i >= len(athletes) else athletes[int(first[i])]
        faults = FAULTS[action]
        fault = str(rng.choice(faults)) if faults and rng.random() < p.fault_rate else "none"
        preset = presets[int(rng.choice(len(presets), p=weights))]
        duration = round(float(rng.uniform(*p.duration_s)), 2)
        specs.append(ClipSpec(
            clip_id=f"clip{i:05d}", athlete_id=ath["athlete_id"], sex=ath["sex"],
            height=ath["height"], mass=ath["mass"], action=action, fault=fault, preset=preset,
            duration=duration, seed=int(p.seed) * 100_003 + i))
    return specs


def build_presets(p: GenerateParams) -> dict:
    from biomech.sensors import ImuSpec
    from biomech.synth import Preset

    out = {}
    for name, pp in p.presets.items():
        imu = ImuSpec(rate_hz=pp.imu_rate_hz, acc_noise=pp.imu_acc_noise, gyro_noise=pp.imu_gyro_noise,
                      acc_bias_walk=0.003, gyro_bias_walk=0.0005,
                      acc_range=pp.imu_acc_range_g * 9.80665,
                      gyro_range=np.radians(pp.imu_gyro_range_dps))
        out[name] = Preset(name, pp.video_fps, imu, pp.grf_rate_hz)
    return out


# ---- worker side -------------------------------------------------------------------------
_W: dict = {}


def _init_worker(presets, cfg, out_dir):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    _W.update(presets=presets, cfg=cfg, out_dir=out_dir)


def _run(spec):
    from biomech.synth import write_clip

    return write_clip(spec, _W["presets"][spec.preset], _W["cfg"], _W["out_dir"])


def generate(p: GenerateParams, out_root: Path = Path("data/raw"), progress: bool = True,
             athlete_prefix: str = "athlete") -> dict:
    """Write data/raw/<dataset>/ (athletes, clips, manifest); ``athlete_prefix`` names the athletes
    (the held-out cohort of pipelines/holdout uses its own, evaluation.holdout)."""
    from biomech.body import build_body
    from biomech.io import write_manifest
    from biomech.opensim_model import write_osim
    from biomech.camera import LandmarkError, ViewDistribution
    from biomech.synth import SynthConfig

    t0 = time.perf_counter()
    out_dir = out_root / p.dataset
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    athletes = sample_athletes(p.n_athletes, np.random.default_rng(np.random.SeedSequence([p.seed, 0])),
                               athlete_prefix)
    for a in athletes:
        (out_dir / a["athlete_id"]).mkdir()
        write_osim(build_body(a["sex"], a["height"], a["mass"]), out_dir / a["athlete_id"] / "athlete.osim",
                   name=a["athlete_id"])
    with open(out_dir / "athletes.json", "w") as fh:
        json.dump(athletes, fh, indent=1)
    specs = make_specs(p, athletes)
    presets = build_presets(p)
    cfg = SynthConfig(gt_rate_hz=p.gt_rate_hz, design_rate_hz=p.design_rate_hz,
                      sim_rate_hz=p.sim_rate_hz, kinematics_cutoff_hz=p.kinematics_cutoff_hz,
                      width=p.video.width, height=p.video.height,
                      max_offset_s=p.max_clock_offset_s, drop_fraction=tuple(p.drop_fraction),
                      view=ViewDistribution(**p.view.model_dump()),
                      landmark_error=LandmarkError(**p.landmark_error.model_dump()))
    rows, summaries = [], []
    workers = min(p.workers, len(specs))
    bar = tqdm(total=len(specs), desc="generate", unit="clip", disable=not progress, file=sys.stderr)
    if workers == 1:
        _init_worker(presets, cfg, out_dir)
        results = map(_run, specs)
    else:
        # spawn, not fork: forking after torch/OpenSim initialised threads can deadlock
        pool = get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(presets, cfg, out_dir))
        results = pool.imap_unordered(_run, specs, chunksize=2)
    try:
        for r in results:
            rows += r["rows"]
            summaries.append(r["summary"])
            bar.update()
    finally:
        bar.close()
        if workers > 1:
            pool.terminate()
    write_manifest(out_dir, rows)
    elapsed = time.perf_counter() - t0
    report = {
        "dataset": p.dataset, "n_clips": len(specs), "n_athletes": len(athletes),
        "seconds": round(elapsed, 1), "clips_per_second": round(len(specs) / elapsed, 2),
        "workers": workers, "bytes": int(sum(int(r["bytes"]) for r in rows)),
        # headline figures only (`dvc metrics show` is one table): counts per action and preset
        # are in the manifest (data/raw/<dataset>/manifest.csv)
        "faulty_clips": sum(s["fault"] != "none" for s in summaries),
        "consumer_clips": sum(s["preset"] == "consumer" for s in summaries),
        "max_foot_error_m": round(max(s["foot_error_max_m"] for s in summaries), 5),
    }
    return report


def main() -> int:
    try:
        profile, p = load_params()
    except ParamsError as exc:
        print(f"generate: invalid parameters:\n{exc}", file=sys.stderr)
        return 2
    from biomech.synth import ClipGenerationError

    print(f"generate: profile={profile} dataset={p.dataset} clips={p.n_clips} "
          f"athletes={p.n_athletes} workers={p.workers}", file=sys.stderr)
    try:
        report = generate(p)
    except ParamsError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    except ClipGenerationError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 1
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"generate: {report['n_clips']} clips in {report['seconds']} s "
          f"({report['clips_per_second']} clips/s, {report['bytes'] / 1e6:.0f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
