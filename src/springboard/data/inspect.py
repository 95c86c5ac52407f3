"""What a training channel holds before any job reads it: every record checked as training will
check it (file, line and field on error), its fields, the token lengths of the rendered examples
against `max_input_length`, and the first rendered examples. Studio's data panel and its
staging step both call `inspect_rows`, so a file the preview refuses is never staged."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from springboard import storage
from springboard.data.io import text_lines
from springboard.data.template import Template, placeholders
from springboard.errors import DataError, ValidationError

HISTOGRAM_BINS = 10


def jsonl_rows(name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Records of an uploaded JSON lines text; errors name the upload's own file name and line."""
    for number, raw in enumerate(text_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"bad JSON: {exc.msg} (column {exc.colno}); a training file holds one JSON "
                            "object per line (JSON lines)", file=name, line=number) from None
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, got {type(record).__name__}", file=name, line=number)
        yield number, record


@dataclass
class Bin:
    low: int  # inclusive
    high: int  # inclusive
    count: int


@dataclass
class DataReport:
    rows: int
    fields: list[str]
    examples: list[dict[str, Any]]
    max_input_length: int | None = None
    lengths: list[int] = field(default_factory=list, repr=False)
    truncated: int = 0
    histogram: list[Bin] = field(default_factory=list)
    longest: int = 0


def render_row(template: Template | None, record: dict[str, Any], file: str, line: int) -> tuple[str, str]:
    """(prompt, completion) as training renders one instruction record (channel_records.py's rules)."""
    if template is not None:
        prompt, completion = template.apply(record, file=file, line=line)
        completion_field = (placeholders(template.completion) or ["completion"])[0]
    else:
        for key in ("prompt", "completion"):
            if key not in record:
                raise DataError("missing; records need 'prompt' and 'completion' (or give a template.json "
                                "or map the fields)", file=file, line=line, field=key)
            if not isinstance(record[key], str):
                raise DataError(f"must be a string, got {type(record[key]).__name__}", file=file, line=line, field=key)
        prompt, completion = record["prompt"], record["completion"]
        completion_field = "completion"
    if not completion.strip():
        raise DataError("empty completion", file=file, line=line, field=completion_field)
    return prompt, completion


def histogram(lengths: list[int], limit: int | None, bins: int = HISTOGRAM_BINS) -> list[Bin]:
    """Equal-width bins from 0 to the longest length (or the limit, if larger), so the limit's
    place among the bars is visible."""
    if not lengths:
        return []
    top = max(max(lengths), limit or 0, 1)
    width = max(1, -(-(top + 1) // bins))
    out = [Bin(i * width, (i + 1) * width - 1, 0) for i in range(-(-(top + 1) // width))]
    for n in lengths:
        out[n // width].count += 1
    return out


def inspect_rows(rows: Iterable[tuple[str, int, dict[str, Any]]], template: Template | None, *,
                 tokenizer: Any = None, max_input_length: int | None = None, causal: bool = True,
                 examples: int = 3, source: str | None = None) -> DataReport:
    """Checks every record (the first bad one raises DataError naming file, line and field) and
    counts token lengths with `tokenizer` when given: prompt + completion for a causal model (its
    whole sequence), the prompt for a seq2seq one (its encoder input)."""
    fields: dict[str, None] = {}
    shown: list[dict[str, Any]] = []
    lengths: list[int] = []
    count = 0
    for file, line, record in rows:
        prompt, completion = render_row(template, record, file, line)
        for key in record:
            fields.setdefault(key, None)
        count += 1
        if len(shown) < examples:
            shown.append({"file": file, "line": line, "prompt": prompt, "completion": completion})
        if tokenizer is not None:
            text = prompt + completion if causal else prompt
            lengths.append(len(tokenizer(text, add_special_tokens=True)["input_ids"]))
    if not count:
        raise DataError("no records", file=source)
    report = DataReport(rows=count, fields=list(fields), examples=shown, max_input_length=max_input_length,
                        lengths=lengths)
    if lengths:
        report.longest = max(lengths)
        report.histogram = histogram(lengths, max_input_length)
        if max_input_length and max_input_length > 0:
            report.truncated = sum(n > max_input_length for n in lengths)
    return report


FIELDS_SAMPLE = 20  # records read to list a file's fields


def field_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Field paths as evaluate's FieldPath reads them: `a.b` into objects, `a[0]` into lists."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from field_paths(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and prefix:
        yield from field_paths(value[0], f"{prefix}[0]")
    elif prefix:
        yield prefix


def jsonl_fields(location: str, name: str, sample: int = FIELDS_SAMPLE) -> tuple[list[str], int]:
    """The field paths of a JSON lines file (any JSON value a line), in the order they first
    appear in its first `sample` records, and how many records were read. Errors name `name`
    (the location as the user gave it) and the line."""
    seen: dict[str, None] = {}
    rows = 0
    with storage.open_file(location, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                found = list(field_paths(record))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValidationError(f"{name}:{number}: not a JSON line ({exc})") from None
            except RecursionError:
                raise ValidationError(f"{name}:{number}: nested too deeply to list its fields") from None
            for path in found:
                seen.setdefault(path, None)
            rows += 1
            if rows >= sample:
                break
    return list(seen), rows
