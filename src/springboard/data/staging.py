"""Training data a user hands over before any job reads it: uploads and copies staged as a
training channel folder under SPRINGBOARD_HOME (what Studio's dataset and upload routes write),
and the reading of a user's channel for a preview (its file, records and the template.json
beside it). A staged channel is checked as training will read it before anything is written,
so a file the preview refuses is never staged, and errors name the user's own file."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from springboard import confinement, settings, storage
from springboard.data import io
from springboard.data.inspect import inspect_rows, jsonl_rows
from springboard.data.template import Template, load_template
from springboard.errors import NotFoundError, ValidationError

INSTRUCTION_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
# the names an upload may carry: plain, no folders, a text format Studio reads
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(jsonl|json|csv|txt)$")
STAGED_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{10}$")


def datasets_dir() -> Path:
    return settings.home() / "studio" / "datasets"


def check_file_names(names: Any, *, allow_template: bool = True) -> None:
    for name in names:
        if not FILE_NAME.match(name) or (not allow_template and name == "template.json"):
            raise ValidationError(f"file {name!r}: upload .jsonl, .json, .csv or .txt files with plain names")


def template_text(text: str, source: str = "template.json") -> Template:
    """A template.json given as text (an editor's content), with the file's line on bad JSON."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{source}:{exc.lineno}: bad JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(spec, dict):
        raise ValidationError(f"{source}: a template must be a JSON object with 'prompt' and 'completion'")
    return load_template(spec)


def source_rows(data: str) -> tuple[str, Iterator[tuple[str, int, dict[str, Any]]], str | None]:
    """The user's own data file in `data` (a file or channel folder), its records, and the
    template.json beside it, if any: errors name the user's file, never a staged copy."""
    location = confinement.confine(data, "data")
    file = confinement.confine(io.resolve_channel(location, INSTRUCTION_SUFFIXES, "training data"), "data")
    beside = io.template_beside(file)
    return file, ((file, n, r) for n, r in io.iter_table(file)), beside


def upload_rows(name: str, text: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """An upload's records as (file, line, record), the upload's own name as the file."""
    return ((name, n, r) for n, r in jsonl_rows(name, text))


def stage(files: dict[str, str], source: str | None, template: str | None) -> Path:
    """A new channel folder holding the uploaded `files` (name -> text) or a copy of `source`
    (a file or folder), with `template` (template.json text) beside them."""
    if not files and not source:
        raise ValidationError("a dataset needs uploaded files or a source path")
    if files and source:
        raise ValidationError("give uploaded files or a source path, not both")
    check_file_names(files, allow_template=False)
    if template is not None:
        try:
            if not isinstance(json.loads(template), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise ValidationError(f"template.json: not a JSON object ({exc})") from None
    confined = confinement.confine(source, "source") if source else None
    if confined and not storage.exists(confined):
        raise NotFoundError(f"{source}: no such file or folder")
    check_before_staging(files, source, template)
    digest = hashlib.sha256(json.dumps([files, source, template]).encode()).hexdigest()[:10]
    target = datasets_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    try:
        if confined:
            _copy_source(confined, target, keep_template=template is None)
        for name, text in files.items():
            (target / name).write_text(text)
        if template is not None:
            (target / "template.json").write_text(template)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # a refused dataset leaves no copy behind
        raise
    return target


def _copy_source(source: str, target: Path, keep_template: bool) -> None:
    if storage.isdir(source):
        for uri in storage.list_files(source, recursive=False):
            name = uri.rstrip("/").rsplit("/", 1)[-1]
            if name != "template.json" or keep_template:
                # a symlink inside the folder may point anywhere: each file is checked too
                (target / name).write_bytes(storage.read_bytes(confinement.confine(uri, "source")))
    else:
        (target / source.rstrip("/").rsplit("/", 1)[-1]).write_bytes(storage.read_bytes(source))


def check_before_staging(files: dict[str, str], source: str | None, template: str | None) -> None:
    """The data read as training will read it, before anything is written: a bad line is an
    error naming the user's own file (an upload's name, the source path), line and field."""
    parsed = template_text(template) if template is not None else None
    for name, text in files.items():
        if name.endswith(".jsonl"):
            rows = upload_rows(name, text)
            if parsed is not None:
                inspect_rows(rows, parsed, source=name)
            else:
                for _ in rows:
                    pass
    if source and parsed is not None:
        file, rows, _ = source_rows(source)
        inspect_rows(rows, parsed, source=file)


def unstage(name: str) -> None:
    """Removes a staged dataset folder; a name that is not one is NotFound."""
    folder = datasets_dir() / name
    if not STAGED_NAME.match(name) or not folder.is_dir():
        raise NotFoundError(f"no staged dataset {name!r}")
    shutil.rmtree(folder)


def store_uploads(files: dict[str, str]) -> str:
    """Uploaded files (a transform's input, references) in a new folder under
    SPRINGBOARD_HOME/studio/uploads; returns the folder."""
    check_file_names(files)
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:10]
    folder = storage.join(str(settings.home() / "studio" / "uploads"), f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}")
    folder = confinement.confine(folder, "upload", write=True)
    for name, text in files.items():
        storage.write_text(storage.join(folder, name), text)
    return folder
