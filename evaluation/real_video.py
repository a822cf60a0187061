"""The served champion on real videos: Pose2Sim's demo trial, filmed by four cameras.

    python -m evaluation.real_video [--artifacts artifacts] [--processed data/processed/synth]
                                    [--out reports/real_video.json] [VIDEO ...]

Runs each video through the service's own path (``serving.analyze.analyze_video``: MediaPipe
landmarks -> the preprocess stage's windows -> the champion recognizer of ``--artifacts``, bundled
with ``--processed``'s scalers exactly as the package stage does) and prints, per video, the
recognized segments and the mean calibrated probability of the top classes over the windows.
Without VIDEO arguments: the four cameras of Pose2Sim 0.10.49's ``Demo_SinglePerson`` (fetched by
scripts/fetch_real_data.sh).

What the demo shows (labelled by looking at the frames; README "Real-video check"): one man, in
1.65 s (100 frames at 60 fps), takes one long step out to his side into a wide lateral lunge,
swings one arm up over his head and the other down, and steps back to standing. None of the
generator's 12 actions is this movement (its ``lunge`` is a forward lunge, ``lateral_shuffle``
repeated quick side steps), so no label is asserted; ``VIEW_AGREEMENT`` is what can be checked:
the four cameras see one movement, so a view-invariant recognizer gives them the same top class.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

DEMO = Path(".cache/real/pose2sim/Pose2Sim/Demo_SinglePerson/videos")
ATHLETE = {"mass_kg": 70.0, "height_m": 1.72, "sex": "male"}   # not stated by Pose2Sim: typical values


MIN_TRAIN_ATHLETES = 30   # a default-profile training split (42 athletes); the tiny profile has 4


def default_champion_missing(artifacts: str | Path, processed: str | Path) -> str | None:
    """Why no default-profile champion can be run (None when one can): champion.json, the processed
    dataset and a training split of >= MIN_TRAIN_ATHLETES athletes (the tiny profile's model
    recognises nothing, so running it on a real video tells nothing)."""
    cj, split = Path(artifacts) / "champion.json", Path(processed) / "split.json"
    if not cj.is_file():
        return f"{cj} not found: no evaluated champion (run `.venv/bin/dvc repro` on the default profile)"
    if not (Path(processed) / "dataset.json").is_file() or not split.is_file():
        return f"{processed}: no processed dataset (run `.venv/bin/dvc repro` on the default profile)"
    n = len(json.loads(split.read_text()).get("athletes", {}).get("train", []))
    if n < MIN_TRAIN_ATHLETES:
        return (f"{split}: the champion was trained on {n} athletes (< {MIN_TRAIN_ATHLETES}: not the default "
                "profile; run `.venv/bin/dvc repro` on the default profile)")
    return None


def load_champion_bundle(artifacts: str | Path, processed: str | Path, dest: str | Path):
    """The champion recognizer (+ torque estimator) of ``artifacts`` bundled into ``dest`` with the
    processed dataset's scalers, as the package stage builds it; returns the loaded bundle."""
    from serving.bundle import build_bundle, load_bundle
    from serving.champion import resolve_champion, resolve_torque

    champ = resolve_champion(artifacts)
    build_bundle(dest, champ, resolve_torque(artifacts), processed, {"source": "evaluation.real_video"})
    return load_bundle(dest)


def summarise(rec: dict) -> dict:
    """Segments and the classes' mean probability over the windows of one /analyze recognition."""
    probs = [w["probabilities"] for w in rec["windows"]]
    classes = sorted(probs[0]) if probs else []
    mean = {c: float(np.mean([p[c] for p in probs])) for c in classes}
    top = sorted(mean, key=mean.get, reverse=True)
    return {"model": rec["model"], "windows": len(probs), "top_class": top[0] if top else None,
            "mean_probability": {c: round(mean[c], 4) for c in top},
            "segments": [(s["action"], s["t_start_s"], s["t_end_s"]) for s in rec["segments"]]}


def run(videos: list[Path], artifacts: str | Path, processed: str | Path, max_frames: int | None = None) -> dict:
    from serving.analyze import analyze_video
    from serving.schemas import Athlete

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_champion_bundle(artifacts, processed, Path(tmp) / "bundle")
        for v in videos:
            res = analyze_video(bundle, Path(v), Athlete(**ATHLETE), max_frames=max_frames)
            out[str(v)] = {**summarise(res["recognition"]), "frames": res["video"]["frames"],
                           "frames_with_pose": res["qc"]["frames_with_pose"], "seconds": res["timings_s"]["total_s"]}
    tops = [r["top_class"] for r in out.values()]
    return {"videos": out, "view_agreement": len(set(tops)) == 1, "top_classes": tops}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--artifacts", default="artifacts", help="holds champion.json and train/<model>/")
    ap.add_argument("--processed", default="data/processed/synth", help="the champion's processed dataset")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    videos = args.videos or sorted(DEMO.glob("cam0*.mp4"))
    if not videos:
        print(f"real_video: no videos in {DEMO}; run `bash scripts/fetch_real_data.sh` first", file=sys.stderr)
        return 1
    from serving.champion import ChampionError

    missing = default_champion_missing(args.artifacts, args.processed)
    if missing:
        print(f"real_video: warning: {missing}", file=sys.stderr)
    try:
        res = run(videos, args.artifacts, args.processed, args.max_frames)
    except ChampionError as exc:
        print(f"real_video: {exc}", file=sys.stderr)
        return 1
    for v, r in res["videos"].items():
        top3 = ", ".join(f"{c} {p:.2f}" for c, p in list(r["mean_probability"].items())[:3])
        print(f"{v}: {r['model']} top {r['top_class']} (mean p over {r['windows']} windows: {top3}); "
              f"segments {r['segments']}; pose in {r['frames_with_pose']}/{r['frames']} frames, {r['seconds']} s")
    print(f"views agree: {res['view_agreement']} ({res['top_classes']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
