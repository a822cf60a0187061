"""Re-cut a processed dataset athlete-wise with other split fractions, without re-running preprocess.

    python scripts/resplit.py --src data/processed/synth --out tmp/data_s25 --fractions 0.60 0.15 0.25

What ``preprocess.split`` would give with those fractions (``preprocessing.split.subject_split`` with
the dataset's seed: the same athlete order, cut elsewhere), built from the windows already written:
every field of the three splits pooled and re-assigned, class and sampling weights recomputed on the
new train split. One difference from a real re-run: the z-score scalers stay those fitted on the
original train split (a few athletes' statistics moved between splits). Used to measure what a larger
test share costs and gives (README "Evaluation", power) before changing params.yaml.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from preprocessing.split import SPLITS, class_weights, sampling_weights, subject_split  # noqa: E402


def resplit(src: Path, out: Path, fractions: dict[str, float]) -> dict[str, int]:
    """Write ``out`` (a processed dataset folder) re-cut with ``fractions``; windows per split."""
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"--fractions {list(fractions.values())}: expected train, val, test summing to 1")
    ds = json.loads((src / "dataset.json").read_text())
    idx = {s: json.loads((src / s / "index.json").read_text()) for s in SPLITS}
    ath = np.concatenate([idx[s]["windows"]["athlete_id"] for s in SPLITS])
    assign = subject_split(ath, fractions, ds["params"]["seed"])
    new = np.array([assign[a] for a in ath])
    lab = np.concatenate([np.load(src / s / "label.npy") for s in SPLITS])
    counts, cw = class_weights(lab[new == "train"], len(ds["classes"]))
    fields = [f for f in idx["train"]["fields"] if f != "sample_weights"]
    windows = {k: [v for s in SPLITS for v in idx[s]["windows"][k]] for k in idx["train"]["windows"]}
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for s in SPLITS:
        (out / s).mkdir(exist_ok=True)
        keep = new == s
        info = {}
        for f in fields:
            arr = np.concatenate([np.load(src / t / f"{f}.npy", mmap_mode="r") for t in SPLITS])[keep]
            np.save(out / s / f"{f}.npy", np.ascontiguousarray(arr))
            info[f] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
        sw = sampling_weights(lab[keep], cw)
        np.save(out / s / "sample_weights.npy", sw)
        info["sample_weights"] = {"shape": list(sw.shape), "dtype": str(sw.dtype)}
        w = {k: [v for v, m in zip(vals, keep) if m] for k, vals in windows.items()}
        (out / s / "index.json").write_text(json.dumps({"split": s, "n_windows": int(keep.sum()), "fields": info,
                                                        "windows": w}, separators=(",", ":")) + "\n")
        sizes[s] = int(keep.sum())
    cwj = json.loads((src / "class_weights.json").read_text())
    cwj.update(counts_train_windows=counts.tolist(), class_weights=[round(float(x), 8) for x in cw])
    (out / "class_weights.json").write_text(json.dumps(cwj, indent=1) + "\n")
    shutil.copy(src / "scalers.json", out / "scalers.json")
    ds["params"]["split"] = fractions
    (out / "dataset.json").write_text(json.dumps(ds, indent=1) + "\n")
    (out / "split.json").write_text(json.dumps({
        "seed": ds["params"]["seed"], "fractions": fractions, "windows": sizes, "scalers": "not refitted (scripts/resplit.py)",
        "athletes": {s: sorted(a for a, v in assign.items() if v == s) for s in SPLITS}}, indent=1) + "\n")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=Path("data/processed/synth"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fractions", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"), required=True)
    a = ap.parse_args(argv)
    if not (a.src / "dataset.json").is_file():
        raise SystemExit(f"--src {a.src}: no dataset.json (a processed dataset folder, e.g. data/processed/synth)")
    for s, n in resplit(a.src, a.out, dict(zip(SPLITS, a.fractions))).items():
        print(f"{s}: {n} windows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
