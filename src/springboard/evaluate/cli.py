"""`springboard evaluate rouge|perplexity` and `springboard compare`."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="ROUGE of predictions, perplexity of a model")
    sub = p.add_subparsers(dest="evaluate_command", metavar="METRIC", required=True)

    r = sub.add_parser("rouge", help="ROUGE of a predictions file against references, joined on a key")
    r.add_argument("--predictions", required=True, help="predictions JSONL (e.g. a transform's .out)")
    r.add_argument("--references", required=True, help="references JSONL")
    r.add_argument("--on", default="id", help="join key field (default: id)")
    r.add_argument("--prediction-field", default="generated_texts[0]")
    r.add_argument("--reference-field", default="highlights")
    r.add_argument("--use-stemmer", action="store_true", help="Porter stemming (off, as in HF evaluate)")
    r.add_argument("--format", choices=["table", "json"], default="table")
    r.set_defaults(func=_rouge)

    pp = sub.add_parser("perplexity", help="perplexity of a causal model over a text or JSONL file")
    pp.add_argument("--model", required=True, help="hub model id, training job name or artifact path")
    pp.add_argument("--data", required=True, help=".jsonl (one text per record) or a text file")
    pp.add_argument("--field", help="the text field of JSONL records (default: text)")
    pp.add_argument("--max-length", type=int, help="window in tokens (default: the model's context)")
    pp.add_argument("--stride", type=int, default=512, help="window step in tokens (default: 512)")
    pp.add_argument("--format", choices=["table", "json"], default="table")
    pp.set_defaults(func=_perplexity)

    c = subparsers.add_parser(
        "compare", help="generate with two models, side-by-side table, ROUGE, Markdown + HTML report"
    )
    c.add_argument("--models", nargs="+", required=True, metavar="MODEL", help="two (or more) models")
    c.add_argument("--data", required=True, help="JSONL records")
    c.add_argument("--prompt-template", help="e.g. 'Summarize: {text}' (fields of the records)")
    c.add_argument("--reference-field", help="reference text field (default: highlights, if present)")
    c.add_argument("--id-field", default="id")
    c.add_argument("--n", type=int, default=3, help="examples shown side by side (default: 3)")
    c.add_argument("--limit", type=int, help="score only the first N records")
    c.add_argument("--max-new-tokens", type=int, default=64)
    c.add_argument("--params", help="more generation parameters as a dict literal, e.g. \"{'num_beams': 2}\"")
    c.add_argument("--batch-size", type=int, default=8)
    c.add_argument("--output", default="compare-report", help="report directory (default: ./compare-report)")
    c.set_defaults(func=_compare)


def _rouge(args: argparse.Namespace) -> int:
    from springboard.evaluate.rouge import print_rouge, rouge_scores

    report = rouge_scores(
        args.predictions,
        args.references,
        on=args.on,
        prediction_field=args.prediction_field,
        reference_field=args.reference_field,
        use_stemmer=args.use_stemmer,
    )
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    else:
        print_rouge(report)
    return 0


def _perplexity(args: argparse.Namespace) -> int:
    from springboard.evaluate.perplexity import perplexity_of_file

    result = perplexity_of_file(args.model, args.data, args.field, args.max_length, args.stride)
    if args.format == "json":
        print(result.model_dump_json(indent=2))
    else:
        print(
            f"perplexity {result.perplexity:.4f} (mean NLL {result.nll:.4f} nats over "
            f"{result.tokens} tokens in {result.texts} text(s); window {result.max_length}, "
            f"stride {result.stride})"
        )
    return 0


def _compare(args: argparse.Namespace) -> int:
    import ast

    from springboard.errors import ValidationError
    from springboard.evaluate.compare import compare_models, print_compare
    from springboard.evaluate.report import write_report

    params = {"max_new_tokens": args.max_new_tokens}
    if args.params:
        try:
            extra = ast.literal_eval(args.params)
        except (ValueError, SyntaxError) as exc:
            raise ValidationError(f"--params must be a dict literal: {exc}") from None
        if not isinstance(extra, dict):
            raise ValidationError("--params must be a dict literal")
        params.update(extra)
    report = compare_models(
        args.models,
        args.data,
        prompt_template=args.prompt_template,
        reference_field=args.reference_field,
        id_field=args.id_field,
        n=args.n,
        limit=args.limit,
        params=params,
        batch_size=args.batch_size,
    )
    print_compare(report)
    md, page = write_report(report, args.output)
    print(json.dumps({"markdown": str(md), "html": str(page)}))
    return 0
