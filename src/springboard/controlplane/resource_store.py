"""What the control plane remembers beyond the rooms' own state: Models and EndpointConfigs
(SageMaker resources Springboard has no other home for), the SageMaker request a job or
endpoint was created with (to describe it back), and tags. Two tables in the job store's SQLite
file (`SPRINGBOARD_HOME/jobs.db`), so one file holds every resource's state."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from springboard.jobs.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sm_resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    data TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS sm_tags (
    kind TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, name, key)
);
"""

# ARN resource types (arn:aws:sagemaker:<region>:<account>:<type>/<name>).
KINDS = ("model", "endpoint-config", "endpoint", "training-job", "transform-job", "automl-job")


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    data: dict[str, Any]
    created: float


class Records(SqliteFile):
    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        db = self._connect()
        try:
            db.executescript(_SCHEMA)
        finally:
            db.close()

    # --- resources ---------------------------------------------------------------------------

    def add(self, kind: str, name: str, data: dict[str, Any]) -> bool:
        """Records a resource; False when one of that kind and name (any case) exists."""
        try:
            self._run("INSERT INTO sm_resources VALUES (?,?,?,?)", (kind, name, json.dumps(data), time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    def put(self, kind: str, name: str, data: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO sm_resources VALUES (?,?,?,?) ON CONFLICT(kind, name) DO UPDATE SET data=excluded.data",
            (kind, name, json.dumps(data), time.time()),
        )

    @staticmethod
    def put_in(kind: str, name: str, data: dict[str, Any]) -> Any:
        """`put` as a statement for another writer's transaction (jobs.JobStore.create's `also`):
        a job's request is recorded together with the job or not at all."""

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO sm_resources VALUES (?,?,?,?) ON CONFLICT(kind, name) DO UPDATE SET data=excluded.data",
                (kind, name, json.dumps(data), time.time()),
            )

        return write

    def get(self, kind: str, name: str) -> Resource | None:
        rows = self._run("SELECT * FROM sm_resources WHERE kind=? AND name=?", (kind, name))
        return self._resource(rows[0]) if rows else None

    def list(self, kind: str) -> list[Resource]:
        return [self._resource(r) for r in self._run("SELECT * FROM sm_resources WHERE kind=? ORDER BY created", (kind,))]

    def remove(self, kind: str, name: str) -> bool:
        found = bool(self._run("SELECT 1 FROM sm_resources WHERE kind=? AND name=?", (kind, name)))
        self._run("DELETE FROM sm_resources WHERE kind=? AND name=?", (kind, name))
        self._run("DELETE FROM sm_tags WHERE kind=? AND name=?", (kind, name))
        return found

    @staticmethod
    def _resource(row: sqlite3.Row) -> Resource:
        return Resource(row["kind"], row["name"], json.loads(row["data"]), row["created"])

    # --- tags --------------------------------------------------------------------------------

    def add_tags(self, kind: str, name: str, tags: list[dict[str, str]]) -> None:
        db = self._connect()
        try:
            db.executemany(
                "INSERT INTO sm_tags VALUES (?,?,?,?) ON CONFLICT(kind, name, key) DO UPDATE SET value=excluded.value",
                [(kind, name, t["Key"], t.get("Value", "")) for t in tags],
            )
        finally:
            db.close()

    def tags(self, kind: str, name: str) -> list[dict[str, str]]:
        rows = self._run("SELECT key, value FROM sm_tags WHERE kind=? AND name=? ORDER BY rowid", (kind, name))
        return [{"Key": r["key"], "Value": r["value"]} for r in rows]

    def delete_tags(self, kind: str, name: str, keys: list[str]) -> None:
        db = self._connect()
        try:
            db.executemany("DELETE FROM sm_tags WHERE kind=? AND name=? AND key=?", [(kind, name, k) for k in keys])
        finally:
            db.close()
