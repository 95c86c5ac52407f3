"""`springboard models list|show|register|resolve`."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="the model hub: list, show, register, resolve")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")

    p = sub.add_parser("list", help="list models (JumpStart filter syntax)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="EXPR",
        help='e.g. "task == text2text", "framework != meta", "task in [text2text, '
        'text-generation]"; repeat to AND several',
    )
    p.add_argument("--json", action="store_true", help="print the specs as JSON")
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="a model's spec, default resources and local weights")
    p.add_argument("model_id", metavar="ID", help="model id or alias")
    p.set_defaults(func=_show)

    p = sub.add_parser(
        "register",
        help="register a local Hugging Face directory as an existing id's weights or a new model",
    )
    p.add_argument("model_id", metavar="ID")
    p.add_argument("--path", required=True, metavar="DIR", help="Hugging Face model directory")
    p.set_defaults(func=_register)

    p = sub.add_parser("resolve", help="print the model's local directory (converting if needed)")
    p.add_argument("model_id", metavar="REF", help="model id, alias, directory or training job")
    p.set_defaults(func=_resolve)

    models.set_defaults(func=lambda args: (models.print_help(), 2)[1])


def _list(args: argparse.Namespace) -> int:
    from springboard.hub import And, list_specs, local_weights
    from springboard.hub.resolve import gguf_available

    expression = None
    if args.filter:
        expression = args.filter[0] if len(args.filter) == 1 else And(*args.filter)
    specs = list_specs(expression)
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        return 0
    rows = []
    for spec in specs:
        if local_weights(spec) is not None:
            weights = "yes"
        elif spec.source.type == "gguf_package" and gguf_available(spec):
            weights = "on first use"  # the packaged GGUF converts when first resolved
        else:
            weights = "no"
        rows.append(
            (
                spec.model_id,
                spec.task,
                spec.architecture,
                "yes" if spec.training_supported else "no",
                "yes" if spec.requires_eula else "no",
                weights,
            )
        )
    _table(("MODEL ID", "TASK", "ARCHITECTURE", "TRAINING", "EULA", "LOCAL WEIGHTS"), rows)
    return 0


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if not rows:
        print("(no models match)")


def _show(args: argparse.Namespace) -> int:
    from springboard.hub import get_model_spec, local_weights

    spec = get_model_spec(args.model_id)
    weights = local_weights(spec)
    out = spec.model_dump(mode="json") | {
        "default_resources": {
            scope: spec.default_resources(scope).model_dump(mode="json")
            for scope in ("training", "inference")
        },
        "local_weights": str(weights) if weights else None,
    }
    print(json.dumps(out, indent=2))
    return 0


def _register(args: argparse.Namespace) -> int:
    from springboard.hub import register_model

    spec = register_model(args.model_id, args.path)
    print(f"registered {spec.model_id} ({spec.task}, {spec.architecture}) -> {spec.source.path}")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from springboard.hub import resolve_model

    print(resolve_model(args.model_id))
    return 0
