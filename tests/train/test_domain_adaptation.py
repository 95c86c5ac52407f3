import json
import pytest
from pathlib import Path

from springboard import jobs
from springboard.errors import DataError
from springboard.jobs import submit
from springboard.train.job import TrainingJobConfig


def test_domain_adaptation_lowers_perplexity(tiny_causal_dir, tmp_path):
    """instruction_tuned=False (the causal default): one TXT file, packed blocks, loss on every
    token; validation perplexity is logged before training (step 0) and falls."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.txt").write_text("The river flows to the sea and the sea returns rain. " * 300)
    job = submit(
        TrainingJobConfig(
            model=str(tiny_causal_dir),
            train=str(corpus),
            hyperparameters={"epoch": "2", "learning_rate": "0.003", "max_input_length": "64", "peft_type": "none"},
        ),
        name="domain",
        wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    ppl = jobs.JobStore().metrics("domain", "perplexity")
    assert ppl[0].step == 0
    assert ppl[-1].value < ppl[0].value / 2
    stats = job.config["data_stats"]
    assert stats["format"] == "domain-adaptation"
    assert stats["train"]["label_tokens"] > 0
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    assert record["hyperparameters"]["instruction_tuned"] is False


def test_domain_adaptation_channel_rule(tiny_causal_dir, tmp_path):
    corpus = tmp_path / "two"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one")
    (corpus / "b.csv").write_text("text\ntwo\n")
    # Refused before any job starts.
    with pytest.raises(DataError) as err:
        submit(
            TrainingJobConfig(model=str(tiny_causal_dir), train=str(corpus), hyperparameters={}), name="two-files"
        )
    assert "a.txt" in str(err.value) and "b.csv" in str(err.value)
    assert not jobs.JobStore().exists("two-files")


def test_chat_dataset_trains(tiny_causal_dir, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"hello {i}"}]}
        for i in range(20)
    ]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(data), hyperparameters={"chat_dataset": "True", "epoch": "1"}),
        name="chat",
        wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    assert job.config["data_stats"]["format"] == "chat"
