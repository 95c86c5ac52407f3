"""The JSONPath subset SageMaker's `DataProcessing` accepts for `InputFilter`/`OutputFilter`:
`$`, `.name`, `*`, `['a','b']`, `[i]`, `[i,j]`, `[s:e]`. As in SageMaker, selecting several
keys of an object keeps an object (`$['id','SageMakerOutput']` -> `{"id":..., "SageMakerOutput":
...}`), and selecting several items or a slice of a list keeps a list.

The same paths (without the leading `$`) name fields for `springboard evaluate`:
`generated_texts[0]`, `highlights`, `a.b[0]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

from springboard.errors import ValidationError


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Keys:
    names: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    index: int


@dataclass(frozen=True)
class Indices:
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Slice:
    start: int | None
    stop: int | None


@dataclass(frozen=True)
class Wildcard:
    pass


Step = Union[Key, Keys, Index, Indices, Slice, Wildcard]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_QUOTED = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*""")
_INT = re.compile(r"\s*(-?\d+)\s*")
_SLICE = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*")


class _Missing(Exception):
    pass


def parse(path: str, what: str = "JSONPath") -> tuple[Step, ...]:
    """Parses `$...` (or a bare field path such as `a.b[0]`) into steps."""
    src = path.strip()
    if not src:
        raise ValidationError(f"empty {what}")
    pos = 0
    if src.startswith("$"):
        pos = 1
    elif not src.startswith("["):
        src = "." + src  # a bare field path: `a.b[0]` reads as `$.a.b[0]`
    steps: list[Step] = []
    while pos < len(src):
        ch = src[pos]
        if ch == ".":
            pos += 1
            if src.startswith("*", pos):
                steps.append(Wildcard())
                pos += 1
                continue
            m = _NAME.match(src, pos)
            if not m:
                raise _bad(path, what, pos, "a field name after '.'")
            steps.append(Key(m.group(0)))
            pos = m.end()
        elif ch == "[":
            end = src.find("]", pos)
            if end < 0:
                raise _bad(path, what, pos, "a closing ']'")
            steps.append(_bracket(src[pos + 1 : end], path, what, pos))
            pos = end + 1
        else:
            raise _bad(path, what, pos, "'.' or '['")
    return tuple(steps)


def _bracket(body: str, path: str, what: str, pos: int) -> Step:
    if body.strip() == "*":
        return Wildcard()
    if _QUOTED.match(body):
        names = []
        for part in _split_commas(body):
            m = _QUOTED.fullmatch(part)
            if not m:
                raise _bad(path, what, pos, "quoted names separated by commas")
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            names.append(re.sub(r"\\(.)", r"\1", raw))
        return Key(names[0]) if len(names) == 1 else Keys(tuple(names))
    m = _SLICE.fullmatch(body)
    if m and ":" in body:
        start, stop = (int(g) if g is not None else None for g in m.groups())
        return Slice(start, stop)
    parts = body.split(",")
    if all(_INT.fullmatch(p) for p in parts):
        ints = tuple(int(p) for p in parts)
        return Index(ints[0]) if len(ints) == 1 else Indices(ints)
    raise _bad(path, what, pos, "an index, a slice, '*' or quoted names inside [...]")


def _split_commas(body: str) -> list[str]:
    parts, current, quote = [], "", ""
    escaped = False
    for ch in body:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            current += ch
            quote = ch
        elif ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _bad(path: str, what: str, pos: int, expected: str) -> ValidationError:
    return ValidationError(f"invalid {what} {path!r}: expected {expected} at position {pos}")


def apply(steps: tuple[Step, ...], value: Any) -> Any:
    """The value the path selects. Raises KeyError (with the missing step) when the path does
    not exist in `value`."""
    try:
        for step in steps:
            value = _step(step, value)
    except _Missing as exc:
        raise KeyError(str(exc)) from None
    return value


def _step(step: Step, value: Any) -> Any:
    if isinstance(step, Key):
        if isinstance(value, dict) and step.name in value:
            return value[step.name]
        raise _Missing(step.name)
    if isinstance(step, Keys):
        if not isinstance(value, dict):
            raise _Missing(",".join(step.names))
        missing = [n for n in step.names if n not in value]
        if missing:
            raise _Missing(",".join(missing))
        return {n: value[n] for n in step.names}
    if isinstance(step, Index):
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            return value[step.index]
        raise _Missing(f"[{step.index}]")
    if isinstance(step, Indices):
        if not isinstance(value, list):
            raise _Missing(str(list(step.indices)))
        try:
            return [value[i] for i in step.indices]
        except IndexError:
            raise _Missing(str(list(step.indices))) from None
    if isinstance(step, Slice):
        if not isinstance(value, list):
            raise _Missing(f"[{step.start}:{step.stop}]")
        return value[step.start : step.stop]
    if isinstance(value, dict):  # Wildcard
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    raise _Missing("*")


class JSONPath:
    """A parsed path; `JSONPath("$['id','SageMakerOutput']").select(record)`."""

    def __init__(self, path: str, what: str = "JSONPath") -> None:
        self.path = path
        self.steps = parse(path, what)

    @property
    def is_root(self) -> bool:
        return not self.steps

    def select(self, value: Any) -> Any:
        return apply(self.steps, value)

    def __repr__(self) -> str:
        return f"JSONPath({self.path!r})"
