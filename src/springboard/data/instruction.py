"""Instruction data (prompt/completion records, optionally through a `template.json`).

Causal: `input_ids = prompt_ids + completion_ids + [eos]`, labels -100 over the prompt (unless
`train_on_inputs`). The prompt is tokenized with the tokenizer's own leading specials (BOS where
it adds one), the completion without. The eos is appended to every completion and labelled by
position, so it survives pad == eos and the trained model learns to stop. With
`use_chat_template` the pair is rendered as a user turn and an assistant turn and the completion
ends with the template's end-of-turn token instead (`<|im_end|>` for ChatML).

Truncation (causal), when prompt + completion exceed `max_input_length`:
- the prompt is cut from the left, keeping its BOS: the end of a prompt holds the question and the
  response header the model conditions on at inference; the start is boilerplate, a system text
  or the far end of a long context;
- the prompt keeps at least min(its length, max_input_length // 2) tokens: an example whose prompt
  is cut to nothing would teach the model to produce the answer unconditioned;
- the completion gets the rest; a completion that does not fit is cut from the right and then
  carries NO eos: an eos after a cut-off answer would teach the model to stop mid-sentence.
Seq2seq: the encoder input is cut from the right keeping the tokenizer's trailing specials (T5's
`</s>`); the decoder labels (completion + eos) cut to `max_output_length` likewise lose their eos.
Every example cut either way counts once in `stats.truncated`.
"""

from __future__ import annotations

from pathlib import Path

from springboard.data.base import DataFormat, SplitStats
from springboard.data.chat import instruction_as_chat, require_chat_template
from springboard.data.channel_records import PromptCompletion, instruction_file, load_instruction_records
from springboard.data.template import Template
from springboard.data.tokens import IGNORE_INDEX, Example, TokenizerInfo, encode_plain, special_strings


def fit_causal(prompt: list[int], completion: list[int], limit: int, bos_id: int | None) -> tuple[list[int], list[int], bool]:
    """(prompt, completion, truncated) within `limit` tokens, by the rules in the module doc.
    `completion` already ends with its eos / end-of-turn token."""
    if len(prompt) + len(completion) <= limit:
        return prompt, completion, False
    keep_prompt = max(limit - len(completion), min(len(prompt), limit // 2))
    if keep_prompt < len(prompt):
        head = prompt[:1] if bos_id is not None and prompt[:1] == [bos_id] and keep_prompt > 0 else []
        tail_len = keep_prompt - len(head)
        prompt = head + (prompt[len(prompt) - tail_len :] if tail_len > 0 else [])
    room = limit - len(prompt)
    if len(completion) > room:
        completion = completion[:room]  # the eos at the end goes with the cut
    return prompt, completion, True


class InstructionData(DataFormat[PromptCompletion]):
    name = "instruction"

    def __init__(self, tokenizer, options, template: str | Path | dict | Template | None = None) -> None:
        super().__init__(tokenizer, options)
        self.template = template

    def data_files(self, path: str | Path) -> list[str]:
        return [instruction_file(path)]

    def load(self, path: str | Path) -> list[PromptCompletion]:
        records = load_instruction_records(path, self.template)
        if self.options.use_chat_template:
            require_chat_template(self.tokenizer, records[0].source)
        return records

    def encode(self, records: list[PromptCompletion], stats: SplitStats) -> list[Example]:
        if self.options.architecture == "seq2seq":
            return self._encode_seq2seq(records, stats)
        return self._encode_causal(records, stats)

    def _encode_causal(self, records: list[PromptCompletion], stats: SplitStats) -> list[Example]:
        info = TokenizerInfo.of(self.tokenizer)
        opts = self.options
        if opts.use_chat_template:
            specials = special_strings(self.tokenizer)
            pairs = [
                instruction_as_chat(self.tokenizer, r.prompt, r.completion, r.source, r.line, info.eos_token, specials)
                for r in records
            ]
            prompts = [info.with_bos(ids) for ids in encode_plain(self.tokenizer, [p for p, _ in pairs])]
            completions = encode_plain(self.tokenizer, [c for _, c in pairs])  # end-of-turn included
        else:
            prompts = [info.with_bos(ids) for ids in encode_plain(self.tokenizer, [r.prompt for r in records])]
            completions = [ids + [info.eos_id] for ids in encode_plain(self.tokenizer, [r.completion for r in records])]
        examples = []
        for prompt, completion in zip(prompts, completions):
            prompt, completion, cut = fit_causal(prompt, completion, opts.max_input_length, info.bos_id)
            stats.truncated += cut
            if not completion:
                stats.dropped += 1
                continue
            labels = prompt if opts.train_on_inputs else [IGNORE_INDEX] * len(prompt)
            examples.append(Example(prompt + completion, list(labels) + completion))
        return examples

    def _encode_seq2seq(self, records: list[PromptCompletion], stats: SplitStats) -> list[Example]:
        info = TokenizerInfo.of(self.tokenizer)
        opts = self.options
        bodies = encode_plain(self.tokenizer, [r.prompt for r in records])
        targets = encode_plain(self.tokenizer, [r.completion for r in records])
        pre, post = list(info.prefix), list(info.suffix)
        examples = []
        for body, target in zip(bodies, targets):
            cut = False
            room = opts.max_input_length - len(pre) - len(post)
            if len(body) > room:
                body, cut = body[: max(room, 0)], True
            # The tokenizer's own specials around the target too (BART-style <s>...</s>), and an
            # eos at the end whatever the tokenizer does.
            labels = pre + target + post
            if labels[-1:] != [info.eos_id]:
                labels.append(info.eos_id)
            if len(labels) > opts.max_output_length:
                labels, cut = labels[: opts.max_output_length], True
            stats.truncated += cut
            examples.append(Example(pre + body + post, labels))
        return examples
