"""AutoML fixtures: the tiny causal model registered in the hub, and channel files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

TINY = "tiny-causal"


@pytest.fixture(autouse=True)
def tiny_model(tiny_causal_dir) -> str:
    """The tiny causal model as hub model `tiny-causal` (each test has its own home, so every
    test registers it; that is a small JSON file)."""
    from springboard import hub

    hub.register_model(TINY, tiny_causal_dir)
    return TINY


def number_rows(n: int = 40) -> list[dict[str, str]]:
    return [{"input": f"Say the number {i}:", "output": f" {i} is the number"} for i in range(n)]


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue())
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def channel(uri: str | Path, channel_type: str | None = "training", content_type: str | None = "text/csv;header=present",
            compression: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(uri)}}}
    if channel_type:
        out["ChannelType"] = channel_type
    if content_type:
        out["ContentType"] = content_type
    if compression:
        out["CompressionType"] = compression
    return out


def make_request(train: str | Path, name: str = "job1", model: str = TINY, **tg: Any) -> dict[str, Any]:
    """A CreateAutoMLJobV2 request on the tiny model; `tg` goes into TextGenerationJobConfig."""
    config = {"BaseModelName": model, **tg}
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [channel(train)],
        "AutoMLProblemTypeConfig": {"TextGenerationJobConfig": config},
    }


@pytest.fixture
def train_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "data" / "train.csv", number_rows())
