import gzip
import io

from springboard.crawl.reader import iter_records
from springboard.crawl.record import Counters


def _read(path, types=("response",), fileobj=None):
    counters = Counters()
    rows = [(r.record_type, r.url, r.offset, r.http_status, r.payload)
            for r in iter_records(str(path), types, counters, fileobj=fileobj)]
    return rows, counters


def test_gzip_warc_responses(cc_sample):
    rows, counters = _read(cc_sample)
    assert len(rows) == 16 and counters["records_read"] == 16
    assert rows[0][:4] == ("response", "http://003338.cn/l41/481397.html", 940, 200)
    assert rows[0][4].lstrip().lower().startswith(b"<!doctype html") or b"<html" in rows[0][4][:500]


def test_plain_warc_same_records(cc_sample, plain_sample):
    gz, _ = _read(cc_sample)
    plain, _ = _read(plain_sample)
    assert [r[1] for r in plain] == [r[1] for r in gz]
    assert [r[4] for r in plain] == [r[4] for r in gz]


def test_all_record_types(cc_sample):
    rows, _ = _read(cc_sample, types=None)
    kinds = {r[0] for r in rows}
    assert {"warcinfo", "request", "response", "metadata"} <= kinds


def test_wet_conversion_records(cc_dir):
    counters = Counters()
    recs = [(r.record_type, r.url, r.identified_language, r.text())
            for r in iter_records(str(cc_dir / "CC-MAIN-2024-22-whirlwind.warc.wet.gz"),
                                  ("conversion",), counters)]
    assert len(recs) == 1
    kind, url, lang, text = recs[0]
    assert (kind, url, lang) == ("conversion", "https://an.wikipedia.org/wiki/Escopete", "spa")
    assert "Escopete" in text


def test_arc(cc_dir):
    recs = [(r.record_type, r.url, r.http_status, r.payload) for r in
            iter_records(str(cc_dir / "example.arc.gz"))]
    assert len(recs) == 1
    assert recs[0][:3] == ("response", "http://example.com/", 200)
    assert b"Example Domain" in recs[0][3]


def test_corrupt_gzip_member_is_skipped_and_counted(cc_sample):
    data = bytearray(cc_sample.read_bytes())
    data[13000:13100] = bytes(100)  # inside the second response record's gzip member
    rows, counters = _read("bad.warc.gz", fileobj=io.BytesIO(bytes(data)))
    assert counters["errors.corrupt_record"] >= 1
    assert len(rows) == 15  # only the damaged record is lost
    assert "http://01spb.ru/company/" not in [r[1] for r in rows]


def test_corrupt_plain_record_is_skipped(cc_sample, plain_sample):
    data = plain_sample.read_bytes()
    # break the Content-Length of the 3rd record so its block can't be framed
    first_resp = data.index(b"WARC-Type: response")
    cl = data.index(b"Content-Length: ", first_resp)
    end = data.index(b"\r\n", cl)
    broken = data[:cl] + b"Content-Length: xyz" + data[end:]
    rows, counters = _read("bad.warc", fileobj=io.BytesIO(broken))
    assert counters["errors.corrupt_record"] == 1
    good, _ = _read(cc_sample)
    # the damaged record comes out without its body; every later record is intact
    assert rows[0][1] == good[0][1] and rows[0][4] == b""
    assert [r[4] for r in rows[1:]] == [r[4] for r in good[1:]]


def test_not_an_archive_raises(tmp_path):
    bad = tmp_path / "x.warc.gz"
    bad.write_bytes(gzip.compress(b"this is not a warc file\n" * 10))
    rows, counters = [], Counters()
    for r in iter_records(str(bad), None, counters):
        rows.append(r)
    assert rows == [] and counters["errors.not_an_archive"] == 1


def test_truncated_warc_reads_what_is_there(tmp_path):
    from springboard.crawl.synth import docs_pages, write_warc

    for gz in (True, False):
        full = write_warc(tmp_path / f"full{gz}.warc", list(docs_pages(9, seed=3)), gzip=gz)
        data = full.read_bytes()
        whole, _ = _read(full)
        rows, counters = _read("cut.warc", fileobj=io.BytesIO(data[: len(data) * 2 // 3]))
        assert counters["errors.truncated_record"] == 1, (gz, counters)
        # every complete record before the cut is read, with its whole body
        complete = [r for r in rows if r in whole]
        assert 3 <= len(complete) >= len(rows) - 1 and complete == whole[: len(complete)]


def test_warcio_record_api(cc_sample):
    """What cc-pyspark's process_record uses, on the record the framework hands it."""
    from warcio.archiveiterator import ArchiveIterator

    with open(cc_sample, "rb") as f:
        theirs = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                   r.rec_headers.get_header("warc-date"), r.content_type,
                   r.http_headers.get_header("content-type") if r.http_headers else None,
                   r.http_headers.get_statuscode() if r.http_headers else None,
                   r.http_headers.headers if r.http_headers else None,
                   r.content_stream().read())
                  for r in ArchiveIterator(f)]
    mine = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
             r.rec_headers.get_header("warc-date"), r.content_type,
             r.http_headers.get_header("content-type") if r.http_headers else None,
             r.http_headers.get_statuscode() if r.http_headers else None,
             r.http_headers.headers if r.http_headers else None,
             r.content_stream().read())
            for r in iter_records(str(cc_sample), None)]
    assert len(mine) == len(theirs) == 50
    for a, b in zip(mine, theirs):
        assert a[:7] == b[:7]
        if a[0] == "response":
            assert a[7] == b[7]
    resp = [r for r in iter_records(str(cc_sample), None)][2]
    assert "WARC-Type" in resp.rec_headers and resp.rec_headers["warc-type"] == "response"
    assert resp.headers.get("WARC-Type") == "response"  # and still a mapping
    assert resp.http_headers.protocol == "HTTP/1.1"


def test_whole_file_gzip_is_not_reported_truncated(cc_sample, tmp_path):
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(gzip.decompress(cc_sample.read_bytes())))
    rows, counters = _read(whole)
    assert len(rows) == 16 and not [k for k in counters if k.startswith("errors.")]
