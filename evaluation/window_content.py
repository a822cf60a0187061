"""What a window holds of its movement, from the generator's ground truth, and which windows the
recognizers get wrong: is an error a window that no model can classify (the body still) or one
that a better model could?

    python -m evaluation.window_content --data data/processed/synth --raw data/raw/synth --split test \
        --models artifacts/train/tcn artifacts/seeds/tcn/seed_1 artifacts/train/minirocket ...

Per window, from the clip's ground-truth ``angles.mot`` (video clock) over [t_start, t_start + L/fs):
the largest range of any joint coordinate (deg, pelvis translations excluded) and the pelvis travel
(m). Categories, first match:

- ``idle``: joint range < ``idle_deg`` and travel < ``idle_m``: the athlete stands still; every
  action's idle looks the same, so the label is not in the window (Bayes error up to the prior);
- ``pre-takeoff`` (jumps): the window ends before take-off: the crouch that the standing long jump,
  the countermovement jump and the jump shot share (dip_start .. bottom .. push-off);
- ``post-landing`` (jumps), ``pre-contact`` / ``post-kick`` (soccer kick), ``post-return`` (lunge):
  the parts before / after the action's defining event;
- ``movement``: the rest.
Synthetic data only (real clips carry no ground truth of this kind).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["window_motion", "window_category", "split_content", "error_table"]

JUMPS = ("standing_long_jump", "countermovement_jump", "jump_shot")


def window_motion(time: np.ndarray, columns: Sequence[str], data: np.ndarray, t0: float, length_s: float) -> dict:
    """{"joint_range_deg", "travel_m"} of the ground truth over [t0, t0 + length_s)."""
    sel = (time >= t0) & (time < t0 + length_s)
    if not sel.any():
        raise ValueError(f"window [{t0:.2f}, {t0 + length_s:.2f}) s holds no ground-truth sample "
                         f"(file covers {time[0]:.2f}-{time[-1]:.2f} s)")
    seg = data[sel]
    joints = [i for i, c in enumerate(columns) if not c.startswith("pelvis_t")]
    trans = [columns.index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz") if c in columns]
    rng = float(np.ptp(seg[:, joints], axis=0).max()) if joints else 0.0
    travel = float(np.linalg.norm(np.ptp(seg[:, trans], axis=0))) if trans else 0.0
    return {"joint_range_deg": rng, "travel_m": travel}


def window_category(motion: Mapping[str, float], action: str, events: Mapping[str, float], t0: float,
                    length_s: float, idle_deg: float = 5.0, idle_m: float = 0.03) -> str:
    """The window's category (module docstring) from its ground-truth motion and the clip's events (s)."""
    t1 = t0 + length_s
    if motion["joint_range_deg"] < idle_deg and motion["travel_m"] < idle_m:
        return "idle"
    if action in JUMPS and "takeoff" in events:
        if t1 <= events["takeoff"]:
            return "pre-takeoff"
        if t0 >= events.get("absorbed", np.inf):
            return "post-landing"
    if action == "soccer_kick" and "ball_contact" in events:
        if t1 <= events["ball_contact"]:
            return "pre-contact"
        if t0 >= events.get("touchdown", np.inf):
            return "post-kick"
    returns = [v for k, v in events.items() if k.endswith("_return")]
    if action == "lunge" and returns and t0 >= max(returns):
        return "post-return"
    return "movement"


def split_content(data_dir: Path, raw_dir: Path, split: str, idle_deg: float = 5.0, idle_m: float = 0.03) -> dict:
    """Per window of ``split``: motion, category, clip, action (arrays of the split's length)."""
    from biomech.io import read_mot

    info = json.loads((data_dir / "dataset.json").read_text())
    length_s = info["window_length"] / info["timeline_hz"]
    w = json.loads((data_dir / split / "index.json").read_text())["windows"]
    rows, cache = [], {}
    for clip, ath, t0, action in zip(w["clip_id"], w["athlete_id"], w["t_start_s"], w["action"]):
        if clip not in cache:
            d = raw_dir / ath / clip
            if not (d / "meta.json").is_file():
                raise FileNotFoundError(f"{d / 'meta.json'}: no raw clip for window of {clip} (--raw {raw_dir})")
            t, cols, arr, _ = read_mot(d / "angles.mot")
            cache = {clip: (t, cols, arr, json.loads((d / "meta.json").read_text()).get("events_s", {}))}
        t, cols, arr, events = cache[clip]
        m = window_motion(t, cols, arr, float(t0), length_s)
        rows.append({**m, "category": window_category(m, action, events, float(t0), length_s, idle_deg, idle_m)})
    return {"clip_id": np.asarray(w["clip_id"]), "action": np.asarray(w["action"]),
            "t_start_s": np.asarray(w["t_start_s"], dtype=float),
            "category": np.asarray([r["category"] for r in rows]),
            "joint_range_deg": np.asarray([r["joint_range_deg"] for r in rows]),
            "travel_m": np.asarray([r["travel_m"] for r in rows])}


def error_table(label: np.ndarray, preds: Mapping[str, np.ndarray], category: np.ndarray) -> dict:
    """{model: {"errors", "by_category": {category: errors}}} and the windows per category."""
    out = {"windows": dict(collections.Counter(category.tolist())), "models": {}}
    for name, pred in preds.items():
        wrong = np.asarray(pred) != label
        out["models"][name] = {"errors": int(wrong.sum()),
                               "by_category": dict(collections.Counter(category[wrong].tolist()))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/processed/synth"))
    ap.add_argument("--raw", type=Path, default=Path("data/raw/synth"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--models", type=Path, nargs="+", required=True, help="trained model directories")
    ap.add_argument("--out", type=Path, help="write the table and the wrong windows as JSON here")
    a = ap.parse_args(argv)
    import torch

    from evaluation.predict import load_split, load_trained, predict

    torch.set_num_threads(1)
    content = split_content(a.data, a.raw, a.split)
    split = load_split(a.data, a.split, 128, needs_video=False)
    K = len(json.loads((a.data / "dataset.json").read_text())["classes"])
    preds = {}
    for d in a.models:
        tr = load_trained(d)
        preds[f"{tr.name}@{d.name}"] = predict(tr, split, K)["log_prob"].argmax(1)
    table = error_table(split.label, preds, content["category"])
    print(f"{a.split}: {len(split)} windows by category: {table['windows']}")
    for name, r in table["models"].items():
        print(f"  {name:28s} {r['errors']:3d} errors: {r['by_category']}")
    wrong = np.nonzero(np.any([p != split.label for p in preds.values()], axis=0))[0]
    listing = []
    for j in wrong:
        marks = "".join("x" if p[j] != split.label[j] else "." for p in preds.values())
        listing.append({"window": int(j), "clip_id": str(content["clip_id"][j]), "action": str(content["action"][j]),
                        "t_start_s": float(content["t_start_s"][j]), "category": str(content["category"][j]),
                        "joint_range_deg": round(float(content["joint_range_deg"][j]), 1),
                        "travel_m": round(float(content["travel_m"][j]), 3), "wrong": marks})
        print(f"  {j:4d} {listing[-1]['clip_id']} {listing[-1]['action']:20s} t={listing[-1]['t_start_s']:.2f} s "
              f"{listing[-1]['category']:12s} range {listing[-1]['joint_range_deg']:6.1f} deg travel "
              f"{listing[-1]['travel_m']:.2f} m  wrong: {marks}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"split": a.split, "models": list(preds), **table, "wrong": listing}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
