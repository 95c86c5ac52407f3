"""Common Crawl: cc-index SQL (DuckDB), WARC/WET/ARC readers (fastwarc), byte-range fetching
with backoff, extraction and filter steps, dedup, the `process_record` job API, local and Spark
runners, and export to a training file. Heavy modules load on first use."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CrawlJob": "springboard.crawl.pipeline",
    "Task": "springboard.crawl.pipeline",
    "Record": "springboard.crawl.record",
    "Counters": "springboard.crawl.record",
    "Step": "springboard.crawl.steps",
    "Filter": "springboard.crawl.steps",
    "iter_records": "springboard.crawl.reader",
    "fetch_record": "springboard.crawl.fetch",
    "fetch_records": "springboard.crawl.fetch",
    "fetch_range": "springboard.crawl.fetch",
    "RetryPolicy": "springboard.crawl.fetch",
    "RecordRef": "springboard.crawl.fetch",
    "build_index": "springboard.crawl.index_build",
    "query": "springboard.crawl.index",
    "HtmlToText": "springboard.crawl.extract",
    "CssSelect": "springboard.crawl.extract",
    "html_to_text": "springboard.crawl.extract",
    "UrlFilter": "springboard.crawl.filters",
    "LanguageFilter": "springboard.crawl.filters",
    "GopherQualityFilter": "springboard.crawl.filters",
    "GopherRepetitionFilter": "springboard.crawl.filters",
    "C4QualityFilter": "springboard.crawl.filters",
    "FineWebQualityFilter": "springboard.crawl.filters",
    "ExactDedup": "springboard.crawl.dedup",
    "MinhashDedup": "springboard.crawl.dedup",
    "CrawlRunConfig": "springboard.crawl.config",
    "run_local": "springboard.crawl.runners.local",
    "run_spark": "springboard.crawl.runners.spark",
    "export": "springboard.crawl.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'springboard.crawl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
