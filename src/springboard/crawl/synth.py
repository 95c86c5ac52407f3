"""Writing WARC files offline, for examples, tests and benchmarks: HTML pages around text that
ships with Python (the `pydoc_data` reference topics), written with warcio as a crawler would
(warcinfo, then request + response per page, one gzip member per record)."""

from __future__ import annotations

import html
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator


@dataclass
class Page:
    url: str
    html: str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"


def write_warc(path: str | Path, pages: Iterable[Page], gzip: bool = True) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "springboard"}))
        for page in pages:
            body = page.html.encode("utf-8")
            req = writer.create_warc_record(
                page.url, "request",
                http_headers=StatusAndHeaders(f"GET / HTTP/1.1", [("Host", "x")], is_http_request=True))
            http = StatusAndHeaders(f"{page.status} OK", [("Content-Type", page.content_type),
                                                          ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            resp = writer.create_warc_record(page.url, "response", payload=io.BytesIO(body),
                                             http_headers=http)
            writer.write_record(req)
            writer.write_record(resp)
    return path


def write_wet(path: str | Path, docs: Iterable[tuple[str, str]], language: str = "eng") -> Path:
    """A WET file as Common Crawl writes it: warcinfo, then one `conversion` record
    (`Content-Type: text/plain`) per (url, text)."""
    from warcio.warcwriter import WARCWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "springboard"}))
        for url, text in docs:
            rec = writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(text.encode("utf-8")),
                warc_content_type="text/plain",
                warc_headers_dict={"WARC-Identified-Content-Language": language})
            writer.write_record(rec)
    return path


def render(title: str, paragraphs: list[str], boilerplate: bool = True) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    nav = ('<nav><a href="/">Home</a> | <a href="/docs">Docs</a> | <a href="/about">About</a>'
           "</nav><header><h1>Site header</h1></header>") if boilerplate else ""
    foot = ("<footer>Copyright. All rights reserved. <a href='/privacy'>Privacy policy</a>"
            "</footer><script>var tracking = 1;</script>") if boilerplate else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body>{nav}<main><article><h2>{html.escape(title)}</h2>\n{body}"
            f"</article></main>{foot}</body></html>")


def pydoc_paragraphs() -> list[tuple[str, list[str]]]:
    """(topic, prose paragraphs) from the Python reference shipped in `pydoc_data`; code
    blocks (indented) and underlines are left out."""
    from pydoc_data.topics import topics

    out = []
    for name in sorted(topics):
        paras, cur = [], []
        for line in topics[name].splitlines():
            if not line.strip() or line.startswith(" ") or set(line.strip()) <= set("*=-"):
                if cur:
                    paras.append(" ".join(cur))
                    cur = []
                continue
            cur.append(line.strip())
        if cur:
            paras.append(" ".join(cur))
        paras = [p for p in paras if len(p.split()) >= 8]
        if paras:
            out.append((name, paras))
    return out


def docs_pages(n: int, seed: int = 0, host: str = "docs.example.org",
               duplicate_every: int = 0, junk_every: int = 0) -> Iterator[Page]:
    """`n` pages of Python-reference prose. Every `duplicate_every`-th page repeats an earlier
    one with a light edit (a near-duplicate); every `junk_every`-th page is boilerplate that the
    quality filters drop (lorem ipsum, a short list of links)."""
    rng = random.Random(seed)
    topics = pydoc_paragraphs()
    made: list[tuple[str, list[str]]] = []
    for i in range(n):
        url = f"https://{host}/page/{i}.html"
        if junk_every and i % junk_every == junk_every - 1:
            junk = (["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] * 3
                    if rng.random() < 0.5 else ["Home", "Login", "Cart", "Contact"])
            yield Page(url, render(f"junk {i}", junk))
            continue
        if duplicate_every and made and i % duplicate_every == duplicate_every - 1:
            title, paras = made[rng.randrange(len(made))]
            edited = list(paras)
            words = edited[-1].split()
            words.insert(len(words) // 2, "indeed")  # one word more: near, not exact
            edited[-1] = " ".join(words)
            yield Page(url, render(title, edited))
            continue
        name, paras = topics[i % len(topics)]
        k = rng.randint(3, min(12, len(paras))) if len(paras) > 3 else len(paras)
        start = rng.randrange(0, max(1, len(paras) - k + 1))
        chosen = paras[start : start + k]
        made.append((name, chosen))
        yield Page(url, render(name, chosen))
