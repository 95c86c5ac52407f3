"""A crawl run's whole configuration in one validated, printable object (what `springboard
crawl run` parses its flags into and what a crawl job stores), and turning it into a job,
its tasks and a runner call."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, Field, model_validator

from springboard.crawl.fetch import DEFAULT_WARC_PREFIX, RecordRef, RetryPolicy, resolve_uri
from springboard.crawl.pipeline import CrawlJob, Task
from springboard.crawl.record import Counters
from springboard.crawl.steps import Step
from springboard.errors import DataError, NotFoundError, ValidationError

ARCHIVE_SUFFIXES = (".warc.gz", ".warc", ".wet.gz", ".wet", ".arc.gz", ".arc")


class CrawlRunConfig(BaseModel):
    inputs: list[str] = Field(default_factory=list, description="WARC/WET/ARC paths, URIs, globs or directories")
    input_list: str | None = Field(None, description="a file listing archives, one a line")
    records: str | None = Field(None, description="a record list (Parquet/CSV) from `crawl index query --format records`")
    warc_prefix: str = Field(DEFAULT_WARC_PREFIX, description="base for Common Crawl's relative `crawl-data/...` names")
    output: str = Field(description="output directory (Parquet parts)")
    job: str | None = Field(None, description="module:Class or path/to/file.py:Class, a CrawlJob subclass")
    extract: Literal["main", "all", "none"] = "main"
    css: str | None = Field(None, description="CSS selector: one row per matching element instead of page text")
    include_hosts: list[str] = Field(default_factory=list)
    exclude_hosts: list[str] = Field(default_factory=list)
    tlds: list[str] = Field(default_factory=list)
    url_include: str | None = None
    url_exclude: str | None = None
    languages: list[str] = Field(default_factory=list)
    quality: list[str] = Field(default_factory=list, description="gopher, gopher_quality, gopher_repetition, c4, fineweb")
    dedup: list[Literal["exact", "minhash"]] = Field(default_factory=list)
    runner: Literal["local", "spark", "emr-serverless"] = "local"
    processes: int | None = Field(None, ge=1, description="local runner: worker processes (default: CPU count)")
    master: str = "local[*]"
    num_output_partitions: int | None = Field(None, ge=1)
    max_attempts: int = Field(6, ge=1, description="byte-range fetches: attempts before giving up")
    overwrite: bool = False
    application_id: str | None = Field(None, description="emr-serverless: the EMR Serverless application")
    execution_role: str | None = Field(None, description="emr-serverless: the job run's IAM role ARN")
    venv_archive: str | None = Field(None, description="emr-serverless: a venv-pack .tar.gz (local or s3://) with springboard's dependencies, unless the application's image has them")
    py_files: list[str] = Field(default_factory=list, description="emr-serverless: local modules/packages the job imports, shipped with it")
    poll_seconds: float = Field(10.0, gt=0, description="emr-serverless: how often the job follows the run's state")

    @model_validator(mode="after")
    def _runner_options(self) -> "CrawlRunConfig":
        emr_only = {"application_id": self.application_id, "execution_role": self.execution_role,
                    "venv_archive": self.venv_archive, "py_files": self.py_files}
        if self.runner == "emr-serverless":
            missing = [k for k in ("application_id", "execution_role") if not emr_only[k]]
            if missing:
                raise ValueError("--runner emr-serverless needs "
                                 + " and ".join("--" + k.replace("_", "-") for k in missing))
            if not self.output.startswith("s3://"):
                raise ValueError(f"--runner emr-serverless writes to S3: --out must be an "
                                 f"s3:// location, not {self.output!r}")
        else:
            given = [k for k, v in emr_only.items() if v]
            if given:
                raise ValueError(", ".join("--" + k.replace("_", "-") for k in given)
                                 + " only apply to --runner emr-serverless")
        return self


# flags that describe where and how the run executes, not what it computes: not passed on to
# the Spark entry point of a submitted run
_SUBMIT_ONLY = {"runner", "processes", "master", "application_id", "execution_role",
                "venv_archive", "py_files", "poll_seconds"}


def config_to_args(config: CrawlRunConfig) -> list[str]:
    """The `crawl run` arguments (as `spark_main.py` takes them) that reproduce `config`'s
    computation; the inverse of parsing them."""
    args = list(config.inputs)
    defaults = CrawlRunConfig(output=config.output)
    for name, value in config.model_dump().items():
        if name in _SUBMIT_ONLY or name == "inputs" or value == getattr(defaults, name):
            continue
        flag = "--out" if name == "output" else "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag)
        elif isinstance(value, list):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    if "--out" not in args:
        args += ["--out", config.output]
    return args


def load_job_class(ref: str | None) -> type[CrawlJob]:
    if not ref:
        return CrawlJob
    target, _, name = ref.rpartition(":")
    if not target or not name:
        raise ValidationError(f"--job {ref!r}: expected module:Class or path/to/file.py:Class")
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise NotFoundError(f"--job: {target}: no such file")
        mod_name = path.stem
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, CrawlJob)):
        raise ValidationError(f"--job {ref!r}: {name} is not a CrawlJob subclass")
    return cls


def build_steps(config: CrawlRunConfig) -> list[Step]:
    from springboard.crawl.dedup import ExactDedup, MinhashDedup
    from springboard.crawl.extract import CssSelect, HtmlToText
    from springboard.crawl.filters import LanguageFilter, UrlFilter
    from springboard.crawl.filters.quality import quality_steps

    steps: list[Step] = []
    if (config.include_hosts or config.exclude_hosts or config.tlds or config.url_include
            or config.url_exclude):
        steps.append(UrlFilter(config.include_hosts, config.exclude_hosts, config.tlds,
                               config.url_include, config.url_exclude))
    if config.css:
        steps.append(CssSelect(config.css))
    elif config.extract != "none":
        steps.append(HtmlToText(main_content=config.extract == "main"))
    if config.languages:
        steps.append(LanguageFilter(config.languages))
    steps.extend(quality_steps(config.quality))
    for kind in config.dedup:
        steps.append(ExactDedup() if kind == "exact" else MinhashDedup())
    return steps


def build_job(config: CrawlRunConfig) -> CrawlJob:
    cls = load_job_class(config.job)
    return cls(steps=build_steps(config), retry=RetryPolicy(max_attempts=config.max_attempts))


def _expand(inp: str) -> list[str]:
    from springboard import storage

    if any(ch in inp for ch in "*?["):
        fs, pattern = storage.filesystem(inp)
        return [storage.display(fs, p) for p in sorted(fs.glob(pattern))]
    path = Path(inp)
    if "://" not in inp and path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.name.endswith(ARCHIVE_SUFFIXES))
    if "://" not in inp and not path.exists():
        raise NotFoundError(f"{inp}: no such file or directory")
    return [inp]


def _read_records(path: str) -> list[tuple[str, list[RecordRef]]]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise NotFoundError(f"--records {path}: no such file")
    table = pacsv.read_csv(path) if path.endswith(".csv") else pq.read_table(path)
    for col in ("warc_filename", "warc_record_offset", "warc_record_length"):
        if col not in table.column_names:
            raise DataError("missing column", file=path, field=col)
    groups: dict[str, list[RecordRef]] = {}
    cols = [table.column(c).to_pylist() for c in ("warc_filename", "warc_record_offset",
                                                  "warc_record_length")]
    for line, (name, off, length) in enumerate(zip(*cols), 2):
        if name is None or off is None or length is None:
            raise DataError("empty value", file=path, line=line, field="warc_filename/offset/length")
        groups.setdefault(name, []).append(RecordRef(name, int(off), int(length)))
    return list(groups.items())


def build_tasks(config: CrawlRunConfig) -> list[Task]:
    uris: list[str] = []
    for inp in config.inputs:
        uris.extend(_expand(inp))
    if config.input_list:
        lines = Path(config.input_list).read_text().split()
        uris.extend(resolve_uri(line, config.warc_prefix) for line in lines)
    tasks = [Task(i, uri) for i, uri in enumerate(uris)]
    if config.records:
        for name, refs in _read_records(config.records):
            uri = resolve_uri(name, config.warc_prefix)
            refs = [RecordRef(uri, r.warc_record_offset, r.warc_record_length) for r in refs]
            tasks.append(Task(len(tasks), uri, refs))
    if not tasks:
        raise ValidationError("no input: give archive files, --input-list or --records")
    return tasks


def execute(
    config: CrawlRunConfig,
    on_file: Callable | None = None,
) -> Counters:
    job = build_job(config)
    tasks = build_tasks(config)
    if config.runner == "emr-serverless":
        raise ValidationError("--runner emr-serverless submits a job run: it runs as a job "
                              "(springboard crawl run ... --name NAME)")
    if config.runner == "spark":
        from springboard.crawl.runners.spark import run_spark

        return run_spark(job, tasks, config.output, master=config.master,
                         num_output_partitions=config.num_output_partitions,
                         overwrite=config.overwrite)
    from springboard.crawl.runners.local import run_local

    return run_local(job, tasks, config.output, processes=config.processes,
                     num_output_partitions=config.num_output_partitions,
                     overwrite=config.overwrite, on_file=on_file)
