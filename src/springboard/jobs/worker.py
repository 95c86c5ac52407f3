"""Entry point of a job's own process: `python -m springboard.jobs.worker NAME`."""

from __future__ import annotations

import sys

from springboard.jobs.runner import run_worker

if __name__ == "__main__":
    job = run_worker(sys.argv[1])
    sys.exit(0 if job.status in ("Completed", "Stopped") else 1)
