"""Reading evaluation inputs: JSON Lines files (and `.out` files, whose lines may also be Python
literals as older JumpStart outputs were), and picking fields by path (`generated_texts[0]`,
`highlights`, `a.b[0]`)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Iterator

from springboard.errors import DataError, NotFoundError, ValidationError
from springboard.transform.jsonpath import JSONPath


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each non-blank line."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no file {path}")
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            yield line_no, _parse_line(line, path, line_no)


def _parse_line(line: str, path: Path, line_no: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        try:
            return ast.literal_eval(line.strip())
        except (ValueError, SyntaxError):
            raise DataError(f"not a JSON (or Python literal) record: {exc}", file=path, line=line_no) from None


class FieldPath:
    """A record field by path; `get` names file, line and field when it is missing."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._jp = JSONPath(path, what="field path")
        except ValidationError as exc:
            raise ValidationError(str(exc)) from None

    def get(self, record: Any, file: str | Path | None = None, line: int | None = None) -> Any:
        try:
            return self._jp.select(record)
        except KeyError:
            raise DataError("missing", file=file, line=line, field=self.path) from None

    def find(self, record: Any) -> tuple[bool, Any]:
        try:
            return True, self._jp.select(record)
        except KeyError:
            return False, None


def as_text(value: Any, file: str | Path | None, line: int | None, field: str) -> str:
    """A prediction or reference as text: a string, or a list of strings joined by newlines
    (so rougeLsum sees one sentence per item)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise DataError(f"expected text, got {type(value).__name__}", file=file, line=line, field=field)


def key_of(value: Any) -> str:
    """Join keys compare as text, so an id written as 7 on one side and "7" on the other joins
    (CSV-born ids are strings)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
