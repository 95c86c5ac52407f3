"""Extraction steps: HTML → main text with resiliparse, and CSS-selector extraction (the IMDB
kind of job: one row per matching element)."""

from __future__ import annotations

from typing import Iterable, Iterator

from springboard.crawl.record import Row, decode
from springboard.crawl.steps import Step


def parse_html(payload: bytes | str, charset: str | None = None):
    from resiliparse.parse.html import HTMLTree

    if isinstance(payload, str):
        return HTMLTree.parse(payload)
    return HTMLTree.parse(decode(payload, charset))


def html_to_text(payload: bytes | str, charset: str | None = None, main_content: bool = True) -> str:
    """Main text of a page: boilerplate (navigation, headers, footers) removed when
    `main_content`, which is resiliparse's main-content heuristic."""
    from resiliparse.extract.html2text import extract_plain_text

    tree = parse_html(payload, charset)
    return extract_plain_text(
        tree, main_content=main_content, alt_texts=False, links=False, form_fields=False,
        noscript=False, comments=not main_content, list_bullets=True,
    ).strip()


def _squash(text: str) -> str:
    return " ".join(text.split())


class HtmlToText(Step):
    """Turns a row's `html` (bytes or str) into `text`; drops rows whose text comes out empty.
    Counters: `extracted`, `dropped.empty_text`."""

    def __init__(self, main_content: bool = True, keep_html: bool = False,
                 html_field: str = "html", text_field: str = "text") -> None:
        super().__init__()
        self.main_content, self.keep_html = main_content, keep_html
        self.html_field, self.text_field = html_field, text_field

    def run(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            html = row.get(self.html_field)
            if html is None:  # already text (a WET record)
                yield row
                continue
            text = html_to_text(html, row.get("charset"), self.main_content)
            if not self.keep_html:
                row.pop(self.html_field, None)
            if not text:
                self.stats["dropped.empty_text"] += 1
                continue
            self.stats["extracted"] += 1
            row[self.text_field] = text
            yield row


class CssSelect(Step):
    """Text of the elements matching a CSS selector. With `explode` (the default) every match
    becomes its own row (e.g. one row per review on a review page); otherwise the matches are
    joined with blank lines. A row with no match is dropped (`dropped.no_match`)."""

    def __init__(self, selector: str, explode: bool = True, text_field: str = "text",
                 html_field: str = "html", keep_html: bool = False) -> None:
        super().__init__()
        self.selector, self.explode = selector, explode
        self.text_field, self.html_field, self.keep_html = text_field, html_field, keep_html

    def run(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            html = row.get(self.html_field)
            if html is None:
                self.stats["dropped.no_html"] += 1
                continue
            tree = parse_html(html, row.get("charset"))
            nodes = tree.document.query_selector_all(self.selector) if tree.document else []
            texts = [t for t in (_squash(n.text or "") for n in nodes) if t]
            base = {k: v for k, v in row.items() if self.keep_html or k != self.html_field}
            if not texts:
                self.stats["dropped.no_match"] += 1
                continue
            self.stats["matches"] += len(texts)
            if self.explode:
                for i, text in enumerate(texts):
                    yield {**base, self.text_field: text, "match_index": i}
            else:
                yield {**base, self.text_field: "\n\n".join(texts)}
