"""data/inspect.py: every record checked before staging, errors naming file, line and field;
token lengths against max_input_length; and train's `problems` (every hyperparameter error)."""

from __future__ import annotations

import pytest

from springboard.data.inspect import histogram, inspect_rows, jsonl_rows
from springboard.data.template import load_template
from springboard.errors import DataError
from springboard.train.hyperparameters import problems


class Chars:
    """A tokenizer stand-in: one token per character."""

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": list(text)}


def test_bad_json_line_names_the_upload_and_line():
    with pytest.raises(DataError, match=r"notes.jsonl:2: bad JSON"):
        list(jsonl_rows("notes.jsonl", '{"q": 1}\nq,a\n'))


def test_missing_field_and_counts():
    template = load_template({"prompt": "{q}", "completion": " {a}"})
    rows = [("f.jsonl", 1, {"q": "abc", "a": "d"}), ("f.jsonl", 3, {"q": "abcdefgh", "a": "ij"})]
    report = inspect_rows(iter(rows), template, tokenizer=Chars(), max_input_length=6, examples=1)
    assert (report.rows, report.fields, report.truncated, report.longest) == (2, ["q", "a"], 1, 11)
    assert report.examples == [{"file": "f.jsonl", "line": 1, "prompt": "abc", "completion": " d"}]
    assert sum(b.count for b in report.histogram) == 2
    with pytest.raises(DataError, match=r"f.jsonl:4: field 'a'"):
        inspect_rows(iter(rows + [("f.jsonl", 4, {"q": "x"})]), template)
    with pytest.raises(DataError, match=r"f.jsonl:1: field 'prompt'"):
        inspect_rows(iter(rows), None)


def test_histogram_reaches_the_limit():
    bins = histogram([1, 2, 3], 100)
    assert bins[-1].high >= 100 and sum(b.count for b in bins) == 3


def test_problems_lists_every_error():
    found = problems("causal-lm", {"epoch": "0", "learning_rate": "5", "nope": "1"}, {})
    assert [f for f, _ in found] == ["nope", "epoch", "learning_rate"]
    assert problems("causal-lm", {"epoch": "2"}, {}) == []
