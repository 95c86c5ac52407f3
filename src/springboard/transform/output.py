"""Writing `.out` files so that nothing is lost: lines go to `<file>.out.partial`, a state file
in the job's checkpoint directory records how many records and bytes of it are complete, and
the finished file is renamed to `<file>.out`. A restarted job truncates the partial file to
the last recorded complete record (dropping a torn line) and goes on from there.

Output lines are JSON that `ast.literal_eval` also reads (JumpStart's notebooks parse `.out`
lines with it): strings are written with `ensure_ascii=False` (so characters outside the BMP
are not written as `\\ud83d\\ude00` surrogate pairs, which literal_eval would read as two
characters), NaN/Infinity are refused, and the records we build hold only strings, lists,
dicts and numbers. The limit: `true`, `false` and `null` have no spelling both parsers accept,
so a line that carries them from the input (an `id` of `null`, or an input record joined with
`join_source="Input"` that holds booleans) is valid JSON only; the job logs a warning naming
the file and line when that happens."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from springboard.transform.records import csv_line


# Line breaks to str.splitlines() (and to some editors) that JSON leaves raw: escaped, so one
# record stays one line for every reader. Both parsers read the escapes back.
_SPLITLINES = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SPLITLINES_RE = re.compile("[\u0085\u2028\u2029]")


def json_line(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    # These characters can only occur inside JSON strings, where an escape means the same.
    return _SPLITLINES_RE.sub(lambda m: _SPLITLINES[m.group(0)], text)


def literal_safe(obj: Any) -> bool:
    """False when `obj` holds a value whose JSON spelling `ast.literal_eval` rejects."""
    if obj is None or isinstance(obj, bool):
        return False
    if isinstance(obj, dict):
        return all(literal_safe(k) and literal_safe(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(literal_safe(v) for v in obj)
    return True


def encode(obj: Any, accept: str) -> str:
    if accept == "text/csv":
        return csv_line(obj if isinstance(obj, list) else [obj])
    return json_line(obj)


@dataclass
class FileState:
    records: int = 0  # records whose output is complete in the partial file
    bytes: int = 0  # length of the partial file holding exactly those records
    failed: int = 0
    tokens: int = 0
    done: bool = False


class TransformState:
    """Per-input-file progress, kept in the job's checkpoint directory (atomically replaced
    after every batch)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, FileState] = {}
        if path.exists():
            raw = json.loads(path.read_text())
            self.files = {k: FileState(**v) for k, v in raw.get("files", {}).items()}

    def get(self, rel: str) -> FileState:
        return self.files.setdefault(rel, FileState())

    def reset(self, rel: str) -> FileState:
        self.files[rel] = FileState()
        return self.files[rel]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"files": {k: asdict(v) for k, v in self.files.items()}}))
        os.replace(tmp, self.path)


class PartialOutput:
    """The `.out.partial` file of one input file, opened where its complete records end."""

    def __init__(self, out_path: Path, state: FileState, assemble_with: str) -> None:
        self.out_path = out_path
        self.partial = out_path.with_name(out_path.name + ".partial")
        self.sep = "\n" if assemble_with == "Line" else ""
        self.state = state
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if state.records and self.partial.exists() and self.partial.stat().st_size >= state.bytes:
            self.file = open(self.partial, "r+b")
            self.file.truncate(state.bytes)  # drops lines written after the last saved state
            self.file.seek(state.bytes)
            self.resumed_from = state.records
        else:
            state.records = state.bytes = state.failed = state.tokens = 0
            self.file = open(self.partial, "wb")
            self.resumed_from = 0

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        self.file.write("".join(line + self.sep for line in lines).encode("utf-8"))
        # Flushed to the OS, the bytes survive a SIGKILL of this process.
        self.file.flush()
        self.state.records += len(lines)
        self.state.bytes = self.file.tell()

    def commit(self) -> None:
        self.file.close()
        os.replace(self.partial, self.out_path)
        self.state.done = True

    def discard(self) -> None:
        self.file.close()
        self.partial.unlink(missing_ok=True)
