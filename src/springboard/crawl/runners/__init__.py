"""Running a crawl on an executor (`springboard.executors`): `local` (a process pool over files,
the default) and `spark` map the same task function over the same job object and task list and
write the same Parquet rows; `emr` submits the Spark run to EMR Serverless."""
