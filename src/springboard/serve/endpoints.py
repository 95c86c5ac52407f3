"""Live endpoints inside one server process: each loads its model once (in a thread, so the
server keeps answering while it is Creating), then serves through its own Batcher."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from springboard.errors import ConflictError, NotFoundError, SpringboardError
from springboard.generate import Engine, GenerationRequest, GenerationResult, TextStream
from springboard.serve.batching import Batcher
from springboard.serve.registry import EndpointConfig, EndpointRecord, EndpointRegistry

log = logging.getLogger("springboard.serve")


class EndpointNotReady(SpringboardError):
    """The endpoint exists but is Creating (or Failed)."""


@dataclass
class Endpoint:
    record: EndpointRecord
    engine: Engine | None = None
    batcher: Batcher | None = None
    spec: Any = None
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def requires_eula(self) -> bool:
        return bool(getattr(self.spec, "requires_eula", False)) and not self.record.accept_eula

    def ready(self) -> Engine:
        if self.record.status != "InService" or self.engine is None:
            reason = f": {self.record.failure_reason}" if self.record.failure_reason else ""
            raise EndpointNotReady(f"endpoint {self.name!r} is {self.record.status}{reason}")
        return self.engine

    async def generate(self, request: GenerationRequest, batch_size: int | None = None) -> list[GenerationResult]:
        self.ready()
        assert self.batcher is not None
        return await self.batcher.submit(request, batch_size)

    def stream(self, prompt: Any, request: GenerationRequest) -> TextStream:
        return self.ready().stream(prompt, request.params, request.chat)


class EndpointManager:
    """The endpoints one server hosts, mirrored to the registry on disk."""

    def __init__(self, registry: EndpointRegistry | None = None) -> None:
        self.registry = registry or EndpointRegistry()
        self.endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def restore(self) -> None:
        """Brings back the endpoints recorded by an earlier server (all but Failed ones)."""
        for record in self.registry.list():
            if record.status != "Failed" and record.name not in self.endpoints:
                record.status, record.failure_reason = "Creating", None
                self._start(self.registry.save(record))

    def create(self, config: EndpointConfig, background: bool = True) -> EndpointRecord:
        with self._lock:
            if config.name in self.endpoints and self.endpoints[config.name].record.status != "Failed":
                raise ConflictError(
                    f"endpoint {config.name!r} already exists (status {self.endpoints[config.name].record.status})"
                )
            record = self.registry.create(config)
            self._start(record, background)
        return record

    def add_engine(self, config: EndpointConfig, engine: Engine) -> Endpoint:
        """Hosts an already-loaded engine (tests, benchmarks, `serve --model`)."""
        record = self.registry.create(config)
        endpoint = Endpoint(record)
        self.endpoints[record.name] = endpoint
        self._attach(endpoint, engine)
        return endpoint

    def _start(self, record: EndpointRecord, background: bool = True) -> None:
        endpoint = Endpoint(record)
        self.endpoints[record.name] = endpoint
        if background:
            threading.Thread(target=self._load, args=(endpoint,), name=f"load-{record.name}", daemon=True).start()
        else:
            self._load(endpoint)

    def _load(self, endpoint: Endpoint) -> None:
        record = endpoint.record
        try:
            engine = Engine.load(record.model, device=record.device, dtype=record.dtype)
        except Exception as exc:  # any load failure is the endpoint's failure reason
            log.warning("endpoint %s failed: %s", record.name, exc)
            record.status, record.failure_reason = "Failed", f"{type(exc).__name__}: {exc}"
            if self.endpoints.get(record.name) is endpoint:
                self.registry.save(record)
            endpoint._ready.set()
            return
        self._attach(endpoint, engine)

    def _attach(self, endpoint: Endpoint, engine: Engine) -> None:
        record = endpoint.record
        endpoint.engine, endpoint.spec = engine, engine.spec
        endpoint.batcher = Batcher(engine, record.max_batch_size, record.max_wait_ms, record.batching)
        record.model_dir = str(engine.model_dir)
        record.model_id = getattr(engine.spec, "model_id", None)
        record.status = "InService"
        if self.endpoints.get(record.name) is endpoint:  # not deleted while it loaded
            self.registry.save(record)
        endpoint._ready.set()
        log.info("endpoint %s is InService (%s)", record.name, record.model_dir)

    def get(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise NotFoundError(f"Endpoint {name} not found.")
        return endpoint

    def describe(self, name: str) -> EndpointRecord:
        endpoint = self.endpoints.get(name)
        return endpoint.record if endpoint else self.registry.get(name)

    def list(self) -> list[EndpointRecord]:
        live = {name: e.record for name, e in self.endpoints.items()}
        on_disk = {r.name: r for r in self.registry.list()}
        return sorted({**on_disk, **live}.values(), key=lambda r: r.creation_time)

    async def delete(self, name: str) -> None:
        endpoint = self.endpoints.pop(name, None)
        try:
            self.registry.delete(name)
        except NotFoundError:
            if endpoint is None:
                raise
        if endpoint and endpoint.batcher:
            await endpoint.batcher.close()

    async def close(self) -> None:
        for endpoint in list(self.endpoints.values()):
            if endpoint.batcher:
                await endpoint.batcher.close()

    def default(self) -> Endpoint:
        """The endpoint `/invocations` (the single-model container contract) serves."""
        if len(self.endpoints) != 1:
            raise NotFoundError(
                f"/invocations needs exactly one endpoint on this server, found {len(self.endpoints)}; "
                "use /endpoints/{name}/invocations"
            )
        return next(iter(self.endpoints.values()))

    async def wait_ready(self, name: str, timeout: float = 600.0) -> EndpointRecord:
        endpoint = self.get(name)
        await asyncio.to_thread(endpoint._ready.wait, timeout)
        return endpoint.record
