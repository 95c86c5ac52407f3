"""Request bodies as JSON: the one decoder every JSON route of the server uses (the runtime
payloads, /springboard/endpoints, the OpenAI routes)."""

from __future__ import annotations

import json
import re
from typing import Any

from springboard.errors import DataError

MAX_JSON_DEPTH = 64  # no payload shape nests deeper than a few levels


def decode_json(body: bytes, field: str = "Body") -> Any:
    """A request body as JSON, for every JSON route. Beyond malformed JSON it refuses what
    Python's parser lets through but nothing downstream can use: nesting deeper than
    MAX_JSON_DEPTH (a 10,000-deep array would otherwise end in a RecursionError) and lone
    surrogates such as "\\ud800" (not Unicode: tokenizers and UTF-8 responses fail on them)."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise DataError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", field=field) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON: {exc}", field=field) from None
    # The walk below names every value's location: 4 s of the event loop for 500,000 one-character
    # `text_inputs`. Only a body that could fail it takes it: a lone surrogate needs a \\uD800-
    # \\uDFFF escape (UTF-8 cannot carry one), and the depth is measured on containers alone.
    raw = body if isinstance(body, (bytes, bytearray)) else str(body).encode("utf-8", "surrogatepass")
    if _SURROGATE_ESCAPE.search(raw) is None and _depth(payload) < MAX_JSON_DEPTH:
        return payload
    # Locations name the payload's own fields ("parameters.stop[0]"); `field` is the whole body.
    stack: list[tuple[Any, str, int]] = [(payload, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                _check_unicode(value, where or field)
        elif isinstance(value, (list, dict)):
            if depth >= MAX_JSON_DEPTH:
                raise DataError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", field=field)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not key.isascii():
                    _check_unicode(key, where or field)
                name = (f"{where}.{key}" if where else key) if isinstance(key, str) else f"{where}[{key}]"
                stack.append((item, name, depth + 1))
    return payload


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _depth(payload: Any) -> int:
    """How deep containers nest (a scalar body: 0), visiting containers only."""
    deepest, stack = 0, [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            return depth
        deepest = max(deepest, depth)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((item, depth + 1) for item in items if isinstance(item, (list, dict)))
    return deepest


def _check_unicode(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(f"not valid Unicode: {exc.reason} at character {exc.start}", field=where) from None
