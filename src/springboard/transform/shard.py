"""One shard of a transform, top to bottom: read its records, generate one planned batch at a
time, write the output lines in input order to the shard's part file, save progress after every
batch. The same function runs in the job's process (one worker), in a pool worker or in a Spark
task; generation is one small function (`generate_texts`) over the generate room's Engine.

Progress lives in files beside the part (`shards/<id>.json`, replaced atomically after each
batch): a restarted shard truncates its part to the last recorded batch and goes on; the job's
process reads the same files to report progress. A stop is a file (`STOP`) every worker sees."""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from springboard.errors import JobStopped, SpringboardError
from springboard.generate import passes
from springboard.transform.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENT_TRANSFORMS,
    TransformConfig,
    hyper_params,
    merge_params,
    to_generation_params,
)
from springboard.transform.jsonpath import JSONPath
from springboard.transform.output import all_empty, encode, error_output, literal_safe, output_error, prediction
from springboard.transform.plan import Shard
from springboard.transform.progress import Layout, ShardState
from springboard.transform.inputs import ModelInput, Record, model_input, read_records

log = logging.getLogger("springboard.transform")


def generate_texts(
    engine: Any, prompts: list[str], params: Any, chat: bool, batch_size: int
) -> list[tuple[list[str], int]]:
    """(texts, generated tokens) per prompt, in order."""
    return _pairs(engine.generate(prompts, params, chat=chat, batch_size=batch_size))


def _pairs(results: list[Any]) -> list[tuple[list[str], int]]:
    return [(list(r.texts), int(r.generated_tokens)) for r in results]


def batch_size_of(config: TransformConfig) -> int:
    if config.batch_strategy == "SingleRecord":
        return 1
    hyper = hyper_params(config.environment)
    return (hyper and hyper.batch_size) or DEFAULT_BATCH_SIZE


def use_chat(config: TransformConfig, engine: Any) -> bool:
    """Records are plain text: rendered by the one prompt rule (generate/prompting.py), the
    job's `chat` / SPRINGBOARD_PROMPT_FORMAT being its switch."""
    from springboard.generate.prompting import text_as_chat

    return text_as_chat(engine, config.prompt_format)


# Rows the scheduler runs at once for a transform: on CPU a step's cost grows slowly with its
# rows (SmolLM2 on 2 cores: 32 ms at 1 row, ~70 at 16), so a larger batch makes more tokens a second.
_MAX_RUNNING = 64


class _FileFailed(SpringboardError):
    pass


class ShardRunner:
    """Runs shards of one job with one engine (reused for every shard it is given)."""

    def __init__(self, config: TransformConfig, engine: Any, layout: Layout) -> None:
        self.config = config
        self.engine = engine
        self.layout = layout
        self.hyper = hyper_params(config.environment)
        self.batch_size = batch_size_of(config)
        self.input_filter = JSONPath(config.input_filter)
        self.output_filter = JSONPath(config.output_filter)
        self.chat = use_chat(config, engine)
        self._params_cache: dict[str, Any] = {}
        # Batches in flight at once (MaxConcurrentTransforms): on a causal model their records share
        # the engine's continuous-batching scheduler, as an endpoint's requests do; others run
        # one batch at a time.
        self.concurrency = config.max_concurrent_transforms or DEFAULT_CONCURRENT_TRANSFORMS
        enable = getattr(engine, "enable_continuous_batching", None)
        self._continuous = bool(enable is not None and enable(max_batch=_MAX_RUNNING))
        self._warned: set[str] = set()

    def run(
        self,
        shard: Shard,
        should_stop: Callable[[], bool] | None = None,
        on_batch: Callable[[], None] | None = None,
    ) -> ShardState:
        """Processes what is left of `shard`; returns its final state. Raises JobStopped when a
        stop is requested (between batches)."""
        state_path = self.layout.state(shard.id)
        state = ShardState.load(state_path)
        if state.done or state.error:
            return state
        failed_marker = self.layout.file_failed(shard.file)
        part = self.layout.part(shard.id)
        if state.records and part.exists() and part.stat().st_size >= state.bytes:
            f = open(part, "r+b")
            f.truncate(state.bytes)  # drops lines written after the last saved state
            f.seek(state.bytes)
            log.info("%s [%s]: resuming after record %d", shard.rel, shard.id, shard.start + state.records)
        else:
            state = ShardState()
            f = open(part, "wb")
        sep = b"\n" if self.config.assemble_with == "Line" else b""
        pending: deque[_Pending] = deque()  # batches on the engine's scheduler, oldest first

        def write(batch: _Pending) -> None:
            lines, failed, empty, tokens = self._finish(batch, shard.rel)
            f.write(b"".join(line.encode("utf-8") + sep for line in lines))
            f.flush()  # flushed to the OS, the bytes survive a SIGKILL of this process
            state.records += len(batch.records)
            state.bytes = f.tell()
            state.failed += failed
            state.empty += empty
            state.tokens += tokens
            state.generated = max(state.generated, state.records)
            state.save(state_path)
            if on_batch is not None:
                on_batch()

        try:
            records = read_records(Path(shard.path), self.config, shard.start, shard.offset, shard.line)
            done, chunk_no = 0, 0
            chunk: list[Record] = []
            for record in records:
                if record.index >= shard.end:
                    break
                chunk.append(record)
                if len(chunk) < shard.chunks[chunk_no]:
                    continue
                size, chunk_no = len(chunk), chunk_no + 1
                if done < state.records:  # written by an earlier attempt
                    done += size
                    chunk = []
                    continue
                if (should_stop and should_stop()) or self.layout.stop_file.exists():
                    raise JobStopped("transform stopped on request")
                if failed_marker.exists():  # another shard failed this file: its .out is void
                    return state
                pending.append(self._submit(chunk, shard.rel))
                done += size
                chunk = []
                # up to `concurrency` batches in flight (MaxConcurrentTransforms); the oldest
                # is written once it is complete, so the part file stays in input order
                while pending and (len(pending) >= self.concurrency or pending[0].ready()):
                    self._await_oldest(pending, state, state_path, on_batch)
                    write(pending.popleft())
            while pending:
                self._await_oldest(pending, state, state_path, on_batch)
                write(pending.popleft())
            if done != shard.records:
                raise SpringboardError(
                    f"{shard.rel}: found {done} of the {shard.records} records planned for records "
                    f"{shard.start}-{shard.end - 1}; the input changed while the job ran"
                )
            f.close()  # complete on disk before the state says so (another process publishes it)
            state.done = True
            state.save(state_path)
            return state
        except _FileFailed as exc:  # a record failed the file (on_error="fail")
            state.error = str(exc)
            failed_marker.touch()
            state.save(state_path)
            return state
        finally:
            for batch in pending:  # a stop, a failure: what is in flight is redone on resume
                batch.cancel()
            f.close()

    def _await_oldest(self, pending: deque[_Pending], state: ShardState, state_path: Path,
                      on_batch: Callable[[], None] | None) -> None:
        """Waits for the oldest batch in flight, saving how many records have finished
        generating meanwhile (`ShardState.generated`) so progress moves a record at a time, not a
        batch at a time (batches in flight finish together on the scheduler)."""
        while not pending[0].ready():
            generated = state.records + sum(batch.finished() for batch in pending)
            if generated != state.generated:
                state.generated = generated
                state.save(state_path)
                if on_batch is not None:
                    on_batch()
            pending[0].wait(0.2)

    # --- one batch ------------------------------------------------------------------------

    def _submit(self, batch: list[Record], rel: str) -> _Pending:
        """Reads a batch's model inputs and starts what the engine's scheduler can run; the rest
        runs when the batch is finished (`_finish`)."""
        inputs: list[ModelInput | None] = [None] * len(batch)
        errors: list[str | None] = [None] * len(batch)
        limit = self.config.max_payload_bytes
        for i, record in enumerate(batch):
            if record.error:
                errors[i] = record.error
                continue
            if limit is not None and len(record.raw) + 1 > limit:
                errors[i] = f"record is {len(record.raw) + 1} bytes, over max_payload {self.config.max_payload} MB"
                continue
            try:
                inputs[i] = model_input(record, self.input_filter)
            except ValueError as exc:
                errors[i] = str(exc)
        if self.config.on_error == "fail":
            self._raise_first(batch, errors, rel)
        pending = _Pending(batch, inputs, errors)
        groups: dict[str, list[int]] = {}
        for i, mi in enumerate(inputs):
            if mi is not None:
                groups.setdefault(json.dumps(self._params_for(mi, batch[i], rel), sort_keys=True), []).append(i)
        for key, members in groups.items():
            try:
                params = self._gen_params(key)
            except SpringboardError as exc:
                for i in members:
                    errors[i] = str(exc)
                continue
            scheduled: dict[int, Any] = {}
            if self._schedules(params):
                for i in members:
                    try:
                        scheduled[i] = self.engine.schedule(self._request(inputs[i], params))
                    except SpringboardError as exc:  # the record's own input (too long, ...)
                        errors[i] = _gen_error(exc)
                members = [i for i in members if i in scheduled]
            pending.groups.append((params, members, scheduled))
        return pending

    def _finish(self, pending: _Pending, rel: str) -> tuple[list[str], int, int, int]:
        """Output lines for a batch (one per record, in order), failures, empty outputs and
        generated tokens."""
        batch, inputs, errors = pending.records, pending.inputs, pending.errors
        texts, gen_errors, tokens = self._generate(pending)
        lines: list[str] = []
        failed = empty = 0
        for i, record in enumerate(batch):
            error = errors[i] or gen_errors[i]
            obj = None
            if error is None:
                try:
                    obj = prediction(self.config, self.output_filter, record, inputs[i], texts[i])
                    line = encode(obj)
                except (KeyError, ValueError) as exc:
                    error = output_error(exc, self.config.output_filter)
            if error is not None:
                if self.config.on_error == "fail":
                    raise _FileFailed(f"{rel}:{record.line}: {error}")
                failed += 1
                obj = error_output(record, error)
                line = encode(obj)
            elif all_empty(texts[i]):
                empty += 1
            if not literal_safe(obj) and "literal" not in self._warned:
                self._warned.add("literal")
                log.warning(
                    "%s:%d: output carries true/false/null from the input: valid JSON, "
                    "but ast.literal_eval cannot read such lines", rel, record.line,
                )  # fmt: skip
            lines.append(line)
        return lines, failed, empty, tokens

    @staticmethod
    def _raise_first(batch: list[Record], errors: list[str | None], rel: str) -> None:
        for record, error in zip(batch, errors):
            if error is not None:
                raise _FileFailed(f"{rel}:{record.line}: {error}")

    def _params_for(self, mi: ModelInput, record: Record, rel: str) -> dict[str, Any]:
        if self.hyper is None:
            return mi.params
        merged, overridden = merge_params(mi.params, self.hyper.params)
        if overridden and "override" not in self._warned:
            self._warned.add("override")
            log.warning(
                "%s:%d: HYPER_PARAMS overrides the record's %s (HYPER_PARAMS wins key by key; the "
                "record's other parameters apply); logged once", rel, record.line, ", ".join(overridden),
            )  # fmt: skip
        return merged

    def _generate(self, pending: _Pending) -> tuple[list[list[Any] | None], list[str | None], int]:
        """Generated texts for every record that has an input: the scheduled ones' results, then
        passes over the rest. Both follow generate/passes.py: a seeded sampling record runs in a
        pass of its own, and a record whose generation fails (in a shared pass, or on the
        scheduler) is tried again alone, so one bad record does not fail its neighbours."""
        inputs = pending.inputs
        texts: list[list[Any] | None] = [None] * len(inputs)
        errors: list[str | None] = [None] * len(inputs)
        tokens = 0
        for params, members, scheduled in pending.groups:
            def run(sub: list[int], params: Any = params) -> list[list[tuple[list[str], int]]]:
                return self._run_pass(inputs, sub, params)

            if scheduled:
                def waited(sub: list[int], scheduled: dict[int, Any] = scheduled) -> list[Any]:
                    return [_pairs(scheduled[sub[0]].wait())]

                outcomes = [o for i in members for o in passes.isolate(run, [i], (JobStopped,), first=waited)]
            else:
                outcomes = passes.isolate(run, members, (JobStopped,))  # SIGTERM mid-generation: a stop
            for i, outcome in zip(members, outcomes):
                if isinstance(outcome, Exception):
                    errors[i] = _gen_error(outcome)
                else:
                    tokens += self._take(inputs[i], outcome, texts, i)
        return texts, errors, tokens

    def _schedules(self, params: Any) -> bool:
        """Whether the engine's continuous-batching scheduler runs these params (a causal model,
        no beam search, ...): then every record is its own request, and the batches in flight
        share the scheduler's running batch."""
        from springboard.generate.engine import GenerationRequest

        return self._continuous and self.engine.schedules([GenerationRequest([], params)])

    def _request(self, mi: ModelInput | None, params: Any) -> Any:
        from springboard.generate.engine import GenerationRequest

        assert mi is not None
        return GenerationRequest(list(mi.prompts), params, self.chat)

    @staticmethod
    def _take(mi: ModelInput | None, mine: list[tuple[list[str], int]], texts: list, i: int) -> int:
        """Stores a record's (texts, generated tokens) per prompt in `texts[i]`; returns its tokens."""
        assert mi is not None
        if mi.many:
            texts[i] = [t[0] if len(t) == 1 else t for t, _ in mine]
        else:
            texts[i] = mine[0][0]
        return sum(t for _, t in mine)

    def _run_pass(self, inputs: list[ModelInput | None], members: list[int], params: Any
                  ) -> list[list[tuple[list[str], int]]]:
        """One engine call over the members' prompts: each member's (texts, tokens) per prompt."""
        prompts = [p for i in members for p in inputs[i].prompts]  # type: ignore[union-attr]
        results = generate_texts(self.engine, prompts, params, self.chat, passes.pass_size(params, self.batch_size))
        if len(results) != len(prompts):
            raise RuntimeError(f"engine returned {len(results)} results for {len(prompts)} prompts")
        out, pos = [], 0
        for i in members:
            n = len(inputs[i].prompts)  # type: ignore[union-attr]
            out.append(results[pos : pos + n])
            pos += n
        return out

    def _gen_params(self, key: str) -> Any:
        if key not in self._params_cache:
            self._params_cache[key] = to_generation_params(json.loads(key))
        return self._params_cache[key]

    # --- output records -------------------------------------------------------------------

@dataclass
class _Pending:
    """A batch on its way: its records, their model inputs (None where the record failed) and
    errors, and per set of parameters (params, record indexes, the scheduled request of each
    record when they run on the engine's scheduler, else empty: they run at `_finish`)."""

    records: list[Record]
    inputs: list[ModelInput | None]
    errors: list[str | None]
    groups: list[tuple[Any, list[int], dict[int, Any]]] = field(default_factory=list)

    def ready(self) -> bool:
        return all(request.done() for _, _, scheduled in self.groups for request in scheduled.values())

    def finished(self) -> int:
        """Records whose scheduled generation has ended (those run at `_finish` count once written)."""
        return sum(request.done() for _, _, scheduled in self.groups for request in scheduled.values())

    def wait(self, timeout: float) -> None:
        """Returns once the first unfinished scheduled request ends, or after `timeout` seconds."""
        for _, _, scheduled in self.groups:
            for request in scheduled.values():
                if not request.done():
                    request.wait_done(timeout)
                    return

    def cancel(self) -> None:
        for _, _, scheduled in self.groups:
            for request in scheduled.values():
                request.cancel()


def _gen_error(exc: Exception) -> str:
    if isinstance(exc, SpringboardError):
        return str(exc)
    return f"generation failed: {type(exc).__name__}: {exc}"
