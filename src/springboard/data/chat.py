"""Chat data (`chat_dataset=True`): conversations rendered with the model's own chat template,
loss only on assistant turns.

Where the assistant turns are is found by rendering prefixes of the conversation, which works
for any template that renders a conversation's prefix as a prefix of the whole (ChatML, Llama 2
and 3, Mistral, Gemma, Zephyr): the text between `render(messages[:i], add_generation_prompt=True)`
and `render(messages[:i+1])` is assistant message i. In it, the message content and the first
special token after it (the end of turn: `<|im_end|>`, `<|eot_id|>`, `</s>`, `<end_of_turn>`) are
labelled; the header before and anything after the end of turn (a newline) are not. A template
that ends a turn without any special token gets the eos appended to the turn, so the model still
learns to stop.

Segments are tokenized separately, so the prompt part is tokenized exactly as at inference
(`add_generation_prompt=True`) and the model learns the tokens it must generate after it.
Conversations longer than `max_input_length` are cut at the end (the start holds the system
prompt and the context later turns refer to); one left with no labelled token is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from springboard.data.base import DataFormat, SplitStats
from springboard.data.channel_records import Conversation, Message, instruction_file, load_chat_records
from springboard.data.tokens import IGNORE_INDEX, Example, TokenizerInfo, encode_plain, special_strings
from springboard.errors import DataError

Segment = tuple[str, bool]  # (text, labelled)


def _render(tokenizer: Any, messages: list[dict[str, str]], generation: bool, source: str, line: int) -> str:
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)
    except Exception as e:  # jinja's TemplateError, or a template's own raise_exception()
        raise DataError(f"the model's chat template rejected this conversation: {e}", file=source, line=line) from None
    return text if isinstance(text, str) else str(text)


def require_chat_template(tokenizer: Any, source: str | None = None) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(
            "the model has no chat template (tokenizer_config.json has no chat_template); "
            "use plain prompt/completion records or a model with one",
            file=source,
        )


def chat_segments(tokenizer: Any, conv: Conversation, eos_token: str, specials: list[str]) -> list[Segment]:
    """The rendered conversation as (text, labelled) pieces; their concatenation is the rendered
    text, plus an eos after each assistant turn whose template writes no end-of-turn token."""
    dicts = [{"role": m.role, "content": m.content} for m in conv.messages]
    whole = _render(tokenizer, dicts, False, conv.source, conv.line)
    segments: list[Segment] = []
    done = 0
    for i, message in enumerate(conv.messages):
        if message.role != "assistant":
            continue
        before = _render(tokenizer, dicts[:i], True, conv.source, conv.line)
        upto = _render(tokenizer, dicts[: i + 1], False, conv.source, conv.line)
        if not (upto.startswith(before) and whole.startswith(upto) and len(before) >= done):
            raise DataError(
                f"the model's chat template does not render this conversation's prefixes as prefixes of "
                f"the whole, so assistant turn messages[{i}] cannot be located",
                file=conv.source, line=conv.line,
            )
        segments.append((before[done:], False))
        span = upto[len(before) :]
        content = message.content.strip()  # templates such as Llama 3's trim the content
        k = span.find(content)
        if k < 0:
            raise DataError(f"the model's chat template does not render messages[{i}].content verbatim",
                            file=conv.source, line=conv.line, field=f"messages[{i}].content")
        tail = span[k + len(content) :]
        hits = [(tail.find(s), s) for s in specials if s in tail]
        segments.append((span[:k], False))
        if hits:
            pos, token = min(hits, key=lambda h: (h[0], -len(h[1])))
            end = pos + len(token)
            segments.append((content + tail[:end], True))
            segments.append((tail[end:], False))
        else:
            segments.append((content, True))
            segments.append((eos_token, True))
            segments.append((tail, False))
        done = len(upto)
    segments.append((whole[done:], False))
    return [s for s in segments if s[0]]


def encode_segments(tokenizer: Any, info: TokenizerInfo, all_segments: list[list[Segment]],
                    train_on_inputs: bool) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per conversation, segments tokenized in one batch."""
    flat = [text for segments in all_segments for text, _ in segments]
    ids = iter(encode_plain(tokenizer, flat))
    out = []
    for segments in all_segments:
        input_ids: list[int] = []
        labels: list[int] = []
        for _, labelled in segments:
            piece = next(ids)
            input_ids += piece
            labels += piece if labelled or train_on_inputs else [IGNORE_INDEX] * len(piece)
        if info.bos_id is not None and input_ids[:1] != [info.bos_id]:
            input_ids.insert(0, info.bos_id)
            labels.insert(0, IGNORE_INDEX)
        out.append((input_ids, labels))
    return out


def instruction_as_chat(tokenizer: Any, prompt: str, completion: str, source: str, line: int,
                        eos_token: str, specials: list[str]) -> tuple[str, str]:
    """(prompt text, completion text) of a prompt/completion pair rendered as a user turn and an
    assistant turn: the prompt ends with the assistant header, the completion with the template's
    end-of-turn token; whatever the template writes after that is dropped."""
    conv = Conversation((Message("user", prompt), Message("assistant", completion)), source, line)
    prompt_text, completion_text, seen_label = "", "", False
    for text, labelled in chat_segments(tokenizer, conv, eos_token, specials):
        if labelled:
            completion_text += text
            seen_label = True
        elif not seen_label:
            prompt_text += text
        else:
            break
    return prompt_text, completion_text


class ChatData(DataFormat[Conversation]):
    name = "chat"

    def data_files(self, path: str | Path) -> list[str]:
        return [instruction_file(path)]

    def load(self, path: str | Path) -> list[Conversation]:
        records = load_chat_records(path)
        require_chat_template(self.tokenizer, records[0].source)
        return records

    def encode(self, records: list[Conversation], stats: SplitStats) -> list[Example]:
        info = TokenizerInfo.of(self.tokenizer)
        specials = special_strings(self.tokenizer)
        segments = [chat_segments(self.tokenizer, c, info.eos_token, specials) for c in records]
        limit = self.options.max_input_length
        examples = []
        for input_ids, labels in encode_segments(self.tokenizer, info, segments, self.options.train_on_inputs):
            if len(input_ids) > limit:
                stats.truncated += 1
                input_ids, labels = input_ids[:limit], labels[:limit]
            if all(t == IGNORE_INDEX for t in labels):
                stats.dropped += 1
                continue
            examples.append(Example(input_ids, labels))
        return examples
