"""The best-params file: what a study found, committed to git, read by the train stage.

``params/tuned/<arch>.yaml`` (written by ``stages.tune``)::

    arch: tcn
    profile: default          # the profile the study ran on; training applies it on that profile only
    study: athlete-mm-tcn-default
    metric: val_nll
    direction: minimize
    best_value: 0.0213
    best_trial: 5
    adopt: true               # false: kept on record, not applied (the stage writes true when the best
                              # beat trial 0, the current config; a reviewer sets false when a check
                              # on other seeds does not confirm it)
    params:                   # deep-merged over params.yaml train.archs.tcn: these values WIN
      dropout: 0.12
      train: {lr: 0.0014}

:func:`tuned_overrides` gives the ``params`` mapping to the train stage, or ``{}`` when the file
is absent, has ``adopt: false``, or was tuned on another profile (a note says so).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import yaml

__all__ = ["TUNED_DIR", "tuned_path", "write_tuned", "read_tuned", "tuned_overrides"]

TUNED_DIR = Path("params/tuned")  # relative to the repository root (the stages' working directory)

_HEADER = ("# Written by `python -m stages.tune {arch}` (DVC stage tune@{arch}, frozen; re-tune: README\n"
           "# \"Tuning\"). `params` is deep-merged over params.yaml train.archs.{arch} by the train\n"
           "# stage when the active profile is `{profile}`: these values win.\n")


def tuned_path(arch: str, tuned_dir: Path | str = TUNED_DIR) -> Path:
    return Path(tuned_dir) / f"{arch}.yaml"


def write_tuned(arch: str, record: Mapping[str, Any], tuned_dir: Path | str = TUNED_DIR) -> Path:
    """Write ``record`` (needs ``profile`` and ``params``) to ``params/tuned/<arch>.yaml``."""
    path = tuned_path(arch, tuned_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"arch": arch, **record}, sort_keys=False, default_flow_style=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_HEADER.format(arch=arch, profile=record["profile"]) + body)
    tmp.replace(path)
    return path


def read_tuned(arch: str, tuned_dir: Path | str = TUNED_DIR) -> dict | None:
    """The file's record, None when there is none; a malformed file raises naming it."""
    path = tuned_path(arch, tuned_dir)
    if not path.is_file():
        return None
    try:
        rec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("params"), dict) or not isinstance(rec.get("profile"), str) \
            or not isinstance(rec.get("adopt", True), bool):
        raise ValueError(f"{path}: expected a mapping with 'profile' (str), 'params' (mapping of "
                         f"train.archs.{arch} overrides) and optionally 'adopt' (bool), got {rec!r}")
    return rec


def tuned_overrides(arch: str, profile: str, tuned_dir: Path | str | None = TUNED_DIR) -> dict:
    """The tuned ``params`` of ``arch`` for ``profile`` ({} without a file, with ``tuned_dir``
    None, with ``adopt: false``, or when the file was tuned on another profile)."""
    if tuned_dir is None:
        return {}
    rec = read_tuned(arch, tuned_dir)
    if rec is None:
        return {}
    path = tuned_path(arch, tuned_dir)
    if not rec.get("adopt", True):
        print(f"note: {path} has adopt: false (study kept on record), not applied", file=sys.stderr)
        return {}
    if rec["profile"] != profile:
        print(f"note: {path} was tuned on profile {rec['profile']!r}, not applied on profile {profile!r}",
              file=sys.stderr)
        return {}
    return dict(rec["params"])
