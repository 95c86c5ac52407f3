"""Studio's crawl routes (no SageMaker operation: the same job `springboard crawl run --name`
submits), the cc-index query that makes a record list, and the export to a training channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from springboard import confinement, storage
from springboard.errors import NotFoundError, SpringboardError, ValidationError, first_problem
from springboard.studio.routes.common import Body, call
from springboard.studio.routes.jobs import job_brief

router = APIRouter()


class CrawlRun(Body):
    name: str
    inputs: list[str] = Field(default_factory=list, description="WARC/WET/ARC files, URIs, globs, dirs")
    records: str | None = Field(None, description="a record list from `crawl index query --format records`")
    output: str
    extract: str = "main"
    languages: list[str] = Field(default_factory=list)
    quality: list[str] = Field(default_factory=list)
    dedup: list[str] = Field(default_factory=list)
    url_include: str | None = None
    url_exclude: str | None = None
    overwrite: bool = False


def _absolute(location: str, what: str) -> str:
    """Where the server writes: an absolute path or a URI (a relative path would land in the
    server's working directory, which the browser knows nothing of)."""
    if "://" in location or Path(location).is_absolute():
        return location
    raise ValidationError(f"field '{what}': {location!r} is relative; give an absolute path or a URI (s3://...)")


def _confine_archives(config) -> None:
    """What the job will open, checked now: the files a folder or glob expands to (a symlink
    may point anywhere) and the archives a record list names (a relative name is fetched from
    `warc_prefix`, an absolute one read as it is)."""
    from springboard.crawl.config import _expand, _read_records, resolve_uri

    for i, inp in enumerate(config.inputs):
        try:
            found = _expand(inp)
        except SpringboardError:
            continue  # a missing input fails the job, as it does from the CLI
        for uri in found:
            confinement.confine(uri, f"inputs[{i}]")
    if config.records and Path(config.records).exists():
        for name, _ in _read_records(config.records):
            confinement.confine(resolve_uri(name, config.warc_prefix), "records (warc_filename)")


def _crawl(body: CrawlRun) -> dict[str, Any]:
    import pydantic

    from springboard import jobs
    from springboard.crawl.config import CrawlRunConfig

    fields = body.model_dump(exclude={"name"}, exclude_none=True)
    _absolute(body.output, "output")
    fields["output"] = confinement.confine(body.output, "output", write=True, overwrite=body.overwrite)
    fields["inputs"] = [confinement.confine(inp, f"inputs[{i}]") for i, inp in enumerate(body.inputs)]
    if body.records is not None:
        fields["records"] = confinement.confine(body.records, "records")
    try:
        config = CrawlRunConfig(**fields)
    except pydantic.ValidationError as exc:
        err = first_problem(exc)
        raise ValidationError(f"crawl run: field '{err.field}': {err.message}") from None
    _confine_archives(config)
    job = jobs.submit(config, name=body.name)
    return job_brief(job)


@router.post("/crawl/runs", status_code=201)
async def crawl_run(body: CrawlRun) -> Any:
    """`springboard crawl run ... --name NAME`: a crawl job (its counters are job metrics)."""
    return await call(_crawl, body)


class IndexQuery(Body):
    index: str = Field(description="a cc-index table: local folder, s3:// or https:// (as `crawl index query --index`)")
    host: str | None = Field(None, description="a host name or registered domain")
    url_contains: str | None = None
    languages: list[str] = Field(default_factory=list, description="ISO 639-3 codes, any of them")
    mime: str | None = Field(None, description="detected MIME type, e.g. text/html")
    subset: str = "warc"
    limit: int = Field(1000, ge=1, le=1_000_000)
    out: str = Field(description="where to write the record list (Parquet), an absolute path")
    overwrite: bool = Field(False, description="replace `out` if it exists")


def _index_query(body: IndexQuery) -> dict[str, Any]:
    from springboard.crawl.index import query, records_sql, write_result

    _absolute(body.out, "out")
    out = confinement.confine(body.out, "out", write=True, overwrite=body.overwrite)
    if not body.overwrite and storage.exists(out):
        raise ValidationError(f"field 'out': {body.out} exists; pick a new file or set overwrite")
    index = confinement.confine(body.index, "index")
    sql = records_sql(body.host, body.url_contains, body.languages, body.mime, body.subset, body.limit)
    table = query(index, sql)
    write_result(table, out, "records")
    return {"rows": table.num_rows, "records": out, "sql": sql,
            "preview": table.column("url").to_pylist()[:10]}


@router.post("/crawl/index-query")
async def crawl_index_query(body: IndexQuery) -> Any:
    """`springboard crawl index query ... --format records` for the usual question (host, URL,
    languages, MIME): a record list a crawl job reads with `records`."""
    return await call(_index_query, body)


class CrawlExport(Body):
    parquet: str
    out_dir: str
    format: str = "jsonl"
    column: str = "text"
    overwrite: bool = False


def _export(body: CrawlExport) -> dict[str, Any]:
    from springboard.crawl.export import export

    _absolute(body.out_dir, "out_dir")
    parquet = confinement.confine(body.parquet, "parquet")
    out_dir = confinement.confine(body.out_dir, "out_dir", write=True, overwrite=body.overwrite)
    if not storage.exists(parquet):
        raise NotFoundError(f"field 'parquet': {body.parquet}: no such crawl output")
    res = export(parquet, out_dir=out_dir, fmt=body.format, column=body.column, overwrite=body.overwrite)
    return {"documents": res.documents, "path": str(res.path), "bytes": res.bytes,
            "skipped_empty": res.skipped_empty, "channel": str(Path(res.path).parent)}


@router.post("/crawl/export")
async def crawl_export(body: CrawlExport) -> Any:
    """`springboard crawl export --out-dir`: the crawl's text as one training channel."""
    return await call(_export, body)
