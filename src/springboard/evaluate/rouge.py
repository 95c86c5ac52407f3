"""ROUGE between a predictions file and a references file joined on a key.

Scores come from Google's `rouge-score` library (the one HF `evaluate` wraps): rouge1, rouge2,
rougeL and rougeLsum F-measures per record, averaged. HF `evaluate` reports the `mid` of a
bootstrap over the same per-record scores, which this mean approximates without sampling (so
it is deterministic). `use_stemmer` is off by default as in `evaluate`; rougeLsum splits
sentences on newlines, as rouge-score does."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from springboard.errors import DataError
from springboard.evaluate.jsonl_fields import FieldPath, as_text, key_of, read_jsonl

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class RougeScores(BaseModel):
    rouge1: float
    rouge2: float
    rougeL: float
    rougeLsum: float


class RougeExample(BaseModel):
    """One joined record: its id, the two texts and their F-measures."""

    id: Any
    reference: str
    prediction: str
    scores: RougeScores


class RougeReport(BaseModel):
    """Mean F-measures (0-1) over the joined records, and what did not join."""

    scores: RougeScores | None = Field(description="None when no record joined")
    count: int = Field(description="records joined and scored")
    missing_in_predictions: list[Any] = Field(default_factory=list, description="ids only in references")
    missing_in_references: list[Any] = Field(default_factory=list, description="ids only in predictions")
    failed: list[Any] = Field(default_factory=list, description="ids whose prediction line is an error")
    predictions_file: str | None = None
    references_file: str | None = None
    on: str | None = None
    use_stemmer: bool = False
    examples: list[RougeExample] = Field(default_factory=list, description="per joined record, when asked")


def score_pairs(
    predictions: list[str], references: list[str], use_stemmer: bool = False
) -> tuple[RougeScores | None, list[dict[str, float]]]:
    """Mean F-measures and the per-pair F-measures."""
    from rouge_score import rouge_scorer

    # rouge-score logs "Using default tokenizer." at INFO for every scorer it builds.
    logging.getLogger("absl").setLevel(logging.WARNING)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    per = []
    for pred, ref in zip(predictions, references):
        s = scorer.score(ref, pred)  # rouge-score takes (target, prediction)
        per.append({k: s[k].fmeasure for k in ROUGE_TYPES})
    if not per:
        return None, per
    means = {k: sum(p[k] for p in per) / len(per) for k in ROUGE_TYPES}
    return RougeScores(**means), per


def rouge_scores(
    predictions_file: str | Path,
    references_file: str | Path,
    on: str = "id",
    prediction_field: str = "generated_texts[0]",
    reference_field: str = "highlights",
    use_stemmer: bool = False,
    examples: bool = False,
) -> RougeReport:
    """Joins the two JSONL files on `on` (a field path present in both) and scores the joined
    records. Prediction lines with an `error` field (failed transform records) are listed in
    `failed` and left out of the scores. `examples`: each joined record's texts and scores too."""
    on_path = FieldPath(on)
    pred_path = FieldPath(prediction_field)
    # A transform with join_source="Input" nests the prediction under SageMakerOutput.
    nested_path = FieldPath(f"SageMakerOutput.{prediction_field}")
    ref_path = FieldPath(reference_field)

    preds: dict[str, tuple[Any, str | None]] = {}
    failed: dict[str, Any] = {}
    for line, rec, rid, key in _keyed(predictions_file, on_path, on):
        if isinstance(rec, dict) and "error" in rec:
            failed[key] = rid
            continue
        found, value = pred_path.find(rec)
        if not found:
            found, value = nested_path.find(rec)
        if not found:
            raise DataError("missing", file=predictions_file, line=line, field=prediction_field)
        preds[key] = (rid, as_text(value, predictions_file, line, prediction_field))

    refs: dict[str, tuple[Any, str]] = {}
    for line, rec, rid, key in _keyed(references_file, on_path, on):
        value = ref_path.get(rec, references_file, line)
        refs[key] = (rid, as_text(value, references_file, line, reference_field))

    joined = [k for k in preds if k in refs]
    scores, per = score_pairs(
        [preds[k][1] for k in joined], [refs[k][1] for k in joined], use_stemmer
    )
    shown = [RougeExample(id=preds[k][0], reference=refs[k][1], prediction=preds[k][1], scores=RougeScores(**s))
             for k, s in zip(joined, per)] if examples else []
    return RougeReport(
        scores=scores,
        count=len(joined),
        missing_in_predictions=[refs[k][0] for k in refs if k not in preds and k not in failed],
        missing_in_references=[v[0] for k, v in preds.items() if k not in refs]
        + [rid for k, rid in failed.items() if k not in refs],
        failed=list(failed.values()),
        predictions_file=str(predictions_file),
        references_file=str(references_file),
        on=on,
        use_stemmer=use_stemmer,
        examples=shown,
    )


def _keyed(path: str | Path, on_path: FieldPath, on: str):
    """(line, record, id, join key) for each record of a JSONL file; a repeated id is an
    error naming both lines."""
    first_line: dict[str, int] = {}
    for line, rec in read_jsonl(path):
        rid = on_path.get(rec, path, line)
        key = key_of(rid)
        if key in first_line:
            raise DataError(f"duplicate {on} {rid!r} (first on line {first_line[key]})", file=path, line=line, field=on)
        first_line[key] = line
        yield line, rec, rid, key


def rouge_table(report: RougeReport, title: str | None = None):
    """A rich Table of a report (print it with `rich.print` or a Console)."""
    from rich.table import Table

    table = Table(title=title or "ROUGE (mean F-measure)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if report.scores:
        for k in ROUGE_TYPES:
            table.add_row(k, f"{getattr(report.scores, k):.4f}")
    table.add_row("joined", str(report.count))
    table.add_row("missing predictions", str(len(report.missing_in_predictions)))
    table.add_row("missing references", str(len(report.missing_in_references)))
    if report.failed:
        table.add_row("failed records", str(len(report.failed)))
    return table


def print_rouge(report: RougeReport, title: str | None = None) -> None:
    from rich.console import Console

    console = Console()
    console.print(rouge_table(report, title))
    for label, ids in (
        ("ids missing in predictions", report.missing_in_predictions),
        ("ids missing in references", report.missing_in_references),
        ("ids whose prediction failed", report.failed),
    ):
        if ids:
            shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
            console.print(f"{label} ({len(ids)}): {shown}")
