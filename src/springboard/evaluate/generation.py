"""THE generate-then-score path: a model's outputs for evaluation prompts, generated through the
engine with the one prompt rule (generate/prompting.py), then scored with ROUGE against the
references. `springboard evaluate compare`, AutoML's candidate evaluation and its insights
report all call it; the quickstart and Studio score batch-transform outputs (which follow the
same prompt rule) with evaluate.rouge."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from typing import Any

from springboard.evaluate.rouge import RougeScores, score_pairs

log = logging.getLogger("springboard.evaluate")


@dataclass
class Evaluation:
    outputs: list[str]  # one per prompt, stripped
    rouge: RougeScores | None  # mean F-measures; None without references
    per_record: list[dict[str, float]] = field(default_factory=list)  # per-prompt F-measures
    prompt_format: str = "raw"  # how the prompts were rendered ("chat" | "raw")


def answer_budget(engine: Any, references: list[str] | None, default: int = 48) -> int:
    """max_new_tokens when none is given: a few tokens past the longest reference (8..256)."""
    longest = max((engine.count_tokens(r) for r in references or []), default=default)
    return max(8, min(256, longest + 8))


def generate_outputs(
    model: Any,
    prompts: list[str],
    params: Any = None,
    *,
    references: list[str] | None = None,
    prompt_format: str | None = None,
    batch_size: int = 8,
) -> tuple[list[str], str]:
    """(outputs, the prompt format used). `model`: an Engine, or a reference (hub id, job name,
    path) loaded for this call and released after. `params`: GenerationParams (or a dict of
    them); None: greedy, `answer_budget` tokens. `prompt_format`: the prompt rule's switch
    (None: the model's own format)."""
    from springboard.generate import Engine, GenerationParams
    from springboard.generate.prompting import prompt_format as format_of

    own = not isinstance(model, Engine)
    engine = Engine.load(model, workload="batch") if own else model
    try:
        if params is None:
            params = GenerationParams(max_new_tokens=answer_budget(engine, references), do_sample=False)
        elif isinstance(params, dict):
            params = GenerationParams.parse(params)
        chosen = format_of(engine, prompt_format)
        log.info("generating %d outputs with %s (prompt format %s)", len(prompts), engine.model_dir, chosen)
        results = engine.generate(prompts, params, chat=chosen == "chat", batch_size=batch_size)
        return [r.texts[0].strip() for r in results], chosen
    finally:
        if own:
            close = getattr(engine, "close", None)
            if close is not None:
                close()
            del engine
            gc.collect()


def evaluate_model(
    model: Any,
    prompts: list[str],
    references: list[str] | None,
    params: Any = None,
    *,
    prompt_format: str | None = None,
    batch_size: int = 8,
) -> Evaluation:
    """Generates for `prompts` and scores ROUGE against `references` (None: outputs only)."""
    outputs, chosen = generate_outputs(model, prompts, params, references=references,
                                       prompt_format=prompt_format, batch_size=batch_size)
    if references is None:
        return Evaluation(outputs, None, [], chosen)
    scores, per = score_pairs(outputs, references)
    return Evaluation(outputs, scores, per, chosen)
