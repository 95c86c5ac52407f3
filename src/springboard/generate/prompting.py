"""The one prompt rule: how a payload becomes model input. Every surface (the SageMaker runtime
and TGI routes, OpenAI completions and chat, batch transform, Studio, evaluation, quickstart,
AutoML) asks this module, so the same text gets the same rendering wherever it is sent.

| payload shape                                              | model input                        |
|------------------------------------------------------------|------------------------------------|
| messages (OpenAI chat, TGI/JumpStart dialogs, Studio chat) | always the chat template           |
| plain text (JumpStart `inputs`/`text_inputs`, x-text body, | the model's prompt format (below)  |
|   TGI `/generate`, OpenAI completions, transform records,  |                                    |
|   evaluation prompts, Studio playground text)              |                                    |
| token ids                                                  | as given                           |

The model's prompt format for plain text, first that applies:
1. the switch `SPRINGBOARD_PROMPT_FORMAT=chat|raw` (a model container's environment: the
   endpoint's PrimaryContainer.Environment / SDK `env=` / `springboard deploy --prompt-format`,
   a transform job's environment or its `chat` setting; else this process's environment);
   `auto` (or unset) falls through;
2. the format an artifact was trained in (`springboard.json`: `prompt_format`, or for older
   artifacts its hyperparameters `use_chat_template` / `chat_dataset`): for a request that
   names a LoRA adapter attached to the endpoint, the adapter's artifact first, then the model's;
3. `chat` for a causal model whose tokenizer ships a chat template (instruct models);
4. `raw` otherwise (seq2seq models, base models without a template).

Scoring a text (perplexity, OpenAI `max_tokens=0`) measures the text itself and is never
wrapped: it is not a prompt."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from springboard.errors import ValidationError

PROMPT_FORMAT_ENV = "SPRINGBOARD_PROMPT_FORMAT"
PROMPT_FORMATS = ("auto", "chat", "raw")
PromptFormat = Literal["chat", "raw"]


def parse_format(value: Any, field: str = PROMPT_FORMAT_ENV) -> str | None:
    """`auto` | `chat` | `raw` (any case, surrounding blanks ignored); None or empty → None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in PROMPT_FORMATS:
        raise ValidationError(f"{field} must be one of {', '.join(PROMPT_FORMATS)}, got {value!r}")
    return text


def from_environment(env: Mapping[str, str] | None) -> str | None:
    """The switch as a model container's environment gives it (validated)."""
    return parse_format((env or {}).get(PROMPT_FORMAT_ENV))


def chat_setting(chat: bool | None) -> str | None:
    """A `chat` flag (transform `--chat/--no-chat`, evaluation's `chat=`) as the switch."""
    return None if chat is None else ("chat" if chat else "raw")


@functools.lru_cache(maxsize=256)
def _trained_format(model_dir: str, mtime: float) -> PromptFormat | None:
    try:
        record = json.loads((Path(model_dir) / "springboard.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("prompt_format") in ("chat", "raw"):
        return record["prompt_format"]
    hp = record.get("hyperparameters")
    if not isinstance(hp, dict):
        return None
    if record.get("architecture") == "seq2seq":
        return "raw"
    if "use_chat_template" in hp or "chat_dataset" in hp:
        return "chat" if (_truthy(hp.get("use_chat_template")) or _truthy(hp.get("chat_dataset"))) else "raw"
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def trained_format(model_dir: str | Path | None) -> PromptFormat | None:
    """The prompt format a training job's artifact was trained in; None for other models."""
    if model_dir is None:
        return None
    meta = Path(model_dir) / "springboard.json"
    try:
        mtime = meta.stat().st_mtime
    except OSError:
        return None
    return _trained_format(str(Path(model_dir)), mtime)


def recorded_format(chat_dataset: bool, use_chat_template: bool, seq2seq: bool) -> PromptFormat:
    """What a training job records in its artifact: chat when its examples were rendered with
    the chat template (chat datasets, instruction pairs with use_chat_template), else raw."""
    return "chat" if not seq2seq and (chat_dataset or use_chat_template) else "raw"


def adapter_format(engine: Any, adapter: str | None) -> PromptFormat | None:
    """The format the LoRA adapter `adapter` (attached to `engine`) was trained in, from its
    artifact's springboard.json (beside `adapter/`); None when it records none."""
    adapter_dir = (getattr(engine, "adapters", None) or {}).get(adapter) if adapter else None
    if adapter_dir is None:
        return None
    adapter_dir = Path(adapter_dir)
    return trained_format(adapter_dir) or trained_format(adapter_dir.parent)


def prompt_format(engine: Any, override: str | None = None,
                  env: Mapping[str, str] | None = None, adapter: str | None = None) -> PromptFormat:
    """How plain text is rendered for `engine`'s model: the rule in this module's docstring.
    `override`: the switch from a container/job configuration; `env`: the process environment
    (os.environ unless given), consulted when `override` is None; `adapter`: the LoRA adapter
    the request names, whose trained format comes before the model's."""
    chosen = parse_format(override, "prompt format") if override is not None else None
    if chosen is None:
        chosen = parse_format((os.environ if env is None else env).get(PROMPT_FORMAT_ENV))
    if chosen in ("chat", "raw"):
        return chosen  # type: ignore[return-value]
    trained = adapter_format(engine, adapter) or trained_format(getattr(engine, "model_dir", None))
    if trained is not None:
        return trained
    if not getattr(engine, "is_seq2seq", False) and getattr(engine, "has_chat_template", False):
        return "chat"
    return "raw"


def text_as_chat(engine: Any, override: str | None = None, env: Mapping[str, str] | None = None,
                 adapter: str | None = None) -> bool:
    """The `chat` flag of a GenerationRequest carrying plain text for `engine` (messages are
    always templated and token ids never, whatever the flag)."""
    return prompt_format(engine, override, env, adapter) == "chat"


def rendered(engine: Any, prompt: Any, override: str | None = None) -> str:
    """The exact text the model sees for `prompt` under the rule."""
    text, _ = engine.render(prompt, text_as_chat(engine, override))
    return text
