"""The transform job (kind `transform`): its body, run by the job worker with its
TransformConfig."""

from __future__ import annotations

import logging
import time

from springboard.errors import SpringboardError
from springboard import jobs
from springboard.jobs import JobContext
from springboard.transform.config import TransformConfig
from springboard.transform.runner import Progress, TransformRunner

log = logging.getLogger("springboard.transform")

METRICS_EVERY_S = 2.0
LOG_EVERY_S = 10.0


def run(ctx: JobContext, config: TransformConfig) -> None:
    engine = None
    if config.instance_count == 1 and config.runner == "local":
        from springboard.generate import Engine

        ctx.set_secondary_status("Starting", f"loading model {config.model}")
        env = config.environment  # DTYPE / QUANTIZE: the precision (generate/precision.py)
        engine = Engine.load(config.model, dtype=env.get("DTYPE"), quantize=env.get("QUANTIZE"), workload="batch")
        ctx.log.info("precision %s: %s", engine.precision.label, engine.precision.reason)
    where = f"{config.instance_count} worker(s)" + (f", Spark {config.master or 'local'}" if config.runner == "spark" else "")
    ctx.set_secondary_status(
        "Transforming",
        f"{config.input} -> {config.output} on {where}" + (" (resumed)" if ctx.resumed else ""),
    )
    last = {"metrics": 0.0, "log": time.monotonic()}

    def report(p: Progress) -> None:
        now = time.monotonic()
        if now - last["metrics"] >= METRICS_EVERY_S or p.processed >= p.total:
            last["metrics"] = now
            _log_metrics(ctx, p)
        if now - last["log"] >= LOG_EVERY_S:
            last["log"] = now
            log.info(
                "%d/%d records (%d failed), %.2f records/s, %.1f tokens/s",
                p.processed, p.total, p.failed, p.records_per_second, p.tokens_per_second,
            )  # fmt: skip

    runner = TransformRunner(config, engine, ctx.checkpoint_dir / "transform", report, ctx.should_stop)
    progress = runner.run()
    _log_metrics(ctx, progress)
    log.info(
        "done: %d records (%d failed, %d empty) in %d file(s), %.2f records/s, %.1f tokens/s",
        progress.processed, progress.failed, progress.empty, progress.files_done,
        progress.records_per_second, progress.tokens_per_second,
    )  # fmt: skip
    check_outcome(progress)


def check_outcome(progress: Progress) -> None:
    """Raises (the job ends Failed) when a file failed, or when records were read and not one
    of them produced text: a job that did nothing useful never ends a quiet Completed."""
    if progress.failed_files:
        raise SpringboardError(
            f"{len(progress.failed_files)} file(s) failed (their .out files are not written; "
            f"the other files completed): " + "; ".join(progress.failed_files)
        )
    if progress.total and progress.failed == progress.total:
        raise SpringboardError(
            f"every record failed ({progress.failed} of {progress.total}); the error lines in "
            "the .out files say why"
        )
    if progress.total and progress.failed + progress.empty == progress.total:
        raise SpringboardError(
            f"no record produced any text ({progress.empty} empty, {progress.failed} failed, of "
            f"{progress.total}): the model ended every answer at once; check the prompts and "
            "max_new_tokens / max_length (in text_inputs records max_length bounds the output)"
        )
    if progress.failed:
        log.warning("%d of %d record(s) failed; their output lines carry 'error'",
                    progress.failed, progress.total)
    if progress.empty:
        log.warning("%d of %d record(s) produced empty text", progress.empty, progress.total)


def _log_metrics(ctx: JobContext, p: Progress) -> None:
    ctx.log_metrics(
        step=p.processed,
        records_processed=p.processed,
        records_failed=p.failed,
        records_empty=p.empty,
        records_total=p.total,
        records_per_second=p.records_per_second,
        tokens_per_second=p.tokens_per_second,
    )


def _progress(job: jobs.Job, metrics: list[jobs.Metric]) -> tuple[float, float | None]:
    latest = {m.name: m.value for m in metrics}
    return latest.get("records_processed", 0), latest.get("records_total")


JOB_KIND = jobs.register(jobs.JobKind(
    "transform", TransformConfig, run, name_base=lambda config: config.model,
    output_dir=lambda config: config.output, progress=_progress,
    headline=("records_per_second", "records_failed", "tokens_per_second"),
))
