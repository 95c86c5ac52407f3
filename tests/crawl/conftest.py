"""Crawl-room fixtures: the real sample archives, WARC files generated offline, one Spark
session for every slow Spark test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from springboard.crawl.synth import Page, docs_pages, render, write_warc


@pytest.fixture(scope="session")
def cc_dir(shared_data) -> Path:
    return shared_data / "commoncrawl"


@pytest.fixture(scope="session")
def cc_sample(cc_dir) -> Path:
    return cc_dir / "CC-MAIN-2020-34-sample.warc.gz"


@pytest.fixture(scope="session")
def plain_sample(cc_sample, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "sample.warc"
    out.write_bytes(gzip.decompress(cc_sample.read_bytes()))
    return out


@pytest.fixture(scope="session")
def docs_warcs(tmp_path_factory) -> list[Path]:
    """Two generated WARC files of Python-reference pages with near-duplicates and junk."""
    d = tmp_path_factory.mktemp("docs")
    pages = list(docs_pages(40, seed=3, duplicate_every=6, junk_every=9))
    return [write_warc(d / "a.warc.gz", pages[:20]), write_warc(d / "b.warc.gz", pages[20:])]


@pytest.fixture(scope="session")
def review_warc(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("reviews")
    pages = []
    for i in range(6):
        reviews = "".join(f"<div class='review'><p>Review {j} of film {i}: a fine picture.</p></div>"
                          for j in range(i % 3 + 1))
        pages.append(Page(f"https://films.example.com/title/{i}/reviews",
                          f"<html><body><h1>Film {i}</h1>{reviews}</body></html>"))
    pages.append(Page("https://films.example.com/about", render("about", ["No reviews here."])))
    return write_warc(d / "reviews.warc.gz", pages)


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from springboard.crawl.runners.spark import get_session

    session = get_session("local[2]", "springboard-tests")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    SparkSession.getActiveSession() and session.stop()
