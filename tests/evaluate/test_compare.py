import json

import pytest

from springboard.cli import main
from springboard.errors import DataError
from springboard.evaluate import compare_models, write_report
from springboard.evaluate.compare import build_prompt
from springboard.evaluate.rouge import score_pairs

RECORDS = [
    {"id": f"n{i}", "text": f"Article {i}: the council met and approved the budget.", "highlights": f"council approves budget {i}"}
    for i in range(4)
]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_compare_two_models_report(tmp_path, data, tiny_t5_dir, tiny_causal_dir):
    report = compare_models([str(tiny_t5_dir), str(tiny_causal_dir)], data, prompt_template="Summarize: {text}",
                            n=2, params={"max_new_tokens": 4})
    assert report.reference_field == "highlights"
    assert [r.id for r in report.records] == ["n0", "n1", "n2", "n3"]
    assert report.records[0].prompt == "Summarize: " + RECORDS[0]["text"]
    assert all(len(r.outputs) == 2 for r in report.records)
    assert len(report.examples) == 2
    for m in range(2):
        expected, _ = score_pairs([r.outputs[m] for r in report.records], [r.reference for r in report.records])
        assert report.rouge[m] == expected
    md, page = write_report(report, tmp_path / "report")
    text = md.read_text()
    assert "| rouge1 |" in text and "| rougeLsum |" in text and "council approves budget 1" in text
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in html
    assert "Summarize: Article 0" in html and "Summarize: Article 3" not in html  # n=2 examples


def test_prompt_template_errors_name_the_field():
    with pytest.raises(DataError, match=r"d.jsonl:3: field 'body'"):
        build_prompt({"text": "x"}, "Summarize: {body}", "d.jsonl", 3)
    assert build_prompt({"text_inputs": "hi"}, None, "d.jsonl", 1) == "hi"


def test_compare_cli(tmp_path, data, tiny_t5_dir, capsys):
    out = tmp_path / "rep"
    rc = main(["compare", "--models", str(tiny_t5_dir), str(tiny_t5_dir), "--data", str(data),
               "--prompt-template", "Summarize: {text}", "--n", "1", "--max-new-tokens", "3",
               "--output", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Side by side" in printed and "rougeLsum" in printed
    assert (out / "report.md").exists() and (out / "report.html").exists()
    saved = json.loads((out / "report.json").read_text())
    # same model, greedy: identical outputs and scores
    assert saved["rouge"][0] == saved["rouge"][1]
