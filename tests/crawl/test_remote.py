"""Remote data: the cc-index queried over s3:// and http(s):// and WARC records fetched over
s3://, against moto's S3 server on loopback, with a generated index and WARCs."""

import gzip

import pyarrow.parquet as pq

from springboard import storage
from springboard.crawl.config import CrawlRunConfig, execute
from springboard.crawl.index import query, write_result
from springboard.crawl.index_build import build_index
from springboard.crawl.synth import docs_pages, write_warc


def test_index_query_and_fetch_over_s3(s3_bucket, moto_s3_server, cc_sample, tmp_path):
    # WARCs on S3; the index built from them there (so its warc_filename column holds s3:// URIs)
    local = [write_warc(tmp_path / f"w{i}.warc.gz", list(docs_pages(10, seed=i))) for i in range(2)]
    warcs = [storage.publish_file(p, f"{s3_bucket}/crawl-data/{p.name}") for p in local]
    warcs.append(storage.publish_file(cc_sample, f"{s3_bucket}/crawl-data/sample.warc.gz"))
    result = build_index(warcs, tmp_path / "idx", crawl="CC-MAIN-2099-01")
    assert result.rows == {"warc": 36} and result.errors == {}
    storage.upload_dir(tmp_path / "idx", f"{s3_bucket}/cc-index/table/")

    sql = ("SELECT url, warc_filename, warc_record_offset, warc_record_length FROM ccindex "
           "WHERE crawl = 'CC-MAIN-2099-01' AND subset = 'warc' AND url_host_tld = 'org' "
           "ORDER BY warc_filename, warc_record_offset")
    t = query(f"{s3_bucket}/cc-index/table/", sql)
    assert t.num_rows == 20
    assert set(t.column("warc_filename").to_pylist()) == set(warcs[:2])

    # over HTTP (the public bucket's objects are world-readable, as Common Crawl's are): one
    # part by URL, and Common Crawl's paths listing (no globbing over HTTP)
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3_server)
    bucket = s3_bucket.removeprefix("s3://")

    def public(uri):
        s3.put_object_acl(Bucket=bucket, Key=uri.removeprefix(s3_bucket + "/"), ACL="public-read")

    for uri in storage.list_files(f"{s3_bucket}/cc-index/table/"):
        public(uri)
    part = f"{s3_bucket}/cc-index/table/crawl=CC-MAIN-2099-01/subset=warc/part-00000.parquet"
    http_part = part.replace("s3://", moto_s3_server + "/")
    t_http = query(http_part, "SELECT count(*) AS n, min(crawl) AS c FROM ccindex")
    assert t_http.to_pylist() == [{"n": 10, "c": "CC-MAIN-2099-01"}]
    storage.write_bytes(f"{s3_bucket}/cc-index-table.paths.gz", gzip.compress(
        "".join(f"{p.replace('s3://', moto_s3_server + '/')}\n" for p in
                storage.list_files(f"{s3_bucket}/cc-index/table/")).encode()))
    public(f"{s3_bucket}/cc-index-table.paths.gz")
    listing = f"{moto_s3_server}/{bucket}/cc-index-table.paths.gz"
    assert query(listing, "SELECT count(*) FROM ccindex").column(0)[0].as_py() == 36

    # the record list → byte-range fetches from S3 → rows
    write_result(t, tmp_path / "recs.parquet", "records")
    counters = execute(CrawlRunConfig(records=str(tmp_path / "recs.parquet"),
                                      output=str(tmp_path / "out"), processes=1))
    assert counters["records_read"] == 20
    got = pq.read_table(tmp_path / "out").column("url").to_pylist()
    assert sorted(got) == sorted(t.column("url").to_pylist())
    # and whole files over s3://
    counters = execute(CrawlRunConfig(inputs=[f"{s3_bucket}/crawl-data/w*.warc.gz"],
                                      output=str(tmp_path / "out2"), processes=1))
    assert counters["records_read"] == 20 and counters["files_done"] == 2
