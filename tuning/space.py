"""Search spaces from params.yaml and what a trial's suggestions mean to the training config.

A space is a mapping ``dotted key -> distribution`` under ``tune.spaces.<arch>``; the keys are
relative to the zoo entry ``train.archs.<arch>``: a model builder argument (``dropout``,
``kernel_size``) or ``train.<setting>`` (``train.lr``, ``train.loss.kl_weight``). A distribution is

    {low: 0.0003, high: 0.003, log: true}   float (log-uniform with ``log``; ``step`` allowed)
    {low: 1, high: 4}                        int (both bounds integers)
    {choices: [3, 5]}                        categorical (None, bool, int, float or str)

:func:`to_overrides` turns flat dotted suggestions into the nested mapping that is deep-merged
over ``train.archs.<arch>`` (the shape of the best-params file).
"""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ["SpaceError", "parse_space", "suggest", "to_overrides", "lookup"]


class SpaceError(ValueError):
    """A search space entry is malformed; the message names the params.yaml key."""


def _check(key: str, spec: Any, where: str) -> dict:
    name = f"{where}.{key}"
    if not isinstance(spec, Mapping):
        raise SpaceError(f"params.yaml key '{name}' = {spec!r}: expected a mapping "
                         "{low, high[, log, step]} or {choices: [...]}")
    spec = dict(spec)
    if "choices" in spec:
        extra = set(spec) - {"choices"}
        ch = spec["choices"]
        if extra or not isinstance(ch, list) or not ch:
            raise SpaceError(f"params.yaml key '{name}' = {spec!r}: a categorical takes only a non-empty "
                             "'choices' list")
        bad = [c for c in ch if not (c is None or isinstance(c, (bool, int, float, str)))]
        if bad:
            raise SpaceError(f"params.yaml key '{name}.choices': {bad!r} are not None, bool, int, float or str")
        return {"kind": "categorical", "choices": ch}
    extra = set(spec) - {"low", "high", "log", "step"}
    if extra or "low" not in spec or "high" not in spec:
        raise SpaceError(f"params.yaml key '{name}' = {spec!r}: expected keys low, high (and optionally log, step)")
    lo, hi = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
        raise SpaceError(f"params.yaml key '{name}': low = {lo!r}, high = {hi!r}: expected numbers with low <= high")
    if spec.get("log") and lo <= 0:
        raise SpaceError(f"params.yaml key '{name}.low' = {lo!r}: a log-uniform range needs low > 0")
    kind = "int" if isinstance(lo, int) and isinstance(hi, int) and isinstance(spec.get("step", 1), int) else "float"
    return {"kind": kind, "low": lo, "high": hi, "log": bool(spec.get("log", False)), "step": spec.get("step")}


def parse_space(spaces: Mapping[str, Any] | None, arch: str, where: str = "tune.spaces") -> dict[str, dict]:
    """The checked space of ``arch`` (``{dotted key: distribution}``); raises SpaceError naming
    the key when it is missing, empty or malformed."""
    space = (spaces or {}).get(arch)
    if not isinstance(space, Mapping) or not space:
        raise SpaceError(f"params.yaml key '{where}.{arch}' is missing or empty: give the search space of {arch!r} "
                         f"(have: {sorted(spaces or {})})")
    return {str(k): _check(str(k), v, f"{where}.{arch}") for k, v in space.items()}


def suggest(trial, space: Mapping[str, dict]) -> dict[str, Any]:
    """One value per key from ``trial`` (``optuna.trial.Trial``): ``{dotted key: value}``."""
    out = {}
    for key, d in space.items():
        if d["kind"] == "categorical":
            out[key] = trial.suggest_categorical(key, d["choices"])
        elif d["kind"] == "int":
            out[key] = trial.suggest_int(key, d["low"], d["high"], step=d["step"] or 1, log=d["log"])
        else:
            out[key] = trial.suggest_float(key, d["low"], d["high"], step=d["step"], log=d["log"])
    return out


def to_overrides(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train.lr": 1e-3, "dropout": 0.1}`` -> ``{"train": {"lr": 1e-3}, "dropout": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def lookup(config: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of a nested mapping (KeyError naming the key when absent)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node
