"""URL and host filters, cheap enough to run before extraction."""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit

from springboard.crawl.record import Row
from springboard.crawl.steps import Filter


def _host_matches(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


class UrlFilter(Filter):
    """Keeps a row when its `url` passes every rule given:
    - `include_hosts` / `exclude_hosts`: a host matches a domain and all its subdomains;
    - `tlds`: the host's last label is one of these;
    - `include_pattern` / `exclude_pattern`: regular expressions searched in the URL.
    Drop reasons: `no_url`, `host_not_included`, `host_excluded`, `tld`, `pattern_not_matched`,
    `pattern_excluded`."""

    def __init__(self, include_hosts: Iterable[str] = (), exclude_hosts: Iterable[str] = (),
                 tlds: Iterable[str] = (), include_pattern: str | None = None,
                 exclude_pattern: str | None = None) -> None:
        super().__init__()
        self.include_hosts = [h.lower().lstrip(".") for h in include_hosts]
        self.exclude_hosts = [h.lower().lstrip(".") for h in exclude_hosts]
        self.tlds = [t.lower().lstrip(".") for t in tlds]
        self.include_pattern, self.exclude_pattern = include_pattern, exclude_pattern
        self._inc = re.compile(include_pattern) if include_pattern else None
        self._exc = re.compile(exclude_pattern) if exclude_pattern else None

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k not in ("_inc", "_exc")}

    def __setstate__(self, state):
        vars(self).update(state)
        self._inc = re.compile(self.include_pattern) if self.include_pattern else None
        self._exc = re.compile(self.exclude_pattern) if self.exclude_pattern else None

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        url = row.get("url")
        if not url:
            return False, "no_url"
        host = (urlsplit(url).hostname or "").lower()
        if self.include_hosts and not _host_matches(host, self.include_hosts):
            return False, "host_not_included"
        if self.exclude_hosts and _host_matches(host, self.exclude_hosts):
            return False, "host_excluded"
        if self.tlds and host.rsplit(".", 1)[-1] not in self.tlds:
            return False, "tld"
        if self._inc is not None and not self._inc.search(url):
            return False, "pattern_not_matched"
        if self._exc is not None and self._exc.search(url):
            return False, "pattern_excluded"
        return True
