"""Load the trained models of artifacts/train/ and run them over a processed split.

    trained = load_trained(Path("artifacts/train/tcn"))          -> Trained (name, kind, model, cfg, metrics)
    split = load_split(data_dir, "test", needs_video=True)       -> Split (cached batches + per-window meta)
    out = predict(trained, split)                                -> {"log_prob" (N,K), "logits", ["fault_logits"],
                                                                     ["angles"], ...} numpy
    out = predict_torque(trained, split, data_dir)               -> {"pred", "target" (M,T,10) N m, "rows" (M,)}

What a model directory holds is what ``training.loop`` writes: ``model.pt`` (torch: ``model_name``,
``model_cfg``, ``classes``, ``state_dict``) rebuilt with ``models.build_model``, or ``model.joblib``
(sklearn kinds: an object with ``predict_proba`` or ``decision_function`` over batch dicts, as
``models.features_svm.FeatureSVM``), plus ``metrics.json``. A split is read once (through
``preprocessing.dataset.WindowDataset``, the same path training uses) and every model scores the
same cached batches; a ``transform`` (e.g. a rotation of the landmarks) is applied per batch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from evaluation.metrics import log_softmax

__all__ = ["Trained", "Split", "load_trained", "find_trained", "load_split", "predict", "predict_torque",
           "window_meta"]


@dataclass
class Trained:
    name: str                 # the architecture (registry name)
    kind: str                 # "torch", "sklearn" or "torque"
    model: Any
    cfg: dict
    path: Path
    metrics: dict = field(default_factory=dict)
    seed: int | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(getattr(self.model, "modalities", ()))


def load_trained(model_dir: str | Path) -> Trained:
    """The model saved in ``model_dir`` by the training loop (model.pt or model.joblib)."""
    import joblib
    from models import build_model, model_kind

    d = Path(model_dir)
    metrics = json.loads((d / "metrics.json").read_text()) if (d / "metrics.json").is_file() else {}
    if (d / "model.pt").is_file():
        ck = torch.load(d / "model.pt", map_location="cpu", weights_only=False)
        for key in ("model_name", "model_cfg", "state_dict"):
            if key not in ck:
                raise ValueError(f"{d / 'model.pt'}: no {key!r} entry (not written by training.loop)")
        model = build_model(ck["model_name"], ck["model_cfg"])
        model.load_state_dict(ck["state_dict"])
        model.eval()
        name, cfg = ck["model_name"], dict(ck["model_cfg"])
    elif (d / "model.joblib").is_file():
        model = joblib.load(d / "model.joblib")
        name = metrics.get("model") or d.name
        cfg = {}
    else:
        raise FileNotFoundError(f"{d}: neither model.pt nor model.joblib (train the model first)")
    seed = metrics.get("seed", cfg.get("seed"))
    if seed is None and re.fullmatch(r"seed_\d+", d.name):      # artifacts/seeds/<model>/seed_<k>/
        seed = int(d.name.split("_")[1])
    return Trained(name=name, kind=model_kind(name), model=model, cfg=cfg, path=d, metrics=metrics,
                   seed=None if seed is None else int(seed))


def find_trained(train_dir: str | Path, seeds_dir: str | Path | None = None) -> dict[str, list[Path]]:
    """{model name: [artifacts/train/<name>, <seeds_dir>/<name>/seed_<k>, ...]} for every directory
    holding a model.pt / model.joblib (the first entry is the pipeline's own training)."""
    def has_model(p: Path) -> bool:
        return (p / "model.pt").is_file() or (p / "model.joblib").is_file()

    out: dict[str, list[Path]] = {}
    for d in sorted(Path(train_dir).iterdir()) if Path(train_dir).is_dir() else []:
        if d.is_dir() and has_model(d):
            out.setdefault(d.name, []).append(d)
    if seeds_dir and Path(seeds_dir).is_dir():
        for d in sorted(Path(seeds_dir).glob("*/seed_*")):
            if has_model(d):
                out.setdefault(d.parent.name, []).append(d)
    return out


def window_meta(index: dict, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window evaluation metadata from a split's index.json ``windows`` (columns or a list of
    dicts): clip_id, athlete_id, and where present preset, camera_azimuth_deg, fault, action. Until
    index.json carries ``preset`` it is derived from the modality mask (no plates = consumer)."""
    w = index.get("windows", {})
    if isinstance(w, list):
        w = {k: [row.get(k) for row in w] for k in (w[0].keys() if w else [])}
    n = int(index.get("n_windows", len(mask)))
    meta = {k: np.asarray(v, dtype=object) for k, v in w.items() if len(v) == n}
    for key in ("clip_id", "athlete_id"):
        if key not in meta:
            raise ValueError(f"index.json of split {index.get('split')!r}: no per-window {key!r}")
    if "preset" not in meta:
        meta["preset"] = np.where(np.asarray(mask)[:, 3], "pro", "consumer").astype(object)
    if "camera_azimuth_deg" in meta:
        meta["camera_azimuth_deg"] = np.array([np.nan if v is None else float(v) for v in meta["camera_azimuth_deg"]])
    return meta


@dataclass
class Split:
    name: str
    batches: list[dict[str, torch.Tensor]]
    label: np.ndarray
    fault: np.ndarray
    mask: np.ndarray
    meta: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.label)


def load_split(data_dir: str | Path, split: str, batch_size: int = 64, needs_video: bool = True) -> Split:
    """Every window of ``split`` as cached batches in the models' contract (video dropped when no
    model reads it: it is most of the memory)."""
    from torch.utils.data import DataLoader

    from preprocessing.dataset import WindowDataset

    ds = WindowDataset(data_dir, split)
    batches = []
    for b in DataLoader(ds, batch_size=batch_size, shuffle=False):
        if not needs_video:
            b["video"] = torch.zeros(b["video"].shape[0], 1, 3, 1, 1)
        batches.append(b)
    label = np.asarray(ds.arrays["label"], dtype=np.int64)
    fault = np.asarray(ds.arrays["fault"], dtype=np.int64)
    mask = np.asarray(ds.arrays["modality_mask"], dtype=bool)
    return Split(split, batches, label, fault, mask, window_meta(ds.index, mask))


def _sk_scores(model: Any, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """Log-probabilities of a sklearn-kind model (predict_proba, else softmax of decision_function)."""
    data = {k: v.numpy() for k, v in batch.items()}
    if hasattr(model, "predict_proba"):
        try:
            return np.log(np.clip(model.predict_proba(data), 1e-12, 1.0))
        except AttributeError:      # e.g. a ridge classifier behind a generic wrapper
            pass
    return log_softmax(model.decision_function(data))


def _columns(model: Any, log_prob: np.ndarray, K: int) -> np.ndarray:
    """sklearn models score only the classes they saw in training: put them in columns 0..K-1."""
    classes = getattr(model, "classes_", None)
    if classes is None or (len(classes) == K and np.array_equal(np.asarray(classes), np.arange(K))):
        return log_prob
    out = np.full((log_prob.shape[0], K), np.log(1e-12))
    out[:, np.asarray(classes, dtype=np.int64)] = log_prob
    return out


def stored_outputs(trained: Trained, split: Split, data_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The outputs the training loop saved for ``split`` (``training.loop.PREDICTIONS``), or None
    when there are none, or when they were made by other weights, another window list (md5 of the
    state_dict and of the split's index.json + label.npy) or other batches (a window's outputs can
    depend on its batch: sta_c3d_lstm's val logits scored in batches of 32 and 64 differ in the last
    bits). Same model, windows and batches: the same numbers as scoring again."""
    from training.loop import PREDICTIONS, split_digest, weights_digest

    path = trained.path / PREDICTIONS
    if trained.kind != "torch" or not path.is_file():
        return None
    with np.load(path) as z:
        if f"{split.name}_logits" not in z.files:
            return None
        bs, n = int(z["batch_size"]) if "batch_size" in z.files else 0, len(split)
        if bs < 1 or [int(b["label"].shape[0]) for b in split.batches] != [min(bs, n - i) for i in range(0, n, bs)]:
            return None
        if str(z["weights_md5"]) != weights_digest(trained.model.state_dict()) or \
                str(z[f"{split.name}_split_md5"]) != split_digest(Path(data_dir), split.name) or \
                not np.array_equal(z[f"{split.name}_label"], split.label):
            return None
        return {k: z[f"{split.name}_{k}"] for k in ("logits", "fault_logits", "angles") if f"{split.name}_{k}" in z.files}


def predict(trained: Trained, split: Split, n_classes: int,
            transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
            data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Run a recognizer over the split: {"logits" (N,K) (log-probabilities for sklearn kinds),
    "log_prob" (N,K), and for torch models "fault_logits" (N,F) / "angles" (N,T,23) when it has
    those heads}. With ``data_dir`` and no ``transform``, the training loop's saved outputs
    (:func:`stored_outputs`) are used when they belong to this model and split."""
    stored = stored_outputs(trained, split, data_dir) if data_dir is not None and transform is None else None
    if stored is not None:
        return {**stored, "log_prob": log_softmax(stored["logits"])}
    outs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for b in split.batches:
            b = transform(b) if transform else b
            if trained.kind == "sklearn":
                lp = _columns(trained.model, _sk_scores(trained.model, b), n_classes)
                outs.setdefault("logits", []).append(lp)
                continue
            o = trained.model(b)
            for key in ("logits", "fault_logits", "angles"):
                if key in o and torch.is_tensor(o[key]):
                    outs.setdefault(key, []).append(o[key].float().numpy())
    res = {k: np.concatenate(v) for k, v in outs.items()}
    res["log_prob"] = log_softmax(res["logits"])
    return res


def predict_torque(trained: Trained, split: Split, data_dir: str | Path) -> dict[str, np.ndarray]:
    """A joint-moment estimator over the split's windows with force plates: {"pred", "target"
    (M,T,10) N m, "rows" (M,) indices of those windows in the split}. Inputs as in training
    (``training.tasks.TorqueTask.prepare``: physical GRF)."""
    from training.tasks import TorqueTask

    prep = TorqueTask(Path(data_dir), batch_size=64, seed=0).prepare
    preds, targets, rows, start = [], [], [], 0
    with torch.no_grad():
        for b in split.batches:
            n = b["label"].shape[0]
            keep = torch.nonzero(b["modality_mask"][:, 3]).flatten()
            if len(keep):
                sub = prep({k: v[keep] for k, v in b.items()})
                preds.append(trained.model(sub)["moments"].float().numpy())
                targets.append(sub["moments"].numpy())
                rows.append(keep.numpy() + start)
            start += n
    if not preds:
        return {"pred": np.zeros((0, 1, 10)), "target": np.zeros((0, 1, 10)), "rows": np.zeros(0, np.int64)}
    return {"pred": np.concatenate(preds), "target": np.concatenate(targets), "rows": np.concatenate(rows)}
