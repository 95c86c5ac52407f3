"""Shared pieces of the handlers: listing (filters, sorting, NextToken paging), tags given at
create time, and the per-job SageMaker request records."""

from __future__ import annotations

import re
from typing import Any, Callable

from springboard.controlplane.protocol import epoch, validation


def tags_of(params: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params.get("Tags") or []]


def tag_value(tags: list[dict[str, str]], key: str) -> str | None:
    for tag in tags:
        if tag["Key"] == key:
            return tag["Value"]
    return None


def listing(
    items: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    name_key: str,
    status_key: str | None = None,
    sort_keys: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Applies SageMaker's List* filters (NameContains, StatusEquals, CreationTime/
    LastModifiedTime After/Before), SortBy/SortOrder (default CreationTime, Descending) and
    MaxResults/NextToken paging (the token is the offset of the next page)."""
    out = list(items)
    if params.get("NameContains"):
        needle = params["NameContains"].lower()
        out = [i for i in out if needle in i[name_key].lower()]
    if status_key and params.get("StatusEquals"):
        out = [i for i in out if i.get(status_key) == params["StatusEquals"]]
    for field, key in (("CreationTime", "CreationTime"), ("LastModifiedTime", "LastModifiedTime")):
        after, before = params.get(f"{field}After"), params.get(f"{field}Before")
        if after is not None:
            out = [i for i in out if round(i.get(key) or 0, 3) > round(epoch(after), 3)]
        if before is not None:
            out = [i for i in out if round(i.get(key) or 0, 3) < round(epoch(before), 3)]
    sort_keys = sort_keys or {"Name": name_key, "CreationTime": "CreationTime"}
    if status_key:
        sort_keys.setdefault("Status", status_key)
    sort_by = params.get("SortBy") or "CreationTime"
    key = sort_keys.get(sort_by)
    if key is None:
        raise validation(f"SortBy must be one of {', '.join(sort_keys)}, not {sort_by!r}")
    out.sort(key=_sort_key(key), reverse=(params.get("SortOrder") or "Descending") == "Descending")
    return paginate(out, params)


_TOKEN = re.compile(r"[1-9][0-9]{0,8}")  # what paginate issues: the next page's offset


def paginate(items: list[Any], params: dict[str, Any], default_size: int = 100) -> tuple[list[Any], str | None]:
    """MaxResults/NextToken paging for every List operation: the token is the offset of the
    next page, as issued here (a positive decimal integer); any other token ("-1", "abc",
    "007") is refused as AWS refuses a token it did not issue. An issued token past the end
    (items removed since) gives an empty last page."""
    token = params.get("NextToken")
    start = 0
    if token:
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise validation(f"Invalid pagination token: field 'NextToken' ({str(token)[:64]!r}) was not issued "
                             "by this server")
        start = int(token)
    size = params.get("MaxResults") or default_size
    following = start + size
    return items[start:following], (str(following) if following < len(items) else None)


def _sort_key(key: str) -> Callable[[dict[str, Any]], Any]:
    def get(item: dict[str, Any]) -> Any:
        value = item.get(key)
        return (0, value) if value is not None else (1, "")

    return get
