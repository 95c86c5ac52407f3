"""The Fine-tune page in a real browser (issue 23): a folder's own template.json is used as it is,
data errors name the user's file and a refused Start leaves no staged copy; a bad file is refused
before anything is staged; the data panel (rows, fields, token lengths against
max_input_length, rendered examples, field mapping); hyperparameter widgets by schema type with
every error beside its field; job-name rules in words; a clone prefilled from a job."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from springboard.hub import register_model

pytestmark = pytest.mark.slow


def _rows(n, q="q", a="a"):
    return "".join(json.dumps({q: f"Say {i}:", a: f"{i}"}) + "\n" for i in range(n))


def _staged(tmp_path):
    folder = tmp_path / "sbhome" / "studio" / "datasets"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def tiny(tiny_causal_dir):
    register_model("tiny-causal", tiny_causal_dir)
    return tiny_causal_dir


def test_folder_template_is_used_errors_name_the_users_file_and_refusals_leave_no_copy(live, page, tiny, tmp_path):
    good = tmp_path / "qa"
    good.mkdir()
    (good / "train.jsonl").write_text(_rows(4))
    (good / "template.json").write_text(json.dumps({"prompt": "Q: {q}\nA:", "completion": " {a}"}))
    bad = tmp_path / "qa-bad"
    bad.mkdir()
    (bad / "train.jsonl").write_text(_rows(2) + json.dumps({"q": "Say 2:"}) + "\n")
    (bad / "template.json").write_text(json.dumps({"prompt": "Q: {q}", "completion": " {a}"}))

    page.goto(live.url + "/studio/#/finetune/tiny-causal")
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    # a folder with a bad record: the preview and Start name the user's own file, line and field
    page.fill("#data-path", str(bad))
    expect(page.locator("#data-error")).to_contain_text(f"{bad / 'train.jsonl'}:3: field 'a'")
    page.click("#start-training")
    expect(page.locator("#error")).to_contain_text(f"{bad / 'train.jsonl'}:3: field 'a'")
    assert _staged(tmp_path) == []

    # the folder's own template.json, not the editor's default
    page.fill("#data-path", str(good))
    expect(page.locator("#template-source")).to_contain_text(str(good / "template.json"))
    expect(page.locator("#template")).to_have_value(json.dumps({"prompt": "Q: {q}\nA:", "completion": " {a}"}))
    expect(page.locator("#template-preview")).to_contain_text("Q: Say 0:")

    # an edited template is staged beside a copy; a Start the server refuses removes the copy
    page.fill("#template", '{"prompt": "Question: {q}", "completion": " {a}"}')
    expect(page.locator("#template-preview")).to_contain_text("Question: Say 0:")
    page.fill("#job-name", "refused-job")
    page.fill("#output-path", "/proc/springboard-not-allowed")
    page.click("#start-training")
    expect(page.locator("#error")).to_contain_text("SPRINGBOARD_DATA_ROOTS")
    assert _staged(tmp_path) == []

    # back to the folder's own template (a fresh form): the job reads the folder as it is
    page.reload()
    page.fill("#data-path", str(good))
    expect(page.locator("#template-preview")).to_contain_text("Q: Say 0:")
    page.fill("#job-name", "folder-template")
    page.fill("#hp-epoch", "1")
    page.fill("#hp-max_input_length", "64")
    page.click("#start-training")
    page.wait_for_url("**/studio/#/job/folder-template")
    assert _staged(tmp_path) == []
    job = httpx.get(live.url + "/studio/api/jobs/folder-template").json()
    assert job["describe"]["Config"]["train"] == str(good)

    # clone: the job's data and hyperparameters fill the form
    page.goto(live.url + "/studio/#/finetune/tiny-causal?clone=folder-template")
    expect(page.locator("#job-name")).to_have_value("folder-template-clone")
    expect(page.locator("#data-path")).to_have_value(str(good))
    expect(page.locator("#hp-epoch")).to_have_value("1")
    expect(page.locator("#hp-max_input_length")).to_have_value("64")
    expect(page.locator("#template-preview")).to_contain_text("Q: Say 0:")


def test_a_bad_upload_is_refused_before_anything_is_staged(live, page, tiny, tmp_path):
    csv = tmp_path / "notes.jsonl"
    csv.write_text("q,a\nSay 0:,0\n")
    page.goto(live.url + "/studio/#/finetune/tiny-causal")
    page.fill("#job-name", "from-bad-upload")
    page.check("#src-upload")
    page.set_input_files("#data-upload", str(csv))
    expect(page.locator("#data-error")).to_contain_text("notes.jsonl:1: bad JSON")
    page.click("#start-training")
    expect(page.locator("#error")).to_contain_text("notes.jsonl:1: bad JSON")
    # a JSON lines file whose second record lacks a template field: file, line and field
    missing = tmp_path / "numbers.jsonl"
    missing.write_text(json.dumps({"q": "Say 0:", "a": "0"}) + "\n" + json.dumps({"q": "Say 1:"}) + "\n")
    page.set_input_files("#data-upload", str(missing))
    page.fill("#template", '{"prompt": "{q}", "completion": " {a}"}')
    expect(page.locator("#data-error")).to_contain_text("numbers.jsonl:2: field 'a'")
    page.click("#start-training")
    expect(page.locator("#error")).to_contain_text("numbers.jsonl:2: field 'a'")
    assert _staged(tmp_path) == []
    assert httpx.get(live.url + "/studio/api/jobs").json() == []
    # the staging route itself refuses it too, naming the upload, and writes nothing
    r = httpx.post(live.url + "/studio/api/datasets", json={"files": {"numbers.jsonl": missing.read_text()},
                                                            "template": '{"prompt": "{q}", "completion": " {a}"}'})
    assert r.status_code == 400 and "numbers.jsonl:2: field 'a'" in r.json()["message"]
    assert _staged(tmp_path) == []
    # the preview reads only where a request may (confinement.confine)
    r = httpx.post(live.url + "/studio/api/data/preview", json={"model": "tiny-causal", "data": "/etc/passwd"})
    assert r.status_code == 403 and "SPRINGBOARD_DATA_ROOTS" in r.json()["message"]


def test_data_panel_counts_rows_fields_token_lengths_and_maps_fields(live, page, tiny, tmp_path):
    from transformers import AutoTokenizer

    rows = [{"question": "Say " + "the number " * i + f"{i}:", "answer": f"{i} is the number", "id": i} for i in range(12)]
    data = tmp_path / "numbers" / "train.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = AutoTokenizer.from_pretrained(tiny)
    lengths = [len(tok(r["question"] + " " + r["answer"])["input_ids"]) for r in rows]
    limit = sorted(lengths)[7]
    over = sum(n > limit for n in lengths)
    assert 0 < over < len(rows)

    page.goto(live.url + "/studio/#/finetune/tiny-causal")
    page.fill("#hp-max_input_length", str(limit))
    page.fill("#data-path", str(data))
    # no template.json and no prompt/completion fields: the default template fails, the fields are offered
    expect(page.locator("#data-error")).to_contain_text(f"{data}:1: field 'prompt'")
    expect(page.locator("#map-prompt option")).to_have_text(["(choose a field)", "question", "answer", "id"])
    page.select_option("#map-prompt", "question")
    page.select_option("#map-completion", "answer")
    page.locator("#map-apply").focus()
    page.keyboard.press("Enter")  # keyboard alone
    expect(page.locator("#template")).to_have_value(json.dumps({"prompt": "{question}", "completion": " {answer}"}, indent=2))
    expect(page.locator("#template-preview")).to_contain_text("Say 0:")
    expect(page.locator("#template-preview")).to_contain_text("0 is the number")
    expect(page.locator("#data-rows")).to_have_attribute("data-rows", "12")
    expect(page.locator("#data-fields")).to_have_text("question, answer, id")
    expect(page.locator("#token-summary")).to_contain_text(
        f"Longest {max(lengths)} tokens. {over} of 12 exceed max_input_length {limit} and would be truncated.")
    counts = page.locator("#token-histogram tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(c) for c in counts) == 12
    expect(page.locator("#token-histogram tr.over-limit").first).to_contain_text("over the limit")
    # a larger limit: nothing truncated
    page.fill("#hp-max_input_length", "1024")
    expect(page.locator("#token-summary")).to_contain_text("0 of 12 exceed max_input_length 1024")


def test_hyperparameter_widgets_by_type_every_error_beside_its_field_and_name_rules(live, page, tiny):
    page.goto(live.url + "/studio/#/finetune/tiny-causal")
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    # widgets by schema type
    epoch = page.locator("#hp-epoch")
    expect(epoch).to_have_attribute("type", "number")
    expect(epoch).to_have_attribute("min", "1")
    expect(epoch).to_have_attribute("max", "1000")
    expect(page.locator("#hp-peft_type option")).to_have_text(["lora", "none"])
    expect(page.locator("#hp-peft_type")).to_have_value("lora")
    expect(page.locator("#hp-int8_quantization")).to_have_attribute("type", "checkbox")
    expect(page.locator("#hp-int8_quantization")).not_to_be_checked()
    page.get_by_text("More hyperparameters").click()
    expect(page.locator("#hp-lr_scheduler_type")).to_have_value("")  # left at the schema's default
    expect(page.locator("#hp-merge_weights")).to_have_attribute("type", "checkbox")
    # every error at once, each beside its field
    page.fill("#hp-epoch", "0")
    page.fill("#hp-learning_rate", "5")
    expect(page.locator("#hp-epoch-error")).to_have_text("hyperparameter 'epoch': must be an integer >= 1 and <= 1000 (got '0')")
    expect(page.locator("#hp-learning_rate-error")).to_have_text(
        "hyperparameter 'learning_rate': must be a number > 0 and <= 1 (got '5')")
    expect(page.locator("#hp-status")).to_have_text("2 hyperparameters need fixing (marked beside each).")
    expect(epoch).to_have_attribute("aria-invalid", "true")
    page.fill("#hp-epoch", "1")
    page.fill("#hp-learning_rate", "0.001")
    expect(page.locator("#hp-status")).to_have_text("Hyperparameters are valid.")
    expect(page.locator("#hp-epoch-error")).to_have_text("")
    # the job name: rules in words, not the AWS regular expression
    page.fill("#job-name", "")
    page.click("#start-training")
    words = "1 to 63 characters: letters, digits and hyphens (-), starting and ending with a letter or digit"
    expect(page.locator("#job-name-error")).to_contain_text("Give the job a name: " + words)
    expect(page.locator("#error")).not_to_contain_text("[a-zA-Z0-9]")
    page.fill("#job-name", "my_job.v2")
    expect(page.locator("#job-name-error")).to_contain_text('"my_job.v2" is not a valid job name: ' + words)
    page.fill("#job-name", "my-job-v2")
    expect(page.locator("#job-name-error")).to_have_text("")
    assert httpx.get(live.url + "/studio/api/jobs").json() == []


def test_data_panel_without_the_models_weights_still_checks_the_data(live, page, tiny_causal_dir, tmp_path):
    import shutil

    gone = tmp_path / "gone-model"
    shutil.copytree(tiny_causal_dir, gone)
    register_model("tiny-gone", gone)
    shutil.rmtree(gone)
    data = tmp_path / "d" / "train.jsonl"
    data.parent.mkdir()
    data.write_text(_rows(5, "prompt", "completion"))
    page.goto(live.url + "/studio/#/finetune/tiny-gone")
    page.fill("#data-path", str(data))
    expect(page.locator("#data-rows")).to_have_attribute("data-rows", "5")
    expect(page.locator("#token-lengths")).to_contain_text("token lengths need tiny-gone's tokenizer")
    expect(page.locator("#template-preview")).to_contain_text("Say 2:")
