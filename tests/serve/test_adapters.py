"""Many LoRA adapters on one endpoint: one base model, adapters attached (at deploy time and
later, without reloading it), each request picking one by TGI adapter_id, OpenAI
model=ENDPOINT:ADAPTER or the runtime's TargetModel/InferenceComponentName; greedy outputs equal
each adapter's merged model served alone."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import liveserver
import pytest

from springboard.generate import Engine, GenerationParams
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry
from springboard.serve.server import ServerClient

from .test_deploy import background_server  # noqa: F401 - a real `springboard serve` process

PROMPTS = ["hello world", "the cat sat on", "once upon a time", "abc def"]
NEW = 8


def build_adapter(base_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA artifact as a training job writes it (adapter/ + springboard.json) with random,
    non-zero B matrices so outputs differ from the base, plus its merged model under merged/."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out / "adapter")
    (out / "springboard.json").write_text(json.dumps({"base_model": str(base_dir)}))
    peft_model.merge_and_unload().save_pretrained(out / "merged")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out / "merged")
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tiny_causal_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: build_adapter(tiny_causal_dir, root / name, seed) for seed, name in enumerate(["a1", "a2", "a3"], 1)}


@pytest.fixture(scope="module")
def alone(artifacts, tiny_causal_dir) -> dict[str | None, list[str]]:
    """Each adapter's merged model served alone (and the base), greedy, on the scheduler as an
    endpoint serves it."""
    params = GenerationParams(max_new_tokens=NEW)
    out: dict[str | None, list[str]] = {}
    for name, ref in [(None, tiny_causal_dir)] + [(n, a / "merged") for n, a in artifacts.items()]:
        engine = Engine.load(ref)
        engine.enable_continuous_batching()
        out[name] = [r.texts[0] for r in engine.generate(PROMPTS, params)]
        engine.close()
    assert len({tuple(v) for v in out.values()}) == 4  # the adapters do change the outputs
    return out


@pytest.fixture(scope="module")
def multi(tmp_path_factory, tiny_causal_dir, artifacts):
    engine = Engine.load(tiny_causal_dir)
    base = engine.model
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    # held to the engine's raw generation of the same text: plain prompts go in raw (the switch)
    manager.add_engine(EndpointConfig(name="multi", model=str(tiny_causal_dir), prompt_format="raw",
                                      adapters={"a1": str(artifacts["a1"])}), engine)
    live = liveserver.start(manager, publish=False)
    url = live.url
    # attached later, on the running endpoint: through the client and through the raw JSON route
    ServerClient(url).attach_adapter("multi", "a2", str(artifacts["a2"]))
    r = httpx.post(f"{url}/springboard/endpoints/multi/adapters", json={"name": "a3", "artifact": str(artifacts["a3"])})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["adapters"]) == ["a1", "a2", "a3"]
    yield url, engine, base, manager
    live.stop(timeout=10)
    engine.close()


def _runtime(url: str):
    import boto3

    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_interleaved_requests_through_real_clients_match_each_adapter_alone(multi, alone):
    import openai
    from huggingface_hub import InferenceClient

    url, engine, _, _ = multi
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    tgi = InferenceClient(base_url=f"{url}/endpoints/multi")
    runtime = _runtime(url)

    def via_openai(adapter, prompt):
        model = f"multi:{adapter}" if adapter else "multi"
        return oai.completions.create(model=model, prompt=prompt, max_tokens=NEW, temperature=0).choices[0].text

    def via_tgi(adapter, prompt):
        return tgi.text_generation(prompt, max_new_tokens=NEW, adapter_id=adapter)

    def via_runtime(adapter, prompt, header="TargetModel"):
        body = json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": NEW}})
        extra = {header: adapter} if adapter else {}
        out = runtime.invoke_endpoint(EndpointName="multi", Body=body, ContentType="application/json", **extra)
        return json.loads(out["Body"].read())[0]["generated_text"]

    def via_component(adapter, prompt):
        return via_runtime(adapter, prompt, "InferenceComponentName")

    clients = [via_openai, via_tgi, via_runtime, via_component]
    jobs = []
    for i, prompt in enumerate(PROMPTS):
        for j, adapter in enumerate(["a1", "a2", "a3", None]):
            if adapter is None and clients[(i + j) % 4] is via_component:
                continue  # no component header without a name
            jobs.append((clients[(i + j) % 4], adapter, i))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda job: job[0](job[1], PROMPTS[job[2]]), jobs))
    for (client, adapter, i), text in zip(jobs, results):
        assert text == alone[adapter][i], (client.__name__, adapter, PROMPTS[i])
    assert engine.scheduler is not None and engine.scheduler.stats.rows >= len(jobs)


def test_adapters_share_one_base_model_without_reloading_it(multi, alone):
    _, engine, base, _ = multi
    assert engine.model is base
    assert engine.peft.get_base_model() is base
    assert sorted(engine.adapters) == ["a1", "a2", "a3"]
    # plain (non-scheduled) calls of the base model still give the base model's outputs
    params = GenerationParams(max_new_tokens=NEW, num_beams=2)
    reference = Engine.load(engine.model_dir)
    assert [r.texts for r in engine.generate(PROMPTS, params)] == [r.texts for r in reference.generate(PROMPTS, params)]


def test_unknown_adapter_is_a_client_error_naming_it_and_the_attached_ones(multi):
    import openai
    from botocore.exceptions import ClientError
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import ValidationError as TgiValidationError

    url, _, _, _ = multi
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match=r"'nope'.*a1, a2, a3"):
        oai.completions.create(model="multi:nope", prompt="hi", max_tokens=2)
    with pytest.raises(TgiValidationError, match=r"'nope'.*a1, a2, a3"):  # TGI's 422 "validation"
        InferenceClient(base_url=f"{url}/endpoints/multi").text_generation("hi", max_new_tokens=2, adapter_id="nope")
    with pytest.raises(ClientError, match=r"'nope'.*a1, a2, a3") as err:
        _runtime(url).invoke_endpoint(EndpointName="multi", Body=b'{"inputs": "hi"}', ContentType="application/json",
                                      TargetModel="nope")
    assert err.value.response["Error"]["Code"] == "ModelError"


def test_attach_refuses_other_base_models_and_non_adapters(multi, tmp_path, tiny_t5_dir, artifacts):
    import shutil

    url, engine, _, _ = multi
    other = tmp_path / "other"
    shutil.copytree(artifacts["a1"] / "adapter", other / "adapter")
    (other / "springboard.json").write_text(json.dumps({"base_model": str(tiny_t5_dir)}))
    r = httpx.post(f"{url}/springboard/endpoints/multi/adapters", json={"name": "x", "artifact": str(other)})
    assert r.status_code == 400 and "trained on" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/springboard/endpoints/multi/adapters", json={"name": "x", "artifact": str(tmp_path)})
    assert r.status_code == 400 and "no LoRA adapter" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/springboard/endpoints/multi/adapters", json={"name": "a1", "artifact": str(artifacts["a2"])})
    assert r.status_code == 400 and "already attached" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/springboard/endpoints/nowhere/adapters", json={"name": "x", "artifact": str(other)})
    assert r.status_code == 404
    assert sorted(engine.adapters) == ["a1", "a2", "a3"]


def test_deploy_option_and_cli_attach_against_a_background_server(background_server, tiny_causal_dir, artifacts,
                                                                  alone, capsys):
    from springboard import Model
    from springboard.cli import main
    from springboard.serve.server import find_server

    # the SDK's container environment sets the prompt-format switch: plain text raw, as `alone` generated it
    Model(model_data=tiny_causal_dir, env={"SPRINGBOARD_PROMPT_FORMAT": "raw"}).deploy(
        endpoint_name="lora", adapters={"a1": str(artifacts["a1"])})
    assert main(["endpoints", "attach-adapter", "lora", "a3", "--artifact", str(artifacts["a3"])]) == 0
    assert "a1, a3" in capsys.readouterr().out
    assert main(["endpoints", "attach-adapter", "lora", "a9", "--artifact", str(artifacts["a3"] / "nothing")]) == 1
    assert "no training job or directory" in capsys.readouterr().err
    assert main(["endpoints", "describe", "lora"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["Config"]["adapters"]) == ["a1", "a3"]
    runtime = _runtime(find_server())
    for adapter in ("a1", "a3"):
        body = json.dumps({"inputs": PROMPTS[0], "parameters": {"max_new_tokens": NEW}})
        out = runtime.invoke_endpoint(EndpointName="lora", Body=body, ContentType="application/json", TargetModel=adapter)
        assert json.loads(out["Body"].read())[0]["generated_text"] == alone[adapter][0]


def test_deployed_adapters_are_attached_on_load_and_a_bad_one_fails_the_endpoint(tmp_path, tiny_causal_dir,
                                                                                  artifacts):
    manager = EndpointManager(EndpointRegistry(tmp_path / "endpoints"))
    manager.create(EndpointConfig(name="good", model=str(tiny_causal_dir), adapters={"a2": str(artifacts["a2"])}),
                   background=False)
    assert sorted(manager.get("good").engine.adapters) == ["a2"]
    manager.create(EndpointConfig(name="bad", model=str(tiny_causal_dir), adapters={"x": str(tmp_path)}),
                   background=False)
    record = manager.describe("bad")
    assert record.status == "Failed" and "no LoRA adapter" in record.failure_reason
    # a restarted server attaches the recorded adapters again
    again = EndpointManager(EndpointRegistry(tmp_path / "endpoints"))
    for load in again.restore():
        load.result()
    assert sorted(again.get("good").engine.adapters) == ["a2"]
    for m in (manager, again):
        for endpoint in m.endpoints.values():
            if endpoint.engine is not None:
                endpoint.engine.close()
