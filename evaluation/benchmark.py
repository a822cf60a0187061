"""Cost of a model: parameter count, FLOPs per window, latency at batch 1 and 32 on one thread.

    cost = model_cost(trained, example_batch, batch_sizes=(1, 32), runs=30, warmup=3)
    -> {"params", "flops_per_window", "latency_ms": {"1": {"median", "p90", "runs"}, "32": ...},
        "latency_ms_per_window_b1"}

Latency: ``torch.set_num_threads(1)`` (restored afterwards), ``warmup`` untimed calls, then the
median of ``runs`` timed calls (``time.perf_counter``; fewer, >= 5, when ``max_seconds`` is set and
they would take longer) of the model's forward under ``no_grad``
(sklearn kinds: ``predict_proba`` / ``decision_function`` on the same batch). FLOPs:
``torch.utils.flop_counter.FlopCounterMode`` over one batch-1 forward (counts matmuls and
convolutions; sklearn models report None).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from evaluation.predict import Trained

__all__ = ["model_cost", "repeat_batch", "count_flops"]


def repeat_batch(batch: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """A batch of ``n`` windows made by cycling the windows of ``batch``."""
    B = batch["label"].shape[0]
    idx = torch.arange(n) % B
    return {k: v[idx] for k, v in batch.items()}


def count_flops(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(batch)
    return int(fc.get_total_flops())


def _call(trained: Trained, batch: dict[str, torch.Tensor]) -> Any:
    if trained.kind == "sklearn":
        data = {k: v.numpy() for k, v in batch.items()}
        m = trained.model
        return m.predict_proba(data) if hasattr(m, "predict_proba") else m.decision_function(data)
    with torch.no_grad():
        return trained.model(batch)


def _latency(trained: Trained, batch: dict[str, torch.Tensor], runs: int, warmup: int,
             max_seconds: float | None = None, warmup_seconds: float = 0.5, blocks: int = 3) -> dict:
    """Latency (ms) of warm calls: ``warmup`` calls and at least ``warmup_seconds`` of calls first
    (the first model a process measures pays one-off costs: on this VM the fused tcn read 3.4 ms
    first and 2.1-2.3 ms after another model), then ``runs`` calls in ``blocks`` blocks; "median" is
    the smallest block median (timeit's rule: the least disturbed estimate), "p90" over every call.
    With ``max_seconds``, stop once the calls have taken that long and at least 5 ran."""
    start = time.perf_counter()
    n = 0
    while n < warmup or time.perf_counter() - start < warmup_seconds:
        _call(trained, batch)
        n += 1
        if max_seconds is not None and n >= warmup and time.perf_counter() - start > max_seconds:
            break
    t = []
    start = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        _call(trained, batch)
        t.append(time.perf_counter() - t0)
        if max_seconds is not None and len(t) >= 5 and time.perf_counter() - start > max_seconds:
            break
    a = np.asarray(t)
    block_medians = [float(np.median(b)) for b in np.array_split(a, min(blocks, len(a))) if len(b)]
    return {"median": min(block_medians) * 1e3, "p90": float(np.percentile(a, 90) * 1e3), "runs": int(len(a)),
            "block_medians": [round(m * 1e3, 4) for m in block_medians]}


def model_cost(trained: Trained, example: dict[str, torch.Tensor], batch_sizes: Sequence[int] = (1, 32),
               runs: int = 30, warmup: int = 3, prepare=None, max_seconds: float | None = None) -> dict:
    """Parameters, FLOPs per window and one-thread latency of ``trained`` on windows of
    ``example`` (``prepare`` maps a batch to the model's inputs, e.g. the torque estimators')."""
    prepare = prepare or (lambda b: b)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out: dict[str, Any] = {"latency_ms": {}}
        if trained.kind == "sklearn":
            out["params"] = None
            out["flops_per_window"] = None
        else:
            out["params"] = int(sum(p.numel() for p in trained.model.parameters()))
            out["flops_per_window"] = count_flops(trained.model, prepare(repeat_batch(example, 1)))
        for bs in batch_sizes:
            out["latency_ms"][str(bs)] = _latency(trained, prepare(repeat_batch(example, bs)), runs, warmup, max_seconds)
        b1 = out["latency_ms"].get("1")
        out["latency_ms_per_window_b1"] = b1["median"] if b1 else None
        return out
    finally:
        torch.set_num_threads(threads)
