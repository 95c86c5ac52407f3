"""What both runners share: the output directory contract, through `springboard.storage` (a
path, `file://` or `s3://` alike).

An output holds `part-NNNNN.parquet`, `_counters.json` and, once complete, `_SUCCESS`. While
it runs it also holds `_run.json` (what run this is) and `_tasks/NNNNN.json`, one marker per
finished input file with its counters (datatrove's completion markers): a rerun of the same
run into the same output does only the files without a marker."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from springboard import storage
from springboard.crawl.record import Counters
from springboard.errors import ConflictError

SUCCESS = "_SUCCESS"
RUN_FILE = "_run.json"
TASKS_DIR = "_tasks"
STAGE_DIR = "_stage"


def _names(output: str) -> list[str]:
    if not storage.exists(output):
        return []
    root = output.rstrip("/")
    return [f[len(root):].lstrip("/") for f in storage.list_files(output)]


@dataclass
class Resume:
    """What an earlier, unfinished run of the same configuration left: finished tasks."""

    done: dict[int, dict] = field(default_factory=dict)  # task index -> marker


def fingerprint(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()


def open_run(output: str, description: dict, overwrite: bool) -> Resume:
    """Starts or resumes a run in `output`. A complete output, another run's unfinished one
    or unrelated files are a conflict unless `overwrite` (which clears it)."""
    names = _names(output)
    print_id = fingerprint(description)
    if names and overwrite:
        storage.delete(output)
        names = []
    if names:
        if SUCCESS in names:
            raise ConflictError(f"{output}: holds the complete output of an earlier run "
                                "(use --overwrite to replace it)")
        if RUN_FILE not in names:
            raise ConflictError(f"{output}: output directory is not empty (use --overwrite)")
        earlier = json.loads(storage.read_text(storage.join(output, RUN_FILE)))
        if earlier.get("fingerprint") != print_id:
            raise ConflictError(
                f"{output}: holds an unfinished run with a different configuration; rerun that "
                "one to finish it, or use --overwrite to start over")
        resume = Resume()
        for name in names:
            if name.startswith(TASKS_DIR + "/") and name.endswith(".json"):
                marker = json.loads(storage.read_text(storage.join(output, name)))
                resume.done[int(marker["task"])] = marker
        return resume
    storage.write_text(storage.join(output, RUN_FILE),
                       json.dumps({"fingerprint": print_id, "run": description}, indent=1,
                                  default=str))
    return Resume()


def write_marker(output: str, task_index: int, counters: Counters, errors: list[str]) -> None:
    storage.write_text(storage.join(output, TASKS_DIR, f"{task_index:05d}.json"),
                       json.dumps({"task": task_index, "counters": dict(counters),
                                   "errors": errors}))


def write_counters(output: str, counters: Counters) -> None:
    """`_counters.json` beside the parts (names starting with `_` are ignored by Parquet
    readers, like Spark's `_SUCCESS`)."""
    storage.write_text(storage.join(output, "_counters.json"),
                       json.dumps(dict(sorted(counters.items())), indent=1))


def mark_success(output: str) -> None:
    storage.write_bytes(storage.join(output, SUCCESS), b"")


def is_complete(output: str) -> bool:
    return storage.exists(storage.join(output, SUCCESS))
