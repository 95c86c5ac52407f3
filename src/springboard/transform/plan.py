"""Splitting a transform into shards: each input file's records are grouped into batches the
way one worker would group them (requests packed to `max_payload`, then `batch_size` records
per generation pass), and the batches are cut into contiguous shards. Because shards start and
end on batch boundaries, every record is generated in the same batch whatever the number of
workers, so N workers write the same `.out` bytes as one.

One worker: one shard per file. N workers: shards of about total / (2N) records, so a large
file is shared and a small one is not split. The plan is saved with the job and reused when it
resumes, so a shard's progress always refers to the same records."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from springboard.transform.config import TransformConfig
from springboard.transform.inputs import record_offsets


@dataclass
class Shard:
    id: str  # f<file>-s<shard>, stable for the job
    file: int  # index of the input file
    rel: str  # the file's path relative to the input (its `.out` name)
    path: str  # the local input file
    start: int  # first record index
    end: int  # one past the last record index
    offset: int  # byte offset of the first record
    line: int  # line number of the first record
    chunks: list[int] = field(default_factory=list)  # records per generation pass, in order
    requests: int = 0  # requests (max_payload groups) that begin in this shard

    @property
    def records(self) -> int:
        return self.end - self.start


@dataclass
class _Batch:
    start: int
    size: int
    offset: int
    line: int
    new_request: bool


def _batches(path: Path, config: TransformConfig, batch_size: int) -> list[_Batch]:
    limit = config.max_payload_bytes
    single = config.batch_strategy == "SingleRecord"
    batches: list[_Batch] = []
    req_size = 0  # bytes of the current request
    in_request = 0  # records of the current request
    in_batch = batch_size  # records in the current batch (full: the next record starts one)
    for index, (offset, line, size) in enumerate(record_offsets(path, config)):
        rsize = size + 1
        new_request = (
            in_request == 0 or single or (limit is not None and req_size + rsize > limit)
        )
        if new_request:
            req_size, in_request = 0, 0
        if new_request or in_batch >= batch_size:
            batches.append(_Batch(index, 0, offset, line, new_request))
            in_batch = 0
        batches[-1].size += 1
        in_batch += 1
        in_request += 1
        req_size += rsize
    return batches


def plan_shards(
    files: list[tuple[Path, str]], config: TransformConfig, batch_size: int, workers: int
) -> list[Shard]:
    per_file = [_batches(path, config, batch_size) for path, _ in files]
    total = sum(b.size for bs in per_file for b in bs)
    target = math.inf if workers <= 1 else max(1, math.ceil(total / (2 * workers)))
    shards: list[Shard] = []
    for f, ((path, rel), batches) in enumerate(zip(files, per_file)):
        if not batches:  # an empty file still gets its (empty) .out
            shards.append(Shard(f"f{f:05d}-s00000", f, rel, str(path), 0, 0, 0, 1))
            continue
        current: Shard | None = None
        for b in batches:
            if current is None or current.records >= target:
                current = Shard(f"f{f:05d}-s{sum(s.file == f for s in shards):05d}", f, rel, str(path),
                                b.start, b.start, b.offset, b.line)
                shards.append(current)
            current.chunks.append(b.size)
            current.end += b.size
            current.requests += int(b.new_request)
    return shards


def save_plan(path: Path, shards: list[Shard]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps([asdict(s) for s in shards]))
    tmp.replace(path)


def load_plan(path: Path) -> list[Shard] | None:
    if not path.exists():
        return None
    return [Shard(**s) for s in json.loads(path.read_text())]
