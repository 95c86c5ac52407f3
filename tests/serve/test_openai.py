"""The OpenAI-compatible routes, through the real `openai` client."""

from __future__ import annotations

import openai
import pytest

from springboard.generate import GenerationParams


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_endpoints(client):
    assert {m.id for m in client.models.list()} >= {"causal", "t5"}


def test_completions_greedy_matches_the_engine(client, causal_engine):
    expected = causal_engine.generate(["Hello", "Once upon"], GenerationParams(max_new_tokens=5))
    out = client.completions.create(model="causal", prompt=["Hello", "Once upon"], max_tokens=5, temperature=0)
    assert [c.text for c in out.choices] == [r.texts[0] for r in expected]
    assert out.usage.completion_tokens == sum(r.generated_tokens for r in expected)
    assert out.usage.prompt_tokens == sum(r.prompt_tokens for r in expected)
    echo = client.completions.create(model="causal", prompt="Hello", max_tokens=5, temperature=0, echo=True)
    assert echo.choices[0].text == "Hello" + expected[0].texts[0]


def test_chat_completions_apply_the_chat_template(client, causal_engine):
    messages = [{"role": "user", "content": "Hi there"}]
    expected = causal_engine.generate(["Hi there"], GenerationParams(max_new_tokens=6), chat=True)[0]
    out = client.chat.completions.create(model="causal", messages=messages, max_tokens=6, temperature=0)
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == expected.texts[0]
    assert out.usage.prompt_tokens == expected.prompt_tokens  # the templated prompt was counted
    sampled = client.chat.completions.create(model="causal", messages=messages, max_tokens=4, n=2, seed=5)
    assert len(sampled.choices) == 2


def test_streams(client, causal_engine):
    expected = causal_engine.generate(["Hi there"], GenerationParams(max_new_tokens=6), chat=True)[0]
    chunks = list(client.chat.completions.create(
        model="causal", messages=[{"role": "user", "content": "Hi there"}], max_tokens=6, temperature=0,
        stream=True, stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.texts[0]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == expected.finish_reason
    assert chunks[-1].usage.completion_tokens == expected.generated_tokens
    plain = causal_engine.generate(["Hello"], GenerationParams(max_new_tokens=5))[0].texts[0]
    stream = client.completions.create(model="causal", prompt="Hello", max_tokens=5, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in stream) == plain


def test_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x")
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="causal", prompt="x", n=2, temperature=0)
    assert "'n'" in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="causal", prompt="x", max_tokens=100000)
    assert "max_tokens" in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="causal", messages=[{"role": "user", "content": "x"}], top_p=5)
    assert "top_p" in str(err.value)
    # still serving
    assert client.completions.create(model="causal", prompt="x", max_tokens=2).choices


def test_models_retrieve(client):
    model = client.models.retrieve("causal")
    assert model.id == "causal" and model.owned_by == "springboard"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_completion_logprobs_are_the_engines(client, causal_engine):
    expected = causal_engine.generate(["Hello"], GenerationParams(max_new_tokens=5, logprobs=2))[0]
    out = client.completions.create(model="causal", prompt="Hello", max_tokens=5, temperature=0, logprobs=2)
    lp = out.choices[0].logprobs
    assert lp.tokens == [t.text for t in expected.tokens[0]]
    assert lp.token_logprobs == pytest.approx([t.logprob for t in expected.tokens[0]], abs=1e-4)
    for top, token in zip(lp.top_logprobs, expected.tokens[0]):
        assert set(top) >= {a.text for a in token.top} and max(top.values()) == pytest.approx(token.top[0].logprob, abs=1e-4)
    assert len(lp.tokens) == out.usage.completion_tokens


def test_loglikelihood_requests_as_lm_evaluation_harness_sends_them(client, causal_engine):
    """echo + logprobs over token-id prompts: max_tokens=0 scores the prompt alone, max_tokens=1
    scores it plus one generated token (lm-eval reads token_logprobs[ctxlen:-1])."""
    context = causal_engine.tokenizer("The quick brown")["input_ids"]
    continuation = causal_engine.tokenizer(" fox jumps")["input_ids"]
    ids = context + continuation
    scored = causal_engine.score([ids], top_n=1)[0]
    only = client.completions.create(model="causal", prompt=[ids], max_tokens=0, echo=True, logprobs=1, temperature=0)
    lp = only.choices[0].logprobs
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert lp.token_logprobs[1:] == pytest.approx([t.logprob for t in scored[1:]], abs=1e-4)
    assert only.usage.completion_tokens == 0 and only.usage.prompt_tokens == len(ids)
    plus_one = client.completions.create(model="causal", prompt=[ids], max_tokens=1, echo=True, logprobs=1,
                                         temperature=0, seed=1234)
    choice = plus_one.choices[0]
    assert len(choice.logprobs.token_logprobs) == len(ids) + 1
    tail = choice.logprobs.token_logprobs[len(context):-1]
    assert sum(tail) == pytest.approx(sum(t.logprob for t in scored[len(context):]), abs=1e-3)
    greedy = all(lp == pytest.approx(max(top.values())) for lp, top in
                 zip(tail, choice.logprobs.top_logprobs[len(context):-1]))
    best = [t.top[0].id for t in scored[len(context):]]
    assert greedy == (best == continuation)


def test_chat_logprobs_and_streamed_logprobs(client, causal_engine):
    messages = [{"role": "user", "content": "Hi there"}]
    expected = causal_engine.generate(["Hi there"], GenerationParams(max_new_tokens=6, logprobs=3), chat=True)[0]
    content = [t for t in expected.tokens[0] if not t.special]
    out = client.chat.completions.create(model="causal", messages=messages, max_tokens=6, temperature=0,
                                         logprobs=True, top_logprobs=3)
    got = out.choices[0].logprobs.content
    assert [c.token for c in got] == [t.text for t in content]
    assert [c.logprob for c in got] == pytest.approx([t.logprob for t in content], abs=1e-4)
    assert all(len(c.top_logprobs) == 3 for c in got)
    chunks = list(client.chat.completions.create(model="causal", messages=messages, max_tokens=6, temperature=0,
                                                 logprobs=True, top_logprobs=1, stream=True))
    streamed = [c for chunk in chunks if chunk.choices and chunk.choices[0].logprobs
                for c in chunk.choices[0].logprobs.content]
    assert [c.token for c in streamed] == [t.text for t in content]
    assert [c.logprob for c in streamed] == pytest.approx([t.logprob for t in content], abs=1e-4)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="causal", messages=messages, top_logprobs=2)
    assert "top_logprobs" in str(err.value)


PERSON = {"type": "object", "additionalProperties": False, "required": ["name", "likes_tea", "mood"],
          "properties": {"name": {"type": "string", "maxLength": 6}, "likes_tea": {"type": "boolean"},
                         "mood": {"enum": ["happy", "sad"]}}}


def test_response_format_json_schema_and_json_object_parse_and_match(client):
    import json

    import jsonschema

    messages = [{"role": "user", "content": "Describe a person."}]
    out = client.chat.completions.create(
        model="causal", messages=messages, max_tokens=60, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}})
    jsonschema.validate(json.loads(out.choices[0].message.content), PERSON)
    sampled = client.chat.completions.create(
        model="causal", messages=messages, max_tokens=60, n=2, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}})
    for choice in sampled.choices:
        jsonschema.validate(json.loads(choice.message.content), PERSON)
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="causal", messages=messages, max_tokens=60, temperature=0, stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}) if c.choices)
    assert streamed == out.choices[0].message.content
    obj = client.chat.completions.create(model="causal", messages=messages, max_tokens=40, temperature=0,
                                         response_format={"type": "json_object"})
    if obj.choices[0].finish_reason == "stop":  # a weak model may still be inside the object at the limit
        assert isinstance(json.loads(obj.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="causal", messages=messages,
                                       response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert "response_format" in str(err.value)


def test_tools_with_tool_choice_produce_a_valid_call(client):
    import json

    import jsonschema

    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "additionalProperties": False, "required": ["city", "unit"],
        "properties": {"city": {"type": "string", "maxLength": 8}, "unit": {"enum": ["c", "f"]}}}}}
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {}, "additionalProperties": False}}}
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    out = client.chat.completions.create(model="causal", messages=messages, max_tokens=60, temperature=0,
                                         tools=[weather, clock],
                                         tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), weather["function"]["parameters"])
    required = client.chat.completions.create(model="causal", messages=messages, max_tokens=60, temperature=0,
                                              tools=[weather, clock], tool_choice="required")
    assert required.choices[0].message.tool_calls[0].function.name in {"get_weather", "get_time"}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="causal", messages=messages, tools=[weather])
    assert "tool_choice" in str(err.value)


def test_presence_and_frequency_penalties_are_honoured(client, causal_engine):
    expected = causal_engine.generate(["Hello"], GenerationParams(max_new_tokens=12, frequency_penalty=1.5,
                                                                 presence_penalty=0.5))[0]
    out = client.completions.create(model="causal", prompt="Hello", max_tokens=12, temperature=0,
                                    frequency_penalty=1.5, presence_penalty=0.5)
    assert out.choices[0].text == expected.texts[0]
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="causal", prompt="Hello", presence_penalty=5)
    assert "presence_penalty" in str(err.value)
