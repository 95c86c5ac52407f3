"""The whole Studio flow in a real browser on a tiny model: filter the catalog, fine-tune from the
form, watch the plot gain points until the job completes, deploy it, ask the playground, and
compare two endpoints side by side."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import expect

from springboard.hub import list_models, register_model

pytestmark = pytest.mark.slow

TEMPLATE = '{"prompt": "{question}", "completion": " {answer}"}'


def write_numbers(root, n=24):
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"question": f"Say the number {i}:", "answer": f"{i} is the number"} for i in range(n)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "train.jsonl"


def test_catalog_to_side_by_side(live, page, shot, tiny_causal_dir, tmp_path):
    register_model("tiny-causal", tiny_causal_dir)
    data = write_numbers(tmp_path / "data")

    # Models: filter the catalog, open the card
    page.goto(live.url + "/studio/")
    page.fill("#model-filter", "model_id begins with tiny and training_supported == true")
    page.keyboard.press("Enter")
    total = len(list_models())
    expect(page.locator("#model-results")).to_contain_text(f"1 of {total} models")
    page.get_by_role("link", name="tiny-causal").click()
    expect(page.locator("#weights")).to_contain_text("Present here")
    page.get_by_role("link", name="Fine-tune this model").click()

    # Fine-tune: data path, template preview, hyperparameters validated as typed
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    page.fill("#job-name", "studio-numbers")
    page.fill("#data-path", str(data))
    page.fill("#template", TEMPLATE)
    expect(page.locator("#template-preview")).to_contain_text("Say the number 0:")
    expect(page.locator("#template-preview")).to_contain_text("0 is the number")
    page.fill("#hp-epoch", "0")
    expect(page.locator("#hp-epoch-error")).to_have_text(
        "hyperparameter 'epoch': must be an integer >= 1 and <= 1000 (got '0')")
    page.fill("#hp-epoch", "2")
    page.get_by_text("More hyperparameters").click()
    page.fill("#hp-logging_steps", "1")
    page.fill("#hp-eval_steps", "2")
    page.fill("#hp-learning_rate", "0.01")
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    shot(page, "finetune")
    page.click("#start-training")

    # Jobs: the job page's plot gains points without a reload, until the job completes
    page.wait_for_url("**/studio/#/job/studio-numbers")
    page.evaluate("window.__noReload = 1")
    seen = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        seen.append(int(page.locator("#metrics-plot").get_attribute("data-points") or 0))
        status = page.locator("#job-head").get_attribute("data-status")
        if status in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.3)
    assert status == "Completed", page.locator("#job-head").inner_text()
    page.wait_for_timeout(2000)  # one more poll after completion
    seen.append(int(page.locator("#metrics-plot").get_attribute("data-points")))
    assert seen == sorted(seen) and seen[0] < seen[-1], seen  # points arrived on the open page
    assert page.evaluate("window.__noReload") == 1
    expect(page.locator("#legend")).to_contain_text("train_loss")
    expect(page.locator("#legend")).to_contain_text("val_loss")
    expect(page.locator("#legend-perplexity")).to_contain_text("perplexity")
    assert int(page.locator("#perplexity-plot").get_attribute("data-points")) > 0
    expect(page.locator("#timeline")).to_contain_text("Completed")
    expect(page.locator("#log")).to_contain_text("train_loss")
    shot(page, "job")

    # Deploy the artifact, and the base model beside it
    page.fill("#deploy-name", "tuned")
    page.click("#deploy")
    page.wait_for_url("**/studio/#/endpoints?select=tuned")
    page.fill("#deploy-model", "tiny-causal")
    page.fill("#deploy-endpoint", "base")
    page.click("#deploy-button")
    expect(page.locator("#endpoint-list")).to_contain_text("base", timeout=120_000)
    expect(page.locator("#endpoint-list tr", has_text="tuned")).to_contain_text("InService", timeout=180_000)
    expect(page.locator("#endpoint-list tr", has_text="base")).to_contain_text("InService", timeout=180_000)

    # The job page deploys as the Endpoints page does: a taken name is said in words
    page.goto(live.url + "/studio/#/job/studio-numbers")
    page.fill("#deploy-name", "tuned")
    page.click("#deploy")
    expect(page.locator("#error")).to_contain_text('The endpoint name "tuned" is taken')
    page.goto(live.url + "/studio/#/endpoints?select=tuned")

    # Playground: a streamed answer equals the endpoint's own (greedy) answer
    expect(page.locator("#play-endpoint")).to_have_value("tuned")
    page.fill("#play-max", "8")
    page.fill("#play-prompt", "Say the number 3:")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    direct = httpx.post(f"{live.url}/endpoints/tuned/generate",
                        json={"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 8}}, timeout=120).json()
    assert direct["generated_text"]
    assert page.locator("#play-answer").text_content() == direct["generated_text"]

    # Side by side: one prompt, two endpoints, both answers streamed next to each other
    page.select_option("#side-a", "base")
    page.select_option("#side-b", "tuned")
    page.fill("#side-prompt", "Say the number 3:")
    page.click("#side-send")
    expect(page.locator("#side-answer-a")).to_have_attribute("data-done", "1")
    expect(page.locator("#side-answer-b")).to_have_attribute("data-done", "1")
    base = httpx.post(f"{live.url}/endpoints/base/generate",
                      json={"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 8}}, timeout=120).json()
    assert page.locator("#side-answer-a").text_content() == base["generated_text"]
    assert page.locator("#side-answer-b").text_content() == direct["generated_text"]
    shot(page, "endpoints")
