"""The `springboard` command. Thin: each room contributes its subcommands through a
`register(subparsers)` function in its own `cli` module, so this file only parses and
dispatches. Room modules import their heavy dependencies inside the handlers, which keeps
`springboard --help` fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from springboard.errors import SpringboardError, ValidationError

# Rooms that add commands; a room not yet present is skipped.
COMMAND_MODULES = [
    "springboard.hub.cli",
    "springboard.hub.jumpstart_cli",
    "springboard.train.cli",
    "springboard.jobs.cli",
    "springboard.generate.cli",
    "springboard.serve.cli",
    "springboard.app",  # `springboard serve`: the one server, composed of every room's routes
    "springboard.transform.cli",
    "springboard.evaluate.cli",
    "springboard.automl.cli",
    "springboard.crawl.cli",
    "springboard.quickstart",
]


def parse_pairs(pairs: list[str], flag: str, strip: bool = True) -> dict[str, str]:
    """`KEY=VALUE` options (`--hp`, `--env`) as a dict; `strip=False` keeps values verbatim
    (environment values pass through untouched)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip() if strip else value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="springboard",
        description="Self-hosted LLM customization: hub, fine-tuning, endpoints, transform, "
        "evaluation, AutoML, crawl data prep.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except SpringboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
