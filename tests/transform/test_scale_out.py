"""Batch transform on many workers: N local worker processes (each with its own engine), Spark
(local mode), and s3:// input/output through the storage layer on moto's S3 server. The .out
files must be byte-identical to a one-worker run, in order, and a resumed job must redo only
what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from springboard.cli import main
from springboard.errors import JobStopped
from springboard.transform.config import TransformConfig
from springboard.transform.plan import plan_shards
from springboard.transform.inputs import input_files
from springboard.transform.runner import TransformRunner

from .fakes import FakeEngine, RecordingEngineFactory


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def make_input(root: Path, big: int = 40) -> list[str]:
    write_jsonl(root / "a.jsonl", [{"id": i, "text_inputs": f"a{i}"} for i in range(big)])
    write_jsonl(root / "sub/b.jsonl", [{"id": i, "text_inputs": f"b{i}"} for i in range(3)])
    write_jsonl(root / "c.jsonl", [{"id": i, "text_inputs": f"c{i}"} for i in range(2)])
    return [f"a{i}" for i in range(big)] + ["b0", "b1", "b2", "c0", "c1"]


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_plan_splits_a_large_file_on_batch_boundaries(tmp_path):
    make_input(tmp_path / "in")
    config = TransformConfig(model="m", input=str(tmp_path / "in"), output="o",
                             environment={"HYPER_PARAMS": "{'batch_size': 4}"}, instance_count=2)
    shards = plan_shards(input_files(config.input), config, 4, 2)
    a = [s for s in shards if s.rel == "a.jsonl"]
    assert [(s.start, s.end) for s in a] == [(0, 12), (12, 24), (24, 36), (36, 40)]
    assert all(c == 4 for s in a for c in s.chunks)
    assert [s.rel for s in shards if s.rel != "a.jsonl"] == ["c.jsonl", "sub/b.jsonl"]  # small files whole
    one = plan_shards(input_files(config.input), config, 4, 1)
    assert [(s.rel, s.records) for s in one] == [("a.jsonl", 40), ("c.jsonl", 2), ("sub/b.jsonl", 3)]
    # a max_payload request boundary inside a batch-sized run starts a new batch, in every plan
    small = config.model_copy(update={"max_payload": 0.0001})  # ~104 bytes: 3 records per request
    assert plan_shards(input_files(config.input), small, 4, 1)[0].chunks[:3] == [3, 3, 3]


def test_two_local_workers_match_one_and_resume_only_what_is_missing(tmp_path):
    prompts = make_input(tmp_path / "in")
    hp = {"HYPER_PARAMS": "{'batch_size': 2}"}
    one = TransformConfig(model="fake", input=str(tmp_path / "in"), output=str(tmp_path / "out1"), environment=hp)
    TransformRunner(one, FakeEngine(), tmp_path / "state1").run()

    two = one.model_copy(update={"instance_count": 2, "output": str(tmp_path / "out2")})
    first = RecordingEngineFactory(str(tmp_path / "log1"), delay=0.5)
    with pytest.raises(JobStopped):  # a stop arrives once the workers have done some batches
        TransformRunner(two, None, tmp_path / "state2", should_stop=lambda: len(first.prompts()) >= 4,
                        engine_factory=first).run()
    done_first = first.prompts()
    assert 0 < len(done_first) < len(prompts)
    assert not (tmp_path / "out2/a.jsonl.out").exists()
    assert first.loads() == 2  # one engine per worker, reused for every shard it ran

    second = RecordingEngineFactory(str(tmp_path / "log2"))
    progress = TransformRunner(two, None, tmp_path / "state2", engine_factory=second).run()
    # every record was generated exactly once over the two attempts
    assert sorted(done_first + second.prompts()) == sorted(prompts)
    assert progress.processed == len(prompts) and progress.new_records == len(prompts) - len(done_first)
    assert outputs(tmp_path / "out2") == outputs(tmp_path / "out1")


def test_instance_count_through_the_cli_gives_identical_out_files(tmp_path, tiny_causal_dir, capsys):
    """A real model in two worker processes (each loads its own) writes the same bytes as one."""
    make_input(tmp_path / "in", big=24)
    common = ["transform", "--model", str(tiny_causal_dir), "--input", str(tmp_path / "in"),
              "--env", "HYPER_PARAMS={'batch_size': 4, 'max_new_tokens': 6}", "--no-chat", "--wait"]
    assert main([*common, "--output", str(tmp_path / "out1"), "--name", "tx-one"]) == 0, capsys.readouterr()
    assert main([*common, "--output", str(tmp_path / "out2"), "--name", "tx-two",
                 "--instance-count", "2"]) == 0, capsys.readouterr()
    assert "tx-two: Completed - 29 records (0 failed)" in capsys.readouterr().out
    one, two = outputs(tmp_path / "out1"), outputs(tmp_path / "out2")
    assert list(one) == ["a.jsonl.out", "c.jsonl.out", "sub/b.jsonl.out"]
    assert two == one
    from springboard.jobs import JobStore

    log = JobStore().get("tx-two").log_path.read_text()
    assert "in 5 shard(s); 2 worker(s)" in log


def test_s3_input_and_output(tmp_path, s3_bucket):
    """Input read from and .out files published to S3 (moto's server) through springboard.storage."""
    import boto3

    from springboard import storage

    make_input(tmp_path / "in", big=6)
    storage.upload_dir(tmp_path / "in", f"{s3_bucket}/data/in")
    s3 = boto3.client("s3")
    hp = {"HYPER_PARAMS": "{'batch_size': 2}"}
    config = TransformConfig(model="fake", input=f"{s3_bucket}/data/in", output=f"{s3_bucket}/data/out",
                             environment=hp, instance_count=2)
    factory = RecordingEngineFactory(str(tmp_path / "log"))
    TransformRunner(config, None, tmp_path / "state", engine_factory=factory).run()
    bucket = s3_bucket.removeprefix("s3://")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="data/out/")["Contents"])
    assert keys == ["data/out/a.jsonl.out", "data/out/c.jsonl.out", "data/out/sub/b.jsonl.out"]
    body = s3.get_object(Bucket=bucket, Key="data/out/a.jsonl.out")["Body"].read().decode()
    assert [json.loads(line)["id"] for line in body.splitlines()] == list(range(6))
    local = TransformConfig(model="fake", input=str(tmp_path / "in"), output=str(tmp_path / "out1"), environment=hp)
    TransformRunner(local, FakeEngine(), tmp_path / "state1").run()
    assert body.encode() == (tmp_path / "out1/a.jsonl.out").read_bytes()


@pytest.mark.slow
def test_spark_local_runner_matches_one_worker_and_reuses_engines(tmp_path):
    prompts = make_input(tmp_path / "in")
    hp = {"HYPER_PARAMS": "{'batch_size': 2}"}
    one = TransformConfig(model="fake", input=str(tmp_path / "in"), output=str(tmp_path / "out1"), environment=hp)
    TransformRunner(one, FakeEngine(), tmp_path / "state1").run()
    spark = one.model_copy(update={"instance_count": 2, "runner": "spark", "master": "local[2]",
                                   "output": str(tmp_path / "out2")})
    factory = RecordingEngineFactory(str(tmp_path / "log"))
    progress = TransformRunner(spark, None, tmp_path / "state2", engine_factory=factory).run()
    assert progress.processed == len(prompts)
    assert outputs(tmp_path / "out2") == outputs(tmp_path / "out1")
    assert sorted(factory.prompts()) == sorted(prompts)
    # 6 shards on 2 task slots: Python workers are reused, so at most one engine per slot
    assert 1 <= factory.loads() <= 2


@pytest.mark.slow
def test_spark_runner_job_through_the_cli(tmp_path, tiny_causal_dir, capsys):
    make_input(tmp_path / "in", big=12)
    common = ["transform", "--model", str(tiny_causal_dir), "--input", str(tmp_path / "in"),
              "--env", "HYPER_PARAMS={'batch_size': 4, 'max_new_tokens': 6}", "--no-chat", "--wait"]
    assert main([*common, "--output", str(tmp_path / "out1"), "--name", "tx-one"]) == 0, capsys.readouterr()
    assert main([*common, "--output", str(tmp_path / "out2"), "--name", "tx-spark", "--runner", "spark",
                 "--instance-count", "2", "--master", "local[2]"]) == 0, capsys.readouterr()
    assert outputs(tmp_path / "out2") == outputs(tmp_path / "out1")
