"""The transform, top to bottom: stage the input (s3:// is downloaded through `storage`), plan
shards (`plan.py`), run the shards that are not done on an executor (`executors/`: in this
process for one local worker, a process pool for N, or Spark), publish each input file's
`.out` once all of its shards are complete, and report progress from the shards' state files.

Failure semantics are SageMaker's by default (`on_error="fail"`): a record that fails voids its
file (no `.out`, the other files still run, the job ends Failed); `on_error="error_line"` writes
an error line for the record instead. A resumed job redoes only what is missing: published
files are skipped, finished shards are reused, a shard in progress continues after its last
saved batch, and a file that failed is tried again from its start."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from springboard import storage
from springboard.errors import JobStopped
from springboard.executors import get_executor, ship_by_value, worker_cached
from springboard.transform.config import TransformConfig, hyper_params
from springboard.transform.output import assemble
from springboard.transform.plan import Shard, load_plan, plan_shards, save_plan
from springboard.transform.inputs import input_files
from springboard.transform.shard import Layout, ShardRunner, ShardState, batch_size_of

log = logging.getLogger("springboard.transform")


@dataclass
class Progress:
    total: int = 0
    processed: int = 0
    failed: int = 0
    empty: int = 0
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


@dataclass(frozen=True)
class EngineLoader:
    """Loads the job's model in whichever process runs shards (picklable), at the precision its
    environment's DTYPE / QUANTIZE ask for (generate/precision.py)."""

    model: str
    dtype: str | None = None
    quantize: str | None = None

    def __call__(self) -> Any:
        from springboard.generate import Engine

        return Engine.load(self.model, dtype=self.dtype, quantize=self.quantize, workload="batch")


@dataclass
class ShardTask:
    config: dict[str, Any]
    layout: str
    shard: Shard
    engine: Callable[[], Any]
    threads: int | None = None


def run_shard_task(task: ShardTask) -> ShardState:
    """What a pool worker or a Spark task runs: one shard, with this process's engine (loaded on
    its first shard and reused for the rest)."""
    if task.threads:
        worker_cached(("threads", task.threads), lambda: _set_threads(task.threads))
    engine = worker_cached(("engine", task.engine), task.engine)
    config = TransformConfig.model_validate(task.config)
    layout = Layout(task.layout)
    try:
        return ShardRunner(config, engine, layout).run(task.shard)
    except JobStopped:
        return ShardState.load(layout.state(task.shard.id))


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


class TransformRunner:
    def __init__(
        self,
        config: TransformConfig,
        engine: Any,
        state_dir: Path,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        engine_factory: Callable[[], Any] | None = None,
    ) -> None:
        """`engine`: the loaded engine for one in-process worker (None: load it with
        `engine_factory`); `engine_factory` (picklable) loads one in each worker process."""
        self.config = config
        self.engine = engine
        self.engine_factory = engine_factory or EngineLoader(config.model, config.environment.get("DTYPE"),
                                                                   config.environment.get("QUANTIZE"))
        self.layout = Layout(state_dir)
        self.on_progress = on_progress or (lambda p: None)
        self.should_stop = should_stop or (lambda: False)
        self.workers = config.instance_count
        self._published_path = self.layout.root / "published.json"
        self._last_tick = 0.0
        self._base: tuple[int, int] = (0, 0)

    # --- top level -----------------------------------------------------------------------

    def run(self) -> Progress:
        self.layout.make()
        self.layout.stop_file.unlink(missing_ok=True)
        files = self._stage_input()
        shards = load_plan(self.layout.plan)
        if shards is None:
            shards = plan_shards(files, self.config, batch_size_of(self.config), self.workers)
            save_plan(self.layout.plan, shards)
        self.shards = shards
        self.rels = {s.file: s.rel for s in shards}
        self.published: set[str] = set(self._load_published())
        self._forget_failed_files()
        progress = self._progress()
        self._base = (progress.processed, progress.tokens)
        progress.started = self._started = time.monotonic()
        hyper = hyper_params(self.config.environment)
        log.info(
            "%d file(s), %d record(s) in %d shard(s); %d worker(s) (%s); batch size %d; params from %s",
            len(files), progress.total, len(shards), self.workers, self.config.runner,
            batch_size_of(self.config), "HYPER_PARAMS" if hyper else "each record",
        )  # fmt: skip
        self.on_progress(progress)  # the total (and what a resumed run already did) from the start
        self._publish_ready()
        pending = [s for s in shards if s.rel not in self.published and not self._state(s).done]
        if pending:
            self._run_shards(pending)
        self._publish_ready()
        progress = self._progress()
        stopped = self.layout.stop_file.exists()
        incomplete = [s for s in shards if s.rel not in self.published and not self._state(s).done
                      and not self.layout.file_failed(s.file).exists()]
        self.on_progress(progress)
        if incomplete:
            if stopped:
                raise JobStopped("transform stopped on request")
            raise RuntimeError(f"{len(incomplete)} shard(s) did not finish: {incomplete[0].id}")
        return progress

    def _run_shards(self, pending: list[Shard]) -> None:
        if self.workers == 1 and self.config.runner == "local":
            engine = self.engine if self.engine is not None else self.engine_factory()
            runner = ShardRunner(self.config, engine, self.layout)
            for shard in pending:
                runner.run(shard, self.should_stop, on_batch=self._tick)
                self._tick(force=True)
            return
        executor = get_executor(self.config.runner, self.workers, self.config.master)
        threads = None
        if "OMP_NUM_THREADS" not in os.environ:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
        ship_by_value(type(self.engine_factory))  # a factory from a script or test module
        tasks = [ShardTask(self.config.model_dump(), str(self.layout.root), s, self.engine_factory, threads)
                 for s in pending]
        log.info("running %d shard(s) on %s", len(tasks), type(executor).__name__)
        executor.map(run_shard_task, tasks, on_tick=lambda: self._tick(force=True))

    # --- progress and stop -----------------------------------------------------------------

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_tick < 0.5:
            return
        self._last_tick = now
        if self.should_stop():
            self.layout.stop_file.touch()  # every worker stops after its current batch
        self._publish_ready()
        self.on_progress(self._progress())

    def _state(self, shard: Shard) -> ShardState:
        return ShardState.load(self.layout.state(shard.id))

    def _progress(self) -> Progress:
        p = Progress(started=getattr(self, "_started", time.monotonic()))
        failed_files: dict[int, str] = {}
        for s in self.shards:
            st = self._state(s)
            p.total += s.records
            p.processed += max(st.records, st.generated)  # generated: finished, not yet written
            p.failed += st.failed
            p.empty += st.empty
            p.tokens += st.tokens
            p.requests += s.requests if st.done else 0
            if st.error and s.file not in failed_files:
                failed_files[s.file] = st.error
        p.files_done = len(self.published)
        p.failed_files = [f"{msg}; no {self.rels[f]}.out written" for f, msg in sorted(failed_files.items())]
        p.new_records = p.processed - self._base[0]
        p.new_tokens = p.tokens - self._base[1]
        return p

    # --- files in and out ------------------------------------------------------------------

    def _stage_input(self) -> list[tuple[Path, str]]:
        """Local input files; an s3:// input is downloaded once into the job's directory."""
        if not storage.is_remote(self.config.input):
            return input_files(self.config.input)
        local = self.layout.root / "input"
        marker = self.layout.root / "input.complete"
        if not marker.exists():
            shutil.rmtree(local, ignore_errors=True)
            log.info("downloading %s", self.config.input)
            storage.download_dir(self.config.input, local)
            marker.touch()
        return input_files(str(local))

    def _target(self, rel: str) -> str:
        return storage.join(self.config.output, f"{rel}.out")

    def _load_published(self) -> list[str]:
        if not self._published_path.exists():
            return []
        rels = json.loads(self._published_path.read_text())
        kept = [r for r in rels if storage.exists(self._target(r))]
        for s in self.shards:  # an .out deleted since is written again, from the start
            if s.rel in rels and s.rel not in kept:
                self.layout.state(s.id).unlink(missing_ok=True)
        return kept

    def _save_published(self) -> None:
        tmp = self._published_path.with_name("published.json.tmp")
        tmp.write_text(json.dumps(sorted(self.published)))
        os.replace(tmp, self._published_path)

    def _publish_ready(self) -> None:
        by_file: dict[int, list[Shard]] = {}
        for s in self.shards:
            by_file.setdefault(s.file, []).append(s)
        for f, shards in by_file.items():
            rel = shards[0].rel
            if rel in self.published or self.layout.file_failed(f).exists():
                continue
            states = [self._state(s) for s in shards]
            if not all(st.done for st in states):
                continue
            parts = [self.layout.part(s.id) for s in shards]
            assemble(parts, self._target(rel), self.layout.root / "assembling" / f"f{f:05d}.out")
            self.published.add(rel)
            self._save_published()
            for part in parts:
                part.unlink(missing_ok=True)
            log.info("%s: %d records -> %s (%d failed)", rel, sum(s.records for s in shards),
                     self._target(rel), sum(x.failed for x in states))

    def _forget_failed_files(self) -> None:
        """A file that failed in an earlier attempt is done again from its start: its shards'
        parts and states go, and so does the marker that told its other shards to give up."""
        failed = {s.file for s in self.shards if self._state(s).error}
        failed |= {s.file for s in self.shards if self.layout.file_failed(s.file).exists()}
        for s in self.shards:
            if s.file in failed:
                self.layout.part(s.id).unlink(missing_ok=True)
                self.layout.state(s.id).unlink(missing_ok=True)
        for f in failed:
            self.layout.file_failed(f).unlink(missing_ok=True)
            log.info("%s: failed in an earlier attempt; starting it again", self.rels[f])
