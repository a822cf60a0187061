"""Read one stage's section of params.yaml, with the active profile applied and validated.

params.yaml holds the default profile (this 2-core CPU machine) at the top level, plus
overrides per profile under `profiles.<name>.<section>`; `profile:` selects one
(`python -m stages.select_profile tiny`, or `dvc exp run -S profile=tiny`).
Validation errors name the key, the value seen and what is allowed.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

PARAMS_FILE = Path("params.yaml")
PROFILES = ("default", "tiny", "full")


class ParamsError(ValueError):
    """params.yaml is missing a key, or a value is out of range; the message names the key."""


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_raw(path: Path | str = PARAMS_FILE) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found (run from the repository root)")
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    return data


def section(name: str, path: Path | str = PARAMS_FILE) -> tuple[str, dict]:
    """(active profile, merged section dict)."""
    data = load_raw(path)
    profile = data.get("profile", "default")
    if profile not in PROFILES:
        raise ParamsError(f"params.yaml key 'profile' = {profile!r}: expected one of {PROFILES}")
    if name not in data:
        raise ParamsError(f"params.yaml has no '{name}' section")
    merged = data[name]
    if profile != "default":
        override = ((data.get("profiles") or {}).get(profile) or {}).get(name) or {}
        merged = deep_merge(merged, override)
    return profile, merged


def validate(model: type[BaseModel], values: dict[str, Any], prefix: str) -> BaseModel:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join([prefix, *map(str, err["loc"])])
            if err["type"] == "missing":
                lines.append(f"params.yaml key '{key}' is missing")
            elif err["type"] == "extra_forbidden":
                lines.append(f"params.yaml key '{key}' is not a known parameter")
            else:
                lines.append(f"params.yaml key '{key}' = {err.get('input')!r}: {err['msg']}")
        raise ParamsError("\n".join(lines)) from None
