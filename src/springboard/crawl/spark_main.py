"""Script entry point for `spark-submit`: the same arguments as `springboard crawl run`, with
the Spark runner and the session spark-submit creates (its `--master`, executors, conf).

    spark-submit --master yarn --py-files my_job.py \\
        "$(python -c 'import springboard.crawl.spark_main as m; print(m.__file__)')" \\
        s3://bucket/warcs/*.warc.gz --job my_job:MyJob --out s3://bucket/out/ \\
        --num-output-partitions 16

Every executor needs springboard installed (or shipped as a zip with `--py-files`)."""

from __future__ import annotations

import argparse
import logging
import sys

from springboard.crawl import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark_main.py")
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    args = parser.parse_args(["crawl", "run", *(sys.argv[1:] if argv is None else argv)])
    args.runner, args.name = "spark", None
    from springboard.crawl.runners.spark import get_session

    spark = get_session(args.master)
    args.master = spark.sparkContext.master
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return cli._run(args)


if __name__ == "__main__":
    sys.exit(main())
