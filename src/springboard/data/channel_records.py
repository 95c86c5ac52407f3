"""Record level: what a channel holds, before any tokenizer. Quickstart, evaluation, batch
transform and AutoML use these directly; `prepare_data` tokenizes them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

from springboard.data.io import (
    TEXT_SUFFIXES,
    column_of,
    iter_table,
    read_text,
    resolve_channel,
    suffix,
    template_beside,
)
from springboard.data.template import Template, load_template, placeholders
from springboard.errors import DataError, HyperparameterError

log = logging.getLogger("springboard.data")

INSTRUCTION_SUFFIXES = (".jsonl",)
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PromptCompletion:
    prompt: str
    completion: str
    source: str
    line: int
    id: str | None = None


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Conversation:
    messages: tuple[Message, ...]
    source: str
    line: int


@dataclass(frozen=True)
class Document:
    """One domain-adaptation text: a CSV row, a JSON record or a whole TXT file."""

    text: str
    source: str
    line: int


def instruction_file(path: str | Path) -> str:
    """The channel's one `.jsonl` file (the path itself when it is a file)."""
    p = str(path)
    if suffix(p) in (".json", ".csv", ".parquet"):
        return p  # a single table file named directly is fine; directories need a .jsonl
    return resolve_channel(p, INSTRUCTION_SUFFIXES, "instruction data")


def _template_for(data_file: str, template: str | Path | dict | Template | None) -> Template | None:
    if isinstance(template, Template):
        return template
    if template is not None:
        return load_template(template)
    beside = template_beside(data_file)
    if beside:
        log.info("using template %s", beside)
        return load_template(beside)
    return None


def load_instruction_records(
    path: str | Path, template: str | Path | dict | Template | None = None
) -> list[PromptCompletion]:
    """Prompt/completion pairs from a JSONL file or a channel directory holding exactly one.

    With a template (given, or `template.json` beside the data file) records may have any keys the
    template names; without one they must have `prompt` and `completion`. An empty completion is an
    error: a model trained on it learns to answer with nothing."""
    data_file = instruction_file(path)
    tmpl = _template_for(data_file, template)
    records: list[PromptCompletion] = []
    for line, row in iter_table(data_file):
        if tmpl is not None:
            prompt, completion = tmpl.apply(row, file=data_file, line=line)
            completion_fields = placeholders(tmpl.completion) or ["completion"]
        else:
            for key in ("prompt", "completion"):
                if key not in row:
                    raise DataError(
                        "missing; records need 'prompt' and 'completion' (or give a template.json)",
                        file=data_file, line=line, field=key,
                    )
                if not isinstance(row[key], str):
                    raise DataError(f"must be a string, got {type(row[key]).__name__}",
                                    file=data_file, line=line, field=key)
            prompt, completion = row["prompt"], row["completion"]
            completion_fields = ["completion"]
        if not completion.strip():
            raise DataError("empty completion", file=data_file, line=line, field=completion_fields[0])
        rid = row.get("id")
        records.append(PromptCompletion(prompt, completion, data_file, line, None if rid is None else str(rid)))
    if not records:
        raise DataError("no records", file=data_file)
    return records


def load_chat_records(path: str | Path) -> list[Conversation]:
    """Conversations `{"messages": [{"role", "content"}, ...]}` (or `"dialog"`, Llama's name)."""
    data_file = instruction_file(path)
    out: list[Conversation] = []
    for line, row in iter_table(data_file):
        key = "messages" if "messages" in row else "dialog" if "dialog" in row else None
        if key is None:
            raise DataError("missing; chat records need 'messages' (or 'dialog')", file=data_file, line=line,
                            field="messages")
        raw = row[key]
        if not isinstance(raw, list) or not raw:
            raise DataError("must be a non-empty list of {role, content} objects", file=data_file, line=line,
                            field=key)
        messages = []
        for i, m in enumerate(raw):
            where = f"{key}[{i}]"
            if not isinstance(m, dict):
                raise DataError("must be an object with role and content", file=data_file, line=line, field=where)
            role, content = m.get("role"), m.get("content")
            if role not in CHAT_ROLES:
                raise DataError(f"role {role!r} is not one of {', '.join(CHAT_ROLES)}", file=data_file,
                                line=line, field=f"{where}.role")
            if not isinstance(content, str):
                raise DataError("content must be a string", file=data_file, line=line, field=f"{where}.content")
            if role == "assistant" and not content.strip():
                raise DataError("empty assistant message", file=data_file, line=line, field=f"{where}.content")
            messages.append(Message(role, content))
        if not any(m.role == "assistant" for m in messages):
            raise DataError("no assistant message to learn from", file=data_file, line=line, field=key)
        out.append(Conversation(tuple(messages), data_file, line))
    if not out:
        raise DataError("no records", file=data_file)
    return out


def load_documents(path: str | Path) -> list[Document]:
    """Domain-adaptation texts from a channel holding exactly one CSV, JSON, JSONL or TXT file.
    CSV/JSON(L) use the `text` column/field or, without one, the first; a TXT file is one
    document. Empty texts are skipped (logged), a non-string text is an error."""
    data_file = resolve_channel(path, TEXT_SUFFIXES, "domain adaptation")
    if suffix(data_file) == ".txt":
        text = read_text(data_file)
        if not text.strip():
            raise DataError("empty text file", file=data_file)
        return [Document(text, data_file, 1)]
    rows = list(iter_table(data_file))
    column = column_of(rows, data_file)
    docs, empty = [], 0
    for line, row in rows:
        if column not in row:
            raise DataError("missing", file=data_file, line=line, field=column)
        value = row[column]
        if value is None or (isinstance(value, str) and not value.strip()):
            empty += 1
            continue
        if not isinstance(value, str):
            raise DataError(f"must be a string, got {type(value).__name__}", file=data_file, line=line, field=column)
        docs.append(Document(value, data_file, line))
    if empty:
        log.info("%s: skipped %d empty %r values", data_file, empty, column)
    if not docs:
        raise DataError(f"no non-empty {column!r} values", file=data_file)
    return docs


T = TypeVar("T")


def split_records(records: Sequence[T], ratio: float, seed: int) -> tuple[list[T], list[T]]:
    """Deterministic train/validation split: the same records, ratio and seed always give the
    same split. round(n * ratio) records (at least 1 when ratio > 0, at most n - 1) are drawn
    with `random.Random(seed)`; both parts keep the input order."""
    if not 0.0 <= ratio < 1.0:
        raise HyperparameterError(f"validation_split_ratio must be in [0, 1), got {ratio}")
    n = len(records)
    if ratio == 0.0 or n < 2:
        return list(records), []
    n_val = min(n - 1, max(1, round(n * ratio)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    chosen = set(order[:n_val])
    train = [r for i, r in enumerate(records) if i not in chosen]
    validation = [r for i, r in enumerate(records) if i in chosen]
    return train, validation
