"""Action classes: one module per action, each registering a plan builder.

A builder has the signature ``build(ctx: ActionContext) -> MotionPlan``; it draws its own
style (tempo, amplitude, technique) from ``ctx.rng`` so classes overlap realistically, and
applies ``ctx.fault`` (one of ``FAULTS[action]`` or "none").

Adding an action = one module + one import line below + its name in
``biomech.conventions.ACTIONS``.
"""
from __future__ import annotations

from typing import Callable

from biomech.actions.common import ActionContext
from biomech.kinematics import MotionPlan

_REGISTRY: dict[str, Callable[[ActionContext], MotionPlan]] = {}
FAULTS: dict[str, tuple[str, ...]] = {}


def register_action(name: str, faults: tuple[str, ...]):
    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"action {name!r} is registered twice")
        _REGISTRY[name] = fn
        FAULTS[name] = faults
        return fn

    return deco


def build_plan(name: str, ctx: ActionContext) -> MotionPlan:
    try:
        fn = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None
    if ctx.fault != "none" and ctx.fault not in FAULTS[name]:
        raise ValueError(f"fault {ctx.fault!r} is not defined for action {name!r} "
                         f"(known: {', '.join(FAULTS[name]) or 'none'})")
    return fn(ctx)


def registered_actions() -> tuple[str, ...]:
    return tuple(_REGISTRY)


# one import per action module (registration happens on import)
from biomech.actions import (  # noqa: E402,F401
    agility,
    gait,
    jumps,
    kick,
    skills,
    squat,
    walking,
)
