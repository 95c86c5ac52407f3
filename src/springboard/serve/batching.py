"""Dynamic batching: concurrent requests to one endpoint share forward passes.

Requests queue up; the worker takes the oldest, waits at most `max_wait` (counted from when
that request arrived) for more, up to `max_batch_size` prompt rows, then groups what it has by
`GenerationParams.batch_key()` and runs each group as one `Engine.generate_batch` call in a
worker thread, so the event loop keeps serving while the model computes. Requests that arrive
during a pass are picked up by the next one. Length limits and return_full_text may differ
inside a group (the engine honours them per row). Which requests share a pass, and what happens
when a shared pass fails, are generate/passes.py's rules (transform batches follow them too):
a seeded sampling request runs alone; a failed pass runs again request by request.

Every request's answer is a future the batcher tracks until it is set, so `close(error)` (the
endpoint deleted, the server stopping) answers all of them at once, including those whose pass
is still running in its thread."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from typing import Any
from dataclasses import dataclass, field

from springboard.generate import Engine, GenerationRequest, GenerationResult, passes

log = logging.getLogger("springboard.serve")


@dataclass
class _Item:
    request: GenerationRequest
    future: asyncio.Future[list[GenerationResult]]
    arrived: float = field(default_factory=time.monotonic)

    @property
    def rows(self) -> int:
        return max(1, len(self.request.prompts))


@dataclass
class BatchStats:
    passes: int = 0
    requests: int = 0
    rows: int = 0
    # requests whose clients went away before the answer: their rows cancelled on the scheduler,
    # or their pass stopped at its next step (abandoned_tokens: the most new tokens such a pass
    # had generated when it stopped)
    abandoned: int = 0
    abandoned_tokens: int = 0


class Batcher:
    def __init__(self, engine: Engine, max_batch_size: int = 16, max_wait_ms: float = 10.0, enabled: bool = True,
                 continuous: bool = True, owns_engine: bool = True) -> None:
        self.engine = engine
        # False: the engine is shared with other endpoints' batchers (serve/engines.py), and
        # closing this batcher leaves its scheduler running for them.
        self.owns_engine = owns_engine
        # Continuous batching: requests the engine's scheduler can run join its running batch at
        # the next step and leave when done (generate/scheduler.py); the rest (beam search,
        # seq2seq models, explicit batch_size) use the dynamic batching below.
        self.continuous = enabled and continuous and engine.enable_continuous_batching(max_batch=max_batch_size)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.enabled = enabled
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[list[GenerationResult]]] = set()
        self._alone: set[asyncio.Task[None]] = set()
        self._closed: Exception | None = None

    async def submit(self, request: GenerationRequest, batch_size: int | None = None) -> list[GenerationResult]:
        """Results for one request. An explicit `batch_size` (JumpStart real-time batch
        inference) is the caller's own batching and bypasses the queue."""
        if self._closed is not None:
            raise self._closed
        future: asyncio.Future[list[GenerationResult]] = asyncio.get_running_loop().create_future()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        if self.continuous and batch_size is None and self.engine.schedules([request]):
            return await self._scheduled(request, future)
        if batch_size is not None or not self.enabled:
            task = asyncio.create_task(self._run_alone(request, batch_size, future))
            self._alone.add(task)
            task.add_done_callback(self._alone.discard)
            return await future
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._work(), name="springboard-batcher")
        assert self._queue is not None
        await self._queue.put(_Item(request, future))
        return await future

    async def _scheduled(self, request: GenerationRequest, future: asyncio.Future[list[GenerationResult]]
                         ) -> list[GenerationResult]:
        loop = asyncio.get_running_loop()

        def settle(scheduled: Any) -> None:
            if future.done():
                return
            try:
                future.set_result(scheduled.results())
            except Exception as exc:
                future.set_exception(exc)

        scheduled = self.engine.schedule(request, lambda s: loop.call_soon_threadsafe(settle, s))
        self.stats.requests += 1
        self.stats.rows += len(request.prompts)
        try:
            return await future
        finally:
            if not scheduled.done():  # the client went away (or the endpoint closed): stop its rows
                scheduled.cancel()
                self.stats.abandoned += 1

    async def _run_alone(self, request: GenerationRequest, batch_size: int | None,
                         future: asyncio.Future[list[GenerationResult]]) -> None:
        self.stats.passes += 1
        self.stats.requests += 1
        self.stats.rows += len(request.prompts)
        cancelled = self._cancel_when_abandoned([future])
        try:
            results = await asyncio.to_thread(
                self.engine.generate, list(request.prompts), request.params, request.chat, batch_size, cancelled
            )
            self._count_stopped(cancelled, [results])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(results)

    async def close(self, error: Exception | None = None) -> None:
        """Stops the batcher. Requests still waiting (queued, or in a pass whose thread is still
        running) fail with `error` at once instead of waiting for a pass that nobody reads."""
        self._closed = error or RuntimeError("the endpoint's batcher is closed")
        for task in [self._worker, *self._alone]:
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._worker = None
        for future in list(self._pending):
            if not future.done():
                future.set_exception(self._closed)
        if self.continuous and self.owns_engine:
            self.engine.close()

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            items, rows = [first], first.rows
            deadline = loop.time() + max(0.0, self.max_wait - (time.monotonic() - first.arrived))
            while rows < self.max_batch_size:
                remaining = deadline - loop.time()
                try:
                    item = queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(queue.get(), remaining)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                items.append(item)
                rows += item.rows
            for group in self._groups(items):
                await self._run_group(group)

    def _groups(self, items: list[_Item]) -> list[list[_Item]]:
        live = [item for item in items if not item.future.done()]  # the others' clients went away while they queued
        return passes.plan(live, lambda item: item.request.params, lambda item: item.rows, self.max_batch_size)

    def _cancel_when_abandoned(self, futures: list[asyncio.Future[list[GenerationResult]]]) -> threading.Event:
        """An event set once every one of `futures` is settled before the pass ends: cancelled
        (their clients went away, see serve.limits.until_disconnected) or failed by `close`
        (endpoint deleted, server stopping). The engine then stops the pass at its next step."""
        event = threading.Event()

        def check(_: Any) -> None:
            if all(f.done() for f in futures):
                event.set()

        for future in futures:
            future.add_done_callback(check)
        return event

    def _count_stopped(self, cancelled: threading.Event, results: list[list[GenerationResult]]) -> None:
        if cancelled.is_set():
            tokens = max((max(r.token_counts or [r.generated_tokens]) for rs in results for r in rs), default=0)
            self.stats.abandoned += 1
            self.stats.abandoned_tokens = tokens
            log.info("a generation pass stopped after %d new tokens: its clients went away", tokens)

    async def _run_group(self, group: list[_Item]) -> None:
        """One pass for the group; when it fails, each request again alone (passes.isolate), so
        one bad row (say, a prompt over the context) does not fail its neighbours."""
        whole = self._cancel_when_abandoned([item.future for item in group])
        each = {id(item): self._cancel_when_abandoned([item.future]) for item in group} if len(group) > 1 else {}

        def run(items: list[_Item]) -> list[list[GenerationResult]]:
            cancelled = whole if len(items) == len(group) else each[id(items[0])]
            requests = [dataclasses.replace(item.request, cancelled=cancelled) for item in items]
            results = self.engine.generate_batch(requests)
            self._count_stopped(cancelled, results)
            self.stats.passes += 1
            self.stats.requests += len(items)
            self.stats.rows += sum(len(r.prompts) for r in requests)
            log.debug("batched pass: %d requests, %d rows", len(items), sum(len(r.prompts) for r in requests))
            return results

        outcomes = await asyncio.to_thread(passes.isolate, run, group)
        for item, outcome in zip(group, outcomes):
            if item.future.done():
                continue
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
