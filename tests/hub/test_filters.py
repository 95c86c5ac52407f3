"""The JumpStart filter language over the built-in catalog."""

from __future__ import annotations

import pytest

from springboard.errors import ValidationError
from springboard.hub import And, Not, Or, list_models, parse_filter_string

FLAN = {f"huggingface-text2text-flan-t5-{s}" for s in ("small", "base", "large", "xl", "xxl")}
LLAMA = {f"meta-textgeneration-llama-2-{s}" for s in ("7b", "13b", "70b", "7b-f", "13b-f", "70b-f")}
CAUSAL = LLAMA | {
    "smollm2-135m-instruct",
    "huggingface-llm-mistral-7b",
    "huggingface-llm-mistral-7b-instruct",
    "huggingface-llm-falcon-7b-bf16",
    "huggingface-llm-falcon-7b-instruct-bf16",
    "huggingface-llm-falcon-40b-bf16",
    "huggingface-llm-falcon-40b-instruct-bf16",
    *(f"huggingface-textgeneration-dolly-v2-{s}-bf16" for s in ("3b", "7b", "12b")),
    *(f"huggingface-textgeneration1-mpt-{s}-bf16" for s in ("7b", "7b-instruct", "30b", "30b-instruct")),
}


def test_no_filter_lists_every_builtin_sorted():
    ids = list_models()
    assert set(ids) == FLAN | CAUSAL
    assert ids == sorted(ids)


def test_equals_spellings_and_case_insensitive_values():
    for expr in ("task == text2text", "task === TEXT2TEXT", "task equals text2text", "task is text2text"):
        assert set(list_models(expr)) == FLAN, expr


def test_not_equals():
    assert "meta-textgeneration-llama-2-7b" not in list_models("framework != meta")
    assert set(list_models("framework is not huggingface")) == LLAMA


def test_booleans_compare_as_true_false():
    assert set(list_models("requires_eula == true")) == LLAMA
    assert set(list_models("training_supported == True")) == FLAN | CAUSAL
    assert list_models("training_supported == false") == []


def test_in_and_not_in():
    assert set(list_models("task in [text2text, text-generation]")) == FLAN | CAUSAL
    assert set(list_models("architecture in [seq2seq]")) == FLAN
    assert set(list_models("task not in [text2text]")) == CAUSAL


def test_includes_begins_ends():
    assert list_models("aliases includes mistral-7b") == ["huggingface-llm-mistral-7b"]
    assert set(list_models("model_id begins with huggingface-text2text")) == FLAN
    assert list_models("model_id ends with -xl") == ["huggingface-text2text-flan-t5-xl"]
    assert set(list_models("source.type == gguf_package")) == {"smollm2-135m-instruct"}


def test_and_or_not_nesting():
    expr = And("task == text-generation", Or("framework == meta", "model_id begins with smollm2"))
    assert set(list_models(expr)) == LLAMA | {"smollm2-135m-instruct"}
    expr = Or(And("task == text2text", "model_id ends with small"), "payload_format == llama")
    assert set(list_models(expr)) == LLAMA | {"huggingface-text2text-flan-t5-small"}
    assert set(list_models(Not("task == text2text"))) == CAUSAL
    assert set(list_models(And("true", "task == text2text"))) == FLAN


def test_unknown_field_names_field_and_lists_valid_ones():
    with pytest.raises(ValidationError) as err:
        list_models("colour == red")
    assert "'colour'" in str(err.value) and "task" in str(err.value) and "framework" in str(err.value)
    with pytest.raises(ValidationError):
        list_models(And("task == text2text", "colour == red"))


def test_unparseable_filter():
    with pytest.raises(ValidationError, match="cannot parse filter"):
        list_models("task text2text")


def test_parse_prefers_longest_operator():
    assert parse_filter_string("task not in [a]").operator == "not_in"
    assert parse_filter_string("a !== b").operator == "not_equals"
    assert parse_filter_string("framework is not meta").operator == "not_equals"
    assert parse_filter_string("task === x").value == "x"


def test_sdk_top_level_exports():
    import springboard

    assert springboard.And is And and springboard.Or is Or
    assert springboard.list_models("framework == meta") == sorted(LLAMA)
