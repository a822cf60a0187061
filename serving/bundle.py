"""The model bundle that travels inside the bento: weights, scalers, class names, window settings.

    build_bundle(dest, champion, torque, processed_dir) -> dest/bundle.json   (the package stage)
    load_bundle(path) -> Bundle                                              (the service, once)

Layout of ``dest``::

    bundle.json              names, sha256 of every file, temperature, provenance, classes, faults,
                             phases, window settings and the preprocess params the data was made with
    recognizer/model.pt      {model_name, model_cfg, classes, state_dict, ...} (training.loop's model.pt)
    recognizer/metrics.json
    torque/model.pt, torque/metrics.json      (when a torque estimator is trained)
    feedback/reference.npz   per-class reference movements + feedback settings (stages.reference)
    data/dataset.json, data/scalers.json      (train-split z-score statistics)

Loading checks every file's sha256 against bundle.json and loads weights with
``torch.load(weights_only=True)`` (no pickled code runs).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BundleError", "Bundle", "build_bundle", "load_bundle", "file_sha256"]

FORMAT = "athlete-mm-bundle/1"
BUNDLE_MODEL = "athlete-mm-bundle"   # its name in the BentoML model store


class BundleError(RuntimeError):
    """A bundle file is missing, altered (sha256 mismatch) or unreadable; the message names it."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _copy(src: Path, dest: Path, rel: str, files: dict) -> None:
    if not src.is_file():
        raise BundleError(f"{src}: not found (needed in the bundle as {rel})")
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest / rel)
    files[rel] = file_sha256(dest / rel)


def fault_admissible(processed: Path, n_classes: int, n_faults: int) -> list[list[bool]] | None:
    """Per action, the faults it can have (the train split's, as the fault head was trained:
    models.losses.admissible_fault_mask); None without fault labels."""
    from models.losses import admissible_fault_mask

    label, fault = processed / "train" / "label.npy", processed / "train" / "fault.npy"
    if n_faults < 2 or not (label.is_file() and fault.is_file()):
        return None
    return admissible_fault_mask(np.load(label), np.load(fault), n_classes, n_faults).tolist()


def build_bundle(dest: str | Path, champion, torque, processed_dir: str | Path, provenance: dict | None = None,
                 reference: str | Path | None = None) -> Path:
    """Copy the champion recognizer (and torque estimator) with the dataset's scalers and settings,
    and the technique feedback's reference movements (``stages.reference``) when given."""
    dest, processed = Path(dest), Path(processed_dir)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files: dict[str, str] = {}
    _copy(champion.model_dir / "model.pt", dest, "recognizer/model.pt", files)
    _copy(champion.model_dir / "metrics.json", dest, "recognizer/metrics.json", files)
    if torque is not None:
        _copy(torque.model_dir / "model.pt", dest, "torque/model.pt", files)
        _copy(torque.model_dir / "metrics.json", dest, "torque/metrics.json", files)
    _copy(processed / "dataset.json", dest, "data/dataset.json", files)
    _copy(processed / "scalers.json", dest, "data/scalers.json", files)
    if reference is not None:
        _copy(Path(reference), dest, "feedback/reference.npz", files)
    info = json.loads((processed / "dataset.json").read_text())
    meta = {
        "format": FORMAT, "files": files,
        "recognizer": {"name": champion.name, "source": champion.source, "temperature": champion.temperature,
                       "temperature_source": champion.temperature_source, "run_id": champion.run_id},
        "torque": None if torque is None else {"name": torque.name, "source": torque.source, "run_id": torque.run_id},
        "classes": info["classes"], "faults": info.get("faults", []),
        "fault_admissible": fault_admissible(processed, len(info["classes"]), len(info.get("faults", []))),
        "phases": info.get("phases", []),
        "timeline_hz": info["timeline_hz"], "window_length": info["window_length"],
        "window_stride": info["window_stride"], "provenance": provenance or {},
    }
    (dest / "bundle.json").write_text(json.dumps(meta, indent=1))
    return dest / "bundle.json"


@dataclass
class Bundle:
    root: Path
    meta: dict
    model: object                    # torch recognizer in eval mode
    model_name: str
    modalities: tuple[str, ...]
    scalers: dict                    # name -> sigproc.normalize.ChannelScaler (fitted ones only)
    preprocess: object               # preprocessing.params.PreprocessParams the data was made with
    dataset: dict                    # dataset.json
    metrics: dict                    # recognizer metrics.json
    torque_metrics: dict | None
    references: dict | None = None   # action -> biomech.feedback.Reference (None: none packaged)
    feedback_settings: dict | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def temperature(self) -> float:
        return float(self.meta["recognizer"]["temperature"])


def _verified(root: Path, meta: dict, rel: str) -> Path:
    p = root / rel
    want = meta["files"].get(rel)
    if want is None:
        raise BundleError(f"{root / 'bundle.json'}: no checksum for {rel}")
    if not p.is_file():
        raise BundleError(f"{p}: missing from the bundle")
    got = file_sha256(p)
    if got != want:
        raise BundleError(f"{p}: sha256 {got[:12]}... does not match bundle.json ({want[:12]}...): file altered")
    return p


def load_bundle(path: str | Path) -> Bundle:
    """Verify and load a bundle directory (see the module docstring)."""
    import torch

    from models import build_model
    from preprocessing.params import PreprocessParams
    from sigproc.normalize import ChannelScaler

    root = Path(path)
    mj = root / "bundle.json"
    if not mj.is_file():
        raise BundleError(f"{mj}: not found (build the bundle with `python -m stages.package`)")
    meta = json.loads(mj.read_text())
    if meta.get("format") != FORMAT:
        raise BundleError(f"{mj}: format {meta.get('format')!r}, expected {FORMAT!r}")
    for rel in meta["files"]:
        _verified(root, meta, rel)
    ck = torch.load(root / "recognizer/model.pt", map_location="cpu", weights_only=True)
    model = build_model(ck["model_name"], ck["model_cfg"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    dataset = json.loads((root / "data/dataset.json").read_text())
    raw_scalers = json.loads((root / "data/scalers.json").read_text())
    scalers = {k: ChannelScaler.from_dict(v) for k, v in raw_scalers.items()
               if k in ("landmarks", "imu", "grf") and v.get("fitted", True) is not False and "center" in v}
    params = PreprocessParams.model_validate(dataset["params"])
    metrics = json.loads((root / "recognizer/metrics.json").read_text())
    tm = root / "torque/metrics.json"
    refs, settings = None, None
    if "feedback/reference.npz" in meta["files"]:
        from biomech.feedback import FeedbackError, load_references

        try:
            refs, head = load_references(root / "feedback/reference.npz")
        except FeedbackError as exc:
            raise BundleError(str(exc)) from None
        settings = {**head.get("settings", {}), "angles": head.get("angles")}
    return Bundle(root, meta, model, ck["model_name"], tuple(model.modalities), scalers, params, dataset,
                  metrics, json.loads(tm.read_text()) if tm.is_file() else None, refs, settings)


def scaled(bundle: Bundle, name: str, x: np.ndarray, channels: int | None = None) -> np.ndarray:
    """Z-score ``x`` with the bundle's train statistics (the first ``channels`` of the last axis
    when given, as the preprocess stage scales landmark xyz but not visibility)."""
    sc = bundle.scalers.get(name)
    if sc is None:
        return x
    out = np.array(x, dtype=np.float32)
    part = out[..., :channels] if channels else out
    flat = part.reshape(-1, sc.n_channels)
    res = sc.transform(flat).astype(np.float32).reshape(part.shape)
    if channels:
        out[..., :channels] = res
    else:
        out[...] = res
    return out
