"""Output lines, and publishing a finished file's `.out`: workers write each shard's lines to a
part file in the job's checkpoint directory (see `shard.py`); once every shard of an input file
is complete the parts are joined, in order, into `<output>/<file>.out` and published atomically
(a local rename or one S3 upload), so a `.out` exists only when the whole file succeeded.

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
import re
import shutil
from pathlib import Path
from typing import Any


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


def encode(obj: Any) -> str:
    """One output line. JSON whatever the Accept: JumpStart's text2text container answers JSON
    lines for `text/csv` too, and seed 001 reads them with `ast.literal_eval`."""
    return json_line(obj)


def assemble(parts: list[Path], target: str, scratch: Path) -> str:
    """Joins `parts` in order into `target` (a local path or s3:// location) atomically."""
    from springboard import storage

    scratch.parent.mkdir(parents=True, exist_ok=True)
    with open(scratch, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    try:
        return storage.publish_file(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


# -- a transform record's output line --------------------------------------------------------


def prediction(config: Any, output_filter: Any, record: Any, mi: Any, texts: list[Any]) -> Any:
    """JumpStart's text2text answer, `{"id"?, "generated_texts": [...]}`, as JSON whatever
    the Accept (the container answers JSON lines; seed 001 sets accept="text/csv" and reads
    each line with ast.literal_eval)."""
    assert mi is not None
    pred: dict[str, Any] = {}
    if mi.has_id:
        pred["id"] = mi.record_id
    if config.accept == "application/json;verbose":
        pred["text_inputs"] = mi.echo
    pred["generated_texts"] = texts
    if config.join_source == "Input":
        if isinstance(record.value, dict):
            pred = {**record.value, "SageMakerOutput": pred}
        else:
            pred = {"SageMakerInput": record.value, "SageMakerOutput": pred}
    return output_filter.select(pred)


def error_output(record: Any, error: str) -> Any:
    """The line a failed record gets (on_error="error_line"): its id (from the input as
    read, so the record can be found even when input_filter dropped the id) and the error."""
    message = f"line {record.line}: {error}"
    has_id = isinstance(record.value, dict) and "id" in record.value
    out: dict[str, Any] = {"id": record.value["id"]} if has_id else {}
    out["error"] = message
    return out


def all_empty(texts: Any) -> bool:
    if isinstance(texts, str):
        return texts == ""
    if isinstance(texts, list):
        return all(all_empty(t) for t in texts)
    return False


def output_error(exc: Exception, output_filter: str) -> str:
    if isinstance(exc, KeyError):
        return f"output_filter {output_filter!r} found no {exc.args[0]!r}"
    return f"output not writable: {exc}"
