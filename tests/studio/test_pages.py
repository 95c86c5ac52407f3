"""Each Studio page renders with data from the API and shows the API's errors to the user."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from springboard.hub import And

pytestmark = pytest.mark.slow


def test_root_redirects_and_models_page_filters_with_facets(live, page, shot):
    from springboard.hub import list_models

    total = len(list_models())
    text2text = len(list_models(And("task == text2text", "training_supported == true")))
    meta = len(list_models(And("task == text2text", "training_supported == true", "framework == meta")))
    page.goto(live.url + "/")
    assert page.url == live.url + "/studio/"
    expect(page.locator("#model-results")).to_contain_text("huggingface-text2text-flan-t5-small")
    # the filter language in the search box
    page.fill("#model-filter", "task == text2text and training_supported == true")
    page.keyboard.press("Enter")
    expect(page.locator("#model-results")).to_contain_text(f"{text2text} of {total} models")
    expect(page.locator("#model-results")).not_to_contain_text("smollm2")
    shot(page, "models")
    # a facet adds a clause
    page.get_by_label(re.compile(r"^meta \(")).check()
    expect(page.locator("#model-results")).to_contain_text(f"{meta} of {total} models")
    # a bad filter: the catalog's own message, shown to the user
    page.fill("#model-filter", "task =! text2text")
    page.keyboard.press("Enter")
    expect(page.locator("#error")).to_contain_text("cannot parse filter 'task =! text2text'")


def test_model_card(live, page, shot):
    page.goto(live.url + "/studio/#/model/huggingface-llm-mistral-7b")
    expect(page.locator("main")).to_contain_text("Default hyperparameters")
    expect(page.locator("#licence")).to_contain_text("Licence: apache-2.0")
    expect(page.locator("#weights")).to_contain_text("Not present here")
    expect(page.locator("#weights")).to_contain_text("springboard models register")
    expect(page.locator("main table").nth(1)).to_contain_text(">= 1 and <= 1000")  # epoch's range
    shot(page, "model-card")
    page.goto(live.url + "/studio/#/model/no-such-model")
    expect(page.locator("#error")).to_contain_text("no model with id or alias 'no-such-model'")


def test_api_key_login_prompt_keyboard_only(live_with_key, page, shot):
    page.goto(live_with_key.url + "/studio/")
    dialog = page.locator("#login")
    expect(dialog).to_be_visible()
    expect(page.locator("#login-message")).to_contain_text("requires an API key")
    shot(page, "login")
    # keyboard only: the key field has focus; Enter submits
    page.keyboard.type("wrong-key")
    page.keyboard.press("Enter")
    expect(page.locator("#login-message")).to_contain_text("'Authorization: Bearer' must carry the API key")
    page.fill("#login-key", "")
    page.keyboard.type("studio-test-key")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    from springboard.hub import list_models

    total = len(list_models())
    expect(page.locator("#model-results")).to_contain_text(f"{total} of {total} models")
    assert page.evaluate("sessionStorage.getItem('springboard.apiKey')") == "studio-test-key"
    # the key goes with control-plane calls too
    page.goto(live_with_key.url + "/studio/#/endpoints")
    expect(page.locator("#endpoint-list")).to_contain_text("No endpoints yet.")
    # "Forget API key" drops it and the prompt comes back
    page.get_by_role("button", name="Forget API key").click()
    expect(dialog).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('springboard.apiKey')") is None


def test_transform_page_runs_a_job_downloads_and_scores_rouge(live, page, shot, tiny_t5_dir, tmp_path):
    import json

    data = tmp_path / "in" / "articles.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({"id": i, "text_inputs": f"word {i}", "max_length": 4}) + "\n" for i in range(3)))
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": i, "highlights": f"word {i}"}) + "\n" for i in range(3)))
    page.goto(live.url + "/studio/#/transform")
    page.fill("#tf-name", "batch-one")
    page.fill("#tf-new-model", str(tiny_t5_dir))
    page.fill("#tf-input", str(data.parent))
    page.click("#tf-create")
    expect(page.locator("#tf-detail")).to_have_attribute("data-status", "Completed", timeout=300_000)
    expect(page.locator("#tf-detail")).to_contain_text("articles.jsonl.out")
    expect(page.locator("#tf-detail")).to_contain_text("records_processed")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download articles.jsonl.out").click()
    downloaded = info.value.path().read_text()
    assert downloaded == (tmp_path / "sbhome" / "studio" / "transform" / "batch-one" / "articles.jsonl.out").read_text()
    assert [json.loads(line)["id"] for line in downloaded.splitlines()] == [0, 1, 2]
    # ROUGE against references; an error from the API is shown to the user
    page.get_by_role("checkbox", name="batch-one").check()
    page.fill("#ev-references", str(tmp_path / "missing.jsonl"))
    page.click("#ev-score")
    expect(page.locator("#error")).to_contain_text("missing.jsonl")
    page.fill("#ev-references", str(refs))
    page.click("#ev-score")
    expect(page.locator("#ev-report")).to_contain_text("rougeLsum")
    row = page.locator("#ev-report tbody tr").first
    expect(row).to_contain_text("batch-one")
    expect(row.locator("td").nth(5)).to_have_text("3")  # three records scored
    shot(page, "transform")


def test_automl_page_pasted_request_leaderboard_and_deploy(live, page, shot, tiny_causal_dir, tmp_path):
    import csv
    import json

    from springboard.hub import register_model

    register_model("tiny-causal", tiny_causal_dir)
    train = tmp_path / "data" / "train.csv"
    train.parent.mkdir()
    with open(train, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["input", "output"])
        writer.writeheader()
        writer.writerows({"input": f"Say the number {i}:", "output": f" {i} is the number"} for i in range(30))
    page.goto(live.url + "/studio/#/automl")
    # the form's error from the control plane is shown
    page.fill("#am-name", "numbers")
    page.fill("#am-model", "no-such-model")
    page.fill("#am-data", str(train))
    page.click("#am-create")
    expect(page.locator("#error")).to_contain_text("no-such-model")
    # a pasted CreateAutoMLJobV2 request
    request = {
        "AutoMLJobName": "numbers", "RoleArn": "arn:aws:iam::111111111111:role/SageMakerRole",
        "AutoMLJobInputDataConfig": [{"ChannelType": "training", "ContentType": "text/csv;header=present",
                                      "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(train)}}}],
        "AutoMLProblemTypeConfig": {"TextGenerationJobConfig": {
            "BaseModelName": "tiny-causal",
            "TextGenerationHyperParameters": {"epochCount": "1", "learningRate": "0.01", "batchSize": "4"}}},
        "OutputDataConfig": {"S3OutputPath": str(tmp_path / "out")},
    }
    page.fill("#am-json", json.dumps(request, indent=1))
    page.click("#am-create")
    expect(page.locator("#am-board")).to_have_attribute("data-status", "Completed", timeout=300_000)
    expect(page.locator("#am-board .best")).to_contain_text("numbers-candidate-001")
    expect(page.locator("#am-board")).to_contain_text("ValidationLoss")
    assert int(page.locator("#am-board svg").first.get_attribute("data-points")) > 0  # its loss curve
    shot(page, "automl")
    page.fill("#am-endpoint", "best")
    page.click("#am-deploy")
    page.wait_for_url("**/studio/#/endpoints?select=best")
    expect(page.locator("#endpoint-list tr", has_text="best")).to_contain_text("InService", timeout=180_000)


def test_crawl_page_runs_counts_exports_and_links_to_finetune(live, page, shot, tiny_causal_dir, tmp_path):
    from springboard.crawl import synth
    from springboard.hub import register_model

    register_model("tiny-causal", tiny_causal_dir)
    warc = synth.write_warc(tmp_path / "pages.warc.gz", synth.docs_pages(12))
    page.goto(live.url + "/studio/#/crawl")
    # an error from the API (a bad job name) is shown
    page.fill("#cr-name", "bad name!")
    page.fill("#cr-inputs", str(warc))
    page.click("#cr-run")
    expect(page.locator("#error")).to_contain_text("bad name!")
    page.fill("#cr-name", "docs-crawl")
    page.fill("#cr-output", str(tmp_path / "crawl-out"))
    page.check("#cr-q-c4")
    page.click("#cr-run")
    expect(page.locator("#cr-detail")).to_have_attribute("data-status", "Completed", timeout=300_000)
    expect(page.locator("#cr-detail")).to_contain_text("files_done")
    expect(page.locator("#cr-detail")).to_contain_text("records_read")
    expect(page.locator("#cr-detail")).to_contain_text("html_to_text.extracted")
    expect(page.locator("#cr-detail")).to_contain_text("c4")  # the quality filter's own counters
    page.fill("#cr-export-dir", str(tmp_path / "channel"))
    page.click("#cr-export")
    expect(page.locator("#cr-export-result")).to_contain_text("documents")
    assert (tmp_path / "channel" / "train.jsonl").exists()
    shot(page, "crawl")
    page.select_option("#cr-model", "tiny-causal")
    page.click("#cr-finetune")
    expect(page.locator("#data-path")).to_have_value(str(tmp_path / "channel"))
    expect(page.locator("#mode")).to_have_value("domain")


def test_crawl_page_runs_from_an_index_query(live, page, tmp_path):
    import pyarrow.parquet as pq

    from springboard.crawl import synth
    from springboard.crawl.index_build import build_index

    docs = synth.write_warc(tmp_path / "docs.warc.gz", synth.docs_pages(10))
    other = synth.write_warc(tmp_path / "other.warc.gz", synth.docs_pages(6, seed=1, host="blog.example.net"))
    build_index([str(docs), str(other)], tmp_path / "index")
    page.goto(live.url + "/studio/#/crawl")
    # an error from the API (a bad language code) is shown
    page.fill("#cq-index", str(tmp_path / "index"))
    page.fill("#cq-host", "blog.example.net")
    page.fill("#cq-languages", "english")
    page.click("#cq-find")
    expect(page.locator("#error")).to_contain_text("'english' is not an ISO 639-3 code")
    page.fill("#cq-languages", "")
    page.fill("#cq-limit", "4")
    page.click("#cq-find")
    expect(page.locator("#cq-result")).to_contain_text("4 records")
    expect(page.locator("#cq-result li")).to_have_count(4)
    records = page.locator("#cr-records").input_value()
    urls = pq.read_table(records).column("url").to_pylist()
    assert len(urls) == 4 and all(u.startswith("https://blog.example.net/") for u in urls)
    # the crawl job reads exactly those records
    page.fill("#cr-name", "index-crawl")
    page.fill("#cr-output", str(tmp_path / "from-index"))
    page.click("#cr-run")
    expect(page.locator("#cr-detail")).to_have_attribute("data-status", "Completed", timeout=300_000)
    got = pq.read_table(tmp_path / "from-index").column("url").to_pylist()
    assert sorted(got) == sorted(urls)


def test_finetune_upload_then_jobs_list_stop_and_resume(live, page, shot, tiny_causal_dir, tmp_path):
    import json

    from springboard.hub import register_model

    register_model("tiny-causal", tiny_causal_dir)
    upload = tmp_path / "numbers.jsonl"
    upload.write_text("".join(json.dumps({"q": f"Say {i}:", "a": f"{i}"}) + "\n" for i in range(40)))
    page.goto(live.url + "/studio/#/finetune/tiny-causal")
    page.fill("#job-name", "long-run")
    page.check("#src-upload")
    page.set_input_files("#data-upload", str(upload))
    page.fill("#template", '{"prompt": "{q}", "completion": " {a}"}')
    expect(page.locator("#template-preview")).to_contain_text("Say 0:")
    page.fill("#hp-epoch", "1000")  # long enough to stop it while it runs
    page.click("#start-training")
    page.wait_for_url("**/studio/#/job/long-run")
    # the uploaded file and the edited template became the training channel
    staged = [p for p in (tmp_path / "sbhome" / "studio" / "datasets").iterdir()]
    assert len(staged) == 1 and sorted(p.name for p in staged[0].iterdir()) == ["numbers.jsonl", "template.json"]
    expect(page.locator("#job-head")).to_have_attribute("data-status", "InProgress")
    expect(page.locator("#metrics-plot")).not_to_have_attribute("data-points", "0", timeout=300_000)
    page.click("#stop")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Stopped", timeout=120_000)
    page.click("#resume")
    expect(page.locator("#job-head")).to_have_attribute("data-status", "InProgress")
    expect(page.locator("#log")).to_contain_text("resum", timeout=120_000)
    page.goto(live.url + "/studio/#/jobs")
    row = page.locator("#jobs-table tr", has_text="long-run")
    expect(row).to_contain_text("training")
    expect(row).to_contain_text("InProgress")
    shot(page, "jobs")
    page.get_by_role("link", name="long-run").click()
    page.click("#stop")
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Stopped", timeout=120_000)
    # a job that does not exist: the API's message on the page
    page.goto(live.url + "/studio/#/job/nope")
    expect(page.locator("#error")).to_contain_text("nope")


def test_endpoints_page_shows_api_errors(live, page):
    page.goto(live.url + "/studio/#/endpoints")
    expect(page.locator("#endpoint-list")).to_contain_text("No endpoints yet.")
    page.fill("#deploy-model", "no-such-model")
    page.fill("#deploy-endpoint", "broken")
    page.click("#deploy-button")
    expect(page.locator("#error")).to_contain_text("no-such-model")
    page.click("#play-send")
    expect(page.locator("#error")).to_contain_text("no endpoint in service")


def test_playground_text2text_and_chat_payloads(live, page, tiny_t5_dir, tiny_causal_dir):
    import httpx

    page.goto(live.url + "/studio/#/endpoints")
    for model, name in ((str(tiny_t5_dir), "t5"), (str(tiny_causal_dir), "causal")):
        page.fill("#deploy-model", model)
        page.fill("#deploy-endpoint", name)
        page.click("#deploy-button")
        expect(page.locator("#endpoint-list tr", has_text=name)).to_contain_text("InService", timeout=180_000)
    # JumpStart text2text (text_inputs + max_length), not streamed: the runtime's own answer
    page.select_option("#play-endpoint", "t5")
    page.select_option("#play-shape", "text2text")
    page.uncheck("#play-stream")
    page.fill("#play-max", "5")
    page.fill("#play-prompt", "Translate: hello")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    direct = httpx.post(f"{live.url}/endpoints/t5/invocations", json={"text_inputs": "Translate: hello", "max_length": 6},
                        timeout=120).json()
    assert page.locator("#play-answer").text_content() == direct["generated_texts"][0]
    # streamed: the same tokens arrive through generate_stream
    page.check("#play-stream")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    assert page.locator("#play-answer").text_content() == direct["generated_texts"][0]
    # chat (OpenAI messages), streamed through the endpoint's /v1/chat/completions
    page.select_option("#play-endpoint", "causal")
    page.select_option("#play-shape", "chat")
    page.fill("#play-prompt", "Hello there")
    page.click("#play-send")
    expect(page.locator("#play-answer")).to_have_attribute("data-done", "1")
    chat = httpx.post(f"{live.url}/endpoints/causal/v1/chat/completions", timeout=120,
                      json={"model": "causal", "max_tokens": 5, "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]}).json()
    assert page.locator("#play-answer").text_content() == chat["choices"][0]["message"]["content"]
    # an error from the runtime is shown: an endpoint deleted meanwhile
    httpx.delete(f"{live.url}/springboard/endpoints/causal", timeout=60)
    page.fill("#play-prompt", "Hello again")  # a chat turn, once sent, leaves the message box
    page.click("#play-send")
    expect(page.locator("#error")).to_contain_text("causal")


def test_keyboard_only_navigation(live, page):
    page.goto(live.url + "/studio/")
    expect(page.locator("#model-results")).to_contain_text("models")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Models"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the "Jobs" link
    expect(page.locator("main h1")).to_have_text("Jobs")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # back to "Models"
    expect(page.locator("main h1")).to_have_text("Models")
    # the filter box, then its search button, then the first facet checkbox, by Tab alone
    page.focus("#model-filter")
    page.keyboard.type("architecture == seq2seq")
    page.keyboard.press("Enter")
    # the filtered page replaces the unfiltered one (which lists flan-t5-small too), and its facets
    # and results appear together once its query returns: wait for the new page's results
    expect(page.locator("#model-results")).not_to_contain_text("smollm2")
    expect(page.locator("#model-results")).to_contain_text("flan-t5-small")
    page.focus("#model-filter")
    page.keyboard.press("Tab")  # Search
    page.keyboard.press("Tab")  # first facet checkbox: task text-generation
    assert page.evaluate("document.activeElement.type") == "checkbox"
    page.keyboard.press("Space")
    expect(page.locator("#model-filter")).to_have_value(re.compile(r"architecture == seq2seq and task == "))
