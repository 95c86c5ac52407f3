"""The model filter language of `sagemaker.jumpstart.filters`, so notebook code such as
`list_models(filter=And("task == text2text", "training_supported == true"))` runs unchanged.

A filter is a string "FIELD OPERATOR VALUE" or And/Or/Not of filters (nested freely).
Operators (JumpStart spellings): `==` `===` `equals` `is`; `!=` `!==` `not equals` `is not`;
`in` / `not in` with a list value `[a, b]`; `includes`/`contains`, `not includes`/
`not contains` (list fields such as aliases, or substrings); `begins with`/`starts with`;
`ends with`. Values compare case-insensitively as strings; booleans as "true"/"false"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from springboard.errors import ValidationError

# Longest spellings first so "not in" is not read as "in", "!==" not as "!=" and so on.
_OPERATORS: list[tuple[str, str]] = [
    ("begins with", "begins_with"),
    ("starts with", "begins_with"),
    ("ends with", "ends_with"),
    ("not includes", "not_includes"),
    ("not contains", "not_includes"),
    ("includes", "includes"),
    ("contains", "includes"),
    ("!==", "not_equals"),
    ("!=", "not_equals"),
    ("not equals", "not_equals"),
    ("is not", "not_equals"),
    ("not in", "not_in"),
    ("===", "equals"),
    ("==", "equals"),
    ("equals", "equals"),
    ("is", "equals"),
    ("in", "in"),
]


@dataclass(frozen=True)
class ModelFilter:
    """One comparison, e.g. key "task", operator "equals", value "text2text"."""

    key: str
    operator: str
    value: str


def parse_filter_string(text: str) -> ModelFilter:
    for spelling, operator in _OPERATORS:
        # Word operators need spaces around them ("framework in [...]"), symbols don't.
        token = f" {spelling} " if spelling[0].isalpha() else spelling
        parts = text.split(token)
        if len(parts) == 2 and parts[0].strip() and parts[1].strip():
            return ModelFilter(parts[0].strip(), operator, parts[1].strip())
    raise ValidationError(
        f"cannot parse filter {text!r}: expected 'FIELD OPERATOR VALUE', e.g. "
        "'task == text2text', 'framework != meta', 'task in [text2text, text-generation]'"
    )


class Operator:
    """Base of And/Or/Not: holds operands that are strings or other operators."""

    def __init__(self, *operands: Union["Operator", str]) -> None:
        for operand in operands:
            if not isinstance(operand, (str, Operator)):
                raise ValidationError(f"filter operand {operand!r} is not a string or And/Or/Not")
        self.operands = list(operands)

    def evaluate(self, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.operands))})"


class And(Operator):
    def evaluate(self, record: dict[str, Any]) -> bool:
        return all(matches(o, record) for o in self.operands)


class Or(Operator):
    def evaluate(self, record: dict[str, Any]) -> bool:
        return any(matches(o, record) for o in self.operands)


class Not(Operator):
    def __init__(self, operand: Union[Operator, str]) -> None:
        super().__init__(operand)

    def evaluate(self, record: dict[str, Any]) -> bool:
        return not matches(self.operands[0], record)


FilterExpression = Union[str, Operator]


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().strip("'\"").lower()


def _list_value(text: str) -> list[str]:
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    return [_norm(v) for v in inner.split(",") if v.strip()]


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    """Filterable fields: the spec's top level plus `source.*` flattened (e.g. source.type)."""
    flat = {k: v for k, v in record.items() if not isinstance(v, dict)}
    for k, v in (record.get("source") or {}).items():
        flat[f"source.{k}"] = v
    return flat


def evaluate_filter(model_filter: ModelFilter, record: dict[str, Any]) -> bool:
    fields = _fields(record)
    if model_filter.key not in fields:
        raise ValidationError(
            f"unknown filter field {model_filter.key!r}; valid fields: {', '.join(sorted(fields))}"
        )
    actual = fields[model_filter.key]
    op, wanted = model_filter.operator, model_filter.value
    if op in ("in", "not_in"):
        hit = _norm(actual) in _list_value(wanted)
        return hit if op == "in" else not hit
    if op in ("includes", "not_includes"):
        if isinstance(actual, list):
            hit = _norm(wanted) in [_norm(a) for a in actual]
        else:
            hit = _norm(wanted) in _norm(actual)
        return hit if op == "includes" else not hit
    if actual is None:
        return op == "not_equals"
    got = _norm(actual)
    if op == "equals":
        return got == _norm(wanted)
    if op == "not_equals":
        return got != _norm(wanted)
    if op == "begins_with":
        return got.startswith(_norm(wanted))
    if op == "ends_with":
        return got.endswith(_norm(wanted))
    raise ValidationError(f"unknown filter operator {op!r}")  # unreachable from the parser


def matches(expression: FilterExpression, record: dict[str, Any]) -> bool:
    if isinstance(expression, Operator):
        return expression.evaluate(record)
    if isinstance(expression, str):
        text = expression.strip()
        if text.lower() in ("true", "false"):  # JumpStart accepts bare constants as operands
            return text.lower() == "true"
        return evaluate_filter(parse_filter_string(text), record)
    raise ValidationError(f"filter must be a string or And/Or/Not, not {type(expression).__name__}")
