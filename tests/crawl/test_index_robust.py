"""Index build over damaged input: every readable record is indexed, the rest counted per
file with the reason, nothing stops the run, no partial index, bounded memory."""

import gzip

import pytest

from springboard.crawl.fetch import fetch_record
from springboard.crawl.index import query
from springboard.crawl.index_build import LANGUAGE_WINDOW, FileReport, build_index, index_rows
from springboard.crawl.synth import docs_pages, write_warc
from springboard.errors import ConflictError


@pytest.fixture
def damaged(tmp_path, cc_dir):
    good = write_warc(tmp_path / "good.warc.gz", list(docs_pages(6, seed=1)))
    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(gzip.compress(b"not a web archive\n" * 50))
    # ClueWeb-style: a WARC-Date that does not parse
    plain = gzip.decompress(write_warc(tmp_path / "d.warc.gz", list(docs_pages(3, seed=2))).read_bytes())
    bad_date = tmp_path / "bad-date.warc"
    bad_date.write_bytes(plain.replace(b"WARC-Date: 20", b"WARC-Date: 9X"))
    # truncated two thirds of the way: the complete records before the cut are readable
    full = write_warc(tmp_path / "full.warc.gz", list(docs_pages(9, seed=3))).read_bytes()
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(full[: len(full) * 2 // 3])
    return {"good": good, "garbage": garbage, "bad_date": bad_date, "truncated": truncated,
            "arc": cc_dir / "example.arc.gz"}


def test_damaged_files_are_read_as_far_as_possible(damaged, tmp_path):
    files = [str(damaged[k]) for k in ("garbage", "good", "bad_date", "arc", "truncated")]
    result = build_index(files, tmp_path / "idx", crawl="C1", detect_languages=False)
    by_file = {r.file: r for r in result.files}
    assert by_file[str(damaged["good"])].rows == 6
    assert by_file[str(damaged["bad_date"])].rows == 3
    assert by_file[str(damaged["arc"])].rows == 1
    truncated = by_file[str(damaged["truncated"])]
    assert 3 <= truncated.rows < 9 and truncated.errors == {"truncated_record": 1}
    assert by_file[str(damaged["garbage"])].errors == {"not_an_archive": 1}
    assert set(result.errors) == {str(damaged["garbage"]), str(damaged["truncated"])}

    t = query(str(tmp_path / "idx"), "SELECT url, fetch_time, warc_filename, warc_record_offset, "
              "warc_record_length FROM ccindex ORDER BY warc_filename, warc_record_offset")
    rows = t.to_pylist()
    assert len(rows) == sum(result.rows.values()) == 6 + 3 + 1 + truncated.rows
    dates = {r["warc_filename"]: r["fetch_time"] for r in rows}
    assert dates[str(damaged["bad_date"].resolve())] is None
    assert dates[str(damaged["good"].resolve())] is not None
    # every row addresses its record, the ARC one and the last one before the cut included
    for r in rows:
        rec = fetch_record(r["warc_filename"], r["warc_record_offset"], r["warc_record_length"])
        assert rec.url == r["url"]
    arc = [r for r in rows if r["warc_filename"].endswith(".arc.gz")][0]
    assert arc["url"] == "http://example.com/"
    assert b"Example Domain" in fetch_record(arc["warc_filename"], arc["warc_record_offset"],
                                             arc["warc_record_length"]).payload


def test_cli_reports_unreadable_records_and_exits_zero(damaged, tmp_path, capsys):
    from springboard.cli import main

    rc = main(["crawl", "index", "build", str(damaged["garbage"]), str(damaged["good"]),
               "--out", str(tmp_path / "idx"), "--no-detect-languages"])
    captured = capsys.readouterr()
    assert rc == 0 and "indexed 6 records" in captured.out
    assert f"{damaged['garbage']}: unreadable records skipped: not_an_archive=1" in captured.err


def test_no_partial_index_when_interrupted(damaged, tmp_path, monkeypatch):
    import springboard.crawl.index_build as index

    real = index.index_rows
    calls = []

    def dies_on_second_file(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        yield from real(*args, **kwargs)

    monkeypatch.setattr(index, "index_rows", dies_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        build_index([str(damaged["good"]), str(damaged["arc"])], tmp_path / "idx", crawl="C1",
                    detect_languages=False)
    assert list((tmp_path / "idx").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx")] == []
    monkeypatch.setattr(index, "index_rows", real)
    build_index([str(damaged["good"])], tmp_path / "idx", crawl="C1", detect_languages=False)
    with pytest.raises(ConflictError, match="already indexed"):
        build_index([str(damaged["good"])], tmp_path / "idx", crawl="C1")
    res = build_index([str(damaged["arc"])], tmp_path / "idx", crawl="C1", overwrite=True)
    assert res.rows == {"warc": 1}
    assert query(str(tmp_path / "idx"), "SELECT count(*) FROM ccindex").column(0)[0].as_py() == 1


def test_index_holds_a_bounded_number_of_bodies(tmp_path):
    """Bodies wait for their languages-cld2 metadata in a fixed window, whatever the file size."""
    peaks = []
    for n in (50, 400):
        warc = write_warc(tmp_path / f"w{n}.warc.gz", list(docs_pages(n, seed=5)))
        report = FileReport(str(warc))
        rows = list(index_rows(str(warc), detect_languages=True, report=report))
        langs = [r["content_languages"] for r in rows]
        assert len(rows) == n and langs.count("eng") >= 0.9 * n
        peaks.append(report.peak_pending_bodies)
    assert peaks[0] == peaks[1] == LANGUAGE_WINDOW + 1
