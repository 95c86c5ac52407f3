"""A transform's progress on disk: where its state lives (Layout) and one shard's state
(ShardState), replaced atomically after every batch so a restarted shard resumes where it was."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class ShardState:
    records: int = 0  # records whose output is complete in the part file
    bytes: int = 0  # length of the part file holding exactly those records
    failed: int = 0  # records written as error lines (on_error="error_line")
    empty: int = 0  # records whose every generated text is empty
    tokens: int = 0
    # records whose generation ended (`records` plus those finished in batches not yet written):
    # progress between writes, which come in input order a whole batch at a time
    generated: int = 0
    done: bool = False
    error: str | None = None  # on_error="fail": the record that failed the file ("rel:line: why")

    @classmethod
    def load(cls, path: Path) -> ShardState:
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)


class Layout:
    """Where a job's transform state lives (its checkpoint directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def stop_file(self) -> Path:
        return self.root / "STOP"

    def state(self, shard_id: str) -> Path:
        return self.root / "shards" / f"{shard_id}.json"

    def part(self, shard_id: str) -> Path:
        return self.root / "parts" / f"{shard_id}.part"

    def file_failed(self, file: int) -> Path:
        return self.root / "failed" / f"f{file:05d}"

    def make(self) -> None:
        for sub in ("shards", "parts", "failed"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
