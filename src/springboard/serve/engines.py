"""Loaded engines shared between the endpoints of one server: endpoints of the same artifact
(the same files: content-addressed copies share a path, any other folder is told apart by its
files' sizes and times), device, precision and backend use one Engine, so 150 endpoints of one
model hold one copy of its weights, not 150. Reference counted: the engine is closed when its
last endpoint lets go.

An endpoint with LoRA adapters gets an engine of its own (attaching an adapter changes the
model every user of the engine sees), and so does one whose adapters are attached later
(EndpointManager.attach_adapter refuses while the engine is shared)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

log = logging.getLogger("springboard.serve")


def engine_key(model: str, device: str | None, dtype: str | None, quantize: str | None = None) -> Hashable:
    """What makes two endpoints' engines interchangeable; raises what resolving the model raises."""
    from springboard.generate.engine import resolve_ref

    folder = Path(resolve_ref(model)).resolve()
    files = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))
    backend = os.environ.get("SPRINGBOARD_GENERATE_BACKEND", "")
    return (str(folder), files, device or "", dtype or "", quantize or "", backend)


class SharedEngines:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[Hashable, Any] = {}
        self._refs: dict[int, int] = {}  # id(engine) -> endpoints using it
        self._keys: dict[int, Hashable] = {}

    def acquire(self, key: Hashable | None, load: Callable[[], Any]) -> Any:
        """The engine for `key`, loaded by `load` if no endpoint holds one; `key` None: always a
        private engine (still counted, so release closes it)."""
        with self._lock:
            engine = self._by_key.get(key) if key is not None else None
            if engine is not None:
                self._refs[id(engine)] += 1
                log.info("sharing the loaded engine of %s (%d endpoints)", engine.model_dir, self._refs[id(engine)])
                return engine
        engine = load()  # outside the lock: loads run on the manager's one loader thread
        with self._lock:
            self._refs[id(engine)] = 1
            if key is not None:
                self._by_key[key], self._keys[id(engine)] = engine, key
        return engine

    def users(self, engine: Any) -> int:
        with self._lock:
            return self._refs.get(id(engine), 0)

    def make_private(self, engine: Any) -> None:
        """No endpoint made later shares this engine (its only user is about to change it)."""
        with self._lock:
            key = self._keys.pop(id(engine), None)
            if key is not None and self._by_key.get(key) is engine:
                del self._by_key[key]

    def release(self, engine: Any) -> None:
        with self._lock:
            left = self._refs.get(id(engine), 0) - 1
            if left > 0:
                self._refs[id(engine)] = left
                return
            self._refs.pop(id(engine), None)
            key = self._keys.pop(id(engine), None)
            if key is not None and self._by_key.get(key) is engine:
                del self._by_key[key]
        engine.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._refs)
