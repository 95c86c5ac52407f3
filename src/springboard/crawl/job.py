"""A crawl as a job of kind `crawl` (`springboard crawl run ... --name NAME`, Studio): its body,
`run_job`, over the run configuration and the runners. The job class users subclass lives in
`springboard.crawl.pipeline` and is importable from here too, its long-standing home."""

from __future__ import annotations

from springboard import jobs
from springboard.crawl.config import CrawlRunConfig, execute
from springboard.crawl.pipeline import (
    KEY_VALUE_SCHEMA, MAX_ERROR_SAMPLES, TEXT_SCHEMA, CrawlJob, Pairs, Task, TaskResult,
    check_outcome, to_table,
)
from springboard.crawl.record import Counters

__all__ = [
    "KEY_VALUE_SCHEMA", "MAX_ERROR_SAMPLES", "TEXT_SCHEMA", "CrawlJob", "Pairs", "Task",
    "TaskResult", "check_outcome", "run_job", "to_table",
]


def run_job(ctx: jobs.JobContext, config: CrawlRunConfig) -> None:
    """The body of the job kind `crawl` (`jobs.submit(CrawlRunConfig(...))`): counters become job
    metrics (one point per finished file). A resumed job continues its own output (never
    `--overwrite`s it again): the files done before the interruption are kept. On EMR Serverless
    the job follows the submitted run."""
    if ctx.resumed and config.overwrite:
        config = config.model_copy(update={"overwrite": False})
    if config.runner == "emr-serverless":
        from springboard.crawl.runners.emr import run_emr_job

        return run_emr_job(ctx, config)
    ctx.set_secondary_status("Crawling", f"{len(config.inputs) or 'record list'} input(s)")

    def on_file(done: int, total: int, result: TaskResult, totals: Counters) -> None:
        ctx.log_metrics(step=done, **totals.as_metrics())
        ctx.check_stop()

    counters = execute(config, on_file=on_file)
    ctx.log_metrics(step=int(counters.get("files_done", 0)), **counters.as_metrics())
    ctx.set_secondary_status("Completed", counters.summary())


JOB_KIND = jobs.register(jobs.JobKind("crawl", CrawlRunConfig, run_job, name_base=lambda config: "crawl",
                                      output_dir=lambda config: config.output))
