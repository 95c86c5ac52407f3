"""Executors: `local` (a process pool over files, the default) and `spark`. Both take the same
job object and task list and write the same Parquet rows."""
