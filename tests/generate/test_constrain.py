"""Grammar-constrained decoding (llguidance) on the engine: the output parses and matches."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from springboard.errors import DataError
from springboard.generate import Engine, GenerationParams
from springboard.generate.constrain import json_schema_grammar, regex_grammar

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "ok", "color"],
          "properties": {"name": {"type": "string", "maxLength": 6}, "ok": {"type": "boolean"},
                         "color": {"enum": ["red", "green"]}}}


@pytest.fixture(scope="module")
def causal(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


def test_json_schema_output_parses_and_matches(causal):
    grammar = json_schema_grammar(SCHEMA)
    greedy = causal.generate(["A:", "Some JSON please"], GenerationParams(max_new_tokens=60, grammar=grammar))
    sampled = causal.generate(["A:"], GenerationParams(max_new_tokens=60, grammar=grammar, do_sample=True,
                                                      num_return_sequences=3, seed=1))
    for text in [r.texts[0] for r in greedy] + sampled[0].texts:
        jsonschema.validate(json.loads(text), SCHEMA)
    assert greedy[0].finish_causes == ["eos_token"]  # the grammar completes, then only eos is allowed
    unconstrained = causal.generate(["A:"], GenerationParams(max_new_tokens=20))[0].texts[0]
    with pytest.raises(ValueError):
        json.loads(unconstrained)  # the tiny random model does not write JSON by itself


def test_regex_and_streaming(causal):
    params = GenerationParams(max_new_tokens=20, grammar=regex_grammar(r"[a-c]{3}-\d{2}"))
    out = causal.generate(["Code:"], params)[0].texts[0]
    assert re.fullmatch(r"[a-c]{3}-\d{2}", out)
    assert "".join(causal.stream("Code:", params)) == out


def test_bad_schemas_and_unsupported_combinations_are_refused(causal, tiny_t5_dir):
    with pytest.raises(DataError) as err:
        json_schema_grammar({"type": "object", "properties": {"x": {"type": "bogus"}}})
    assert err.value.field == "response_format"
    grammar = json_schema_grammar(SCHEMA)
    with pytest.raises(DataError):
        causal.generate(["A:"], GenerationParams(max_new_tokens=5, grammar=grammar, num_beams=2))
    with pytest.raises(DataError) as err:
        Engine.load(tiny_t5_dir).generate(["A:"], GenerationParams(max_new_tokens=5, grammar=grammar))
    assert "causal" in str(err.value)
