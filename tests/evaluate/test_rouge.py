import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from springboard.cli import main
from springboard.errors import DataError
from springboard.evaluate import rouge_scores

PAIRS = [
    ("the cat sat on the mat", "a cat sat on the mat today"),
    ("police arrested two men.\nthe men were charged.", "two men were arrested by police\nthey face charges"),
    ("stocks fell sharply on monday", "markets rose on tuesday"),
    ("running runners ran", "the runner runs"),
    ("the cat sat down.\nthe dog ran away.", "the dog ran away.\nthe cat sat down."),
]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def expected(pairs, use_stemmer=False):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=use_stemmer)
    per = [scorer.score(ref, pred) for ref, pred in pairs]
    return {k: sum(s[k].fmeasure for s in per) / len(per) for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")}


@pytest.fixture
def files(tmp_path):
    preds = write_jsonl(tmp_path / "articles.jsonl.out",
                        [{"id": i, "generated_texts": [p]} for i, (_, p) in enumerate(PAIRS)])
    refs = write_jsonl(tmp_path / "articles.jsonl",
                       [{"id": i, "text_inputs": "...", "highlights": r} for i, (r, _) in enumerate(PAIRS)])
    return preds, refs


def test_equals_rouge_score_on_fixed_sample(files):
    report = rouge_scores(*files)
    assert report.count == 5
    assert report.scores.model_dump() == pytest.approx(expected(PAIRS))
    # rougeLsum splits sentences on newlines: sentence order matters to rougeL, not to rougeLsum
    assert report.scores.rougeLsum != report.scores.rougeL
    stemmed = rouge_scores(*files, use_stemmer=True)
    assert stemmed.scores.model_dump() == pytest.approx(expected(PAIRS, use_stemmer=True))
    assert stemmed.scores.rouge1 > report.scores.rouge1


def test_missing_ids_reported_both_sides(tmp_path):
    preds = write_jsonl(tmp_path / "p.out", [{"id": "a", "generated_texts": ["x y"]}, {"id": "b", "generated_texts": ["z"]},
                                              {"id": "c", "error": "line 3: boom"}])
    refs = write_jsonl(tmp_path / "r.jsonl", [{"id": "a", "highlights": "x y"}, {"id": "c", "highlights": "q"},
                                               {"id": "d", "highlights": "w"}])
    report = rouge_scores(preds, refs)
    assert report.count == 1 and report.scores.rouge1 == 1.0
    assert report.missing_in_predictions == ["d"]
    assert report.missing_in_references == ["b"]
    assert report.failed == ["c"]


def test_field_paths_and_joined_output(tmp_path):
    preds = write_jsonl(tmp_path / "p.out", [
        {"id": 1, "text_inputs": "t", "SageMakerOutput": {"id": 1, "generated_texts": ["the cat"]}},
    ])
    refs2 = write_jsonl(tmp_path / "r2.jsonl", [{"id": 1, "a": {"b": ["the cat", "other"]}}])
    report = rouge_scores(preds, refs2, reference_field="a.b[0]")  # prediction found under SageMakerOutput
    assert report.count == 1 and report.scores.rouge1 == 1.0


def test_literal_eval_style_lines_and_string_int_ids_join(tmp_path):
    preds = tmp_path / "p.out"
    preds.write_text("{'id': 1, 'generated_texts': ['a b']}\n")
    refs = write_jsonl(tmp_path / "r.jsonl", [{"id": "1", "highlights": "a b"}])
    assert rouge_scores(preds, refs).count == 1


def test_errors_name_file_line_field(tmp_path):
    preds = write_jsonl(tmp_path / "p.out", [{"id": 1, "generated_texts": ["a"]}, {"id": 1, "generated_texts": ["b"]}])
    refs = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "highlights": "a"}])
    with pytest.raises(DataError, match=r"p.out:2: field 'id': duplicate"):
        rouge_scores(preds, refs)
    refs = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "summary": "a"}])
    preds = write_jsonl(tmp_path / "p.out", [{"id": 1, "generated_texts": ["a"]}])
    with pytest.raises(DataError, match=r"r.jsonl:1: field 'highlights': missing"):
        rouge_scores(preds, refs)


def test_cli_json_format(files, capsys):
    preds, refs = files
    assert main(["evaluate", "rouge", "--predictions", str(preds), "--references", str(refs), "--on", "id",
                 "--prediction-field", "generated_texts[0]", "--reference-field", "highlights",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 5
    assert out["scores"] == pytest.approx(expected(PAIRS))
    assert main(["evaluate", "rouge", "--predictions", str(preds), "--references", str(refs)]) == 0
    assert "rougeLsum" in capsys.readouterr().out
