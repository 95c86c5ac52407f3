"""Stop sequences: trimming generated text at them, holding back a streamed tail that may be
the start of one, and the stopping criterion that ends a row once one appears."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

FinishReason = Literal["stop", "length"]
# Why a sequence ended, in TGI's words: the eos token, a stop sequence, or the token limit; or
# cancelled (its client went away, so no answer carries it), which counts as cut short.
FinishCause = Literal["eos_token", "stop_sequence", "length", "cancelled"]


def reason_of(cause: FinishCause) -> FinishReason:
    return "length" if cause in ("length", "cancelled") else "stop"


def trim_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text up to the earliest stop sequence, and whether one occurred."""
    positions = [p for p in (text.find(s) for s in stop) if p >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def held_back(text: str, stop: Sequence[str]) -> int:
    """How many trailing characters could still begin a stop sequence."""
    keep = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                keep = max(keep, k)
                break
    return keep


@functools.cache
def penalty_processor_class() -> type:
    from transformers import LogitsProcessor

    class OpenAIPenalties(LogitsProcessor):
        """OpenAI's frequency and presence penalties over the generated tokens (columns from
        `start` on), subtracted from the logits."""

        def __init__(self, frequency: float, presence: float, start: int) -> None:
            self.frequency, self.presence, self.start = frequency, presence, start

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            import torch

            generated = input_ids[:, self.start :]
            if generated.shape[1] == 0:
                return scores
            counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
            return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)

    return OpenAIPenalties


def penalties(params: Any, start: int) -> list[Any]:
    """The penalty processor a request asks for, as a list (empty when none)."""
    if not (params.frequency_penalty or params.presence_penalty):
        return []
    return [penalty_processor_class()(params.frequency_penalty or 0.0, params.presence_penalty or 0.0, start)]


@functools.cache
def stop_on_text_class() -> type:
    # Built on first use so importing the engine does not import transformers.
    from transformers import StoppingCriteria

    class StopOnText(StoppingCriteria):
        """Stops a row once a stop sequence appears in its generated text (not the prompt)."""

        def __init__(self, tokenizer: Any, stops: Sequence[str], start: int) -> None:
            self.tokenizer, self.stops, self.start = tokenizer, tuple(stops), start

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
            hits = [any(stop in text for stop in self.stops) for text in texts]
            return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)

    return StopOnText


@functools.cache
def cancelled_class() -> type:
    from transformers import StoppingCriteria

    class Cancelled(StoppingCriteria):
        """Ends every row of a pass once all of its requests' `cancelled` events are set (their
        clients went away): a pass nobody reads stops at its next step instead of running on."""

        def __init__(self, events: Sequence[Any]) -> None:
            self.events = tuple(events)

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            done = all(event.is_set() for event in self.events)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return Cancelled
