"""How requests share static passes, for every caller that batches them (serve/batching.py's
dynamic batcher, transform/shard.py's batches): which requests may share a pass, how large a
pass a request's params allow, and what happens when a shared pass fails."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from springboard.generate.params import GenerationParams

T = TypeVar("T")
R = TypeVar("R")


def alone(params: GenerationParams) -> bool:
    """A seeded sampling request runs in a pass of its own: its seed seeds the whole pass, so
    sharing it with strangers would make its output depend on them (and, in a batch transform,
    on where a resumed job restarts)."""
    return params.solo


def pass_size(params: GenerationParams, size: int) -> int:
    """How many prompts of requests with these params one pass may hold."""
    return 1 if alone(params) else size


def plan(items: Sequence[T], params_of: Callable[[T], GenerationParams], rows_of: Callable[[T], int],
         max_rows: int) -> list[list[T]]:
    """Passes for `items`, in order of their first item: requests run alone where `alone` says
    so; the others share a pass with those of an equal batch_key(), up to `max_rows` rows."""
    buckets: dict[object, list[list[T]]] = {}
    order: list[list[T]] = []
    for item in items:
        params = params_of(item)
        if alone(params):
            order.append([item])
            continue
        groups = buckets.setdefault(params.batch_key(), [])
        if not groups or sum(rows_of(i) for i in groups[-1]) + rows_of(item) > max_rows:
            groups.append([])
            order.append(groups[-1])
        groups[-1].append(item)
    return order


def isolate(run: Callable[[list[T]], list[R]], items: list[T], fatal: tuple[type[BaseException], ...] = (),
            first: Callable[[list[T]], list[R]] | None = None) -> list[R | Exception]:
    """Each item's outcome of `run(items)` (one result per item). When that fails, every item
    runs again alone, so the error lands on the item that caused it (say, a prompt over the
    context) and not on its neighbours; an item that fails alone gets its exception as its
    outcome. `first`, when given, is the first attempt instead of `run` (a scheduled request
    already running); `fatal` exceptions (a stop) propagate at once."""
    try:
        return list((first or run)(items))
    except fatal:
        raise
    except Exception as exc:  # noqa: BLE001 - handed to the item that caused it
        if len(items) == 1 and first is None:
            return [exc]
        return [outcome for item in items for outcome in isolate(run, [item], fatal)]


def outcome_error(outcome: Any) -> Exception | None:
    return outcome if isinstance(outcome, Exception) else None
