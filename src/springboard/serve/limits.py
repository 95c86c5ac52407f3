"""How much one data-plane request may ask of an engine, and how long it runs without a client.

Every route (SageMaker runtime, container contract, TGI, OpenAI) reaches the engine through
`Endpoint.generate` / `Endpoint.stream`, which call `check_request` first: a request over a
limit is refused (a ValidationError naming the limit and the setting that raises it; each route
answers it as its own 4xx) before any token is computed. The limits (settings.REQUEST_LIMITS,
TGI's max_input_tokens / max_batch_total_tokens idea) are read per request, so a server started
with `springboard serve --max-inputs N` or SPRINGBOARD_MAX_INPUTS=N applies them at once:

- max_inputs: prompts in one request;
- max_sequences: prompts x num_return_sequences x num_beams (what a pass holds in memory);
- max_total_new_tokens: that many sequences x the new tokens each may generate;
- max_input_tokens: the tokens of all of a request's prompts together.

`until_disconnected` runs a non-streaming generation and cancels it when the client goes away,
as a closed stream already is: the batcher then stops the engine's work for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from springboard import settings
from springboard.errors import DataError, SpringboardError

T = TypeVar("T")


class ClientGone(SpringboardError):
    """The client disconnected before its (non-streaming) answer was ready; its work stopped."""


def _limit(name: str) -> tuple[int, str]:
    variable, option, _default = settings.REQUEST_LIMITS[name]
    return settings.request_limit(name), f"setting {variable}, `springboard serve {option}`"


def _text_of(prompt: Any) -> tuple[str | None, int | None]:
    """(the prompt's text, or its token count when it is given as token ids)."""
    if isinstance(prompt, str):
        return prompt, None
    if isinstance(prompt, (list, tuple)) and all(isinstance(t, int) for t in prompt):
        return None, len(prompt)
    if isinstance(prompt, (list, tuple)):  # chat messages
        parts = []
        for message in prompt:
            content = message.get("content") if isinstance(message, dict) else message
            parts.append(content if isinstance(content, str) else str(content))
        return "\n".join(parts), None
    return str(prompt), None


def check_request(engine: Any, prompts: Any, params: Any) -> None:
    """Refuses a request over one of this server's per-request limits (see the module doc)."""
    from springboard.generate.params import DEFAULT_MAX_NEW_TOKENS

    n = max(1, len(prompts))
    limit, where = _limit("max_inputs")
    if n > limit:
        raise DataError(f"{n} inputs in one request; this server takes at most {limit} ({where})", field="inputs")
    per_input = params.num_return_sequences * params.num_beams
    sequences = n * per_input
    limit, where = _limit("max_sequences")
    if sequences > limit:
        field = "num_beams" if params.num_beams > 1 else "num_return_sequences" if per_input > 1 else "inputs"
        raise DataError(
            f"{n} inputs x {params.num_return_sequences} return sequences x {params.num_beams} beams = "
            f"{sequences} sequences; this server runs at most {limit} per request ({where})", field=field)
    new_tokens = params.max_new_tokens or params.max_length or DEFAULT_MAX_NEW_TOKENS
    limit, where = _limit("max_total_new_tokens")
    if sequences * new_tokens > limit:
        field = "max_new_tokens" if params.max_new_tokens or not params.max_length else "max_length"
        raise DataError(
            f"{sequences} sequences x up to {new_tokens} new tokens = {sequences * new_tokens} tokens; this "
            f"server generates at most {limit} per request ({where})", field=field)
    limit, where = _limit("max_input_tokens")
    total, texts = 0, []
    for prompt in prompts:
        text, count = _text_of(prompt)
        if count is not None:
            total += count
        else:
            texts.append(text or "")
    # A token is at least one UTF-8 byte: only text that could be over the limit is tokenized.
    if total + sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) > limit:
        for text in texts:
            total += engine.count_tokens(text)
            if total > limit:
                break
    if total > limit:
        raise DataError(f"the inputs have more than {limit} tokens together; this server reads at most {limit} "
                        f"per request ({where})", field="inputs")


async def until_disconnected(request: Any, work: Awaitable[T]) -> T:
    """`work`'s result; if the client disconnects first, `work` is cancelled (which cancels its
    rows on the scheduler, or stops its pass: serve.batching) and ClientGone is raised.
    Call it once the body has been read: what `receive` yields next is the disconnect."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message.get("type") == "http.disconnect":
                return

    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            raise ClientGone("the client disconnected before the answer was ready; its generation stopped")
        return task.result()
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()


# -- `springboard serve` options: each sets its setting's environment variable for this server ---


def _server_settings() -> list[tuple[str, str, int, str]]:
    """(environment variable, option, default, help) for every limit `springboard serve` takes."""
    helps = {
        "max_inputs": "prompts in one request",
        "max_sequences": "inputs x num_return_sequences x num_beams in one request",
        "max_total_new_tokens": "those sequences x the new tokens each may generate, per request",
        "max_input_tokens": "tokens of all of a request's inputs together",
    }
    out = [(*settings.REQUEST_LIMITS[name], text) for name, text in helps.items()]
    out.append((*settings.MAX_ENDPOINTS, "endpoints this server hosts (CreateEndpoint beyond: ResourceLimitExceeded)"))
    out.append((*settings.SHUTDOWN_GRACE, "seconds in-flight requests get to finish after SIGTERM before they are "
                                          "cancelled"))
    return out


def add_server_options(parser: Any) -> None:
    for variable, option, default, text in _server_settings():
        parser.add_argument(option, type=int, metavar="N", dest=variable,
                            help=f"{text} (default: ${variable}, else {default})")


def apply_server_options(args: Any) -> None:
    """Sets the settings `springboard serve` was given, checked like their variables."""
    import os

    for variable, option, _default, _text in _server_settings():
        value = getattr(args, variable, None)
        if value is None:
            continue
        if value < 1:
            raise DataError(f"{option} {value}: give a whole number of at least 1", field=option)
        os.environ[variable] = str(value)
