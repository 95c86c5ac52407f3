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
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from springboard.errors import JobStopped, SpringboardError
from springboard.transform.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENT_TRANSFORMS,
    TransformConfig,
    hyper_params,
    merge_params,
    to_generation_params,
)
from springboard.transform.jsonpath import JSONPath
from springboard.transform.output import encode, literal_safe
from springboard.transform.plan import Shard
from springboard.transform.inputs import ModelInput, Record, model_input, read_records

log = logging.getLogger("springboard.transform")


@dataclass
class ShardState:
    records: int = 0  # records whose output is complete in the part file
    bytes: int = 0  # length of the part file holding exactly those records
    failed: int = 0  # records written as error lines (on_error="error_line")
    empty: int = 0  # records whose every generated text is empty
    tokens: int = 0
    # records whose generation ended (`records` plus those finished in batches not yet written):
    # progress between writes, which come in input order a whole batch at a time
    generated: int = 0
    done: bool = False
    error: str | None = None  # on_error="fail": the record that failed the file ("rel:line: why")

    @classmethod
    def load(cls, path: Path) -> ShardState:
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)


class Layout:
    """Where a job's transform state lives (its checkpoint directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def stop_file(self) -> Path:
        return self.root / "STOP"

    def state(self, shard_id: str) -> Path:
        return self.root / "shards" / f"{shard_id}.json"

    def part(self, shard_id: str) -> Path:
        return self.root / "parts" / f"{shard_id}.part"

    def file_failed(self, file: int) -> Path:
        return self.root / "failed" / f"f{file:05d}"

    def make(self) -> None:
        for sub in ("shards", "parts", "failed"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)


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
                    obj = self._output(record, inputs[i], texts[i])
                    line = encode(obj)
                except (KeyError, ValueError) as exc:
                    error = _output_error(exc, self.config.output_filter)
            if error is not None:
                if self.config.on_error == "fail":
                    raise _FileFailed(f"{rel}:{record.line}: {error}")
                failed += 1
                obj = self._error_output(record, error)
                line = encode(obj)
            elif _all_empty(texts[i]):
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
        one engine call per distinct set of parameters for the rest. A record whose generation
        fails is tried again alone, so one bad record does not fail its neighbours."""
        inputs = pending.inputs
        texts: list[list[Any] | None] = [None] * len(inputs)
        errors: list[str | None] = [None] * len(inputs)
        tokens = 0
        for params, members, scheduled in pending.groups:
            if scheduled:
                for i in members:
                    try:
                        tokens += self._take(inputs[i], _pairs(scheduled[i].wait()), texts, i)
                    except JobStopped:
                        raise
                    except Exception:  # noqa: BLE001 - a failed step fails every row in it: once more alone
                        tokens += self._alone(inputs, i, params, texts, errors)
                continue
            try:
                tokens += self._generate_group(inputs, members, params, texts)
            except JobStopped:  # SIGTERM lands mid-generation: a stop, not a failed record
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the record that fails
                if len(members) == 1:
                    errors[members[0]] = _gen_error(exc)
                    continue
                tokens += sum(self._alone(inputs, i, params, texts, errors) for i in members)
        return texts, errors, tokens

    def _alone(self, inputs: list[ModelInput | None], i: int, params: Any, texts: list, errors: list) -> int:
        """Generates record i on its own; its error (if it fails) goes to errors[i]."""
        try:
            return self._generate_group(inputs, [i], params, texts)
        except JobStopped:
            raise
        except Exception as exc:  # noqa: BLE001
            errors[i] = _gen_error(exc)
            return 0

    def _schedules(self, params: Any) -> bool:
        """Whether the engine's continuous-batching scheduler runs these params (a causal model,
        no beam search, ...): then every record is its own request, and the batches in flight
        share the scheduler's running batch."""
        from springboard.generate.scheduler import supports

        return self._continuous and supports(self.engine, params)

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

    def _generate_group(
        self, inputs: list[ModelInput | None], members: list[int], params: Any, texts: list
    ) -> int:
        prompts = [p for i in members for p in inputs[i].prompts]  # type: ignore[union-attr]
        # A seeded sampling pass seeds the whole batch: one prompt per pass keeps each record's
        # output independent of its neighbours (and of where a resumed job restarts).
        batch_size = 1 if getattr(params, "solo", False) else self.batch_size
        results = generate_texts(self.engine, prompts, params, self.chat, batch_size)
        if len(results) != len(prompts):
            raise RuntimeError(f"engine returned {len(results)} results for {len(prompts)} prompts")
        pos, tokens = 0, 0
        for i in members:
            n = len(inputs[i].prompts)  # type: ignore[union-attr]
            tokens += self._take(inputs[i], results[pos : pos + n], texts, i)
            pos += n
        return tokens

    def _gen_params(self, key: str) -> Any:
        if key not in self._params_cache:
            self._params_cache[key] = to_generation_params(json.loads(key))
        return self._params_cache[key]

    # --- output records -------------------------------------------------------------------

    def _output(self, record: Record, mi: ModelInput | None, texts: list[Any]) -> Any:
        """JumpStart's text2text answer, `{"id"?, "generated_texts": [...]}`, as JSON whatever
        the Accept (the container answers JSON lines; seed 001 sets accept="text/csv" and reads
        each line with ast.literal_eval)."""
        assert mi is not None
        pred: dict[str, Any] = {}
        if mi.has_id:
            pred["id"] = mi.record_id
        if self.config.accept == "application/json;verbose":
            pred["text_inputs"] = mi.echo
        pred["generated_texts"] = texts
        if self.config.join_source == "Input":
            if isinstance(record.value, dict):
                pred = {**record.value, "SageMakerOutput": pred}
            else:
                pred = {"SageMakerInput": record.value, "SageMakerOutput": pred}
        return self.output_filter.select(pred)

    def _error_output(self, record: Record, error: str) -> Any:
        """The line a failed record gets (on_error="error_line"): its id (from the input as
        read, so the record can be found even when input_filter dropped the id) and the error."""
        message = f"line {record.line}: {error}"
        has_id = isinstance(record.value, dict) and "id" in record.value
        out: dict[str, Any] = {"id": record.value["id"]} if has_id else {}
        out["error"] = message
        return out


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


def _all_empty(texts: Any) -> bool:
    if isinstance(texts, str):
        return texts == ""
    if isinstance(texts, list):
        return all(_all_empty(t) for t in texts)
    return False


def _gen_error(exc: Exception) -> str:
    if isinstance(exc, SpringboardError):
        return str(exc)
    return f"generation failed: {type(exc).__name__}: {exc}"


def _output_error(exc: Exception, output_filter: str) -> str:
    if isinstance(exc, KeyError):
        return f"output_filter {output_filter!r} found no {exc.args[0]!r}"
    return f"output not writable: {exc}"
