"""JumpStart's `template.json`: `{"prompt": "...{field}...", "completion": "...{field}..."}`.

Placeholders are `{identifier}` only, with `{{` and `}}` as escapes exactly as in `str.format`, so
a template written for JumpStart's `str.format` renders the same. Unlike `str.format`, any other
brace is literal text, so a prompt holding Python code or JSON (`{"a": 1}`, `{}`, `{0}`) needs no
escaping as long as it has no doubled brace (`{}}` must be written `{}}}`, as for `str.format`).
Values are inserted once and never re-parsed, so braces inside records are always safe.

A template may add variants for records where a field is empty: `prompt_no_<field>` is used
instead of `prompt` when the record's `<field>` is missing, null or blank. The Dolly seed uses
`prompt_no_context` (the prompt without its `### Input:` section); Alpaca-style data would use
`prompt_no_input`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from springboard.errors import DataError

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VARIANT = re.compile(r"prompt_no_([A-Za-z_][A-Za-z0-9_]*)")


def placeholders(text: str) -> list[str]:
    """Field names used by a template string, in order of first use."""
    names: list[str] = []
    for m in _TOKEN.finditer(text):
        if m.group(1) and m.group(1) not in names:
            names.append(m.group(1))
    return names


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(text: str, record: dict[str, Any], *, file: str | None = None, line: int | None = None) -> str:
    """Fill `{field}` placeholders from `record`; a missing key names file, line and key."""

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        key = m.group(1)
        if key not in record:
            present = ", ".join(sorted(record)) or "none"
            raise DataError(f"template placeholder {{{key}}} has no value in this record (keys: {present})",
                            file=file, line=line, field=key)
        return _as_text(record[key])

    return _TOKEN.sub(sub, text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class Template:
    prompt: str
    completion: str
    # field -> prompt used when that field is empty (from `prompt_no_<field>` keys), in file order
    variants: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def prompt_for(self, record: dict[str, Any]) -> str:
        for name, variant in self.variants.items():
            if _blank(record.get(name)):
                return variant
        return self.prompt

    def apply(self, record: dict[str, Any], *, file: str | None = None, line: int | None = None) -> tuple[str, str]:
        """(prompt, completion) for one record."""
        prompt = render(self.prompt_for(record), record, file=file, line=line)
        completion = render(self.completion, record, file=file, line=line)
        return prompt, completion


def load_template(path_or_dict: str | Path | dict[str, Any]) -> Template:
    """A `template.json` path (or URI), or the same content as a dict."""
    from springboard.data.io import read_text

    source: str | None = None
    if isinstance(path_or_dict, dict):
        spec = path_or_dict
    else:
        source = str(path_or_dict)
        try:
            spec = json.loads(read_text(source))
        except json.JSONDecodeError as e:
            raise DataError(f"bad JSON: {e.msg} (column {e.colno})", file=source, line=e.lineno) from None
        if not isinstance(spec, dict):
            raise DataError("a template must be a JSON object with 'prompt' and 'completion'", file=source)
    for key in ("prompt", "completion"):
        if key not in spec:
            raise DataError("a template needs both 'prompt' and 'completion'", file=source, field=key)
    variants: dict[str, str] = {}
    for key, value in spec.items():
        if not isinstance(value, str):
            raise DataError(f"must be a string, got {type(value).__name__}", file=source, field=key)
        m = _VARIANT.fullmatch(key)
        if m:
            variants[m.group(1)] = value
        elif key not in ("prompt", "completion"):
            raise DataError("unknown template key; allowed: prompt, completion, prompt_no_<field>",
                            file=source, field=key)
    return Template(prompt=spec["prompt"], completion=spec["completion"], variants=variants, source=source)
