"""Adaptive batching of single /recognize requests inside one server process.

BentoML batches a ``batchable`` endpoint's HTTP requests (``/recognize_batch``: its body is a list),
but ``/recognize`` and ``/binary/recognize`` take one request each, so their concurrent requests are
grouped here, in the same adaptive way (cork batching): a request that finds the model idle runs at
once, alone (no added latency at concurrency 1); requests that arrive while a batch runs wait for it
and then run together, up to ``max_batch_size``, so the batch size follows the load. One batch runs
at a time per process, in a worker thread (the event loop keeps accepting requests meanwhile).

    batcher = Batcher(lambda reqs: recognize_many(bundle, reqs), max_batch_size=32)
    answer = await batcher.submit(request)     # raises what run_batch raised for this request
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

__all__ = ["Batcher"]


class Batcher:
    """``await submit(x)`` -> ``run_batch([..., x, ...])[i]`` for the batch ``x`` ran in.

    ``run_batch`` maps a list of items to a list of answers; when it raises ``error`` (an input
    error), the batch is re-run item by item so that only the bad request gets the error."""

    def __init__(self, run_batch: Callable[[list], list], max_batch_size: int = 32,
                 error: type[BaseException] = ValueError) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size={max_batch_size}: expected >= 1")
        self.run_batch, self.max_batch_size, self.error = run_batch, int(max_batch_size), error
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._running = False
        self._task: asyncio.Task | None = None
        self.batch_sizes: list[int] = []   # the last 1,000 batches' sizes (for tests and diagnostics)

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((item, fut))
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())   # held: the loop keeps only a weak reference
        return await fut

    def _run(self, items: list) -> list:
        """Answers (or the exception) per item."""
        try:
            return self.run_batch(items)
        except self.error as exc:
            if len(items) == 1:
                return [exc]
        out = []
        for it in items:
            try:
                out.append(self.run_batch([it])[0])
            except self.error as exc:
                out.append(exc)
        return out

    async def _drain(self) -> None:
        from anyio import to_thread

        try:
            while self._queue:
                batch = self._queue[:self.max_batch_size]
                del self._queue[:len(batch)]
                self.batch_sizes = self.batch_sizes[-999:] + [len(batch)]
                try:
                    answers = await to_thread.run_sync(self._run, [it for it, _ in batch])
                except BaseException as exc:   # an unexpected failure: every waiting request gets it
                    answers = [exc] * len(batch)
                for (_, fut), a in zip(batch, answers):
                    if fut.done():             # the client went away (cancelled)
                        continue
                    if isinstance(a, BaseException):
                        fut.set_exception(a)
                    else:
                        fut.set_result(a)
        finally:
            self._running = False
