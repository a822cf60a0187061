"""`athlete-mm recognize CLIP_DIR | --landmarks keypoints.npz [--imu imu.npz] [--grf grf.npz] --mass KG
--height M`: action segments and class probabilities of one recording, in-process (no server).

A raw-layout clip folder (keypoints.npz, imu.npz, grf.npz, meta.json: the athlete's mass and height
are read from it) or the stream files one by one (the raw layout's .npz fields). The same path as
the service's /recognize (serving.inference.recognize_many: the preprocess stage's functions, then
the packaged recognizer). Prints the segments and the recording's top classes; ``--json`` prints the
/recognize response as JSON instead, ``--out FILE`` writes it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cli import CommandError
from cli.bundle import add_bundle_argument, emit, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clip", nargs="?", type=Path, help="raw-layout clip folder (keypoints.npz, imu.npz, grf.npz, meta.json)")
    p.add_argument("--landmarks", type=Path, help="keypoints.npz: time, world (T,33,3), visibility, image")
    p.add_argument("--imu", type=Path, help="imu.npz: time, acc (N,6,3), gyro (N,6,3)")
    p.add_argument("--grf", type=Path, help="grf.npz: time, force (M,2,3), cop (M,2,3), free_moment (M,2)")
    p.add_argument("--mass", type=float, help="body mass, kg (default: the clip's meta.json)")
    p.add_argument("--height", type=float, help="stature, m (default: the clip's meta.json)")
    p.add_argument("--sex", choices=("male", "female"), default=None)
    p.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"),
                   help="video size of the image landmarks (needed to synchronise IMU / plate clocks)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.add_argument("--out", type=Path, help="write the response as JSON to this file")
    add_bundle_argument(p)


def _npz(path: Path, fields: tuple[str, ...]) -> dict:
    from biomech.io import RawDataError, read_npz

    try:
        return read_npz(path, fields)[1]
    except RawDataError as exc:
        raise CommandError(str(exc)) from None


def _rate(t: np.ndarray, name: Path) -> float:
    if len(t) < 2 or not np.all(np.diff(t) > 0):
        raise CommandError(f"{name}: 'time' must hold >= 2 increasing stamps")
    return float(1.0 / np.median(np.diff(t)))


def request_from_files(args) -> dict:
    from serving.client import encode

    if args.mass is None or args.height is None:
        raise CommandError("--mass and --height are required with stream files (a clip folder has them in meta.json)")
    req = {"athlete": {"mass_kg": args.mass, "height_m": args.height, "sex": args.sex}, "top_k": args.top_k}
    if args.landmarks:
        kp = _npz(args.landmarks, ("time", "world"))
        req["landmarks"] = {"rate_hz": _rate(kp["time"], args.landmarks), "time": encode(kp["time"], True),
                            "world": encode(kp["world"], True)}
        if "visibility" in kp:
            req["landmarks"]["visibility"] = encode(kp["visibility"], True)
        if "image" in kp and args.image_size:
            req["landmarks"].update(image=encode(kp["image"], True), image_size=list(args.image_size))
    if args.imu:
        imu = _npz(args.imu, ("time", "acc", "gyro"))
        req["imu"] = {"rate_hz": _rate(imu["time"], args.imu), "time": encode(imu["time"], True),
                      "acc": encode(imu["acc"], True), "gyro": encode(imu["gyro"], True)}
    if args.grf:
        g = _npz(args.grf, ("time", "force", "cop"))
        req["grf"] = {"rate_hz": _rate(g["time"], args.grf), "time": encode(g["time"], True),
                      "force": encode(g["force"], True), "cop": encode(g["cop"], True)}
        if "free_moment" in g:
            req["grf"]["free_moment"] = encode(g["free_moment"], True)
    return req


def build_request(args) -> dict:
    from serving.client import request_from_clip

    if args.clip is not None:
        if not (args.clip / "meta.json").is_file():
            raise CommandError(f"{args.clip}: not a raw-layout clip folder (no meta.json)")
        req = request_from_clip(args.clip, compact=True, top_k=args.top_k)
        for key, v in (("mass_kg", args.mass), ("height_m", args.height), ("sex", args.sex)):
            if v is not None:
                req["athlete"][key] = v
        return req
    if not (args.landmarks or args.imu or args.grf):
        raise CommandError("give a clip folder or at least one of --landmarks, --imu, --grf")
    return request_from_files(args)


def summary(out: dict) -> str:
    used = ", ".join(m for m, on in out["modalities_used"].items() if on) or "none"
    lines = [f"model {out['model']} (modalities used: {used}; {len(out['windows'])} windows)", "segments:"]
    for s in out["segments"]:
        lines.append(f"  {s['t_start_s']:7.2f} - {s['t_end_s']:7.2f} s  {s['action']:<20s} p={s['probability']:.3f}")
    mean = {c: float(np.mean([w["probabilities"][c] for w in out["windows"]])) for c in out["windows"][0]["probabilities"]}
    top = sorted(mean.items(), key=lambda kv: -kv[1])[:3]
    lines.append("whole recording: " + ", ".join(f"{c} {p:.3f}" for c, p in top))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from serving.inference import InputError, recognize_many
    from serving.schemas import RecognizeRequest

    req = build_request(args)
    bundle = load(args.bundle)
    try:
        out = recognize_many(bundle, [RecognizeRequest.model_validate(req)])[0].model_dump()
    except ValidationError as exc:
        raise CommandError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except InputError as exc:
        raise CommandError(str(exc)) from None
    return emit(out, args, summary)
