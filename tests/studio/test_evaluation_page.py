"""The Transform/evaluation page in a real browser: a transform over an uploaded file with its
progress from the start, then per-example ROUGE (predictions beside references, sortable by
score) with both fields picked from the files' own fields."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from springboard import jobs

pytestmark = pytest.mark.slow


def test_upload_transform_then_per_example_rouge_sorted(live, page, tiny_t5_dir, tmp_path):
    upload = tmp_path / "articles.jsonl"
    upload.write_text("".join(json.dumps({"id": i, "text_inputs": f"word {i}", "max_length": 4}) + "\n" for i in range(4)))
    page.goto(live.url + "/studio/#/transform")
    page.fill("#tf-name", "batch-up")
    page.fill("#tf-new-model", str(tiny_t5_dir))
    page.get_by_label("Upload a file (stored under the home, in studio/uploads)").check()
    page.set_input_files("#tf-upload", str(upload))
    page.click("#tf-create")
    detail = page.locator("#tf-detail")
    expect(detail).to_have_attribute("data-status", "Completed", timeout=300_000)
    expect(page.locator("#tf-progress")).to_contain_text("4 / 4 records (100%)")
    # the upload was stored under the home and transformed from there
    source = jobs.JobStore().get("batch-up").config["input"]
    assert source.startswith(str(tmp_path / "sbhome" / "studio" / "uploads"))
    assert (tmp_path / "sbhome" / "studio" / "uploads").joinpath(*source.split("/uploads/")[1].split("/"),
                                                                  "articles.jsonl").read_text() == upload.read_text()
    # progress was reported from the start (0 of the total), not first at the end of a batch
    processed = [m.value for m in jobs.JobStore().metrics("batch-up") if m.name == "records_processed"]
    totals = [m.value for m in jobs.JobStore().metrics("batch-up") if m.name == "records_total"]
    assert processed[0] == 0 and processed[-1] == 4 and totals[0] == 4

    out = tmp_path / "sbhome" / "studio" / "transform" / "batch-up" / "articles.jsonl.out"
    predictions = {json.loads(line)["id"]: json.loads(line)["generated_texts"][0] for line in out.read_text().splitlines()}
    assert all(predictions.values())
    # references with their own field names (no `highlights`): two match their prediction exactly
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"id": i, "summary": predictions[i] if i < 2 else "zebra quartz",
                                        "title": f"t{i}"}) + "\n" for i in range(4)))

    page.get_by_role("checkbox", name="batch-up").check()
    expect(page.locator("#ev-pred-field")).to_have_value("generated_texts[0]")
    page.fill("#ev-references", str(refs))
    page.keyboard.press("Tab")
    ref_field = page.locator("#ev-ref-field")
    expect(ref_field).to_have_value("summary")  # the first field that is not the join key
    assert ref_field.locator("option").all_text_contents() == ["id", "summary", "title"]
    page.click("#ev-score")
    expect(page.locator("#ev-report tbody tr").first.locator("td").nth(5)).to_have_text("4")
    rows = page.locator("#ev-examples-table tbody tr")
    expect(rows).to_have_count(4)
    first = rows.first.locator("td")
    expect(first.nth(2)).to_have_text(predictions[0])  # reference beside prediction
    expect(first.nth(3)).to_have_text(predictions[0])
    # sort by rouge1 from the keyboard: best first, then worst first
    page.locator("#ev-sort-rouge1").focus()
    page.keyboard.press("Enter")
    expect(page.locator("th", has=page.locator("#ev-sort-rouge1"))).to_have_attribute("aria-sort", "descending")
    scores = [float(rows.nth(i).locator("td").nth(4).text_content()) for i in range(4)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 100.0
    page.keyboard.press("Enter")  # the button keeps focus after the re-render
    expect(page.locator("th", has=page.locator("#ev-sort-rouge1"))).to_have_attribute("aria-sort", "ascending")
    scores = [float(rows.nth(i).locator("td").nth(4).text_content()) for i in range(4)]
    assert scores == sorted(scores) and scores[-1] == 100.0

    # another field of the references file, chosen from its own fields
    ref_field.select_option("title")
    page.click("#ev-score")
    expect(rows.first.locator("td").nth(2)).to_have_text("t0")


def test_fields_and_rouge_routes_answer_in_words(live, tmp_path):
    refs = tmp_path / "refs.jsonl"
    refs.write_text('{"id": 1, "answer": {"text": ["a b"]}, "tags": []}\n{"id": 2, "extra": 1}\n')
    r = httpx.get(f"{live.url}/studio/api/fields", params={"path": str(refs)})
    assert r.status_code == 200 and r.json()["fields"] == ["id", "answer.text[0]", "tags", "extra"]
    r = httpx.post(f"{live.url}/studio/api/evaluate/rouge", json={"predictions": [str(refs)], "references": str(refs)})
    assert r.status_code == 400 and "one of the file's own: id, answer.text[0], tags, extra" in r.json()["message"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\nnot json\n')
    r = httpx.get(f"{live.url}/studio/api/fields", params={"path": str(bad)})
    assert r.status_code == 400 and "bad.jsonl:2: not a JSON line" in r.json()["message"]
    assert httpx.get(f"{live.url}/studio/api/fields", params={"path": str(tmp_path / "nope.jsonl")}).status_code == 404
    assert httpx.get(f"{live.url}/studio/api/fields", params={"path": "/etc/passwd"}).status_code == 403
    r = httpx.post(f"{live.url}/studio/api/uploads", json={"files": {"../x.jsonl": "{}"}})
    assert r.status_code == 400 and "plain names" in r.json()["message"]
