"""`prepare_data`: channels in, tokenized train/validation examples out; the one entry point the
training loop calls. The format is picked from the options as JumpStart does:
`chat_dataset` -> chat, `instruction_tuned` -> instruction, otherwise domain adaptation."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from springboard.data.base import DataFormat, DataOptions, DataStats, PreparedData
from springboard.data.chat import ChatData
from springboard.data.instruction import InstructionData
from springboard.data.io import read_bytes, template_beside
from springboard.data.channel_records import instruction_file
from springboard.data.template import Template, load_template
from springboard.data.text import TextData

log = logging.getLogger("springboard.data")


def data_format(tokenizer: Any, options: DataOptions, template: Template | None = None) -> DataFormat:
    if options.chat_dataset:
        return ChatData(tokenizer, options)
    if options.instruction_tuned:
        return InstructionData(tokenizer, options, template)
    return TextData(tokenizer, options)


def _find_template(path: str | Path, explicit: str | Path | dict | Template | None) -> Template | None:
    if isinstance(explicit, Template):
        return explicit
    if explicit is not None:
        return load_template(explicit)
    beside = template_beside(instruction_file(path))
    return load_template(beside) if beside else None


def prepare_data(
    train: str | Path,
    tokenizer: Any,
    options: DataOptions,
    validation: str | Path | None = None,
    template: str | Path | dict | Template | None = None,
) -> PreparedData:
    """Read, validate, split, tokenize and (optionally) pack the training data.

    `train` / `validation`: a channel directory (JumpStart layout) or a single file, local path or
    fsspec URI. `template`: a `template.json` for instruction data; by default the one beside the
    training file, and a validation channel's own `template.json` wins for its records.
    Without `validation`, `options.validation_split_ratio` of the training records (split with
    `options.split_seed`) become the validation set."""
    stats = DataStats()
    train_template = val_template = None
    if options.instruction_tuned and not options.chat_dataset:
        train_template = _find_template(train, template)
        val_template = train_template
        if validation is not None and template is None:
            val_template = _find_template(validation, None) or train_template
    fmt = data_format(tokenizer, options, train_template)
    stats.format = fmt.name + (f"/{options.architecture}" if fmt.name == "instruction" else "")

    train_records = fmt.load(train)
    val_records = None
    if validation is not None:
        val_fmt = data_format(tokenizer, options, val_template)
        val_records = val_fmt.load(validation)
        stats.validation_source = "channel"
    elif options.validation_split_ratio > 0:
        stats.validation_source = "split"
    stats.records_read = len(train_records) + len(val_records or [])

    train_examples, val_examples = fmt.build(train_records, val_records, stats)
    fingerprint = _fingerprint(fmt, options, [(train, train_template), (validation, val_template)])
    stats.log()
    return PreparedData(train_examples, val_examples, fingerprint, stats)


def _fingerprint(fmt: DataFormat, options: DataOptions, channels: list[tuple[Any, Template | None]]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": fmt.name, "options": options.fingerprint_fields()}, sort_keys=True).encode())
    for channel, template in channels:
        if channel is None:
            h.update(b"\0no-channel")
            continue
        for path in fmt.data_files(channel):
            data = read_bytes(path)
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
        if template is not None:
            spec = {"prompt": template.prompt, "completion": template.completion, "variants": template.variants}
            h.update(json.dumps(spec, sort_keys=True).encode())
    return h.hexdigest()
