"""The real default model behind an endpoint, answering a chat question (slow)."""

from __future__ import annotations

import json

import pytest

from springboard.serve import EndpointConfig


@pytest.mark.slow
def test_smollm2_endpoint_answers_a_chat_question(server, runtime):
    # Converted weights come from the suite's shared models dir (conftest's sb_home).
    import openai

    server.manager.create(EndpointConfig(name="smol", model="smollm2-135m-instruct"), background=False)
    try:
        record = server.manager.describe("smol")
        assert record.status == "InService", record.failure_reason
        chat = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused").chat.completions.create(
            model="smol", messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24, temperature=0,
        )
        assert "paris" in chat.choices[0].message.content.lower()
        out = runtime.invoke_endpoint(
            EndpointName="smol", ContentType="application/json",
            Body=json.dumps({"inputs": "The capital of France is", "parameters": {"max_new_tokens": 8}}),
        )
        assert json.loads(out["Body"].read())[0]["generated_text"].strip()
    finally:
        import asyncio

        asyncio.run(server.manager.delete("smol"))
