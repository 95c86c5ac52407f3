import gzip

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from springboard.crawl.index import query, table_source, write_result
from springboard.crawl.index_build import build_index, surt
from springboard.errors import NotFoundError, ValidationError


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, cc_sample, docs_warcs):
    out = tmp_path_factory.mktemp("index")
    result = build_index([str(cc_sample), *map(str, docs_warcs)], out, crawl="CC-MAIN-2020-34")
    assert result.rows == {"warc": 56} and result.errors == {}
    return out


def test_layout_is_hive_partitioned(index_dir):
    parts = sorted(p.relative_to(index_dir).as_posix() for p in index_dir.rglob("*.parquet"))
    assert parts[0] == "crawl=CC-MAIN-2020-34/subset=warc/part-00000.parquet"
    schema = pq.read_schema(index_dir / parts[0])
    for col in ("url", "url_host_name", "url_host_tld", "content_languages", "warc_filename",
                "warc_record_offset", "warc_record_length", "url_surtkey", "fetch_status"):
        assert col in schema.names


def test_sql_over_built_index(index_dir, cc_sample):
    t = query(str(index_dir), "SELECT url_host_tld, count(*) AS n FROM ccindex "
              "WHERE crawl = 'CC-MAIN-2020-34' AND subset = 'warc' GROUP BY 1 ORDER BY 2 DESC, 1")
    rows = dict(zip(*[t.column(c).to_pylist() for c in ("url_host_tld", "n")]))
    assert rows["org"] == 40 and rows["com"] == 8 and rows["cn"] == 2
    # languages come from the crawler's languages-cld2 metadata (ISO-639-3, primary first)
    t = query(str(index_dir), "SELECT url, content_languages FROM ccindex "
              "WHERE content_languages LIKE 'rus%'")
    assert t.column("url").to_pylist() == ["http://01spb.ru/company/"]
    # ... and are detected for pages without metadata
    t = query(str(index_dir), "SELECT DISTINCT content_languages FROM ccindex "
              "WHERE url_host_name = 'docs.example.org' AND content_languages IS NOT NULL")
    assert "eng" in t.column(0).to_pylist()


def test_offsets_and_lengths_address_records(index_dir, cc_sample):
    from springboard.crawl.fetch import fetch_record

    t = query(str(index_dir), "SELECT url, warc_filename, warc_record_offset, warc_record_length "
              "FROM ccindex WHERE url_host_tld = 'nl'")
    url, name, off, length = (t.column(i)[0].as_py() for i in range(4))
    assert name == str(cc_sample.resolve())
    assert fetch_record(name, off, length).url == url


def test_result_formats(index_dir, tmp_path, docs_warcs):
    t = query(str(index_dir), "SELECT * FROM ccindex WHERE url_host_name = 'docs.example.org' "
              "ORDER BY warc_filename, warc_record_offset")
    assert write_result(t, tmp_path / "warcs.txt") == "warc-list"
    assert (tmp_path / "warcs.txt").read_text().split() == [str(p.resolve()) for p in docs_warcs]
    write_result(t, tmp_path / "recs.csv", "records")
    recs = pacsv.read_csv(tmp_path / "recs.csv")
    assert recs.column_names == ["url", "warc_filename", "warc_record_offset", "warc_record_length"]
    assert recs.num_rows == 40
    write_result(t, tmp_path / "all.parquet")
    assert pq.read_table(tmp_path / "all.parquet").num_rows == 40
    with pytest.raises(ValidationError, match="warc_filename"):
        write_result(query(str(index_dir), "SELECT url FROM ccindex"), tmp_path / "x.txt")


def test_bad_sql_and_missing_index(index_dir, tmp_path):
    with pytest.raises(ValidationError, match="SQL failed"):
        query(str(index_dir), "SELECT no_such_column FROM ccindex")
    with pytest.raises(NotFoundError):
        query(str(tmp_path / "missing"), "SELECT 1")


def test_paths_listing_resolves_against_bucket(tmp_path):
    listing = tmp_path / "cc-index-table.paths.gz"
    listing.write_bytes(gzip.compress(
        b"cc-index/table/cc-main/warc/crawl=CC-MAIN-2024-22/subset=warc/part-00000.parquet\n"))
    src = table_source(str(listing))
    assert ("'https://data.commoncrawl.org/cc-index/table/cc-main/warc/crawl=CC-MAIN-2024-22/"
            "subset=warc/part-00000.parquet'") in src
    assert "hive_partitioning = true" in src
    assert "/**/*.parquet" in table_source("s3://commoncrawl/cc-index/table/cc-main/warc/")


def test_surt():
    assert surt("https://www.Example.com/A/b?x=1") == "com,example)/a/b?x=1"


def test_records_sql_answers_the_usual_question_and_quotes_values(index_dir, tmp_path):
    from springboard.crawl.index import records_sql

    t = query(str(index_dir), records_sql(host="docs.example.org", languages=["eng"], limit=7))
    assert t.num_rows == 7
    assert all(u.startswith("https://docs.example.org/") for u in t.column("url").to_pylist())
    assert t.column_names == ["url", "warc_filename", "warc_record_offset", "warc_record_length"]
    # the registered domain matches too; a URL substring narrows it
    t = query(str(index_dir), records_sql(host="example.org", url_contains="/page/1"))
    assert t.num_rows and all("/page/1" in u for u in t.column("url").to_pylist())
    # values never become SQL: a quote or LIKE wildcard in a value matches literally
    assert query(str(index_dir), records_sql(host="x' OR '1'='1")).num_rows == 0
    everything = query(str(index_dir), "SELECT url FROM ccindex WHERE fetch_status = 200").column(0).to_pylist()
    for literal in ("%", "_"):
        got = query(str(index_dir), records_sql(url_contains=literal)).column("url").to_pylist()
        assert sorted(got) == sorted(u for u in everything if literal in u)
    with pytest.raises(ValidationError, match="languages"):
        records_sql(languages=["english"])
    with pytest.raises(ValidationError, match="limit"):
        records_sql(limit=0)
