"""Tokenized examples: labels, masks, truncation, chat, packing, splits, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from springboard.data import IGNORE_INDEX, DataOptions, Example, pack_examples, prepare_data
from springboard.data.instruction import fit_causal
from springboard.errors import DataError, HyperparameterError


@pytest.fixture(scope="module")
def causal_tok(tiny_causal_dir):
    return AutoTokenizer.from_pretrained(tiny_causal_dir)


@pytest.fixture(scope="module")
def t5_tok(tiny_t5_dir):
    return AutoTokenizer.from_pretrained(tiny_t5_dir)


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def labelled(ex: Example) -> list[int]:
    return [t for t in ex.labels if t != IGNORE_INDEX]


def causal(**kw) -> DataOptions:
    return DataOptions("causal", **{"validation_split_ratio": 0.0, **kw})


PAIRS = [{"prompt": f"Question {i}: what is {i} plus one?\n", "completion": f"It is {i + 1}."} for i in range(10)]
DOLLY_TEMPLATE = {
    "prompt": "Below is an instruction.\n\n### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n",
    "prompt_no_context": "Below is an instruction.\n\n### Instruction:\n{instruction}\n\n### Response:\n",
    "completion": "{response}",
}


# --- causal instruction ---------------------------------------------------------------------

def test_causal_prompt_masked_completion_and_eos_labelled_although_pad_is_eos(tmp_path, causal_tok):
    assert causal_tok.pad_token_id == causal_tok.eos_token_id  # the bug this guards against
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", PAIRS), causal_tok, causal())
    eos = causal_tok.eos_token_id
    for ex, rec in zip(data.train, PAIRS):
        prompt = causal_tok(rec["prompt"], add_special_tokens=False)["input_ids"]
        completion = causal_tok(rec["completion"], add_special_tokens=False)["input_ids"]
        assert ex.input_ids == prompt + completion + [eos]
        assert ex.labels == [IGNORE_INDEX] * len(prompt) + completion + [eos]
        assert ex.labels[-1] == eos
    assert data.stats.train.label_tokens == sum(len(labelled(e)) for e in data.train)


def test_train_on_inputs_labels_prompt_too(tmp_path, causal_tok):
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", PAIRS), causal_tok, causal(train_on_inputs=True))
    assert all(ex.labels == ex.input_ids for ex in data.train)


def test_bos_added_once_when_the_tokenizer_adds_one(tmp_path, tiny_causal_dir):
    from tokenizers import processors

    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    bos = tok.bos_token_id
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", bos)])
    assert tok("hi")["input_ids"][0] == bos
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS[:2])
    ex = prepare_data(f, tok, causal()).train[0]
    assert ex.input_ids[0] == bos and ex.input_ids[1] != bos and ex.labels[0] == IGNORE_INDEX
    # The ChatML template writes <|im_start|> itself: still exactly one in front.
    ex = prepare_data(f, tok, causal(use_chat_template=True)).train[0]
    assert ex.input_ids[:2] != [bos, bos] and ex.input_ids[0] == bos


def test_use_chat_template_wraps_pair_in_turns(tmp_path, causal_tok):
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", PAIRS[:1]), causal_tok, causal(use_chat_template=True))
    ex = data.train[0]
    assert causal_tok.decode(ex.input_ids) == (
        "<|im_start|>user\nQuestion 0: what is 0 plus one?\n<|im_end|>\n<|im_start|>assistant\nIt is 1.<|im_end|>")
    assert causal_tok.decode(labelled(ex)) == "It is 1.<|im_end|>"
    assert ex.labels[-1] == causal_tok.eos_token_id


def test_chat_template_required(tmp_path, tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))
    import tinymodels

    tok = AutoTokenizer.from_pretrained(tinymodels.build_causal(tmp_path_factory.mktemp("nochat"), chat_template=False))
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS[:2])
    with pytest.raises(DataError, match="the model has no chat template"):
        prepare_data(f, tok, causal(use_chat_template=True))
    chat = write_jsonl(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "a"},
                                                             {"role": "assistant", "content": "b"}]}])
    with pytest.raises(DataError, match=r"c\.jsonl: the model has no chat template"):
        prepare_data(chat, tok, causal(chat_dataset=True))


# --- truncation -----------------------------------------------------------------------------

def test_fit_causal_rules():
    prompt, completion = [1] + list(range(100, 120)), list(range(200, 205)) + [2]  # bos=1, eos=2
    p, c, cut = fit_causal(prompt, completion, 100, bos_id=1)
    assert (p, c, cut) == (prompt, completion, False)
    # Prompt cut from the left, BOS kept, completion whole.
    p, c, cut = fit_causal(prompt, completion, 16, bos_id=1)
    assert cut and c == completion and p == [1] + list(range(111, 120)) and len(p + c) == 16
    # A completion that does not fit beside half the budget of prompt: cut, and no eos after it.
    long_completion = list(range(300, 330)) + [2]
    p, c, cut = fit_causal(prompt, long_completion, 16, bos_id=1)
    assert cut and p == [1] + list(range(113, 120)) and c == list(range(300, 308)) and 2 not in c


def test_truncation_is_counted_and_keeps_the_completion(tmp_path, causal_tok):
    rows = [{"prompt": "word " * 60, "completion": "short answer"}, {"prompt": "hi", "completion": "ok"}]
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", rows), causal_tok, causal(max_input_length=32))
    long_ex, short_ex = data.train
    assert len(long_ex.input_ids) == 32 and data.stats.train.truncated == 1
    assert causal_tok.decode(labelled(long_ex)) == "short answer<|im_end|>"
    assert causal_tok.decode(long_ex.input_ids).endswith("word word short answer<|im_end|>")  # left cut


def test_seq2seq_encoder_prompt_decoder_completion(tmp_path, t5_tok):
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", PAIRS), t5_tok,
                        DataOptions("seq2seq", validation_split_ratio=0.0))
    for ex, rec in zip(data.train, PAIRS):
        assert ex.input_ids == t5_tok(rec["prompt"])["input_ids"]  # T5 appends </s>
        assert ex.labels == t5_tok(rec["completion"])["input_ids"]
        assert ex.labels[-1] == t5_tok.eos_token_id and IGNORE_INDEX not in ex.labels


def test_seq2seq_truncation(tmp_path, t5_tok):
    rows = [{"prompt": "word " * 40, "completion": "answer " * 20}]
    data = prepare_data(write_jsonl(tmp_path / "d.jsonl", rows), t5_tok,
                        DataOptions("seq2seq", validation_split_ratio=0.0, max_input_length=8, max_output_length=5))
    [ex] = data.train
    eos = t5_tok.eos_token_id
    assert len(ex.input_ids) == 8 and ex.input_ids[-1] == eos  # encoder keeps its </s>
    assert len(ex.labels) == 5 and eos not in ex.labels  # a cut target gets no eos
    assert data.stats.train.truncated == 1


# --- Dolly ------------------------------------------------------------------------------------

def test_dolly_with_and_without_context(tmp_path, causal_tok):
    rows = [{"instruction": "Add", "context": "1 and 2", "response": "3", "category": "qa"},
            {"instruction": "Greet", "context": "", "response": "Hello"}]
    write_jsonl(tmp_path / "train" / "data.jsonl", rows)
    (tmp_path / "train" / "template.json").write_text(json.dumps(DOLLY_TEMPLATE))
    with_ctx, no_ctx = prepare_data(tmp_path / "train", causal_tok, causal()).train
    text = causal_tok.decode(with_ctx.input_ids)
    assert "### Input:\n1 and 2\n\n### Response:\n3<|im_end|>" in text
    text = causal_tok.decode(no_ctx.input_ids)
    assert "### Input" not in text and text.endswith("### Instruction:\nGreet\n\n### Response:\nHello<|im_end|>")
    assert causal_tok.decode(labelled(no_ctx)) == "Hello<|im_end|>"


# --- chat ---------------------------------------------------------------------------------------

def test_chat_loss_only_on_assistant_content_and_end_token(tmp_path, causal_tok):
    conv = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."}]
    data = prepare_data(write_jsonl(tmp_path / "c.jsonl", [{"messages": conv}]), causal_tok, causal(chat_dataset=True))
    [ex] = data.train
    assert causal_tok.decode(ex.input_ids) == causal_tok.apply_chat_template(conv, tokenize=False)
    # Labelled runs, decoded one by one, are exactly each assistant content + <|im_end|>.
    runs, run = [], []
    for t in ex.labels:
        if t == IGNORE_INDEX:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(t)
    runs += [run] if run else []
    assert [causal_tok.decode(r) for r in runs] == ["Hello! How can I help?<|im_end|>", "Goodbye.<|im_end|>"]


def test_chat_dialog_key_and_truncation_drop(tmp_path, causal_tok):
    long_user = {"role": "user", "content": "word " * 80}
    rows = [{"dialog": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]},
            {"dialog": [long_user, {"role": "assistant", "content": "ok"}]}]
    data = prepare_data(write_jsonl(tmp_path / "c.jsonl", rows), causal_tok, causal(chat_dataset=True, max_input_length=40))
    assert len(data.train) == 1 and data.stats.train.truncated == 1 and data.stats.train.dropped == 1


# --- domain adaptation and packing ------------------------------------------------------------

DOCS = [f"Document number {i} talks about topic {i * 7} at some length." * (i % 3 + 1) for i in range(12)]


def test_packing_loses_and_duplicates_nothing(tmp_path, causal_tok):
    f = tmp_path / "ch" / "d.jsonl"
    write_jsonl(f, [{"text": d} for d in DOCS])
    data = prepare_data(f.parent, causal_tok, causal(instruction_tuned=False, max_input_length=16))
    eos = causal_tok.eos_token_id
    expected = [t for d in DOCS for t in causal_tok(d, add_special_tokens=False)["input_ids"] + [eos]]
    assert [t for b in data.train for t in b.input_ids] == expected
    assert all(len(b.input_ids) == 16 for b in data.train[:-1]) and 0 < len(data.train[-1].input_ids) <= 16
    assert all(b.labels == b.input_ids for b in data.train)
    assert data.stats.train.tokens == len(expected) == data.stats.train.label_tokens


def test_domain_adaptation_without_packing_keeps_documents_apart(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in DOCS])
    data = prepare_data(f, causal_tok, causal(instruction_tuned=False, max_input_length=16, packing=False))
    eos = causal_tok.eos_token_id
    expected = [t for d in DOCS for t in causal_tok(d, add_special_tokens=False)["input_ids"] + [eos]]
    assert [t for b in data.train for t in b.input_ids] == expected
    assert sum(b.input_ids[-1] == eos for b in data.train) == len(DOCS)  # each doc ends a block
    assert all(b.input_ids.count(eos) <= 1 for b in data.train)


def test_domain_adaptation_splits_documents_or_blocks_of_one_txt(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": d} for d in DOCS])
    data = prepare_data(f, causal_tok, DataOptions("causal", instruction_tuned=False, validation_split_ratio=0.25))
    assert (data.stats.train.records, data.stats.validation.records) == (9, 3)
    txt = tmp_path / "book.txt"
    txt.write_text(" ".join(DOCS))
    data = prepare_data(txt, causal_tok, DataOptions("causal", instruction_tuned=False, max_input_length=16,
                                                     validation_split_ratio=0.25))
    total = len(data.train) + len(data.validation)
    assert len(data.validation) == round(total * 0.25) and data.validation


def test_domain_adaptation_is_causal_only():
    with pytest.raises(HyperparameterError, match="causal models only"):
        DataOptions("seq2seq", instruction_tuned=False)


def test_instruction_packing_never_splits_examples():
    sizes = (9, 3, 5, 7, 2, 4, 1, 10)
    # Token k*100+j belongs to example k; the first token of each is masked, as a prompt would be.
    examples = [Example([k * 100 + j for j in range(n)], [IGNORE_INDEX] + [k * 100 + j for j in range(1, n)])
                for k, n in enumerate(sizes)]
    packed = pack_examples(examples, 10)
    assert len(packed) == 5  # 41 tokens in blocks of 10: best-fit decreasing reaches the bound
    seen = []
    for block in packed:
        assert len(block.input_ids) <= 10
        owners = [t // 100 for t in block.input_ids]
        runs = [k for i, k in enumerate(owners) if i == 0 or owners[i - 1] != k]
        assert len(runs) == len(set(runs))  # each example is one contiguous run
        for k in runs:
            assert [t for t in block.input_ids if t // 100 == k] == examples[k].input_ids  # whole
            i = owners.index(k)
            assert block.labels[i : i + sizes[k]] == examples[k].labels  # with its own labels
        seen += runs
    assert sorted(seen) == list(range(len(sizes)))  # once each


def test_instruction_packing_in_prepare(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS)
    plain = prepare_data(f, causal_tok, causal())
    packed = prepare_data(f, causal_tok, causal(packing=True, max_input_length=64))
    assert len(packed.train) < len(plain.train)
    assert packed.stats.train.label_tokens == plain.stats.train.label_tokens
    assert packed.stats.train.tokens == plain.stats.train.tokens


# --- validation, caps, fingerprint -------------------------------------------------------------

def test_validation_channel_takes_precedence(tmp_path, causal_tok):
    train = write_jsonl(tmp_path / "train" / "d.jsonl", PAIRS)
    val = write_jsonl(tmp_path / "validation" / "d.jsonl", PAIRS[:3])
    data = prepare_data(train.parent, causal_tok, DataOptions("causal", validation_split_ratio=0.5),
                        validation=val.parent)
    assert len(data.train) == 10 and len(data.validation) == 3
    assert data.stats.validation_source == "channel" and data.stats.records_read == 13


def test_split_by_ratio_and_seed(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS)
    a = prepare_data(f, causal_tok, DataOptions("causal", validation_split_ratio=0.3, split_seed=1))
    b = prepare_data(f, causal_tok, DataOptions("causal", validation_split_ratio=0.3, split_seed=1))
    c = prepare_data(f, causal_tok, DataOptions("causal", validation_split_ratio=0.3, split_seed=2))
    assert (len(a.train), len(a.validation)) == (7, 3) and a.validation == b.validation
    assert c.validation != a.validation and a.stats.validation_source == "split"


def test_sample_caps(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS * 20)
    data = prepare_data(f, causal_tok, DataOptions("causal", max_train_samples=5, max_val_samples=2))
    assert (len(data.train), len(data.validation)) == (5, 2)
    assert data.stats.train.records == 160 and data.stats.train.examples == 5


def test_fingerprint_follows_bytes_and_options(tmp_path, causal_tok):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS)
    first = prepare_data(f, causal_tok, causal()).fingerprint
    assert prepare_data(f, causal_tok, causal(preprocessing_num_workers=2)).fingerprint == first
    assert prepare_data(f, causal_tok, causal(max_input_length=512)).fingerprint != first
    write_jsonl(f, PAIRS[:-1])
    assert prepare_data(f, causal_tok, causal()).fingerprint != first


def test_options_are_checked():
    with pytest.raises(HyperparameterError, match="chat_dataset applies to causal models only"):
        DataOptions("seq2seq", chat_dataset=True)
    with pytest.raises(HyperparameterError, match="max_train_samples"):
        DataOptions("causal", max_train_samples=0)


def test_stats_are_logged_at_info(tmp_path, causal_tok, caplog):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS)
    with caplog.at_level("INFO", logger="springboard.data"):
        prepare_data(f, causal_tok, DataOptions("causal"))
    lines = [r.getMessage() for r in caplog.records if r.name == "springboard.data"]
    assert any(m.startswith("train data (instruction/causal): 8 records -> 8 examples") for m in lines)
    assert any(m.startswith("validation data (instruction/causal): 2 records -> 2 examples") for m in lines)
