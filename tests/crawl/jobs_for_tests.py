"""A custom job as a user writes one (cc-pyspark's process_record), importable by the job
worker process and shipped to Spark executors."""

from __future__ import annotations

import pyarrow as pa

from springboard.crawl.extract import parse_html
from springboard.crawl.job import CrawlJob


class ReviewJob(CrawlJob):
    """The IMDB kind of extractor: one row per review on a page."""

    record_types = ("response",)
    output_schema = pa.schema([("url", pa.string()), ("text", pa.string()), ("n", pa.int64())])

    def process_record(self, record):
        if "/title/" not in (record.url or ""):
            return
        if record.url.endswith("/3/reviews"):
            raise ValueError("a page the extractor cannot handle")
        tree = parse_html(record.payload, record.http_charset)
        for n, node in enumerate(tree.document.query_selector_all("div.review")):
            yield {"url": record.url, "text": " ".join(node.text.split()), "n": n}


class SlowJob(CrawlJob):
    """One row per response, slowly, so that a test can kill a run half way."""

    record_types = ("response",)
    output_schema = pa.schema([("url", pa.string()), ("text", pa.string())])

    def process_record(self, record):
        import time

        time.sleep(0.03)
        yield {"url": record.url, "text": record.url}
