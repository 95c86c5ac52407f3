"""The one check every SDK class makes of its keyword arguments: SageMaker's arguments about
AWS infrastructure (each class names its own) are accepted without effect; any other unknown
keyword is refused, so a misspelling is never silently ignored."""

from __future__ import annotations

import difflib
from typing import Any

from springboard.errors import ValidationError


def refuse_unknown_kwargs(what: str, given: dict[str, Any], valid: list[str], infrastructure: frozenset[str]) -> None:
    """Raises for keywords that are neither parameters nor SageMaker infrastructure arguments,
    listing the valid ones (with a close match when there is one)."""
    unknown = sorted(k for k in given if k not in infrastructure)
    if not unknown:
        return
    names = sorted({*valid, *infrastructure})
    hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, names, n=1)) else repr(k)
             for k in unknown]
    raise ValidationError(
        f"{what} got unknown keyword argument(s) {', '.join(hints)}; valid: {', '.join(sorted(valid))}; "
        f"accepted without effect here (AWS infrastructure): {', '.join(sorted(infrastructure))}"
    )
