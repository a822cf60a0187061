"""Model registry: ``@register_model(name)`` on a builder, ``build_model(name, cfg)`` to build.

A builder is a function with keyword-only, type-annotated arguments (all with defaults). The cfg
dict (e.g. the ``model:`` section of params.yaml) is checked against the builder's signature:
unknown keys and values of the wrong type raise errors that name the offending key(s).

Two kinds of models share the one registry:
  * ``kind="torch"``   (default) -> an ``nn.Module`` following the batch/output contract
                        (``forward(batch: dict) -> dict`` with "logits", "frame_logits", ...).
  * ``kind="sklearn"`` -> a scikit-learn style estimator (``fit``/``predict``/``predict_proba``/
                        ``save``/``load``), e.g. ``features_svm``.
  * ``kind="torque"``  -> an ``nn.Module`` joint-moment estimator: ``forward(batch) -> {"moments"}``
                        (B,T,10) N m in MOMENTS order (models.torque), no logits.
``available_models(kind="torch")`` lists only one kind; ``model_kind(name)`` tells which.
"""
from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping

__all__ = ["register_model", "build_model", "available_models", "model_kind", "model_signature"]

KINDS = ("torch", "sklearn", "torque")


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., Any]
    kind: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, *, kind: str = "torch") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``builder`` under ``name``. Raises ValueError on a duplicate name."""
    if kind not in KINDS:
        raise ValueError(f"register_model({name!r}): unknown kind {kind!r}, expected one of {KINDS}")

    def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered "
                             f"(by {_REGISTRY[name].builder.__module__}.{_REGISTRY[name].builder.__qualname__})")
        params = inspect.signature(builder).parameters.values()
        bad = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if bad:
            raise TypeError(f"builder for model {name!r} must take keyword-only arguments, got {bad}")
        _REGISTRY[name] = _Entry(builder, kind)
        return builder

    return deco


def available_models(kind: str | None = None) -> list[str]:
    """Sorted registered names, optionally only those of one kind ("torch", "sklearn", "torque")."""
    return sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {available_models()}") from None


def model_kind(name: str) -> str:
    return _entry(name).kind


def model_signature(name: str) -> dict[str, Any]:
    """The builder's arguments and their defaults (what a cfg may set)."""
    return {p.name: p.default for p in inspect.signature(_entry(name).builder).parameters.values()}


def _matches(value: Any, ann: Any) -> tuple[bool, Any]:
    """Loose runtime check of ``value`` against annotation ``ann``; returns (ok, converted value).
    Lists are accepted (and converted) where a tuple is annotated (YAML has no tuples)."""
    if ann is Any or ann is inspect.Parameter.empty:
        return True, value
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(ann):
            ok, conv = _matches(value, arg)
            if ok:
                return True, conv
        return False, value
    if ann is type(None):
        return value is None, value
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), value
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if origin is tuple or ann is tuple:
        if isinstance(value, (list, tuple)):
            args = typing.get_args(ann)
            if len(args) == 2 and args[1] is Ellipsis:
                conv = []
                for v in value:
                    ok, c = _matches(v, args[0])
                    if not ok:
                        return False, value
                    conv.append(c)
                return True, tuple(conv)
            return True, tuple(value)
        return False, value
    if origin in (list, typing.Sequence) or ann in (list,):
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if origin in (dict, Mapping, typing.Mapping) or ann is dict:
        return isinstance(value, Mapping), value
    if isinstance(ann, type):
        return isinstance(value, ann), value
    return True, value  # annotation we do not understand: let the builder decide


def build_model(name: str, cfg: Mapping[str, Any] | None = None) -> Any:
    """Build registered model ``name`` with keyword arguments from ``cfg`` (None = defaults).

    Raises KeyError naming ``name`` if it is not registered, TypeError naming the keys if ``cfg``
    has keys the builder does not take or values of the wrong type.
    """
    entry = _entry(name)
    cfg = dict(cfg or {})
    sig = inspect.signature(entry.builder)
    unknown = sorted(set(cfg) - set(sig.parameters))
    if unknown:
        raise TypeError(f"model {name!r}: unknown cfg key(s) {unknown}; "
                        f"allowed: {sorted(sig.parameters)}")
    hints = typing.get_type_hints(entry.builder)
    bad = []
    for key, value in cfg.items():
        ok, cfg[key] = _matches(value, hints.get(key, Any))
        if not ok:
            bad.append(f"{key}={value!r} (expected {hints.get(key)})")
    if bad:
        raise TypeError(f"model {name!r}: bad cfg value(s): {', '.join(bad)}")
    return entry.builder(**cfg)
