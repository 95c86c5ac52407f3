"""What both runners share: the output directory contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from springboard.crawl.record import Counters
from springboard.errors import ConflictError


def prepare_output(output: str, overwrite: bool) -> None:
    """Local output directories must be new or empty unless `overwrite`; remote ones are left
    to the writer (Spark's `mode("overwrite")` / fsspec)."""
    if "://" in output and not output.startswith("file://"):
        return
    path = Path(output.removeprefix("file://"))
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise ConflictError(f"{output}: output directory is not empty (use --overwrite)")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def write_counters(output: str, counters: Counters) -> None:
    """`_counters.json` beside the parts (names starting with `_` are ignored by Parquet
    readers, like Spark's `_SUCCESS`)."""
    import fsspec

    with fsspec.open(output.rstrip("/") + "/_counters.json", "w") as f:
        json.dump(dict(sorted(counters.items())), f, indent=1)
