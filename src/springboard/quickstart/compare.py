"""The quickstart's last step: both models over the held-out file as batch transform jobs
(prompts rendered by the one prompt rule, generate/prompting.py: the tuned artifact as it was
trained, with the chat template; the instruct base model in its chat template), ROUGE joined on
id (evaluate.rouge), and three examples side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from springboard.data.io import text_lines
from springboard.errors import SpringboardError


def compare_models(
    base: str,
    tuned: str,
    test_file: Path,
    records: list[dict[str, Any]],
    workdir: Path,
    max_new_tokens: int,
    console,
    n_examples: int = 3,
) -> dict[str, Any]:
    from rich.table import Table

    from springboard.evaluate.rouge import ROUGE_TYPES, rouge_scores
    from springboard import jobs
    from springboard.transform.api import transform_config

    # Greedy decoding, one batched pass per 16 records (JumpStart's HYPER_PARAMS convention).
    params = {"max_new_tokens": max_new_tokens, "do_sample": False, "batch_size": 16}
    predictions: dict[str, dict[str, str]] = {}
    reports = {}
    for label, model in (("pre-trained", base), ("fine-tuned", tuned)):
        out_dir = workdir / "predictions" / label
        console.print(f"batch transform: {label} model over {len(records)} held-out records")
        config = transform_config(model, test_file, out_dir, env={"HYPER_PARAMS": str(params)})
        job = jobs.submit(config, wait=True)
        if job.status != "Completed":
            raise SpringboardError(f"transform job {job.name} {job.status}: {job.failure_reason}")
        out_file = out_dir / (test_file.name + ".out")
        reports[label] = rouge_scores(out_file, test_file, on="id", reference_field="summary")
        predictions[label] = {
            rec["id"]: rec["generated_texts"][0]
            for rec in map(json.loads, text_lines(out_file.read_text(encoding="utf-8")))
            if "generated_texts" in rec
        }

    side = Table(title="held-out examples: pre-trained vs fine-tuned", show_lines=True)
    for col, width in (("documentation (input)", 46), ("reference summary", 26), ("pre-trained", 34), ("fine-tuned", 30)):
        side.add_column(col, max_width=width, overflow="fold")
    for rec in records[:n_examples]:
        doc = rec["documentation"]
        side.add_row(
            doc if len(doc) < 260 else doc[:257] + "...",
            rec["summary"],
            predictions["pre-trained"].get(rec["id"], "(failed)").strip(),
            predictions["fine-tuned"].get(rec["id"], "(failed)").strip(),
        )
    console.print(side)

    table = Table(title=f"ROUGE on {reports['fine-tuned'].count} held-out examples (mean F-measure)")
    table.add_column("metric")
    table.add_column("pre-trained", justify="right")
    table.add_column("fine-tuned", justify="right")
    table.add_column("change", justify="right")
    result: dict[str, Any] = {"rouge": {}, "examples": len(records)}
    for key in ROUGE_TYPES:
        b = getattr(reports["pre-trained"].scores, key)
        t = getattr(reports["fine-tuned"].scores, key)
        table.add_row(key, f"{b:.4f}", f"{t:.4f}", f"{t - b:+.4f}")
        result["rouge"][key] = {"pre-trained": b, "fine-tuned": t}
    console.print(table)
    better = all(v["fine-tuned"] > v["pre-trained"] for v in result["rouge"].values())
    result["fine_tuned_better"] = better
    console.print(
        "[green]the fine-tuned model scores higher on every ROUGE measure"
        if better
        else "[yellow]the fine-tuned model does not beat the base model on every measure"
    )
    return result
