"""`springboard generate MODEL --prompt ...`: one-off completions from the terminal (the seeds'
"The review of movie ... is" comparison of a base and a fine-tuned model)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="complete a prompt with a model id, training job or artifact path",
        description="Raw completion by default (base-style prompts); --chat wraps the prompt in the "
        "model's chat template. Parameters as JSON (JumpStart/HF names) or --max-new-tokens etc.",
    )
    p.add_argument("model", metavar="MODEL_ID|JOB_NAME|PATH", nargs="+", help="one or more models, compared on the same prompts")
    p.add_argument("--prompt", action="append", required=True, help="a prompt; repeatable")
    p.add_argument("--chat", action="store_true", help="use the model's chat template")
    p.add_argument("--params", help='generation parameters as JSON, e.g. \'{"do_sample": true, "top_p": 0.9}\'')
    p.add_argument("--max-new-tokens", type=int, help="shorthand for the parameter of that name")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from springboard.errors import DataError
    from springboard.generate import Engine, GenerationParams

    values = {}
    if args.params:
        try:
            values = json.loads(args.params)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", field="--params") from None
        if not isinstance(values, dict):
            raise DataError("must be a JSON object", field="--params")
    if args.max_new_tokens is not None:
        values["max_new_tokens"] = args.max_new_tokens
    params = GenerationParams.parse(values)
    out = []
    for ref in args.model:
        engine = Engine.load(ref)
        for prompt, result in zip(args.prompt, engine.generate(args.prompt, params, chat=args.chat)):
            out.append({"model": ref, "prompt": prompt, "generated_texts": result.texts})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for row in out:
        for text in row["generated_texts"]:
            print(f"[{row['model']}] {row['prompt']}\n  -> {text.strip()}\n")
    return 0
