from springboard.crawl.dedup import ExactDedup, MinhashDedup, jaccard, normalize
from springboard.crawl.synth import pydoc_paragraphs


def _texts():
    return [" ".join(p) for _, p in pydoc_paragraphs()[:6]]


def test_exact_dedup_on_normalized_text_keeps_first():
    a, b = _texts()[:2]
    rows = [{"text": a, "id": 0}, {"text": b, "id": 1},
            {"text": "  " + a.upper().replace(".", " . ") + "\n", "id": 2}, {"text": b, "id": 3}]
    step = ExactDedup()
    assert [r["id"] for r in step.run(rows)] == [0, 1]
    assert step.stats == {"kept": 2, "dropped.duplicate": 2}
    assert normalize("Hello,   World!") == "hello world"


def test_minhash_catches_near_duplicates_not_different_texts():
    texts = _texts()
    base = texts[0]
    words = base.split()
    near = " ".join(words[:-3] + ["and", "some", "change"])  # a light edit
    step = MinhashDedup()
    assert (step.num_buckets, step.hashes_per_bucket, step.ngram) == (14, 8, 5)
    assert jaccard(step.shingles(base), step.shingles(near)) > 0.8
    rows = [{"text": t, "id": i} for i, t in enumerate(texts)] + [{"text": near, "id": 99}]
    kept = [r["id"] for r in step.run(rows)]
    assert kept == list(range(len(texts)))
    assert step.stats["dropped.duplicate"] == 1


def test_minhash_signature_is_deterministic_across_pickling():
    import pickle

    step = MinhashDedup()
    clone = pickle.loads(pickle.dumps(step))
    text = _texts()[1]
    assert step.keys(text) == clone.keys(text)
    assert len(step.keys(text)) == 14
    assert step.keys("") == []
