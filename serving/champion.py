"""Which trained models the service packages: the one place that decides.

    resolve_champion(artifacts="artifacts") -> Champion (recognizer) ; resolve_torque(artifacts) -> Champion

Order of sources for the recognizer:

1. ``<artifacts>/champion.json`` written by the evaluate stage. Fields read (either at the top
   level or under ``"recognizer"``): ``model`` or ``name`` (an architecture under
   ``<artifacts>/train/``), ``temperature`` (calibration; read at the top of the entry or in its
   ``metrics``; 1 when absent), ``run_id`` / ``mlflow_run_id``, ``metrics``, ``registry``. An entry
   whose name is null (no eligible model) falls through to rule 2.
2. Otherwise the best validation macro-F1 (``metrics.json: val_macro_f1``) among
   ``<artifacts>/train/*/`` recognizers that fuse >= 2 modalities and read no video pixels
   (their ``model.pt`` cfg ``modalities``, or the builder's default). Temperature 1.

The torque estimator: ``champion.json``'s ``"torque"`` entry if present, else the lowest
``val_rmse_nm_per_kg`` among the ``torque`` models.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Champion", "ChampionError", "resolve_champion", "resolve_torque", "model_modalities"]


class ChampionError(RuntimeError):
    """No usable trained model; the message names the directory and what was looked for."""


@dataclass
class Champion:
    name: str
    model_dir: Path
    metrics: dict
    source: str                      # "champion.json" or "best val_macro_f1 (fallback)"
    temperature: float = 1.0
    temperature_source: str = "none (no calibration found: temperature 1)"
    run_id: str | None = None
    extra: dict = field(default_factory=dict)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ChampionError(f"{path}: unreadable JSON ({exc})") from exc


def model_modalities(model_dir: Path) -> tuple[str, ...]:
    """The modalities a trained torch recognizer reads (cfg in model.pt, else the builder's default)."""
    import torch

    from models import model_signature

    ck = torch.load(Path(model_dir) / "model.pt", map_location="cpu", weights_only=True)
    mods = ck.get("model_cfg", {}).get("modalities") or model_signature(ck["model_name"]).get("modalities") or ()
    return tuple(mods)


def _from_entry(artifacts: Path, entry: dict, src: Path) -> Champion:
    name = entry.get("model") or entry.get("name")
    if not name:
        raise ChampionError(f"{src}: no 'model' (or 'name') field naming the champion")
    d = artifacts / "train" / name
    if not (d / "model.pt").is_file():
        raise ChampionError(f"{src}: champion {name!r} has no {d / 'model.pt'}")
    metrics = entry.get("metrics") or (_read_json(d / "metrics.json") if (d / "metrics.json").is_file() else {})
    c = Champion(name, d, metrics, f"{src.name}", run_id=entry.get("run_id") or entry.get("mlflow_run_id"),
                 extra={k: v for k, v in entry.items() if k not in ("metrics",)})
    t = entry.get("temperature", (entry.get("metrics") or {}).get("temperature"))
    if t is not None:
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise ChampionError(f"{src}: temperature={t!r}, expected a positive number")
        c.temperature, c.temperature_source = float(t), f"{src.name} (evaluation)"
    return c


def _candidates(artifacts: Path, kind: str):
    for m in sorted((artifacts / "train").glob("*/metrics.json")):
        metrics = _read_json(m)
        if metrics.get("kind") == kind and (m.parent / "model.pt").is_file():
            yield m.parent, metrics


def resolve_champion(artifacts: str | Path = "artifacts") -> Champion:
    """The recognizer to serve (see the module docstring for the order of sources)."""
    artifacts = Path(artifacts)
    cj = artifacts / "champion.json"
    if cj.is_file():
        data = _read_json(cj)
        entry = data.get("recognizer", data)
        if entry.get("model") or entry.get("name"):
            return _from_entry(artifacts, entry, cj)
    best = None
    for d, metrics in _candidates(artifacts, "torch"):
        mods = model_modalities(d)
        f1 = metrics.get("val_macro_f1")
        if len(mods) < 2 or "video" in mods or not isinstance(f1, (int, float)) or not math.isfinite(f1):
            continue
        if best is None or f1 > best[2]:
            best = (d, metrics, f1)
    if best is None:
        raise ChampionError(f"{artifacts / 'train'}: no trained recognizer fusing >= 2 modalities without video "
                            "(run `dvc repro` or `python -m stages.train tcn`), and no champion.json")
    return Champion(best[0].name, best[0], best[1], "best val_macro_f1 among fused non-video recognizers (fallback)")


def resolve_torque(artifacts: str | Path = "artifacts") -> Champion | None:
    """The learned joint-moment estimator to report (None when none is trained)."""
    artifacts = Path(artifacts)
    cj = artifacts / "champion.json"
    entry = _read_json(cj).get("torque") if cj.is_file() else None
    if isinstance(entry, dict) and (entry.get("model") or entry.get("name")):
        return _from_entry(artifacts, entry, cj)
    best = None
    for d, metrics in _candidates(artifacts, "torque"):
        r = metrics.get("val_rmse_nm_per_kg")
        if isinstance(r, (int, float)) and math.isfinite(r) and (best is None or r < best[2]):
            best = (d, metrics, r)
    if best is None:
        return None
    return Champion(best[0].name, best[0], best[1], "lowest val_rmse_nm_per_kg among torque models (fallback)")
