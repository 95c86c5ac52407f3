"""Side-by-side comparison of models on one data file: generate with each, score ROUGE against
the references, print the tables, write a Markdown and a self-contained HTML report."""

from __future__ import annotations

import logging
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from springboard.errors import DataError, ValidationError
from springboard.evaluate.jsonl_fields import FieldPath, as_text, read_jsonl
from springboard.evaluate.rouge import ROUGE_TYPES, RougeScores

log = logging.getLogger("springboard.evaluate")


class CompareRecord(BaseModel):
    id: Any
    prompt: str
    reference: str | None
    outputs: list[str]  # one per model, in the order of CompareReport.models


class CompareReport(BaseModel):
    models: list[str]
    data: str
    prompt_template: str | None
    reference_field: str | None
    params: dict[str, Any]
    records: list[CompareRecord]
    rouge: list[RougeScores | None] = Field(description="per model; None without references")
    n: int = 3  # examples shown side by side

    @property
    def examples(self) -> list[CompareRecord]:
        return self.records[: self.n]


class _Fields(dict):
    """format_map source that names the record and the missing field."""

    def __init__(self, record: dict[str, Any], file: str, line: int) -> None:
        super().__init__(record)
        self.file, self.line = file, line

    def __missing__(self, key: str) -> Any:
        raise DataError("used by --prompt-template but missing", file=self.file, line=self.line,
                        field=key)


def build_prompt(record: Any, template: str | None, file: str, line: int) -> str:
    """`template` filled with the record's fields (`Summarize: {text}`); without one, the
    record's `text_inputs` (JumpStart) or `text`."""
    if not isinstance(record, dict):
        raise DataError("expected a JSON object", file=file, line=line)
    if template is None:
        for key in ("text_inputs", "text", "prompt", "input"):
            if isinstance(record.get(key), str):
                return record[key]
        raise DataError("no text_inputs/text/prompt/input field; give --prompt-template",
                        file=file, line=line)
    return template.format_map(_Fields(record, file, line))


def compare_models(
    models: list[str],
    data: str | Path,
    prompt_template: str | None = None,
    reference_field: str | None = None,
    id_field: str = "id",
    n: int = 3,
    limit: int | None = None,
    params: dict[str, Any] | None = None,
    batch_size: int = 8,
    chat: bool | None = None,
) -> CompareReport:
    """Generates for every record (up to `limit`) with each model in turn, through the one
    generate-then-score path (evaluate/generation.py). `reference_field` defaults to
    `highlights` when the records have it; without references ROUGE is skipped. `chat`: the
    prompt rule's switch (True: chat template, False: raw; None: each model's own format)."""
    from springboard.evaluate.generation import evaluate_model
    from springboard.generate import GenerationParams
    from springboard.generate.prompting import chat_setting

    if len(models) < 2:
        raise ValidationError("compare needs at least two models")
    if prompt_template is not None:
        _check_template(prompt_template)
    gen_params = GenerationParams.parse(params or {"max_new_tokens": 64})
    file = str(data)
    rows = list(read_jsonl(data))[: limit or None]
    if not rows:
        raise DataError("no records", file=file)
    if reference_field is None and isinstance(rows[0][1], dict) and "highlights" in rows[0][1]:
        reference_field = "highlights"
    ref_path = FieldPath(reference_field) if reference_field else None
    id_path = FieldPath(id_field)
    records = []
    for i, (line, rec) in enumerate(rows):
        found, rid = id_path.find(rec)
        reference = None
        if ref_path:
            reference = as_text(ref_path.get(rec, file, line), file, line, ref_path.path)
        records.append(
            CompareRecord(id=rid if found else i, prompt=build_prompt(rec, prompt_template, file, line),
                          reference=reference, outputs=[])
        )
    prompts = [r.prompt for r in records]
    references = [r.reference or "" for r in records] if ref_path else None
    rouge: list[RougeScores | None] = []
    for ref in models:
        result = evaluate_model(ref, prompts, references, gen_params, prompt_format=chat_setting(chat),
                                batch_size=batch_size)
        for record, output in zip(records, result.outputs):
            record.outputs.append(output)
        rouge.append(result.rouge)
    return CompareReport(
        models=list(models), data=file, prompt_template=prompt_template,
        reference_field=reference_field, params=gen_params.model_dump(exclude_defaults=True),
        records=records, rouge=rouge, n=n,
    )  # fmt: skip


def _check_template(template: str) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValidationError(f"invalid --prompt-template {template!r}: {exc}") from None
    if not fields:
        raise ValidationError(f"--prompt-template {template!r} names no field, e.g. 'Summarize: {{text}}'")


def print_compare(report: CompareReport, width: int = 60) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    side = Table(title=f"Side by side ({len(report.examples)} of {len(report.records)} records)",
                 show_lines=True)
    side.add_column("id")
    side.add_column("prompt", max_width=width)
    if report.reference_field:
        side.add_column("reference", max_width=width)
    for model in report.models:
        side.add_column(model, max_width=width)
    for r in report.examples:
        cells = [str(r.id), _clip(r.prompt, 400)]
        if report.reference_field:
            cells.append(r.reference or "")
        side.add_row(*cells, *r.outputs)
    console.print(side)
    console.print(rouge_compare_table(report))


def rouge_compare_table(report: CompareReport):
    from rich.table import Table

    table = Table(title=f"ROUGE over {len(report.records)} records (mean F-measure)")
    table.add_column("metric")
    for model in report.models:
        table.add_column(model, justify="right")
    if not report.reference_field:
        table.add_row("(no references)", *["-" for _ in report.models])
        return table
    for k in ROUGE_TYPES:
        table.add_row(k, *[f"{getattr(s, k):.4f}" if s else "-" for s in report.rouge])
    return table


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
