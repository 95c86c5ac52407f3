"""The job store: one SQLite database (WAL) shared by every process that starts, runs or
watches jobs. Nothing outside `jobs/` touches the tables."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from springboard import settings
from springboard.errors import ConflictError, NotFoundError
from springboard.jobs.model import STATUSES, TERMINAL, Job, Metric, Transition, validate_name

__all__ = ["STATUSES", "TERMINAL", "Job", "JobStore", "Metric", "SqliteFile", "Transition", "validate_name"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    entrypoint TEXT NOT NULL,
    status TEXT NOT NULL,
    secondary_status TEXT NOT NULL,
    failure_reason TEXT,
    config TEXT NOT NULL,
    job_dir TEXT NOT NULL,
    output_dir TEXT NOT NULL,
    pid INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    job TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time REAL NOT NULL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    job TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    step INTEGER,
    epoch REAL,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job, name);
CREATE INDEX IF NOT EXISTS transitions_job ON transitions(job);
"""

# Columns added after the first release: (name, declaration). Added to older databases on open.
_ADDED_COLUMNS = (
    ("pid_start", "TEXT"),  # the worker's start time (/proc/PID/stat), so a reused PID is not ours
    ("final", "INTEGER NOT NULL DEFAULT 0"),  # 1 once the job writes its output: no stop from then on
    ("max_runtime", "REAL"),  # MaxRuntimeInSeconds: the runner stops the job past it (None: no limit)
)

# One point per (job, metric, step): a resumed job that repeats steps replaces them (the
# rows written before a crash are superseded by the run that continues from the checkpoint).
_METRICS_UNIQUE = (
    "CREATE UNIQUE INDEX IF NOT EXISTS metrics_step ON metrics(job, name, step) WHERE step IS NOT NULL"
)
_DEDUPE_METRICS = (
    "DELETE FROM metrics WHERE step IS NOT NULL AND rowid NOT IN"
    " (SELECT MAX(rowid) FROM metrics WHERE step IS NOT NULL GROUP BY job, name, step)"
)


class SqliteFile:
    """The state database (`jobs.db`, WAL): a connection per call, so threads and processes
    share it. The job store and the control plane's records both stand on it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else settings.jobs_db()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _run(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        db = self._connect()
        try:
            return db.execute(sql, tuple(params)).fetchall()
        finally:
            db.close()


class JobStore(SqliteFile):
    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        db = self._connect()
        try:
            db.executescript(_SCHEMA)
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for column, decl in _ADDED_COLUMNS:
                if column not in have:
                    try:
                        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
                    except sqlite3.OperationalError:  # another process added it first
                        pass
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name='metrics_step'").fetchall():
                db.execute("BEGIN IMMEDIATE")
                db.execute(_DEDUPE_METRICS)
                db.execute(_METRICS_UNIQUE)
                db.execute("COMMIT")
        finally:
            db.close()

    def _changed(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Runs one statement; the number of rows it changed (compare-and-set updates)."""
        db = self._connect()
        try:
            return db.execute(sql, tuple(params)).rowcount
        finally:
            db.close()

    # --- jobs -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        kind: str,
        entrypoint: str,
        config: dict[str, Any],
        output_dir: str | None = None,
        also: Callable[[sqlite3.Connection], None] | None = None,
        max_runtime: float | None = None,
    ) -> Job:
        """Claims `name` and records the job. `also` runs on the same connection inside the same
        transaction (a caller's own record of the request, e.g. the control plane's): both are
        written or neither, so a caller that lost the name to a concurrent create has written
        nothing and has nothing to clean up (a clean-up once deleted the winner's record)."""
        validate_name(name)
        job_dir = settings.jobs_dir() / name
        now = time.time()
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO jobs (name, kind, entrypoint, status, secondary_status, config,"
                    " job_dir, output_dir, created, updated, max_runtime) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        name,
                        kind,
                        entrypoint,
                        "InProgress",
                        "Starting",
                        json.dumps(config),
                        str(job_dir),
                        output_dir or str(job_dir / "output"),
                        now,
                        now,
                        max_runtime,
                    ),
                )
                db.execute("INSERT INTO transitions VALUES (?,?,?,?)", (name, "Starting", now, "Job created"))
                if also is not None:
                    also(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise ConflictError(f"a job named {name!r} already exists") from None
        finally:
            db.close()
        job_dir.mkdir(parents=True, exist_ok=True)
        return self.get(name)

    def get(self, name: str) -> Job:
        rows = self._run("SELECT * FROM jobs WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no job named {name!r}")
        return self._job(rows[0], with_transitions=True)

    def exists(self, name: str) -> bool:
        return bool(self._run("SELECT 1 FROM jobs WHERE name = ?", (name,)))

    def list(self, kind: str | None = None, status: str | None = None) -> list[Job]:
        sql, params = "SELECT * FROM jobs WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        if status:
            sql += " AND status = ?"
            params.append(status)
        return [self._job(r) for r in self._run(sql + " ORDER BY created DESC", params)]

    def update(self, name: str, **fields: Any) -> None:
        if "config" in fields:
            fields["config"] = json.dumps(fields["config"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._run(f"UPDATE jobs SET {cols} WHERE name = ?", [*fields.values(), name])

    def set_status(
        self,
        name: str,
        status: str | None = None,
        secondary: str | None = None,
        message: str = "",
        failure_reason: str | None = None,
    ) -> None:
        """Moves a job on; a terminal status stamps the end time. A new secondary status
        opens a transition (SageMaker's SecondaryStatusTransitions)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        fields: dict[str, Any] = {}
        if status:
            fields["status"] = status
            if status in TERMINAL:
                fields["ended"] = time.time()
        if secondary:
            fields["secondary_status"] = secondary
        if failure_reason is not None:
            fields["failure_reason"] = failure_reason
        self.update(name, **fields)
        if secondary:
            self._run(
                "INSERT INTO transitions VALUES (?,?,?,?)", (name, secondary, time.time(), message)
            )

    def request_stop(self, name: str, secondary: str = "Stopping", message: str = "Stop requested") -> Job:
        """Atomically moves an InProgress job to Stopping (with the secondary status saying why,
        e.g. MaxRuntimeExceeded); the worker notices and stops. A job already writing its output
        (`enter_final`) is past stopping: it finishes Completed."""
        changed = self._changed(
            "UPDATE jobs SET status='Stopping', secondary_status=?, updated=?"
            " WHERE name=? AND status='InProgress' AND final=0",
            (secondary, time.time(), name),
        )
        if changed:
            self._run("INSERT INTO transitions VALUES (?,?,?,?)", (name, secondary, time.time(), message))
        return self.get(name)

    def delete(self, name: str) -> Job:
        """Forgets an ended job: its row, transitions and metrics in one statement that only
        matches a terminal status (a running job's worker would write on into nothing), then its
        directory (log, checkpoints). What it published to its output location stays."""
        import shutil

        job = self.get(name)
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(TERMINAL))
            gone = db.execute(f"DELETE FROM jobs WHERE name=? AND status IN ({marks})", (name, *TERMINAL)).rowcount
            if gone:
                db.execute("DELETE FROM transitions WHERE job=?", (name,))
                db.execute("DELETE FROM metrics WHERE job=?", (name,))
            db.execute("COMMIT")
        finally:
            db.close()
        if not gone:
            raise ConflictError(f"job {name!r} is {self.get(name).status}: stop it first, then delete it")
        shutil.rmtree(job.job_dir, ignore_errors=True)
        return job

    def claim_restart(self, name: str) -> bool:
        """Moves a Failed or Stopped job back to InProgress in one statement: of several
        callers resuming the same job at once, exactly one gets True and starts a worker."""
        now = time.time()
        changed = self._changed(
            "UPDATE jobs SET status='InProgress', secondary_status='Starting', failure_reason=NULL,"
            " ended=NULL, pid=NULL, pid_start=NULL, final=0, updated=?"
            " WHERE name=? AND status IN ('Failed', 'Stopped')",
            (now, name),
        )
        if changed:
            self._run("INSERT INTO transitions VALUES (?,?,?,?)", (name, "Starting", now, "Resuming"))
        return bool(changed)

    def enter_final(self, name: str, secondary: str, message: str = "") -> bool:
        """Marks a running job as writing its output (no stop is taken from here on); False
        when a stop was requested first (the job should stop instead)."""
        now = time.time()
        changed = self._changed(
            "UPDATE jobs SET final=1, secondary_status=?, updated=? WHERE name=? AND status='InProgress'",
            (secondary, now, name),
        )
        if changed:
            self._run("INSERT INTO transitions VALUES (?,?,?,?)", (name, secondary, now, message))
        return bool(changed)

    def fail_unlaunched(self, name: str, older_than: float, reason: str) -> bool:
        """Fails an InProgress job that never got a worker (its submitter died between
        recording it and starting the process) once it has been so for `older_than` seconds."""
        now = time.time()
        changed = self._changed(
            "UPDATE jobs SET status='Failed', secondary_status='Failed', failure_reason=?, ended=?, updated=?"
            " WHERE name=? AND status='InProgress' AND pid IS NULL AND updated < ?",
            (reason, now, now, name, now - older_than),
        )
        if changed:
            self._run("INSERT INTO transitions VALUES (?,?,?,?)", (name, "Failed", now, "worker never started"))
        return bool(changed)

    def end_if_running(
        self, name: str, pid: int, status: str, secondary: str, message: str, failure_reason: str | None = None
    ) -> bool:
        """Ends a job whose worker `pid` is gone, unless something moved it on meanwhile (its
        worker reported, or a resume started a new worker): compare-and-set on status and pid."""
        now = time.time()
        changed = self._changed(
            "UPDATE jobs SET status=?, secondary_status=?, failure_reason=COALESCE(?, failure_reason),"
            " ended=?, updated=? WHERE name=? AND status IN ('InProgress', 'Stopping') AND pid=?",
            (status, secondary, failure_reason, now, now, name, pid),
        )
        if changed:
            self._run("INSERT INTO transitions VALUES (?,?,?,?)", (name, secondary, now, message))
        return bool(changed)

    def _job(self, row: sqlite3.Row, with_transitions: bool = False) -> Job:
        transitions: list[Transition] = []
        if with_transitions:
            rows = self._run(
                "SELECT status, start_time, message FROM transitions WHERE job = ?"
                " ORDER BY rowid",
                (row["name"],),
            )
            for i, t in enumerate(rows):
                end = rows[i + 1]["start_time"] if i + 1 < len(rows) else None
                transitions.append(Transition(t["status"], t["start_time"], end, t["message"] or ""))
        return Job(
            name=row["name"],
            kind=row["kind"],
            entrypoint=row["entrypoint"],
            status=row["status"],
            secondary_status=row["secondary_status"],
            failure_reason=row["failure_reason"],
            config=json.loads(row["config"]),
            job_dir=Path(row["job_dir"]),
            output_dir=row["output_dir"],
            pid=row["pid"],
            pid_start=row["pid_start"],
            final=bool(row["final"]),
            max_runtime=row["max_runtime"],
            attempts=row["attempts"],
            creation_time=row["created"],
            start_time=row["started"],
            end_time=row["ended"],
            last_modified_time=row["updated"],
            transitions=transitions,
        )

    # --- metrics --------------------------------------------------------------------------

    def add_metrics(self, name: str, metrics: Iterable[Metric]) -> None:
        rows = [(name, m.name, float(m.value), m.step, m.epoch, m.timestamp) for m in metrics]
        if not rows:
            return
        db = self._connect()
        try:
            db.executemany(
                "INSERT INTO metrics VALUES (?,?,?,?,?,?) ON CONFLICT(job, name, step)"
                " WHERE step IS NOT NULL DO UPDATE SET value=excluded.value, epoch=excluded.epoch,"
                " timestamp=excluded.timestamp",
                rows,
            )
        finally:
            db.close()

    def metrics(self, name: str, metric_name: str | None = None) -> list[Metric]:
        sql = "SELECT name, value, step, epoch, timestamp FROM metrics WHERE job = ?"
        params: list[Any] = [name]
        if metric_name:
            sql += " AND name = ?"
            params.append(metric_name)
        return [
            Metric(r["name"], r["value"], r["step"], r["epoch"], r["timestamp"])
            for r in self._run(sql + " ORDER BY rowid", params)
        ]
