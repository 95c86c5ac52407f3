"""Jobs written against cc-pyspark's API (its `CCSparkJob` helpers, warcio's record, (key,
value) output reduced by `reduce_by_key_func`, a pyspark `StructType` output schema): the word
count and server count of cc-pyspark's examples, re-written here in the same shape, plus a
seed-004-style extractor. Only the base class import is ours."""

import json
import re
from collections import Counter

from pyspark.sql.types import LongType, StringType, StructField, StructType

from springboard.crawl.job import CrawlJob as CCSparkJob


class WordCountJob(CCSparkJob):
    """Words of WET text: term frequency and document frequency per word."""

    name = "WordCount"
    output_schema = StructType([
        StructField("key", StringType(), True),
        StructField("val", StructType([StructField("tf", LongType(), True),
                                       StructField("df", LongType(), True)]), True),
    ])
    word_pattern = re.compile(r"\w+", re.UNICODE)

    @staticmethod
    def reduce_by_key_func(a, b):
        return (a[0] + b[0], a[1] + b[1])

    def process_record(self, record):
        if not self.is_wet_text_record(record):
            return
        text = record.content_stream().read().decode("utf-8")
        counts = Counter(w.lower() for w in self.word_pattern.findall(text))
        for word, n in counts.items():
            yield word, (n, 1)


class ServerCountJob(CCSparkJob):
    """The HTTP `Server` header of every response (WARC) or WAT response record."""

    name = "CountServers"
    fallback_server_name = "(no server in HTTP header)"

    def process_record(self, record):
        server = None
        if self.is_wat_json_record(record):
            meta = json.loads(record.content_stream().read())
            payload = meta.get("Envelope", {}).get("Payload-Metadata", {})
            if "HTTP-Response-Metadata" not in payload:
                return
            server = payload["HTTP-Response-Metadata"].get("Headers", {}).get("Server")
        elif record.rec_type == "response":
            server = record.http_headers.get_header("server", None)
        else:
            return
        yield (server.strip() if server else self.fallback_server_name), 1


class WarcioApiJob(CCSparkJob):
    """A seed-004-style extractor on warcio's record API, yielding tuples: page bytes per
    host."""

    def process_record(self, record):
        if record.rec_type != "response":
            return
        url = record.rec_headers.get_header("WARC-Target-URI")
        if "html" not in (record.http_headers.get_header("Content-Type") or ""):
            return
        yield url.split("/")[2], len(record.content_stream().read())


class AlwaysFails(CCSparkJob):
    """Every record raises (the seed-004 failure: code written for another record API)."""

    def process_record(self, record):
        yield record.no_such_attribute, 1
