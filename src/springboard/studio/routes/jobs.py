"""Studio's job views: the list, one job's description, metric series, log tail and output
files, and the actions the control plane has no operation for (resume, delete, stop a crawl)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from springboard import confinement, storage
from springboard.errors import NotFoundError
from springboard.studio.routes.common import call

router = APIRouter()


def job_brief(job) -> dict[str, Any]:
    return {"name": job.name, "kind": job.kind, "status": job.status, "secondary_status": job.secondary_status,
            "failure_reason": job.failure_reason, "creation_time": job.creation_time,
            "start_time": job.start_time, "end_time": job.end_time, "output": job.output_dir}


def _jobs(kind: str | None) -> list[dict[str, Any]]:
    from springboard import jobs

    out = []
    for job in jobs.JobStore().list(kind=kind or None):
        if not job.done:
            job = jobs.refresh(job.name)
        out.append(job_brief(job))
    return sorted(out, key=lambda j: j["creation_time"], reverse=True)


@router.get("/jobs")
async def list_jobs(kind: str | None = None) -> Any:
    """Every job (training, transform, automl, crawl), newest first."""
    return await call(_jobs, kind)


def _job(name: str) -> dict[str, Any]:
    from springboard import jobs

    job = jobs.refresh(name)
    return job_brief(job) | {"describe": job.describe()}


@router.get("/jobs/{name}")
async def describe_job(name: str) -> Any:
    return await call(_job, name)


def _metrics(name: str) -> dict[str, Any]:
    from springboard import jobs

    store = jobs.JobStore()
    store.get(name)
    series: dict[str, list[dict[str, Any]]] = {}
    for m in store.metrics(name):
        series.setdefault(m.name, []).append({"step": m.step, "epoch": m.epoch, "value": m.value,
                                              "timestamp": m.timestamp})
    return {"series": series}


@router.get("/jobs/{name}/metrics")
async def job_metrics(name: str) -> Any:
    """A job's metric time series (train_loss, val_loss, perplexity, ...) by name."""
    return await call(_metrics, name)


LOG_CHUNK = 65536


def _log(name: str, offset: int) -> dict[str, Any]:
    from springboard import jobs

    job = jobs.JobStore().get(name)
    path = job.log_path
    if not path.exists():
        return {"text": "", "offset": 0, "size": 0}
    size = path.stat().st_size
    if offset < 0:  # the tail: the last chunk, from a line start
        offset = max(0, size - LOG_CHUNK)
    with path.open("rb") as f:
        f.seek(min(offset, size))
        data = f.read(LOG_CHUNK)
    if offset and offset == max(0, size - LOG_CHUNK) and b"\n" in data:
        cut = data.index(b"\n") + 1
        data, offset = data[cut:], offset + cut
    end = data.rfind(b"\n") + 1 if len(data) == LOG_CHUNK else len(data)
    return {"text": data[:end].decode("utf-8", "replace"), "offset": offset + end, "size": size}


@router.get("/jobs/{name}/log")
async def job_log(name: str, offset: int = -1) -> Any:
    """The job log from byte `offset` (default: its tail); `offset` in the answer is where the
    next read starts, so a page follows the log by polling."""
    return await call(_log, name, offset)


def _resume(name: str) -> dict[str, Any]:
    from springboard import jobs

    return job_brief(jobs.resume(name))


@router.post("/jobs/{name}/resume")
async def resume_job(name: str) -> Any:
    """`springboard jobs resume`: SageMaker has no resume operation."""
    return await call(_resume, name)


def _files(name: str) -> list[dict[str, Any]]:
    from springboard import jobs

    root = confinement.confine(str(jobs.JobStore().get(name).output_dir), "output")
    if not storage.isdir(root):
        return []
    fs, _ = storage.filesystem(root)
    out = []
    for location in storage.list_files(root)[:500]:
        out.append({"name": location[len(root.rstrip("/")) + 1:], "size": fs.size(storage.filesystem(location)[1])})
    return out


@router.get("/jobs/{name}/files")
async def job_files(name: str) -> Any:
    """The files a job wrote to its output location (a transform's .out files, ...), local or s3://."""
    return await call(_files, name)


@router.get("/jobs/{name}/files/{file:path}")
async def job_file(name: str, file: str) -> Any:
    def find() -> str:
        from springboard import jobs

        root = confinement.confine(str(jobs.JobStore().get(name).output_dir), "output")
        parts = file.split("/")
        if any(p in ("", ".", "..") for p in parts) or not storage.exists(location := storage.join(root, *parts)) \
                or storage.isdir(location):
            raise NotFoundError(f"job {name!r} has no output file {file!r}")
        return confinement.confine(location, "file")  # a symlink in the output may point anywhere

    found = await call(find)
    if isinstance(found, JSONResponse):
        return found
    if not storage.is_remote(found):
        return FileResponse(storage.local_path(found), filename=Path(file).name, media_type="application/octet-stream")

    def chunks() -> Iterator[bytes]:
        with storage.open_file(found, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers={"Content-Disposition": f'attachment; filename="{Path(file).name}"'})


def _delete(name: str) -> dict[str, Any]:
    from springboard import jobs

    from springboard.controlplane.resource_store import Records

    jobs.refresh(name)  # a worker that died unseen: its job is Failed, so it can go
    job = jobs.JobStore().delete(name)
    # the SageMaker request it was created with goes too (a later job of that name has its own)
    Records().remove(f"{job.kind}-job", name)
    return job_brief(job)


@router.delete("/jobs/{name}")
async def delete_job(name: str) -> Any:
    """Forgets an ended job (record, metrics, log, checkpoints); its output location stays.
    A job still running is refused (409): stop it first."""
    return await call(_delete, name)


def _stop(name: str) -> dict[str, Any]:
    from springboard import jobs

    return job_brief(jobs.stop(name))


@router.post("/jobs/{name}/stop")
async def stop_job(name: str) -> Any:
    """`springboard jobs stop`, for kinds the control plane has no Stop operation for (crawl)."""
    return await call(_stop, name)
