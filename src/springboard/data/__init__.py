"""The data room: readers and formats for training data.

- `prepare_data(train, tokenizer, options, validation=None, template=None)` -> `PreparedData`
  (what the training loop consumes: tokenized `Example`s, a fingerprint, `DataStats`).
- Record level, no tokenizer: `load_instruction_records`, `load_chat_records`, `load_documents`,
  `load_template`, `read_table`, `split_records`.

Formats (one module each, behind `DataFormat`): `instruction` (prompt/completion, template.json,
causal or seq2seq), `chat` (messages with the model's chat template), `text` (domain adaptation).
"""

from springboard.data.base import (
    DataFormat,
    DataOptions,
    DataStats,
    PreparedData,
    SplitStats,
)
from springboard.data.chat import ChatData
from springboard.data.instruction import InstructionData
from springboard.data.io import iter_table, read_table
from springboard.data.packing import pack_examples, pack_stream
from springboard.data.prepare import data_format, prepare_data
from springboard.data.channel_records import (
    Conversation,
    Document,
    Message,
    PromptCompletion,
    load_chat_records,
    load_documents,
    load_instruction_records,
    split_records,
)
from springboard.data.template import Template, load_template, render
from springboard.data.text import TextData
from springboard.data.tokens import IGNORE_INDEX, Example

__all__ = [
    "IGNORE_INDEX",
    "ChatData",
    "Conversation",
    "DataFormat",
    "DataOptions",
    "DataStats",
    "Document",
    "Example",
    "InstructionData",
    "Message",
    "PreparedData",
    "PromptCompletion",
    "SplitStats",
    "Template",
    "TextData",
    "data_format",
    "iter_table",
    "load_chat_records",
    "load_documents",
    "load_instruction_records",
    "load_template",
    "pack_examples",
    "pack_stream",
    "prepare_data",
    "read_table",
    "render",
    "split_records",
]
