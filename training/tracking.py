"""The one MLflow helper of the training stage (the loop only calls start / log_epoch / finish).

    tracker = MlflowTracker(uri="file:./mlruns", experiment="athlete-mm-train", run_name="tcn")
    train(..., tracker=tracker)

start: a run with params (model cfg, train cfg, flattened to ``model.<k>`` / ``train.<k>``) and tags
(``git_sha`` from ``git rev-parse HEAD`` when available, ``data_hash``: :func:`dataset_hash`, the
md5 of the processed dataset's content, ``model_name``).
log_epoch: the epoch's metrics (step = epoch). finish: final metrics, metrics.json as an artifact,
and the model: torch models through ``mlflow.pytorch.log_model`` wrapped in ``FlatInputModel``
(the pytorch pyfunc flavour takes one ndarray, our models take a batch dict), with a signature
and an input example; the sklearn-kind models (``features_svm``, ``minirocket``) through
``mlflow.sklearn.log_model`` of their ``pipeline`` on their ``features``.
"""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from biomech.conventions import MODALITIES

TORQUE_INPUTS = ("angles", "root", "grf", "anthro")  # what the torque estimators read (models.torque)

__all__ = ["MlflowTracker", "FlatInputModel", "dataset_hash", "git_sha"]


def git_sha(cwd: str | Path = ".") -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def dataset_hash(data_dir: str | Path) -> str:
    """md5 of a processed dataset's content: every file under ``data_dir`` (sorted relative
    paths, each path and its bytes), so any changed window, scaler or index changes the hash and
    a copy elsewhere hashes the same. Used for the MLflow ``data_hash`` tag and champion.json."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset_hash: {root} is not a directory (a processed dataset expected)")
    h = hashlib.md5()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.stat().st_size.to_bytes(8, "little"))
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def pinned(*packages: str) -> list[str]:
    """``name==version`` of installed packages: the logged model's requirements, given explicitly
    (MLflow's inference imports the model in a subprocess: ~10 s per training stage)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in packages:
        try:
            out.append(f"{pkg}=={version(pkg).split('+')[0]}")
        except PackageNotFoundError:
            continue
    return out


def _flatten(d: Mapping[str, Any], prefix: str, sep: str = ".", as_str: bool = True) -> dict[str, Any]:
    """Nested mapping -> {"<prefix><sep><k>[<sep><k2>...]": value} (values as str for params)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{sep}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key, sep, as_str))
        else:
            out[key] = str(v)[:6000] if as_str else v
    return out


class FlatInputModel(nn.Module):
    """Serving adapter: a (B, D) float32 row = the model's input tensors flattened and concatenated
    (in ``keys`` order), followed by the 4 modality-mask flags when ``with_mask``; returns the
    model's ``output`` flattened per row: window logits (B, K) for recognizers, moments
    (B, T*10) for the torque estimators."""

    def __init__(self, model: nn.Module, shapes: dict[str, tuple[int, ...]], output: str = "logits",
                 with_mask: bool = True):
        super().__init__()
        self.model, self.output, self.with_mask = model, output, with_mask
        self.keys = list(shapes)
        self.shapes = {k: tuple(int(s) for s in v) for k, v in shapes.items()}

    @property
    def width(self) -> int:
        return sum(math.prod(s) for s in self.shapes.values()) + (len(MODALITIES) if self.with_mask else 0)

    def flatten(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        B = batch[self.keys[0]].shape[0]
        parts = [batch[k].reshape(B, -1).float() for k in self.keys]
        if self.with_mask:
            parts.append(batch["modality_mask"].float())
        return torch.cat(parts, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, i = {}, 0
        for k in self.keys:
            n = math.prod(self.shapes[k])
            batch[k] = x[:, i:i + n].reshape(x.shape[0], *self.shapes[k])
            i += n
        if self.with_mask:
            batch["modality_mask"] = x[:, i:i + len(MODALITIES)] > 0.5
        return self.model(batch)[self.output].reshape(x.shape[0], -1)


class MlflowTracker:
    def __init__(self, uri: str = "file:./mlruns", experiment: str = "athlete-mm-train", run_name: str | None = None,
                 log_model: bool = True, tags: Mapping[str, str] | None = None):
        self.uri, self.experiment, self.run_name = uri, experiment, run_name
        self.log_model_enabled = log_model
        self.extra_tags = dict(tags or {})
        self.run_id: str | None = None
        self.model_id: str | None = None

    def start(self, params: Mapping[str, Any], data_dir: str | Path) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        mlflow.set_experiment(self.experiment)
        tags = {"model_name": str(params.get("model_name")), "data_hash": dataset_hash(data_dir),
                "data_dir": str(data_dir), **self.extra_tags}
        sha = git_sha()
        if sha:
            tags["git_sha"] = sha
        run = mlflow.start_run(run_name=self.run_name or str(params.get("model_name")), tags=tags)
        self.run_id = run.info.run_id
        flat = {"model_name": str(params.get("model_name"))}
        flat.update(_flatten(params.get("model", {}), "model"))
        flat.update(_flatten(params.get("train", {}), "train"))
        mlflow.log_params(flat)

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()
                            if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(float(v))}, step=epoch)

    def finish(self, model: Any, metrics: Mapping[str, Any], example: Mapping[str, Any]) -> None:
        import mlflow
        from mlflow.models import infer_signature

        try:
            flat = {k: v for k, v in metrics.items() if k not in ("history", "ddp")}
            flat = _flatten(flat, "final", sep="_", as_str=False)
            final = {k: float(v) for k, v in flat.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
            mlflow.log_metrics(final)
            mlflow.log_dict(dict(metrics), "metrics.json")
            if self.log_model_enabled:
                if getattr(model, "kind", "torch") == "sklearn":
                    ex = {k: np.asarray(v) for k, v in example.items()}
                    feats = model.features(ex)
                    sig = infer_signature(feats, model.predict(ex))
                    info = mlflow.sklearn.log_model(model.pipeline, name="model", signature=sig, input_example=feats,
                                                    skops_trusted_types=list(getattr(model, "trusted_types", [])),
                                                    pip_requirements=pinned("scikit-learn", "numpy", "skops"))
                else:
                    if getattr(model, "kind", "torch") == "torque":
                        keys = [k for k in TORQUE_INPUTS if k in example]
                        wrapped = FlatInputModel(model, {k: tuple(example[k].shape[1:]) for k in keys},
                                                 output="moments", with_mask=False).eval()
                    else:
                        keys = [m for m in MODALITIES if m in getattr(model, "modalities", MODALITIES) and m in example]
                        wrapped = FlatInputModel(model, {k: tuple(example[k].shape[1:]) for k in keys}).eval()
                    with torch.no_grad():
                        x = wrapped.flatten(example)
                        y = wrapped(x)
                    xa = x.numpy().astype(np.float32)
                    sig = infer_signature(xa, y.numpy())
                    info = mlflow.pytorch.log_model(wrapped, name="model", signature=sig, input_example=xa[:1],
                                                    serialization_format="pickle", export_model=False,
                                                    pip_requirements=pinned("torch", "torchvision", "numpy"))
                self.model_id = getattr(info, "model_id", None)
            mlflow.end_run("FINISHED")
        except BaseException:
            mlflow.end_run("FAILED")
            raise

    def fail(self) -> None:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.end_run("FAILED")
