"""Live endpoints inside one server process: each loads its model once, then serves through its
own Batcher.

Every model load (create, restore after a restart, update) runs on ONE loader thread, one at a
time: the server keeps answering while endpoints are Creating, loads never race each other
(parallel first imports of transformers fail with "cannot import name ..."), and on CPU a second
concurrent load would only compete for the same cores. Restored endpoints retry a failed load.
Deleting an endpoint fails its queued, running and streaming requests at once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from springboard import settings
from springboard.errors import ConflictError, LimitExceededError, NotFoundError, SpringboardError, ValidationError
from springboard.generate import Engine, GenerationRequest, GenerationResult, TextStream
from springboard.generate.prompting import text_as_chat
from springboard.serve.batching import Batcher
from springboard.serve.engines import SharedEngines, engine_key
from springboard.serve.limits import check_request
from springboard.serve.registry import EndpointConfig, EndpointRecord, EndpointRegistry
from springboard.serve.stats import RecentRequests

log = logging.getLogger("springboard.serve")


class EndpointNotReady(SpringboardError):
    """The endpoint exists but is Creating (or Failed)."""


class EulaNotAccepted(ValidationError):
    """The endpoint's model requires accepting its EULA, and neither its deployment nor the
    request accepted it."""


class EndpointGone(NotFoundError):
    """The endpoint was deleted (or the server stopped) while a request was in flight."""


@dataclass
class Endpoint:
    record: EndpointRecord
    engine: Engine | None = None
    batcher: Batcher | None = None
    spec: Any = None
    inflight: int = 0
    shared: bool = False  # its engine came from the manager's SharedEngines (released, not closed)
    stats: RecentRequests = field(default_factory=RecentRequests)  # recent latency and tokens
    _ready: threading.Event = field(default_factory=threading.Event)
    _streams: weakref.WeakSet[TextStream] = field(default_factory=weakref.WeakSet)

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

    def serving(self, eula_accepted: bool | None = None) -> Engine:
        """The engine that answers a request: the endpoint is InService with its model loaded
        (else EndpointNotReady) and its model's EULA accepted, at deploy time or by this request
        (`eula_accepted`: the runtime's custom attribute accept_eula=true; None where a surface
        has no way to accept it per request), else EulaNotAccepted, its message saying how."""
        engine = self.ready()
        if self.requires_eula and not eula_accepted:
            if eula_accepted is None:
                raise EulaNotAccepted(f"endpoint {self.name} serves a model that requires accepting its EULA; "
                                      "deploy it with accept_eula (springboard deploy --accept-eula)")
            spec_id = getattr(self.spec, "model_id", self.record.model)
            raise EulaNotAccepted(
                f"model {spec_id} requires accepting its end-user license agreement: pass custom "
                "attribute accept_eula=true (CustomAttributes='accept_eula=true')"
            )
        return engine

    def text_as_chat(self, adapter: str | None = None) -> bool:
        """Whether this endpoint renders plain-text prompts in the chat template: the one prompt
        rule (generate/prompting.py) with its SPRINGBOARD_PROMPT_FORMAT; a request naming an
        attached LoRA adapter gets the format that adapter was trained in."""
        return text_as_chat(self.ready(), self.record.prompt_format, adapter=adapter)

    async def generate(self, request: GenerationRequest, batch_size: int | None = None) -> list[GenerationResult]:
        check_request(self.ready(), request.prompts, request.params)
        assert self.batcher is not None
        self.inflight += 1  # event-loop only: no lock needed
        started = time.monotonic()
        try:
            results = await self.batcher.submit(request, batch_size)
        finally:
            self.inflight -= 1
        self.stats.add(time.monotonic() - started, sum(r.generated_tokens for r in results), streamed=False)
        return results

    def stream(self, prompt: Any, request: GenerationRequest) -> TextStream:
        engine = self.ready()
        check_request(engine, [prompt], request.params)
        started = time.monotonic()
        stream = engine.stream(prompt, request.params, request.chat)
        self._streams.add(stream)
        events = stream.events  # every consumer reads through events(): count the request once they end
        stream.events = lambda: self.stats.timed(events(), stream, started)  # type: ignore[method-assign]
        return stream

    async def shut(self, reason: str) -> None:
        """Fails every request still in flight (queued, generating or streaming) with `reason`."""
        error = EndpointGone(f"endpoint {self.name!r} {reason} while this request was in flight")
        for stream in list(self._streams):
            stream.abort(error)
        if self.batcher is not None:
            await self.batcher.close(error)


class EndpointManager:
    """The endpoints one server hosts, mirrored to the registry on disk."""

    def __init__(self, registry: EndpointRegistry | None = None, restore_attempts: int = 3,
                 retry_delay: float = 2.0) -> None:
        self.registry = registry or EndpointRegistry()
        self.endpoints: dict[str, Endpoint] = {}
        self.restore_attempts = restore_attempts
        self.retry_delay = retry_delay
        self._lock = threading.Lock()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="springboard-load")
        self.engines = SharedEngines()

    def restore(self) -> list[Future[None]]:
        """Brings back the endpoints recorded by an earlier server: all but those that failed
        when they were created. One that was InService once (it has a model_dir) comes back
        even if an earlier restore failed; each restore tries `restore_attempts` times."""
        loads = []
        for record in self.registry.list():
            if record.name in self.endpoints:
                continue
            if record.status == "Failed" and record.model_dir is None:
                continue  # never came up: the user has its failure reason and must deploy again
            record.status, record.failure_reason = "Creating", None
            loads.append(self._start(self.registry.save(record), attempts=self.restore_attempts))
        return loads

    def create(self, config: EndpointConfig, background: bool = True) -> EndpointRecord:
        with self._lock:
            if config.name in self.endpoints and self.endpoints[config.name].record.status != "Failed":
                raise ConflictError(
                    f"endpoint {config.name!r} already exists (status {self.endpoints[config.name].record.status})"
                )
            hosted = sum(1 for name, e in self.endpoints.items() if e.record.status != "Failed" and name != config.name)
            limit = settings.max_endpoints()
            if hosted >= limit:
                variable, option, _ = settings.MAX_ENDPOINTS
                raise LimitExceededError(
                    f"this server already hosts {hosted} endpoints, its limit (setting {variable}, "
                    f"`springboard serve {option}`); delete one or raise the limit")
            record = self.registry.create(config)
            self._start(record, background)
        return record

    def add_engine(self, config: EndpointConfig, engine: Engine) -> Endpoint:
        """Hosts an already-loaded engine (tests, benchmarks, `serve --model`)."""
        _attach_adapters(engine, config.adapters)
        record = self.registry.create(config)
        endpoint = Endpoint(record)
        self.endpoints[record.name] = endpoint
        self._attach(endpoint, engine)
        return endpoint

    async def attach_adapter(self, name: str, adapter: str, artifact: str) -> EndpointRecord:
        """Attaches a LoRA adapter to a live endpoint's model (no reload: Engine.attach_adapter)
        and records it, so a restarted server attaches it again."""
        endpoint = self.get(name)
        engine = endpoint.ready()
        if endpoint.shared:
            if self.engines.users(engine) > 1:
                raise ConflictError(
                    f"endpoint {name!r} shares its loaded model with other endpoints of the same artifact, and an "
                    "adapter would change it for them too: deploy this endpoint with its adapters instead "
                    "(an endpoint deployed with adapters loads a model of its own)")
            self.engines.make_private(engine)
        await asyncio.to_thread(engine.attach_adapter, adapter, artifact)
        if self.endpoints.get(name) is endpoint:
            endpoint.record.adapters = {**endpoint.record.adapters, adapter: artifact}
            self.registry.save(endpoint.record)
        return endpoint.record

    def _start(self, record: EndpointRecord, background: bool = True, attempts: int = 1) -> Future[None]:
        endpoint = Endpoint(record)
        self.endpoints[record.name] = endpoint
        load = self._loader.submit(self._load, endpoint, attempts)
        if not background:
            load.result()
        return load

    def _load(self, endpoint: Endpoint, attempts: int = 1) -> None:
        _resolve_transformers()
        record = endpoint.record
        for attempt in range(1, attempts + 1):
            if self.endpoints.get(record.name) is not endpoint:
                endpoint._ready.set()  # deleted before its turn came
                return
            try:
                engine = self._acquire(record)
            except Exception as exc:  # any load failure is the endpoint's failure reason
                log.warning("endpoint %s: load attempt %d/%d failed: %s", record.name, attempt, attempts, exc)
                if attempt < attempts:
                    time.sleep(self.retry_delay * attempt)
                    continue
                record.status, record.failure_reason = "Failed", f"{type(exc).__name__}: {exc}"
                if self.endpoints.get(record.name) is endpoint:
                    self.registry.save(record)
                endpoint._ready.set()
                return
            endpoint.shared = True
            self._attach(endpoint, engine)
            if self.endpoints.get(record.name) is not endpoint:  # deleted while it loaded
                self.engines.release(engine)
            return

    def _acquire(self, config: EndpointConfig) -> Engine:
        """The endpoint's engine: a loaded one shared with the endpoints of the same artifact and
        precision (serve/engines.py), or its own when it has adapters."""

        def load() -> Engine:
            engine = Engine.load(config.model, device=config.device, dtype=config.dtype, quantize=config.quantize)
            _attach_adapters(engine, config.adapters)
            return engine

        key = None
        if not config.adapters:
            try:
                key = engine_key(config.model, config.device, config.dtype, config.quantize)
            except Exception:  # noqa: BLE001 - not resolvable: load() reports why
                key = None
        return self.engines.acquire(key, load)

    def _attach(self, endpoint: Endpoint, engine: Engine) -> None:
        record = endpoint.record
        endpoint.engine, endpoint.spec = engine, engine.spec
        endpoint.batcher = Batcher(engine, record.max_batch_size, record.max_wait_ms, record.batching,
                                   owns_engine=not endpoint.shared)
        record.model_dir = str(engine.model_dir)
        record.model_id = getattr(engine.spec, "model_id", None)
        precision = getattr(engine, "precision", None)
        record.precision = f"{precision.label} - {precision.reason}" if precision is not None else None
        record.status = "InService"
        if self.endpoints.get(record.name) is endpoint:  # not deleted while it loaded
            self.registry.save(record)
        endpoint._ready.set()
        log.info("endpoint %s is InService (%s)", record.name, record.model_dir)

    async def update(self, config: EndpointConfig) -> EndpointRecord:
        """Moves an endpoint to another model (SageMaker's UpdateEndpoint): the new model loads
        in a thread while the old one keeps serving (status Updating), then takes over. A load
        that fails leaves the old model serving, its reason in failure_reason (SageMaker rolls
        a failed update back)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            old = self.get(config.name)
            if old.record.status not in ("InService", "Failed"):
                raise ConflictError(f"endpoint {config.name!r} is {old.record.status}; it can be updated once InService")
            old.record.status, old.record.failure_reason = "Updating", None
            self.registry.save(old.record)
        self._loader.submit(self._update, old, config, loop)
        return old.record

    def _update(self, old: Endpoint, config: EndpointConfig, loop: asyncio.AbstractEventLoop) -> None:
        try:
            engine = self._acquire(config)
        except Exception as exc:  # the old model keeps serving
            log.warning("endpoint %s: update failed: %s", config.name, exc)
            old.record.status = "InService" if old.engine is not None else "Failed"
            old.record.failure_reason = f"update to {config.model} failed: {type(exc).__name__}: {exc}"
            if self.endpoints.get(old.name) is old:
                self.registry.save(old.record)
            return
        record = EndpointRecord(**{**old.record.model_dump(), **config.model_dump(), "status": "Creating"})
        new = Endpoint(record, shared=True)
        with self._lock:
            if self.endpoints.get(old.name) is not old:  # deleted while the new model loaded
                self.engines.release(engine)
                return
            self.endpoints[old.name] = new
            self._attach(new, engine)
        if old.batcher is not None:
            asyncio.run_coroutine_threadsafe(_retire(old, self._release), loop)
        else:
            self._release(old)

    def _release(self, endpoint: Endpoint) -> None:
        """Lets go of a removed endpoint's shared engine (closed once no endpoint uses it)."""
        if endpoint.shared and endpoint.engine is not None:
            engine, endpoint.engine = endpoint.engine, None
            self.engines.release(engine)

    def get(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)  # a lookup, not a path: any string is just not found
        if endpoint is None:
            raise NotFoundError(f"Endpoint {name} not found.")
        return endpoint

    def serving(self, name: str, eula_accepted: bool | None = None) -> Endpoint:
        """THE lookup before answering a request: the endpoint `name` (else NotFoundError), ready
        and with its EULA accepted (`Endpoint.serving`)."""
        endpoint = self.get(name)
        endpoint.serving(eula_accepted)
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
        if endpoint is not None:
            await endpoint.shut("was deleted")
            self._release(endpoint)

    async def close(self) -> None:
        """Server shutdown: in-flight requests fail (their passes stop at the next step), queued
        loads are dropped."""
        self._loader.shutdown(wait=False, cancel_futures=True)
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="springboard-load")  # if reused
        for endpoint in list(self.endpoints.values()):
            await endpoint.shut("stopped (the server is shutting down)")
            self._release(endpoint)

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


_RESOLVED = threading.Event()


def _resolve_transformers() -> None:
    """Resolves, on the loader thread and before the first model loads, the transformers names
    that generation threads import lazily later (transformers' lazy module is not safe to
    resolve from several threads at once: "cannot import name ..."). After this, request
    threads only read names that are already bound."""
    if _RESOLVED.is_set():
        return
    import importlib

    import transformers

    for name in ("AutoConfig", "AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoTokenizer",
                 "StoppingCriteria", "StoppingCriteriaList", "DynamicCache", "WatermarkingConfig"):
        getattr(transformers, name, None)
    importlib.import_module("transformers.generation.streamers")
    _RESOLVED.set()


async def _retire(endpoint: Endpoint, release: Any) -> None:
    """Closes a replaced endpoint's batcher once the requests it already took are answered."""
    while endpoint.inflight:
        await asyncio.sleep(0.05)
    if endpoint.batcher is not None:
        await endpoint.batcher.close()
    release(endpoint)


def _attach_adapters(engine: Engine, adapters: dict[str, str]) -> None:
    for adapter, artifact in adapters.items():
        engine.attach_adapter(adapter, artifact)
