"""Channels -> the trainer's JSONL: formats, compression, prefixes, schema checks, the split."""

from __future__ import annotations

import gzip
import json

import pytest

from springboard.automl.channels import prepare_channels
from springboard.automl.request import AutoMLJobChannel
from springboard.errors import DataError, ValidationError

from .conftest import channel, number_rows, write_csv, write_parquet


def chan(*args, **kwargs) -> AutoMLJobChannel:
    return AutoMLJobChannel.model_validate(channel(*args, **kwargs))


def read_jsonl(path):
    return [json.loads(line) for line in open(path)]


def test_csv_split_default_writes_prompt_completion(tmp_path, train_csv):
    summary = prepare_channels([chan(train_csv)], tmp_path / "out", 0.2)
    assert (summary.train_records, summary.validation_records) == (32, 8)
    assert summary.validation_source == "split 0.2"
    train = read_jsonl(summary.train_file)
    val = read_jsonl(summary.validation_file)
    first = next(r for r in train + val if r["prompt"] == "Say the number 0:")
    assert first["completion"] == " 0 is the number" and first["source"] == f"{train_csv}:2"
    assert set(first) == {"id", "prompt", "completion", "source"}
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in val})
    # The same data gives the same split.
    again = prepare_channels([chan(train_csv)], tmp_path / "again", 0.2)
    assert read_jsonl(again.validation_file) == val
    assert summary.channels[0].content_type == "text/csv;header=present"


def test_validation_channel_parquet_and_gzip(tmp_path):
    rows = number_rows(10)
    train = write_parquet(tmp_path / "t.parquet", rows[:7])
    val = tmp_path / "v.parquet.gz"
    plain = write_parquet(tmp_path / "v.parquet", rows[7:])
    val.write_bytes(gzip.compress(plain.read_bytes()))
    parquet = "x-application/vnd.amazon+parquet"
    summary = prepare_channels(
        [chan(train, content_type=parquet), chan(val, "validation", content_type=parquet, compression="Gzip")],
        tmp_path / "out", None,
    )
    assert (summary.train_records, summary.validation_records, summary.validation_source) == (7, 3, "channel")
    assert [r["prompt"] for r in read_jsonl(summary.validation_file)] == [r["input"] for r in rows[7:]]
    with pytest.raises(DataError, match="set the channel's CompressionType to Gzip"):
        prepare_channels([chan(val, content_type=parquet)], tmp_path / "o2", 0.2)
    with pytest.raises(DataError, match="CompressionType is Gzip but the file is not gzip data"):
        prepare_channels([chan(train, content_type=parquet, compression="Gzip")], tmp_path / "o3", 0.2)


def test_prefix_and_directory(tmp_path):
    write_csv(tmp_path / "d" / "part-1.csv", number_rows(5))
    write_csv(tmp_path / "d" / "part-2.csv", number_rows(5))
    (tmp_path / "d" / ".hidden").write_text("junk")
    summary = prepare_channels([chan(tmp_path / "d")], tmp_path / "out", 0.2)
    assert summary.train_records + summary.validation_records == 10
    assert len(summary.channels[0].files) == 2
    by_prefix = prepare_channels([chan(f"file://{tmp_path}/d/part-")], tmp_path / "out2", 0.2)
    assert by_prefix.channels[0].files == summary.channels[0].files
    with pytest.raises(DataError, match="no data files at this S3Uri"):
        prepare_channels([chan(tmp_path / "nothing-here")], tmp_path / "out3", 0.2)


def test_both_channels_share_format_and_schema(tmp_path, train_csv):
    other = write_csv(tmp_path / "v.csv", [{**r, "extra": "x"} for r in number_rows(4)])
    with pytest.raises(ValidationError, match="both channels must share the schema"):
        prepare_channels([chan(train_csv), chan(other, "validation")], tmp_path / "out", None)
    parquet = write_parquet(tmp_path / "v.parquet", number_rows(4))
    with pytest.raises(ValidationError, match="both channels must share the format"):
        prepare_channels([chan(train_csv), chan(parquet, "validation", content_type=None)], tmp_path / "out", None)


def test_row_errors_name_file_line_and_column(tmp_path):
    bad = write_csv(tmp_path / "bad.csv", [{"prompt": "a", "output": "b"}])
    with pytest.raises(DataError, match=r"bad.csv:1: missing column\(s\) input"):
        prepare_channels([chan(bad)], tmp_path / "out", 0.2)
    empty = write_csv(tmp_path / "empty.csv", number_rows(3) + [{"input": "q", "output": " "}])
    with pytest.raises(DataError, match=r"empty.csv:5: field 'output': empty response"):
        prepare_channels([chan(empty)], tmp_path / "out", 0.2)
