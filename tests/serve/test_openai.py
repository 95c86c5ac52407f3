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
