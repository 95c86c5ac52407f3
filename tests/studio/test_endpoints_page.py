"""The Endpoints page in a real browser: failure reasons, the endpoint page (model, precision,
recent latency and tokens/s), confirmed delete, a taken name said in words, the chat playground
(system prompt, turns, sampling settings, stop sequences), side-by-side panels named after their
endpoints, empty answers explained, and the app's banner: cleared once the failing request
succeeds, "server unreachable" (statuses Unknown) while the server is down, gone when it is back."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

MISSING = "huggingface-llm-mistral-7b"  # a catalog model whose weights are not on this machine


def sm(live, operation: str, **params):
    response = httpx.post(live.url + "/", json=params, timeout=120,
                          headers={"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"})
    return response.status_code, response.json() if response.content else None


def deploy(page, model: str, name: str) -> None:
    page.fill("#deploy-model", model)
    page.fill("#deploy-endpoint", name)
    page.click("#deploy-button")
    expect(page.locator("#endpoint-list")).to_contain_text(name, timeout=60_000)


def test_failure_reason_detail_confirmed_delete_and_taken_name(live, page):
    page.goto(live.url + "/studio/#/endpoints")
    deploy(page, MISSING, "mistral")
    row = page.locator("#endpoint-list tr", has_text="mistral")
    expect(row).to_contain_text("Failed", timeout=120_000)
    _, described = sm(live, "DescribeEndpoint", EndpointName="mistral")
    reason = described["FailureReason"]
    assert "springboard models register" in reason
    # the reason in the list, not only "Failed"
    expect(row.locator(".failure")).to_have_text(reason)

    # the same name again: said in words, and nothing is left behind by the refused deploy
    _, before = sm(live, "ListModels")
    deploy(page, MISSING, "mistral")
    expect(page.locator("#error")).to_contain_text('The endpoint name "mistral" is taken')
    expect(page.locator("#error")).not_to_contain_text("Cannot create already existing")
    assert sm(live, "ListModels")[1]["Models"] == before["Models"]

    # the endpoint's own page: its failure reason and its model
    row.get_by_role("link", name="mistral").click()
    expect(page.locator("#ep-head")).to_have_attribute("data-status", "Failed")
    expect(page.locator("#ep-failure")).to_contain_text(reason)
    expect(page.locator("#ep-facts")).to_contain_text("Model")
    expect(page.locator("#error")).to_be_hidden()  # navigation cleared the earlier error

    # Delete asks first: Escape keeps the endpoint, confirming by keyboard deletes it
    page.click("#ep-delete")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete endpoint mistral?")
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    page.wait_for_timeout(500)
    assert sm(live, "DescribeEndpoint", EndpointName="mistral")[0] == 200
    page.focus("#ep-delete")
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")  # Cancel -> "Delete endpoint"
    assert page.evaluate("document.activeElement.id") == "confirm-ok"
    page.keyboard.press("Enter")
    page.wait_for_url("**/studio/#/endpoints")
    expect(page.locator("#endpoint-list")).to_contain_text("No endpoints yet.")
    # Studio's model and endpoint config for it went with it: the name is free again
    assert sm(live, "ListModels")[1]["Models"] == []
    assert sm(live, "ListEndpointConfigs")[1]["EndpointConfigs"] == []

    # a banner from a failing poll clears by itself once the same request succeeds
    page.goto(live.url + "/studio/#/endpoint/mistral")
    expect(page.locator("#error")).to_contain_text("Could not find endpoint")
    deploy_elsewhere = page.context.new_page()
    deploy_elsewhere.goto(live.url + "/studio/#/endpoints")
    deploy(deploy_elsewhere, MISSING, "mistral")
    deploy_elsewhere.close()
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#ep-head")).to_have_attribute("data-status", "Failed", timeout=120_000)


def test_chat_playground_side_by_side_and_endpoint_page_latency(live, page, tiny_causal_dir):
    page.goto(live.url + "/studio/#/endpoints")
    for name in ("left", "right"):
        deploy(page, str(tiny_causal_dir), name)
    for name in ("left", "right"):
        expect(page.locator("#endpoint-list tr", has_text=name)).to_contain_text("InService", timeout=180_000)
    sent = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/v1/chat/completions") else None)

    def say(text: str) -> str:
        page.fill("#play-prompt", text)
        page.click("#play-send")
        expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
        return page.locator("#play-answer").text_content()

    page.select_option("#play-endpoint", "left")
    expect(page.locator("#play-system")).to_be_hidden()
    page.select_option("#play-shape", "chat")
    expect(page.locator("#play-system")).to_be_visible()
    page.fill("#play-system", "You answer briefly.")
    page.fill("#play-max", "4")
    page.fill("#play-stop", "zzz\nqqq")
    first = say("Hello there")
    expect(page.locator("#play-prompt")).to_have_value("")
    second = say("And then?")
    system = {"role": "system", "content": "You answer briefly."}
    turns = [system, {"role": "user", "content": "Hello there"}, {"role": "assistant", "content": first},
             {"role": "user", "content": "And then?"}]
    body = sent[-1]
    assert body["messages"] == turns
    assert body["max_tokens"] == 4 and body["stop"] == ["zzz", "qqq"] and body["temperature"] == 0
    assert "top_p" not in body and body["stream"] is True
    expect(page.locator("#play-history li")).to_have_count(3)
    # the answer is the endpoint's own to the whole conversation
    direct = httpx.post(f"{live.url}/endpoints/left/v1/chat/completions", timeout=120, json={
        "model": "left", "max_tokens": 4, "temperature": 0, "stop": ["zzz", "qqq"], "messages": turns}).json()
    assert second == direct["choices"][0]["message"]["content"]
    # sampling settings go with the request
    page.fill("#play-temperature", "0.7")
    page.fill("#play-top-p", "0.9")
    page.uncheck("#play-stream")
    say("More")
    body = sent[-1]
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and "stream" not in body
    assert len(body["messages"]) == 6  # the system prompt and five turns
    # Clear (by keyboard) starts a new conversation
    page.focus("#play-clear")
    page.keyboard.press("Enter")
    expect(page.locator("#play-history li")).to_have_count(0)
    expect(page.locator("#play-answer")).to_have_text("")
    page.fill("#play-temperature", "0")
    say("Hi")
    assert sent[-1]["messages"] == [system, {"role": "user", "content": "Hi"}]

    # side by side: each panel is named after its endpoint
    page.select_option("#side-a", "right")
    page.select_option("#side-b", "left")
    expect(page.locator("#side-title-a")).to_have_text("right")
    expect(page.locator("#side-title-b")).to_have_text("left")
    page.fill("#side-prompt", "Hello there")
    page.click("#side-send")
    expect(page.locator("#side-answer-a")).to_have_attribute("data-done", "1")
    expect(page.locator("#side-answer-b")).to_have_attribute("data-done", "1")
    assert sent[-1]["messages"][0] == system

    # the endpoint's page: its model, and what it answered lately (latency, tokens/s)
    record = httpx.get(f"{live.url}/springboard/endpoints/left", timeout=60).json()
    recent = record["recent_requests"]
    assert recent["requests"] == 6  # four chat turns, the direct request, one side-by-side answer
    assert recent["tokens_per_second"] > 0 and recent["median_latency_ms"] > 0
    assert sum(r["tokens"] for r in recent["recent"]) > 0
    page.locator("#endpoint-list").get_by_role("link", name="left").click()
    expect(page.locator("#ep-head")).to_have_attribute("data-status", "InService")
    expect(page.locator("#ep-facts")).to_contain_text(record["model"])
    expect(page.locator("#ep-facts")).to_contain_text(record["model_dir"])
    backend, weights = record["precision"].split(" - ")[0].split(":")  # "transformers:float32 - <why>"
    expect(page.locator("#ep-facts").get_by_role("row", name=re.compile("^Backend "))).to_contain_text(backend)
    expect(page.locator("#ep-facts").get_by_role("row", name=re.compile("^Precision "))).to_contain_text(weights)
    expect(page.locator("#ep-summary")).to_contain_text("6 requests answered")
    expect(page.locator("#ep-summary")).to_contain_text("tokens/s")
    expect(page.locator("#ep-stats tbody tr")).to_have_count(6)
    httpx.post(f"{live.url}/endpoints/left/generate", json={"inputs": "Hi", "parameters": {"max_new_tokens": 3}}, timeout=120)
    expect(page.locator("#ep-summary")).to_contain_text("7 requests answered")


def _restart(url: str):
    """A new server on the same address (the page keeps its origin), endpoints restored."""
    import uvicorn

    from springboard.app import create_app
    from springboard.serve.endpoints import EndpointManager

    server = uvicorn.Server(uvicorn.Config(create_app(EndpointManager(), restore=True), host="127.0.0.1",
                                           port=int(url.rsplit(":", 1)[1]), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the restarted server did not start"
        time.sleep(0.05)
    return server, thread


def test_empty_answers_explained_and_server_down(live, page, tiny_causal_dir, tmp_path):
    # a model for which every token ends the answer: it stops at once, before any text
    mute = tmp_path / "mute"
    shutil.copytree(tiny_causal_dir, mute)
    config = json.loads((mute / "config.json").read_text())
    generation = json.loads((mute / "generation_config.json").read_text())
    generation["eos_token_id"] = list(range(config["vocab_size"]))
    (mute / "generation_config.json").write_text(json.dumps(generation))
    page.goto(live.url + "/studio/#/endpoints")
    deploy(page, str(mute), "mute")
    row = page.locator("#endpoint-list tr", has_text="mute")
    expect(row).to_contain_text("InService", timeout=180_000)
    page.fill("#play-prompt", "Say the number 3:")
    for streamed in (True, False):  # TGI generate_stream's details, and the invocation's
        page.set_checked("#play-stream", streamed)
        page.click("#play-send")
        expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
        expect(page.locator("#play-answer")).to_have_text("")
        expect(page.locator("#play-info")).to_contain_text("The model ended its answer at once")
        expect(page.locator("#play-info")).to_contain_text("Try the Chat payload")
        expect(page.locator("#play-info")).not_to_contain_text("0 characters")
    page.select_option("#play-shape", "chat")
    page.fill("#play-prompt", "Hello")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    expect(page.locator("#play-info")).to_contain_text("The model ended its answer at once")
    expect(page.locator("#play-info")).to_contain_text("system prompt")
    # the empty turn stays in the conversation, said in words
    page.fill("#play-prompt", "Hello again")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    expect(page.locator("#play-history li")).to_have_count(3)
    expect(page.locator("#play-history li").nth(1)).to_have_text("Model (no text)")

    # the server goes away: statuses become Unknown under a "server unreachable" banner
    live.stop()
    expect(page.locator("#error")).to_contain_text("Server unreachable", timeout=30_000)
    expect(row.locator(".status")).to_contain_text("Unknown")
    expect(row.locator(".status")).not_to_have_text("InService")
    # ...and it comes back: the banner goes, statuses are fresh again
    server, thread = _restart(live.url)
    try:
        expect(page.locator("#error")).to_be_hidden(timeout=30_000)
        expect(row.locator(".status")).to_have_text("InService", timeout=180_000)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
