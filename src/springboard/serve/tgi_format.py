"""Text Generation Inference (TGI) shapes: the `parameters` object every TGI client sends, and the
answers (details, prefill, tokens, top tokens, best_of, server-sent events).

Every TGI parameter is honoured: `details`, `decoder_input_details` (the prompt's tokens and
logprobs as `details.prefill`), `top_n_tokens`, `best_of` (that many sampled sequences, the most
probable one answers), `typical_p`, `truncate`, `watermark` (transformers' watermark processor
with TGI's gamma 0.5 / delta 2.0), `return_full_text`, `stop`, `seed`, and the sampling knobs.
`grammar` ({"type": "json", "value": schema} or {"type": "regex", "value": pattern}) constrains
decoding (llguidance). Refused with a message naming the field, because they are not implemented
here: `frequency_penalty` other than 0. `adapter_id` names a LoRA adapter attached to the endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from springboard.errors import DataError
from springboard.generate import GenerationParams, GenerationResult
from springboard.generate.logprobs import TokenLogprob

log = logging.getLogger("springboard.serve")

MAX_TOP_N_TOKENS = 5  # TGI's default --max-top-n-tokens
MAX_BEST_OF = 4


@dataclass
class TgiOptions:
    """What shapes a TGI answer (GenerationParams holds what shapes the decoding)."""

    details: bool = False
    decoder_input_details: bool = False
    top_n_tokens: int = 0
    best_of: int = 1


def _flag(raw: dict[str, Any], key: str, prefix: str) -> bool:
    value = raw.pop(key, None)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DataError("must be a boolean", field=prefix + key)
    return value


def _count(raw: dict[str, Any], key: str, prefix: str, low: int, high: int) -> int | None:
    value = raw.pop(key, None)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DataError(f"must be an integer from {low} to {high} (got {value!r})", field=prefix + key)
    return value


def _has_warper(raw: dict[str, Any]) -> bool:
    """TGI samples whenever a sampling warper is set, whatever do_sample says (NextTokenChooser)."""

    def num(key: str, neutral: float) -> float:
        value = raw.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else neutral

    return (num("temperature", 1.0) != 1.0 or num("top_k", 0) > 0 or num("top_p", 1.0) < 1.0
            or num("typical_p", 1.0) < 1.0)


def parse_parameters(parameters: dict[str, Any], prefix: str = "parameters.",
                     stream: bool = False) -> tuple[GenerationParams, TgiOptions]:
    """A TGI `parameters` object → GenerationParams and the answer's options. Null values mean
    unset (huggingface_hub sends every key)."""
    raw = {k: v for k, v in parameters.items() if v is not None}
    options = TgiOptions(
        details=_flag(raw, "details", prefix),
        decoder_input_details=_flag(raw, "decoder_input_details", prefix),
    )
    options.top_n_tokens = _count(raw, "top_n_tokens", prefix, 0, MAX_TOP_N_TOKENS) or 0
    options.best_of = _count(raw, "best_of", prefix, 1, MAX_BEST_OF) or 1
    penalty = raw.pop("frequency_penalty", None)
    if penalty not in (None, 0, 0.0):
        raise DataError("not supported here (only 0)", field=prefix + "frequency_penalty")
    if "adapter_id" in raw:  # a LoRA adapter attached to the endpoint (Engine.attach_adapter)
        adapter = raw.pop("adapter_id")
        if not isinstance(adapter, str) or not adapter:
            raise DataError("must be the name of an attached adapter (a string)", field=prefix + "adapter_id")
        raw["adapter"] = adapter
    if "grammar" in raw:
        raw["grammar"] = _grammar(raw.pop("grammar"), prefix + "grammar")
    if raw.get("typical_p") == 1.0:  # TGI's neutral value, which transformers refuses
        raw.pop("typical_p")
    if "do_sample" not in raw and _has_warper(raw):
        raw["do_sample"] = True
    if options.best_of > 1:
        if not (raw.get("do_sample") is True):
            raise DataError("best_of > 1 needs sampling (do_sample or a sampling parameter)",
                            field=prefix + "best_of")
        if raw.get("seed") is not None:
            raise DataError("best_of > 1 cannot be combined with a seed", field=prefix + "best_of")
        if stream:
            raise DataError("best_of > 1 cannot be streamed", field=prefix + "best_of")
        if raw.get("num_return_sequences", 1) != 1:
            raise DataError("give best_of or num_return_sequences, not both", field=prefix + "best_of")
        raw["num_return_sequences"] = options.best_of
    wants_tokens = options.details or stream or options.best_of > 1 or options.top_n_tokens > 0
    if wants_tokens:
        raw["logprobs"] = options.top_n_tokens
    if options.decoder_input_details and not stream:  # a TGI stream carries no prefill
        raw["prompt_logprobs"] = True
    return GenerationParams.parse(raw, prefix=prefix), options


def _grammar(value: Any, field: str) -> str:
    """TGI's grammar parameter: {"type": "json", "value": <JSON schema>} or {"type": "regex",
    "value": <pattern>}, as an llguidance grammar."""
    from springboard.generate.constrain import json_schema_grammar, regex_grammar

    if not isinstance(value, dict) or value.get("type") not in ("json", "json_object", "regex"):
        raise DataError("must be {'type': 'json' | 'regex', 'value': ...}", field=field)
    inner = value.get("value")
    if value["type"] == "regex":
        if not isinstance(inner, str):
            raise DataError("a regex grammar's value must be a string", field=field + ".value")
        return regex_grammar(inner, field=field)
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except ValueError:
            raise DataError("a json grammar's value must be a JSON schema", field=field + ".value") from None
    if not isinstance(inner, dict):
        raise DataError("a json grammar's value must be a JSON schema object", field=field + ".value")
    return json_schema_grammar(inner, field=field)


# -- answers ----------------------------------------------------------------------------------------


def token_json(token: TokenLogprob) -> dict[str, Any]:
    return {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special}


def _prefill(result: GenerationResult) -> list[dict[str, Any]]:
    return [{"id": t.id, "text": t.text, "logprob": t.logprob} for t in result.prompt_logprobs or []]


def ranked(result: GenerationResult, options: TgiOptions) -> list[int]:
    """Sequence order: with best_of, the most probable sequence first (TGI's pick)."""
    order = list(range(len(result.texts)))
    if options.best_of > 1 and result.tokens:
        order.sort(key=lambda j: -sum(t.logprob or 0.0 for t in result.tokens[j]))
    return order


def details(result: GenerationResult, params: GenerationParams, options: TgiOptions, j: int) -> dict[str, Any]:
    counts = result.token_counts or [result.generated_tokens]
    causes = result.finish_causes or ["length" if result.finish_reason == "length" else "eos_token"]
    out: dict[str, Any] = {"finish_reason": causes[j], "generated_tokens": counts[j]}
    if params.seed is not None:
        out["seed"] = params.seed
    if result.tokens:
        out["prefill"] = _prefill(result)
        out["tokens"] = [token_json(t) for t in result.tokens[j]]
        if options.top_n_tokens:
            out["top_tokens"] = [[token_json(a) for a in t.top] for t in result.tokens[j]]
    return out


def answer(result: GenerationResult, params: GenerationParams, options: TgiOptions) -> dict[str, Any]:
    """One input's answer: `generated_text`, and `details` when asked for (or when several
    sequences came back, the others as best_of_sequences)."""
    order = ranked(result, options)
    item: dict[str, Any] = {"generated_text": result.texts[order[0]]}
    if options.details or len(order) > 1:
        item["details"] = details(result, params, options, order[0])
        if len(order) > 1:
            item["details"]["best_of_sequences"] = [
                {"generated_text": result.texts[j], **details(result, params, options, j)} for j in order[1:]
            ]
    return item


def _event(data: dict[str, Any]) -> bytes:
    return b"data:" + json.dumps(data).encode("utf-8") + b"\n\n"


def stream_events(stream: Any, params: GenerationParams, options: TgiOptions) -> Iterator[bytes]:
    """TGI server-sent events, one per generated token (id, text, logprob, special); the last
    one also carries `generated_text` and `details`. Closing it cancels the generation."""
    index = 0
    pending: tuple[str, TokenLogprob] | None = None

    def event(text: str, token: TokenLogprob, final: bool) -> bytes:
        data: dict[str, Any] = {"index": index, "token": {**token_json(token), "text": text},
                                "generated_text": None, "details": None}
        if options.top_n_tokens:
            data["top_tokens"] = [token_json(a) for a in token.top]
        if final:
            data["generated_text"] = (stream.prompt if params.return_full_text else "") + stream.text
            data["details"] = {"finish_reason": stream.finish_cause, "generated_tokens": stream.generated_tokens,
                               "input_length": stream.prompt_tokens}
            if params.seed is not None:
                data["details"]["seed"] = params.seed
        return _event(data)

    try:
        for ev in stream.events():
            if ev.token is None:  # the last held-back text: it belongs to the last token
                if pending is not None:
                    pending = (pending[0] + ev.text, pending[1])
                continue
            if pending is not None:
                index += 1
                yield event(*pending, final=False)
            pending = (ev.text, ev.token)
        if pending is not None:
            index += 1
            yield event(*pending, final=True)
    finally:
        stream.close()  # the client may have gone away: stop generating


def with_error_event(events: Iterator[bytes]) -> Iterator[bytes]:
    """A TGI event stream whose failure after the 200 (the endpoint deleted mid-stream, the model
    failing) ends with an error event, as TGI's router sends one (`data:{"error": ...,
    "error_type": "generation"}`, which huggingface_hub raises), instead of a bare close that
    reads like a finished answer."""
    try:
        yield from events
    except Exception as exc:  # noqa: BLE001 - reported in-band: the status line has gone out
        log.warning("stream failed: %s: %s", type(exc).__name__, exc)
        yield _event(error_body(str(exc) or type(exc).__name__, "generation"))


def error_body(message: str, error_type: str) -> dict[str, str]:
    """TGI's error shape, which huggingface_hub and text-generation clients turn into typed
    exceptions (ValidationError, GenerationError, OverloadedError)."""
    return {"error": message, "error_type": error_type}
