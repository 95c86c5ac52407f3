"""The transform loop, top to bottom: for every input file, read records, group them into
requests, generate a batch at a time, write output lines in input order, save progress.
The job entrypoint (`job.py`) and tests drive it; generation is one small function
(`generate_texts`) over the generate room's Engine."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from springboard.errors import JobStopped, SpringboardError
from springboard.transform.config import (
    DEFAULT_BATCH_SIZE,
    TransformConfig,
    hyper_params,
    to_generation_params,
)
from springboard.transform.jsonpath import JSONPath
from springboard.transform.output import PartialOutput, TransformState, encode, literal_safe
from springboard.transform.records import (
    ModelInput,
    Record,
    count_records,
    input_files,
    model_input,
    read_records,
    requests,
)

log = logging.getLogger("springboard.transform")


@dataclass
class Progress:
    total: int = 0
    processed: int = 0
    failed: int = 0
    tokens: int = 0
    requests: int = 0
    files_done: int = 0
    started: float = field(default_factory=time.monotonic)
    new_records: int = 0  # processed by this run (not skipped from an earlier attempt)
    new_tokens: int = 0
    failed_files: list[str] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.new_records / max(time.monotonic() - self.started, 1e-9)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / max(time.monotonic() - self.started, 1e-9)


class FileFailed(SpringboardError):
    """A record failed with `on_error="file"`: the file gets no `.out`."""


def generate_texts(
    engine: Any, prompts: list[str], params: Any, chat: bool, batch_size: int
) -> list[tuple[list[str], int]]:
    """(texts, generated tokens) per prompt, in order."""
    results = engine.generate(prompts, params, chat=chat, batch_size=batch_size)
    return [(list(r.texts), int(r.generated_tokens)) for r in results]


class TransformRunner:
    def __init__(
        self,
        config: TransformConfig,
        engine: Any,
        state_path: Path,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.state = TransformState(state_path)
        self.on_progress = on_progress or (lambda p: None)
        self.should_stop = should_stop or (lambda: False)
        self.hyper = hyper_params(config.environment)
        if config.batch_strategy == "SingleRecord":
            self.batch_size = 1
        else:
            self.batch_size = (self.hyper and self.hyper.batch_size) or DEFAULT_BATCH_SIZE
        self.input_filter = JSONPath(config.input_filter)
        self.output_filter = JSONPath(config.output_filter)
        self.chat = self._chat()
        self._params_cache: dict[str, Any] = {}
        self._warned_per_record = False

    def _chat(self) -> bool:
        if self.config.chat is not None:
            return self.config.chat
        if getattr(self.engine, "is_seq2seq", False):
            return False
        return bool(getattr(getattr(self.engine, "tokenizer", None), "chat_template", None))

    def run(self) -> Progress:
        files = input_files(self.config.input)
        progress = Progress(total=sum(count_records(p, self.config) for p, _ in files))
        log.info(
            "%d file(s), %d record(s); batch size %d, chat template %s, params from %s",
            len(files), progress.total, self.batch_size, "on" if self.chat else "off",
            "HYPER_PARAMS" if self.hyper else "each record",
        )  # fmt: skip
        for path, rel in files:
            try:
                self._file(path, rel, progress)
            except FileFailed as exc:
                progress.failed_files.append(str(exc))
                log.error("%s", exc)
        self.on_progress(progress)
        return progress

    def _file(self, path: Path, rel: str, progress: Progress) -> None:
        out_path = Path(self.config.output) / f"{rel}.out"
        fstate = self.state.get(rel)
        if fstate.done and out_path.exists():
            log.info("%s: complete (%d records), skipped", rel, fstate.records)
            self._count_done(fstate, progress)
            return
        if fstate.done:  # the .out went missing since: do it again
            fstate = self.state.reset(rel)
        out = PartialOutput(out_path, fstate, self.config.assemble_with)
        if out.resumed_from:
            log.info("%s: resuming after record %d", rel, out.resumed_from)
            progress.processed += fstate.records
            progress.failed += fstate.failed
            progress.tokens += fstate.tokens
        warned = False
        try:
            records = (r for r in read_records(path, self.config) if r.index >= out.resumed_from)
            for request in requests(records, self.config):
                progress.requests += 1
                for start in range(0, len(request), self.batch_size):
                    if self.should_stop():
                        self.state.save()
                        raise JobStopped("transform stopped on request")
                    batch = request[start : start + self.batch_size]
                    lines, failed, tokens, unsafe = self._batch(batch, rel)
                    out.write(lines)
                    fstate.failed += failed
                    fstate.tokens += tokens
                    self.state.save()
                    if unsafe is not None and not warned:
                        warned = True
                        log.warning(
                            "%s:%d: output carries true/false/null from the input: valid JSON, "
                            "but ast.literal_eval cannot read such lines",
                            rel, unsafe,
                        )  # fmt: skip
                    progress.processed += len(batch)
                    progress.new_records += len(batch)
                    progress.failed += failed
                    progress.tokens += tokens
                    progress.new_tokens += tokens
                    self.on_progress(progress)
        except FileFailed:
            out.discard()
            self.state.reset(rel)
            self.state.save()
            raise
        except BaseException:
            out.file.close()
            raise
        out.commit()
        self.state.save()
        progress.files_done += 1
        log.info("%s: %d records -> %s (%d failed)", rel, fstate.records, out_path, fstate.failed)

    def _count_done(self, fstate: Any, progress: Progress) -> None:
        progress.processed += fstate.records
        progress.failed += fstate.failed
        progress.tokens += fstate.tokens
        progress.files_done += 1

    # --- one batch ------------------------------------------------------------------------

    def _batch(self, batch: list[Record], rel: str) -> tuple[list[str], int, int, int | None]:
        """Output lines for a batch (one per record, in order), failures, generated tokens,
        and the line of the first output that ast.literal_eval could not read (or None)."""
        inputs: list[ModelInput | None] = [None] * len(batch)
        errors: list[str | None] = [None] * len(batch)
        for i, record in enumerate(batch):
            if record.error:
                errors[i] = record.error
                continue
            try:
                inputs[i] = model_input(record, self.input_filter)
            except ValueError as exc:
                errors[i] = str(exc)
        texts, gen_errors, tokens = self._generate(inputs)
        lines, failed, unsafe = [], 0, None
        for i, record in enumerate(batch):
            error = errors[i] or gen_errors[i]
            obj = None
            if error is None:
                try:
                    obj = self._output(record, inputs[i], texts[i])
                    line = encode(obj, self.config.accept)
                except (KeyError, ValueError) as exc:
                    error = _output_error(exc, self.config.output_filter)
            if error is not None:
                if self.config.on_error == "file":
                    raise FileFailed(f"{rel}:{record.line}: {error}; no {rel}.out written")
                failed += 1
                obj = self._error_output(record, error)
                line = encode(obj, self.config.accept)
            if unsafe is None and not literal_safe(obj):
                unsafe = record.line
            lines.append(line)
        return lines, failed, tokens, unsafe

    def _generate(
        self, inputs: list[ModelInput | None]
    ) -> tuple[list[list[Any] | None], list[str | None], int]:
        """Generates for every record that has an input, one engine call per distinct set of
        parameters (order restored afterwards)."""
        texts: list[list[Any] | None] = [None] * len(inputs)
        errors: list[str | None] = [None] * len(inputs)
        groups: dict[str, list[int]] = {}
        for i, mi in enumerate(inputs):
            if mi is None:
                continue
            if self.hyper is None:
                params = mi.params
            else:
                params = self.hyper.params
                if mi.params and not self._warned_per_record:
                    self._warned_per_record = True
                    log.info("HYPER_PARAMS is set: per-record parameters are ignored")
            groups.setdefault(json.dumps(params, sort_keys=True), []).append(i)
        tokens = 0
        for key, members in groups.items():
            try:
                params = self._gen_params(key)
            except SpringboardError as exc:
                for i in members:
                    errors[i] = str(exc)
                continue
            try:
                tokens += self._generate_group(inputs, members, params, texts)
            except JobStopped:  # SIGTERM lands mid-generation: a stop, not a failed record
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the record that fails
                if len(members) == 1:
                    errors[members[0]] = f"generation failed: {type(exc).__name__}: {exc}"
                    continue
                for i in members:
                    try:
                        tokens += self._generate_group(inputs, [i], params, texts)
                    except JobStopped:
                        raise
                    except Exception as exc1:  # noqa: BLE001
                        errors[i] = f"generation failed: {type(exc1).__name__}: {exc1}"
        return texts, errors, tokens

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
            mi = inputs[i]
            assert mi is not None
            mine = results[pos : pos + len(mi.prompts)]
            pos += len(mi.prompts)
            tokens += sum(t for _, t in mine)
            if mi.many:
                texts[i] = [t[0] if len(t) == 1 else t for t, _ in mine]
            else:
                texts[i] = mine[0][0]
        return tokens

    def _gen_params(self, key: str) -> Any:
        if key not in self._params_cache:
            self._params_cache[key] = to_generation_params(json.loads(key))
        return self._params_cache[key]

    # --- output records -------------------------------------------------------------------

    def _output(self, record: Record, mi: ModelInput | None, texts: list[Any]) -> Any:
        assert mi is not None
        if self.config.accept == "text/csv":
            flat = [t for t in texts for t in (t if isinstance(t, list) else [t])]
            pred: Any = flat
            if self.config.join_source == "Input":
                base = record.value if isinstance(record.value, list) else [record.value]
                pred = [*base, *flat]
            return self.output_filter.select(pred)
        pred = {}
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
        """The line a failed record gets: its id (from the input as read, so the record can be
        found even when input_filter dropped the id) and the error."""
        message = f"line {record.line}: {error}"
        has_id = isinstance(record.value, dict) and "id" in record.value
        if self.config.accept == "text/csv":
            return ([record.value["id"]] if has_id else []) + [f"error: {message}"]
        out: dict[str, Any] = {"id": record.value["id"]} if has_id else {}
        out["error"] = message
        return out


def _output_error(exc: Exception, output_filter: str) -> str:
    if isinstance(exc, KeyError):
        return f"output_filter {output_filter!r} found no {exc.args[0]!r}"
    return f"output not writable: {exc}"
