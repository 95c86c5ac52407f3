"""The transform loop in-process: a fake engine where the test must see exactly what the model
was asked, the tiny models where real generation matters."""

import ast
import json
from pathlib import Path

import pytest

from springboard.errors import JobStopped
from springboard.transform.config import TransformConfig
from springboard.transform.runner import TransformRunner

from .fakes import FakeEngine


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def run(tmp_path, engine, state="state", **knobs):
    knobs.setdefault("input", str(tmp_path / "in"))
    knobs.setdefault("output", str(tmp_path / "out"))
    config = TransformConfig(model="fake", **knobs)
    return TransformRunner(config, engine, tmp_path / state).run()


def read_out(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_order_ids_and_out_naming_per_file(tmp_path):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": f"a{i}", "text_inputs": f"A{i}"} for i in range(7)])
    write_jsonl(tmp_path / "in/sub/b.jsonl", [{"id": i, "text_inputs": f"B{i}"} for i in range(3)])
    engine = FakeEngine()
    progress = run(tmp_path, engine, environment={"HYPER_PARAMS": "{'batch_size': 3}"})
    assert progress.processed == 10 and progress.failed == 0 and progress.files_done == 2
    a = read_out(tmp_path / "out/a.jsonl.out")
    assert a == [{"id": f"a{i}", "generated_texts": [f"out:A{i}:0"]} for i in range(7)]
    b = read_out(tmp_path / "out/sub/b.jsonl.out")
    assert [r["id"] for r in b] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.jsonl.out", "b.jsonl.out"]
    # each file processed separately: no engine call mixes records of two files
    for prompts, _, _ in engine.calls:
        assert len({p[0] for p in prompts}) == 1
    assert [len(c[0]) for c in engine.calls] == [3, 3, 1, 3]


def test_single_input_file_and_blank_lines(tmp_path):
    f = write_jsonl(tmp_path / "data.jsonl", [{"id": 1, "text_inputs": "x"}, "", {"id": 2, "text_inputs": "y"}])
    run(tmp_path, FakeEngine(), input=str(f))
    assert [r["id"] for r in read_out(tmp_path / "out/data.jsonl.out")] == [1, 2]


def test_output_parses_with_json_and_literal_eval(tmp_path):
    tricky = ['say "hi"\nnew line', "back\\slash", "emoji 😀 and é", "tab\t ctrl\x01", "'single'", "\u2028 \x85 \u2029"]
    engine = FakeEngine(reply=lambda prompt, k: tricky[int(prompt)])
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": str(i)} for i in range(len(tricky))])
    run(tmp_path, engine)
    lines = (tmp_path / "out/a.jsonl.out").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(tricky)
    for i, line in enumerate(lines):
        assert json.loads(line) == ast.literal_eval(line) == {"id": i, "generated_texts": [tricky[i]]}


def test_json_literals_from_input_are_flagged(tmp_path, caplog):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": 1, "text_inputs": "x", "flag": True}])
    run(tmp_path, FakeEngine(), join_source="Input")
    line = (tmp_path / "out/a.jsonl.out").read_text().strip()
    assert json.loads(line)["flag"] is True  # still valid JSON
    assert "ast.literal_eval cannot read" in caplog.text


def test_hyper_params_win_key_by_key_over_record_params(tmp_path, caplog):
    records = [{"id": 0, "text_inputs": "p0", "max_new_tokens": 7, "num_beams": 3, "num_return_sequences": 3,
                "top_k": 5}]
    records += [{"id": 1, "text_inputs": "p1"}]
    write_jsonl(tmp_path / "in/a.jsonl", records)
    engine = FakeEngine()
    run(tmp_path, engine, environment={"HYPER_PARAMS": str({"batch_size": 4, "max_length": 50, "top_k": 50,
                                                              "top_p": 0.95, "do_sample": True})})
    by_prompt = {p: (params, bs) for prompts, params, bs in engine.calls for p in prompts}
    p1, bs = by_prompt["p1"]
    assert bs == 4
    # text_inputs max_length bounds the output: 49 new tokens (the start token counts), every model
    assert (p1.max_new_tokens, p1.max_length, p1.top_k, p1.top_p, p1.do_sample) == (49, None, 50, 0.95, True)
    p0, _ = by_prompt["p0"]
    # HYPER_PARAMS' length and top_k win; the record's beams and sequences still apply
    assert (p0.max_new_tokens, p0.top_k, p0.num_beams, p0.num_return_sequences) == (49, 50, 3, 3)
    assert "HYPER_PARAMS overrides the record's max_new_tokens, top_k" in caplog.text
    assert len(read_out(tmp_path / "out/a.jsonl.out")[0]["generated_texts"]) == 3


def test_parameters_object_in_a_record_is_honoured(tmp_path):
    write_jsonl(tmp_path / "in/a.jsonl", [
        {"id": 0, "text_inputs": "p0", "parameters": {"max_new_tokens": 5, "repetition_penalty": 1.3}},
        {"id": 1, "text_inputs": "p1", "max_new_tokens": 3, "parameters": {"max_new_tokens": 4}},
        {"id": 2, "text_inputs": "p2", "parameters": {"bogus": 1}},
        {"id": 3, "text_inputs": "p3", "parameters": [1]},
    ])
    engine = FakeEngine()
    progress = run(tmp_path, engine, on_error="error_line")
    by_prompt = {p: params for prompts, params, _ in engine.calls for p in prompts}
    assert (by_prompt["p0"].max_new_tokens, by_prompt["p0"].repetition_penalty) == (5, 1.3)
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert "given both at the top level" in out[1]["error"]
    assert "bogus" in out[2]["error"] and "unknown parameter" in out[2]["error"]
    assert "'parameters' must be an object" in out[3]["error"]
    assert progress.failed == 3


def test_max_length_bounds_the_output_of_a_causal_model(tmp_path, tiny_causal_dir):
    """JumpStart text2text max_length on a causal model: the prompt is not counted (it used to
    be, and every answer came back empty); max_length 1 leaves nothing to generate: an error."""
    from springboard.generate import Engine

    prompt = "a long prompt " * 20  # far more than 8 tokens
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"{prompt} {i}"} for i in range(3)])
    engine = Engine.load(str(tiny_causal_dir))
    progress = run(tmp_path, engine, chat=False, environment={"HYPER_PARAMS": "{'max_length': 8}"})
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert progress.tokens > 0 and progress.empty < 3
    for rec in out:
        assert 0 < engine.count_tokens(rec["generated_texts"][0]) <= 8
    with pytest.raises(Exception, match="max_length 1 leaves no room to generate"):
        TransformConfig(model="x", input="i", output="o", environment={"HYPER_PARAMS": "{'max_length': 1}"})


def test_per_record_params_apply_without_hyper_params(tmp_path):
    records = [
        {"id": 0, "text_inputs": "p0", "max_new_tokens": 7, "num_beams": 3, "num_return_sequences": 3},
        {"id": 1, "text_inputs": "p1"},
        {"id": 2, "text_inputs": "p2", "max_new_tokens": 7, "num_beams": 3, "num_return_sequences": 3},
        {"id": 3, "text_inputs": "p3", "top_p": 5},
    ]
    write_jsonl(tmp_path / "in/a.jsonl", records)
    engine = FakeEngine()
    progress = run(tmp_path, engine, on_error="error_line")
    by_prompt = {p: params for prompts, params, _ in engine.calls for p in prompts}
    assert by_prompt["p0"].max_new_tokens == 7 and by_prompt["p0"].num_beams == 3
    assert by_prompt["p1"].max_new_tokens is None and by_prompt["p1"].num_beams == 1
    assert by_prompt["p0"] is by_prompt["p2"]
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert out[0]["generated_texts"] == ["out:p0:0", "out:p0:1", "out:p0:2"]
    assert out[1]["generated_texts"] == ["out:p1:0"]
    assert out[3]["id"] == 3 and "top_p" in out[3]["error"]
    assert progress.failed == 1


def test_per_record_params_on_real_tiny_model(tmp_path, tiny_t5_dir):
    from springboard.generate import Engine

    write_jsonl(
        tmp_path / "in/a.jsonl",
        [
            {"id": "x", "text_inputs": "Summarize: the cat sat", "max_new_tokens": 3},
            {"id": "y", "text_inputs": "Summarize: the dog ran", "max_new_tokens": 6, "num_beams": 2,
             "num_return_sequences": 2},
        ],
    )
    engine = Engine.load(str(tiny_t5_dir))
    progress = run(tmp_path, engine)
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert [r["id"] for r in out] == ["x", "y"]
    assert len(out[0]["generated_texts"]) == 1 and len(out[1]["generated_texts"]) == 2
    assert all(isinstance(t, str) for r in out for t in r["generated_texts"])
    assert 0 < progress.tokens <= 3 + 2 * 6


def test_payload_grouping_and_single_record(tmp_path):
    # each line is ~ 350 bytes: 0.001 MB (1048 bytes) fits 2 records per request
    records = [{"id": i, "text_inputs": f"{i}:" + "w" * 320} for i in range(5)]
    write_jsonl(tmp_path / "in/a.jsonl", records)
    engine = FakeEngine()
    progress = run(tmp_path, engine, max_payload=0.001, environment={"HYPER_PARAMS": "{'batch_size': 8}"})
    assert [len(c[0]) for c in engine.calls] == [2, 2, 1]
    assert progress.requests == 3
    single = FakeEngine()
    run(tmp_path, single, state="s2", output=str(tmp_path / "out2"), batch_strategy="SingleRecord",
        environment={"HYPER_PARAMS": "{'batch_size': 8}"})
    assert [len(c[0]) for c in single.calls] == [1] * 5


def test_record_over_max_payload_fails_alone(tmp_path):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": 0, "text_inputs": "short"}, {"id": 1, "text_inputs": "w" * 2000}])
    progress = run(tmp_path, FakeEngine(), max_payload=0.001, on_error="error_line")
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert out[0]["generated_texts"] == ["out:short:0"]
    assert out[1]["id"] == 1 and "over max_payload" in out[1]["error"]
    assert progress.failed == 1


def test_join_source_input_and_filters(tmp_path):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": 1, "text_inputs": "t1", "highlights": "h1"}])
    run(tmp_path, FakeEngine(), join_source="Input")
    assert read_out(tmp_path / "out/a.jsonl.out") == [
        {"id": 1, "text_inputs": "t1", "highlights": "h1",
         "SageMakerOutput": {"id": 1, "generated_texts": ["out:t1:0"]}}
    ]
    run(tmp_path, FakeEngine(), state="s2", join_source="Input", input_filter="$.text_inputs",
        output_filter="$['id','SageMakerOutput']")
    # the model saw only the text (so its output has no id); the join put the id back
    assert read_out(tmp_path / "out/a.jsonl.out") == [{"id": 1, "SageMakerOutput": {"generated_texts": ["out:t1:0"]}}]


def test_csv_and_text_inputs_with_filters(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text('1,"hello, world"\n2,bye\n')
    run(tmp_path, FakeEngine(), content_type="text/csv", input_filter="$[1]", join_source="Input")
    assert read_out(tmp_path / "out/a.csv.out") == [
        {"SageMakerInput": ["1", "hello, world"], "SageMakerOutput": {"generated_texts": ["out:hello, world:0"]}},
        {"SageMakerInput": ["2", "bye"], "SageMakerOutput": {"generated_texts": ["out:bye:0"]}},
    ]
    # accept text/csv (seed 001's transformer): JSON lines still, as the text2text container answers
    run(tmp_path, FakeEngine(), state="s2", content_type="text/csv", input_filter="$[1]",
        accept="text/csv", output=str(tmp_path / "out-csv"))
    lines = (tmp_path / "out-csv/a.csv.out").read_text().splitlines()
    assert [ast.literal_eval(line) for line in lines] == [{"generated_texts": ["out:hello, world:0"]},
                                                         {"generated_texts": ["out:bye:0"]}]
    # a multi-column CSV record without an input_filter names the fix
    run(tmp_path, FakeEngine(), state="s3", content_type="text/csv", output=str(tmp_path / "o3"),
        on_error="error_line")
    assert "input_filter" in read_out(tmp_path / "o3/a.csv.out")[0]["error"]


def test_text_plain_split_none_and_assemble_none(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in/doc.txt").write_text("line one\nline two\n")
    run(tmp_path, FakeEngine(), content_type="text/plain", split_type="None")
    assert read_out(tmp_path / "out/doc.txt.out") == [{"generated_texts": ["out:line one\nline two\n:0"]}]
    run(tmp_path, FakeEngine(), state="s2", content_type="text/plain", assemble_with="None")
    assert (tmp_path / "out/doc.txt.out").read_text() == (
        '{"generated_texts": ["out:line one:0"]}{"generated_texts": ["out:line two:0"]}'
    )


def test_record_mode_failures_keep_every_line(tmp_path):
    write_jsonl(
        tmp_path / "in/a.jsonl",
        [{"id": 0, "text_inputs": "ok"}, "{not json", {"id": 2, "text": "no text_inputs"},
         {"id": 3, "text_inputs": "explode"}, {"id": 4, "text_inputs": "fine"}],
    )
    engine = FakeEngine(fail_on=("explode",))
    progress = run(tmp_path, engine, on_error="error_line")
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert len(out) == 5
    assert out[0] == {"id": 0, "generated_texts": ["out:ok:0"]}
    assert out[1] == {"error": out[1]["error"]} and out[1]["error"].startswith("line 2: invalid JSON")
    assert out[2]["id"] == 2 and "text_inputs" in out[2]["error"]
    assert out[3]["id"] == 3 and "generation failed" in out[3]["error"]
    assert out[4] == {"id": 4, "generated_texts": ["out:fine:0"]}  # batch retried record by record
    assert progress.failed == 3 and progress.processed == 5


def test_file_mode_failure_skips_only_that_file(tmp_path):
    write_jsonl(tmp_path / "in/bad.jsonl", [{"id": 0, "text_inputs": "ok"}, {"id": 1, "text_inputs": "explode"}])
    write_jsonl(tmp_path / "in/good.jsonl", [{"id": 0, "text_inputs": "fine"}])
    progress = run(tmp_path, FakeEngine(fail_on=("explode",)), environment={"HYPER_PARAMS": "{'batch_size': 1}"})
    assert not (tmp_path / "out/bad.jsonl.out").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.jsonl.out"]
    assert read_out(tmp_path / "out/good.jsonl.out") == [{"id": 0, "generated_texts": ["out:fine:0"]}]
    assert len(progress.failed_files) == 1 and "bad.jsonl:2:" in progress.failed_files[0]


def test_stop_then_resume_continues_from_last_complete_line(tmp_path):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"p{i}"} for i in range(10)])
    write_jsonl(tmp_path / "in/b.jsonl", [{"id": i, "text_inputs": f"q{i}"} for i in range(2)])
    hp = {"HYPER_PARAMS": "{'batch_size': 2}"}
    config = TransformConfig(model="fake", input=str(tmp_path / "in"), output=str(tmp_path / "out"), environment=hp)
    first = FakeEngine()
    with pytest.raises(JobStopped):
        TransformRunner(config, first, tmp_path / "state", should_stop=lambda: len(first.prompts_seen) >= 6).run()
    part = tmp_path / "state/parts/f00000-s00000.part"
    assert not (tmp_path / "out/a.jsonl.out").exists()
    assert len(part.read_text().splitlines()) == 6
    # a torn last line (the process died mid-write) is dropped on resume
    with open(part, "a") as f:
        f.write('{"id": 6, "generated_te')
    second = FakeEngine()
    progress = TransformRunner(config, second, tmp_path / "state").run()
    assert second.prompts_seen == ["p6", "p7", "p8", "p9", "q0", "q1"]
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert [r["id"] for r in out] == list(range(10))
    assert not part.exists()
    assert progress.processed == 12 and progress.new_records == 6
    # started again once complete: both files skipped
    third = FakeEngine()
    assert TransformRunner(config, third, tmp_path / "state").run().processed == 12
    assert third.calls == []
    # an .out deleted since is written again
    (tmp_path / "out/b.jsonl.out").unlink()
    fourth = FakeEngine()
    TransformRunner(config, fourth, tmp_path / "state").run()
    assert (tmp_path / "out/b.jsonl.out").read_text().count("\n") == 2


def test_stop_signal_during_generation_is_a_stop_not_a_failed_record(tmp_path):
    """The worker turns SIGTERM into JobStopped wherever it lands, often inside generation."""
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"p{i}"} for i in range(4)])
    engine = FakeEngine()
    real = engine.generate

    def generate(prompts, params, chat=False, batch_size=None):
        if "p2" in prompts:
            raise JobStopped("job terminated")
        return real(prompts, params, chat, batch_size)

    engine.generate = generate
    with pytest.raises(JobStopped):
        run(tmp_path, engine, environment={"HYPER_PARAMS": "{'batch_size': 2}"})
    lines = read_out(tmp_path / "state/parts/f00000-s00000.part")
    assert [r["id"] for r in lines] == [0, 1] and not any("error" in r for r in lines)


def test_a_job_that_produced_nothing_or_only_errors_is_not_completed(tmp_path):
    from springboard.errors import SpringboardError
    from springboard.transform.job import check_outcome

    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"p{i}"} for i in range(3)])
    progress = run(tmp_path, FakeEngine(reply=lambda prompt, k: ""))
    assert progress.empty == 3
    with pytest.raises(SpringboardError, match="no record produced any text"):
        check_outcome(progress)
    progress = run(tmp_path, FakeEngine(fail_on=("p0", "p1", "p2")), state="s2", on_error="error_line",
                   output=str(tmp_path / "o2"))
    assert len(read_out(tmp_path / "o2/a.jsonl.out")) == 3  # the opted-in error lines are written
    with pytest.raises(SpringboardError, match="every record failed"):
        check_outcome(progress)
    # one good record is enough
    progress = run(tmp_path, FakeEngine(fail_on=("p0", "p1")), state="s3", on_error="error_line",
                   output=str(tmp_path / "o3"))
    check_outcome(progress)


def test_default_failure_voids_the_whole_file_even_when_split_in_shards(tmp_path):
    """on_error="fail" with a file split in shards: no part of the file is published, and the
    next attempt redoes the file from its start."""
    from springboard.transform.plan import plan_shards
    from springboard.transform.inputs import input_files

    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"p{i}"} for i in range(12)])
    config = TransformConfig(model="fake", input=str(tmp_path / "in"), output=str(tmp_path / "out"),
                             environment={"HYPER_PARAMS": "{'batch_size': 2}"}, instance_count=3)
    shards = plan_shards(input_files(config.input), config, 2, 3)
    assert [(s.start, s.end, s.chunks) for s in shards] == [(0, 2, [2]), (2, 4, [2]), (4, 6, [2]), (6, 8, [2]),
                                                            (8, 10, [2]), (10, 12, [2])]
    # in this process (the runner's N-worker path is tested in test_scale_out.py): run the shards one
    # by one with the fake engine failing in the last one
    config1 = config.model_copy(update={"instance_count": 1})
    runner = TransformRunner(config1, FakeEngine(fail_on=("p11",)), tmp_path / "state")
    progress = runner.run()
    assert not (tmp_path / "out/a.jsonl.out").exists()
    assert progress.failed_files and "a.jsonl:12:" in progress.failed_files[0]
    engine = FakeEngine()
    assert TransformRunner(config1, engine, tmp_path / "state").run().failed_files == []
    assert engine.prompts_seen == [f"p{i}" for i in range(12)]
    assert len(read_out(tmp_path / "out/a.jsonl.out")) == 12


def test_batches_in_flight_share_the_engines_continuous_batch(tmp_path, tiny_causal_dir):
    """On a causal model a worker keeps MaxConcurrentTransforms batches in flight, and their
    records run together on the engine's continuous-batching scheduler (as an endpoint's requests
    do); outputs are in input order and equal each record generated alone (greedy). With 1, one
    batch at a time."""
    from springboard.generate import Engine, GenerationParams

    prompts = [f"record {i} " + "and more words " * (i % 4) for i in range(15)]
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": p} for i, p in enumerate(prompts)])
    reference = Engine.load(str(tiny_causal_dir))
    expected = [r.texts for r in reference.generate(prompts, GenerationParams(max_new_tokens=24), batch_size=1)]
    assert reference.scheduler is None
    for concurrency in (4, 1):
        engine = Engine.load(str(tiny_causal_dir))
        try:
            progress = run(tmp_path, engine, state=f"state{concurrency}", output=str(tmp_path / f"out{concurrency}"),
                           chat=False, max_concurrent_transforms=concurrency,
                           environment={"HYPER_PARAMS": "{'batch_size': 3, 'max_new_tokens': 24}"})
            stats = engine.scheduler.stats
        finally:
            engine.close()
        out = read_out(tmp_path / f"out{concurrency}/a.jsonl.out")
        assert [r["id"] for r in out] == list(range(15)) and progress.failed == 0
        assert [r["generated_texts"] for r in out] == expected
        assert stats.rows == 15
        if concurrency == 4:
            assert stats.max_running > 3  # records of several batches in one running batch
        else:
            assert stats.max_running <= 3


def test_seeded_sampling_on_the_scheduler_does_not_depend_on_neighbours(tmp_path, tiny_causal_dir):
    """A seeded sampling record gets the same text whatever batch it is in and however many
    batches are in flight: each record is its own request with its own generator, as it would be
    sent to an endpoint."""
    from springboard.generate import Engine

    hp = "{'batch_size': 4, 'max_new_tokens': 12, 'do_sample': True, 'top_k': 50, 'seed': 7}"
    write_jsonl(tmp_path / "many/a.jsonl", [{"id": i, "text_inputs": f"prompt number {i}"} for i in range(8)])
    write_jsonl(tmp_path / "one/a.jsonl", [{"id": 5, "text_inputs": "prompt number 5"}])
    texts = {}
    for name, concurrency in (("many", 4), ("one", 1)):
        engine = Engine.load(str(tiny_causal_dir))
        try:
            run(tmp_path, engine, state=f"state-{name}", input=str(tmp_path / name), output=str(tmp_path / f"out-{name}"),
                chat=False, max_concurrent_transforms=concurrency, environment={"HYPER_PARAMS": hp})
        finally:
            engine.close()
        texts[name] = {r["id"]: r["generated_texts"][0] for r in read_out(tmp_path / f"out-{name}/a.jsonl.out")}
    assert texts["many"][5] == texts["one"][5]
    assert len(set(texts["many"].values())) > 1


def test_a_record_the_scheduler_refuses_fails_alone(tmp_path, tiny_causal_dir):
    """A record the engine refuses when it is scheduled (a prompt over the model's context) gets
    its error line; its batch's other records are generated."""
    from springboard.generate import Engine

    engine = Engine.load(str(tiny_causal_dir))
    too_long = "word " * (engine.context_length + 10)
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": 0, "text_inputs": "short one"}, {"id": 1, "text_inputs": too_long},
                                          {"id": 2, "text_inputs": "short two"}])
    try:
        progress = run(tmp_path, engine, chat=False, on_error="error_line",
                       environment={"HYPER_PARAMS": "{'batch_size': 3, 'max_new_tokens': 4}"})
    finally:
        engine.close()
    out = read_out(tmp_path / "out/a.jsonl.out")
    assert [r["id"] for r in out] == [0, 1, 2] and progress.failed == 1
    assert "generated_texts" in out[0] and "generated_texts" in out[2]
    assert out[1]["error"].startswith("line 2:") and "this model reads at most" in out[1]["error"]


def test_a_failed_scheduler_step_retries_its_records(tmp_path, tiny_causal_dir, monkeypatch):
    """A decode step that fails ends every row in it; the transform tries each of those records
    again on its own, so the job's output is the same as without the failure."""
    from springboard.generate import Engine
    from springboard.generate.scheduler import Scheduler

    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"item {i} of the list"} for i in range(9)])
    hp = {"HYPER_PARAMS": "{'batch_size': 3, 'max_new_tokens': 8}"}
    engine = Engine.load(str(tiny_causal_dir))
    try:
        run(tmp_path, engine, state="clean", output=str(tmp_path / "clean"), chat=False, environment=hp)
    finally:
        engine.close()
    real, calls = Scheduler._decode, []

    def flaky(self):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("a step failed")
        return real(self)

    monkeypatch.setattr(Scheduler, "_decode", flaky)
    engine = Engine.load(str(tiny_causal_dir))
    try:
        progress = run(tmp_path, engine, state="flaky", output=str(tmp_path / "flaky"), chat=False, environment=hp)
    finally:
        engine.close()
    assert len(calls) > 3 and progress.failed == 0
    assert read_out(tmp_path / "flaky/a.jsonl.out") == read_out(tmp_path / "clean/a.jsonl.out")


def test_progress_moves_a_record_at_a_time_while_batches_are_in_flight(tmp_path, tiny_causal_dir, monkeypatch):
    """Batches in flight on the scheduler are written in input order, a whole batch at a time, and
    finish together; the shard's state also counts records whose generation ended, so progress
    moves a record at a time (a 40-record transform used to show nothing for 32 of 39 s, then jump)."""
    from springboard.generate import Engine
    from springboard.transform.shard import ShardState

    saved: list[tuple[int, int]] = []
    original = ShardState.save

    def save(self, path):
        saved.append((self.records, self.generated))
        original(self, path)

    monkeypatch.setattr(ShardState, "save", save)
    # one batch of 8 records whose answers end at very different lengths
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"count {i}", "max_new_tokens": 4 + 40 * i}
                                          for i in range(8)])
    engine = Engine.load(str(tiny_causal_dir))
    progress = run(tmp_path, engine, chat=False, environment={"HYPER_PARAMS": "{'batch_size': 8}"})
    assert progress.processed == 8 and len(read_out(tmp_path / "out/a.jsonl.out")) == 8
    between = [generated for records, generated in saved if records == 0 and 0 < generated < 8]
    assert between, saved  # records counted as they finished, before the batch was written
    assert between == sorted(between)
