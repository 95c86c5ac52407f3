"""Domain adaptation (`instruction_tuned=False`): raw text, causal LM loss on every token.

Each document is tokenized (with BOS where the tokenizer adds one) and followed by an eos, so the
model sees where documents end. With packing (the default here) the documents are concatenated
and cut into `max_input_length` blocks (see `packing.pack_stream`); with `packing=False` each
document is cut into its own blocks, never mixing documents. No token is lost either way.

Validation without a `validation` channel: the documents are split by `validation_split_ratio`
before tokenizing, so no document is in both; a channel with a single document (one TXT file)
has its blocks split instead.
"""

from __future__ import annotations

from pathlib import Path

from springboard.data.base import DataFormat, DataStats, SplitStats
from springboard.data.io import TEXT_SUFFIXES, resolve_channel
from springboard.data.packing import pack_stream
from springboard.data.channel_records import Document, load_documents, split_records
from springboard.data.tokens import Example, TokenizerInfo, encode_plain


class TextData(DataFormat[Document]):
    name = "domain-adaptation"

    def data_files(self, path: str | Path) -> list[str]:
        return [resolve_channel(path, TEXT_SUFFIXES, "domain adaptation")]

    def load(self, path: str | Path) -> list[Document]:
        return load_documents(path)

    def encode(self, records: list[Document], stats: SplitStats) -> list[Example]:
        info = TokenizerInfo.of(self.tokenizer)
        docs = []
        for ids in encode_plain(self.tokenizer, [d.text for d in records]):
            ids = info.with_bos(ids) + [info.eos_id]
            docs.append(Example(ids, list(ids)))
        if self.options.pack:
            return docs  # `pack` below concatenates across documents
        block = self.options.max_input_length
        return [piece for doc in docs for piece in pack_stream([doc], block)]

    def pack(self, examples: list[Example]) -> list[Example]:
        return pack_stream(examples, self.options.max_input_length)

    def build(self, train: list[Document], validation: list[Document] | None,
              stats: DataStats) -> tuple[list[Example], list[Example]]:
        if validation is not None or len(train) != 1:
            return super().build(train, validation, stats)
        opts = self.options
        stats.train.records = 1
        blocks = self.encode(train, stats.train)
        if opts.pack:
            blocks = self.pack(blocks)
        train_blocks, val_blocks = split_records(blocks, opts.validation_split_ratio, opts.split_seed)
        parts = []
        for part, split_stats, cap in ((train_blocks, stats.train, opts.max_train_samples),
                                       (val_blocks, stats.validation, opts.max_val_samples)):
            part = part if cap == -1 else part[:cap]
            split_stats.count(part)
            parts.append(part)
        return parts[0], parts[1]
