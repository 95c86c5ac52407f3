"""The quickstart's held-out set shares nothing with its training set."""

from __future__ import annotations

import json

from springboard.quickstart import write_dataset
from springboard.quickstart.dataset import DocExample, build, deduplicate


def test_no_held_out_body_or_summary_appears_in_training(tmp_path):
    train_dir, test_file, records = write_dataset(tmp_path, 360, 120)
    train = [json.loads(line) for line in (train_dir / "data.jsonl").read_text().split("\n") if line]
    assert len(records) == 120 and len(train) == min(360, len(build()) - 120)
    train_bodies = {r["documentation"].casefold() for r in train}
    train_summaries = {r["summary"].casefold() for r in train}
    assert [r["id"] for r in records if r["documentation"].casefold() in train_bodies] == []
    assert [r["id"] for r in records if r["summary"].casefold() in train_summaries] == []
    # Nor inside the held-out set or the training set.
    examples = build()
    assert len({e.documentation.casefold() for e in examples}) == len(examples)
    assert len({e.summary.casefold() for e in examples}) == len(examples)


def test_deduplicate_drops_repeated_bodies_and_summaries():
    a = DocExample("a", "Body one.", "Sum one.")
    examples = [a, DocExample("b", "body ONE.", "Other."), DocExample("c", "Body two.", "sum one."),
                DocExample("d", "Body three.", "Sum three.")]
    assert [e.id for e in deduplicate(examples)] == ["a", "d"]
