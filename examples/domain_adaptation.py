"""Domain adaptation of the default model on a real corpus available offline: the Python
language reference that ships with Python (`pydoc_data.topics`).

The seeds' SEC-filings / IMDB workflow with JumpStart's hyperparameter names:
`instruction_tuned="False"` trains a causal LM on raw text packed into `max_input_length`
blocks. Reports validation perplexity before and after on held-out reference topics, and
three completions of the same prompts by the base and the adapted model.

    .venv/bin/python examples/domain_adaptation.py            # ~10 min on a 2-core CPU
    .venv/bin/python examples/domain_adaptation.py --blocks 40 # a quicker look
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import pydoc_data.topics

from springboard import Estimator
from springboard.evaluate.perplexity import perplexity_of_file
from springboard.generate import Engine, GenerationParams

PROMPTS = [
    "A generator expression yields",
    "The with statement is used to",
    "In Python, the global statement",
]


def write_corpus(out: Path, held_out: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """train/reference.txt and validation/reference.txt: whole topics, none in both."""
    topics = sorted((k, v) for k, v in pydoc_data.topics.topics.items() if len(v.split()) > 150)
    random.Random(seed).shuffle(topics)
    val, train = topics[:held_out], topics[held_out:]
    for split, items in (("train", train), ("validation", val)):
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "reference.txt").write_text("\n\n".join(text.strip() for _, text in items))
    return out / "train", out / "validation"


def complete(model: str, params: GenerationParams) -> list[str]:
    engine = Engine.load(model)
    return [r.texts[0].strip() for r in engine.generate(PROMPTS, params, chat=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="domain-adaptation-output")
    parser.add_argument("--blocks", type=int, default=120, help="256-token training blocks (max_train_samples)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    work = Path(args.workdir)
    train_dir, val_dir = write_corpus(work / "data")
    val_file = val_dir / "reference.txt"
    print(f"corpus: {train_dir} ({len((train_dir / 'reference.txt').read_text().split())} words), held out: {val_file}")

    params = GenerationParams(max_new_tokens=30, do_sample=False, no_repeat_ngram_size=3)
    before_ppl = perplexity_of_file(args.model, val_file, max_length=256, stride=256)
    before_text = complete(args.model, params)

    estimator = Estimator(
        model_id=args.model,
        hyperparameters={
            "instruction_tuned": "False",  # domain adaptation, as JumpStart's Llama/Mistral
            "epoch": "1",
            "learning_rate": "0.0003",
            "max_input_length": "256",
            "max_train_samples": str(args.blocks),
            "per_device_train_batch_size": "4",
            "lora_r": "16",
        },
    )
    job = estimator.fit({"training": str(train_dir), "validation": str(val_dir)}, logs=False)
    tuned = job.name
    after_ppl = perplexity_of_file(tuned, val_file, max_length=256, stride=256)
    after_text = complete(tuned, params)

    drop = 100 * (1 - after_ppl.perplexity / before_ppl.perplexity)
    print(f"\nvalidation perplexity on held-out reference topics ({after_ppl.tokens} tokens):")
    print(f"  base    {before_ppl.perplexity:8.2f}")
    print(f"  adapted {after_ppl.perplexity:8.2f}   ({drop:.1f}% lower)")
    for prompt, b, a in zip(PROMPTS, before_text, after_text):
        print(f"\n> {prompt}\n  base:    {b}\n  adapted: {a}")
    result = {
        "training_job": tuned,
        "perplexity_before": before_ppl.perplexity,
        "perplexity_after": after_ppl.perplexity,
        "perplexity_drop_percent": drop,
        "completions": [{"prompt": p, "base": b, "adapted": a} for p, b, a in zip(PROMPTS, before_text, after_text)],
        "seconds": time.perf_counter() - t0,
    }
    (work / "result.json").write_text(json.dumps(result, indent=2))
    print(f"\nwritten {work / 'result.json'} in {result['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
