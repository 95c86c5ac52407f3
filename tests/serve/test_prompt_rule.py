"""The one prompt rule (generate/prompting.py) on every path, through real clients on loopback:
the same plain prompt sent as JumpStart `inputs` and `text_inputs` (boto3 sagemaker-runtime), an
`application/x-text` body, TGI /generate (httpx), OpenAI completions (openai) and a batch
transform gets the same rendering; the switch SPRINGBOARD_PROMPT_FORMAT is honoured on each; an
artifact trained with use_chat_template=False is served raw."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import liveserver
import pytest

from springboard.generate import Engine, GenerationParams
from springboard.generate.prompting import prompt_format, rendered
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry

PROMPT = "Name three colours of the rainbow."
TOKENS = 6


@pytest.fixture(scope="module")
def engine(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def trained_raw_dir(tmp_path_factory, tiny_causal_dir):
    """A training job's artifact whose examples were plain text (use_chat_template=False), as
    older artifacts record it: in its hyperparameters only."""
    out = tmp_path_factory.mktemp("artifact") / "model"
    shutil.copytree(tiny_causal_dir, out)
    (out / "springboard.json").write_text(json.dumps({
        "base_model": str(tiny_causal_dir), "method": "full", "architecture": "causal",
        "hyperparameters": {"use_chat_template": False, "chat_dataset": False, "instruction_tuned": True}}))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory, engine, trained_raw_dir) -> Iterator[str]:
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    model = str(engine.model_dir)
    manager.add_engine(EndpointConfig(name="auto", model=model), engine)
    manager.add_engine(EndpointConfig(name="raw", model=model, prompt_format="raw"), engine)
    trained = Engine.load(trained_raw_dir)
    manager.add_engine(EndpointConfig(name="trained", model=str(trained_raw_dir)), trained)
    manager.add_engine(EndpointConfig(name="forced", model=str(trained_raw_dir), prompt_format="chat"), trained)
    live = liveserver.start(manager, publish=False)
    yield live.url
    live.stop(timeout=10)


@pytest.fixture(scope="module")
def expected(engine) -> dict[str, str]:
    params = GenerationParams(max_new_tokens=TOKENS)
    out = {fmt: engine.generate([PROMPT], params, chat=fmt == "chat")[0].texts[0] for fmt in ("chat", "raw")}
    assert out["chat"] != out["raw"]  # the paths below tell the two renderings apart
    return out


def _answers(url: str, name: str, prompt: str = PROMPT, tokens: int = TOKENS) -> dict[str, str]:
    """The answer to `prompt` on every plain-text path of endpoint `name`."""
    import boto3
    import openai

    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")

    def invoke(body, content_type="application/json"):
        response = runtime.invoke_endpoint(EndpointName=name, ContentType=content_type, Body=body)
        return json.loads(response["Body"].read())

    out = {
        "inputs": invoke(json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": tokens}}))[0]["generated_text"],
        "text_inputs": invoke(json.dumps({"text_inputs": prompt, "max_new_tokens": tokens}))["generated_texts"][0],
        "tgi": httpx.post(f"{url}/endpoints/{name}/generate",
                          json={"inputs": prompt, "parameters": {"max_new_tokens": tokens}}).json()["generated_text"],
    }
    stream = httpx.post(f"{url}/endpoints/{name}/generate_stream",
                        json={"inputs": prompt, "parameters": {"max_new_tokens": tokens}})
    events = [json.loads(line[5:]) for line in stream.text.splitlines() if line.startswith("data:")]
    out["tgi_stream"] = events[-1]["generated_text"]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    out["completions"] = client.completions.create(model=name, prompt=prompt, max_tokens=tokens,
                                                   temperature=0).choices[0].text
    streamed = client.completions.create(model=name, prompt=prompt, max_tokens=tokens, temperature=0, stream=True)
    out["completions_stream"] = "".join(c.choices[0].text for c in streamed if c.choices)
    return out


def test_an_instruct_model_renders_plain_text_in_its_chat_template_on_every_path(server, engine, expected):
    assert prompt_format(engine) == "chat"
    assert rendered(engine, PROMPT).startswith("<|im_start|>user\n" + PROMPT)
    assert set(_answers(server, "auto").values()) == {expected["chat"]}


def test_the_switch_makes_every_path_raw(server, expected):
    assert set(_answers(server, "raw").values()) == {expected["raw"]}


def test_an_artifact_trained_without_the_chat_template_is_served_raw(server, expected, trained_raw_dir):
    assert set(_answers(server, "trained").values()) == {expected["raw"]}
    # the switch overrides what the artifact records
    assert set(_answers(server, "forced").values()) == {expected["chat"]}


def test_dialogs_are_always_templated_even_with_the_raw_switch(server, engine):
    import boto3
    import openai

    messages = [{"role": "user", "content": PROMPT}]
    want = engine.generate([messages], GenerationParams(max_new_tokens=TOKENS))[0].texts[0]
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused")
    chat = client.chat.completions.create(model="raw", messages=messages, max_tokens=TOKENS, temperature=0)
    assert chat.choices[0].message.content == want
    runtime = boto3.client("sagemaker-runtime", endpoint_url=server, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    body = json.dumps({"inputs": [messages], "parameters": {"max_new_tokens": TOKENS}})
    out = json.loads(runtime.invoke_endpoint(EndpointName="raw", ContentType="application/json",
                                             Body=body)["Body"].read())
    assert out[0]["generated_text"] == want


def _zero_adapter(base_dir, out, prompt_format: str):
    """A LoRA artifact as a training job writes it whose update is zero (peft's default init:
    B = 0), so its answers are the base's under whatever rendering it gets."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(out / "adapter")
    (out / "springboard.json").write_text(json.dumps({"base_model": str(base_dir), "prompt_format": prompt_format}))
    return out


def test_an_adapter_is_served_in_the_format_it_was_trained_in(tmp_path, tiny_causal_dir, expected):
    """On an endpoint with adapters, a request naming an adapter trained raw gets raw rendering
    and one naming an adapter trained in chat gets the chat template, whatever the base's own
    format (chat here); the endpoint's switch still overrides both."""
    import boto3
    import openai

    adapters = {"plain": str(_zero_adapter(tiny_causal_dir, tmp_path / "plain", "raw")),
                "chatty": str(_zero_adapter(tiny_causal_dir, tmp_path / "chatty", "chat"))}
    manager = EndpointManager(EndpointRegistry(tmp_path / "endpoints"))
    manager.add_engine(EndpointConfig(name="adapted", model=str(tiny_causal_dir), adapters=adapters),
                       Engine.load(tiny_causal_dir))
    manager.add_engine(EndpointConfig(name="adapted-raw", model=str(tiny_causal_dir), adapters=adapters,
                                      prompt_format="raw"), Engine.load(tiny_causal_dir))
    live = liveserver.start(manager, publish=False)
    try:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
        runtime = boto3.client("sagemaker-runtime", endpoint_url=live.url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")

        def answers(endpoint, adapter):
            body = json.dumps({"inputs": PROMPT, "parameters": {"max_new_tokens": TOKENS}})
            extra = {"TargetModel": adapter} if adapter else {}
            return {
                "openai": client.completions.create(model=f"{endpoint}:{adapter}" if adapter else endpoint, prompt=PROMPT,
                                                    max_tokens=TOKENS, temperature=0).choices[0].text,
                "tgi": httpx.post(f"{live.url}/endpoints/{endpoint}/generate", json={
                    "inputs": PROMPT, "parameters": {"max_new_tokens": TOKENS, "adapter_id": adapter}}).json()["generated_text"],
                "runtime": json.loads(runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                                              Body=body, **extra)["Body"].read())[0]["generated_text"],
            }

        assert set(answers("adapted", None).values()) == {expected["chat"]}  # the base's own format
        assert set(answers("adapted", "plain").values()) == {expected["raw"]}
        assert set(answers("adapted", "chatty").values()) == {expected["chat"]}
        assert set(answers("adapted-raw", "chatty").values()) == {expected["raw"]}  # the switch wins
    finally:
        live.stop(timeout=10)


@pytest.mark.parametrize("knobs, fmt", [
    ({}, "chat"),
    ({"chat": False}, "raw"),
    ({"environment": {"SPRINGBOARD_PROMPT_FORMAT": "raw"}}, "raw"),
    ({"environment": {"SPRINGBOARD_PROMPT_FORMAT": "auto"}}, "chat"),
])
def test_a_batch_transform_renders_records_by_the_same_rule(tmp_path, engine, expected, knobs, fmt):
    from springboard.transform.config import TransformConfig
    from springboard.transform.runner import TransformRunner

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": 1, "text_inputs": PROMPT}) + "\n")
    env = {**knobs.pop("environment", {}), "HYPER_PARAMS": str({"max_new_tokens": TOKENS})}
    config = TransformConfig(model=str(engine.model_dir), input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                             environment=env, **knobs)
    TransformRunner(config, engine, tmp_path / "state").run()
    out = json.loads((tmp_path / "out" / "a.jsonl.out").read_text())
    assert out["generated_texts"] == [expected[fmt]]


def test_a_transform_chat_flag_and_environment_that_disagree_are_refused(tmp_path):
    from springboard.transform.config import TransformConfig

    with pytest.raises(ValueError, match="SPRINGBOARD_PROMPT_FORMAT=chat"):
        TransformConfig(model="m", input=str(tmp_path), output=str(tmp_path / "o"), chat=False,
                        environment={"SPRINGBOARD_PROMPT_FORMAT": "chat"})
    with pytest.raises(ValueError, match="SPRINGBOARD_PROMPT_FORMAT must be one of auto, chat, raw"):
        TransformConfig(model="m", input=str(tmp_path), output=str(tmp_path / "o"),
                        environment={"SPRINGBOARD_PROMPT_FORMAT": "template"})


@pytest.mark.slow
def test_the_real_default_model_gives_one_non_empty_answer_on_every_path(tmp_path_factory, tmp_path):
    """SmolLM2-135M-Instruct: the prompt that answered empty from the endpoint (sent raw) and
    filled from the transform (templated) now answers the same, non-empty, everywhere."""
    from springboard.transform.config import TransformConfig
    from springboard.transform.runner import TransformRunner

    prompt, tokens = "What is the capital of France?", 8
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    manager.create(EndpointConfig(name="real", model="smollm2-135m-instruct"), background=False)
    engine = manager.get("real").ready()
    assert prompt_format(engine) == "chat"
    live = liveserver.start(manager, publish=False)
    try:
        answers = _answers(live.url, "real", prompt, tokens)
    finally:
        live.stop(timeout=10)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "q.jsonl").write_text(json.dumps({"id": 1, "text_inputs": prompt}) + "\n")
    config = TransformConfig(model="smollm2-135m-instruct", input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                             environment={"HYPER_PARAMS": str({"max_new_tokens": tokens})})
    TransformRunner(config, engine, tmp_path / "state").run()
    answers["transform"] = json.loads((tmp_path / "out" / "q.jsonl.out").read_text())["generated_texts"][0]
    assert len(set(answers.values())) == 1, answers
    assert answers["transform"].strip(), answers
