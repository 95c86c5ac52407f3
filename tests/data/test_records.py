"""Record level: readers, channel rules, templates, errors, splits (no tokenizer)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from springboard.data import (
    load_chat_records,
    load_documents,
    load_instruction_records,
    load_template,
    read_table,
    render,
    split_records,
)
from springboard.errors import DataError, HyperparameterError


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(10)]


# --- instruction records and their errors ---------------------------------------------------

def test_jsonl_records_keep_source_line_and_id(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"prompt": "p1", "completion": "c1", "id": 7}\n\n{"prompt": "p2", "completion": "c2"}\n')
    recs = load_instruction_records(f)
    assert [(r.prompt, r.completion, r.line, r.id) for r in recs] == [("p1", "c1", 1, "7"), ("p2", "c2", 3, None)]
    assert recs[0].source == str(f)


def test_bad_json_names_file_and_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", \n')
    with pytest.raises(DataError) as e:
        load_instruction_records(f)
    assert f"{f}:2:" in str(e.value) and "bad JSON" in str(e.value)


def test_line_separators_inside_json_strings_load(tmp_path):
    """U+2028, U+2029 and U+0085 are valid inside a JSON string (json.dumps with
    ensure_ascii=False writes them raw); only \\n ends a JSON line."""
    f = tmp_path / "d.jsonl"
    rows = [{"prompt": "a\u2028b", "completion": "c\u0085d"}, {"prompt": "e\u2029f\x1cg", "completion": "h"}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows), encoding="utf-8")
    recs = load_instruction_records(f)
    assert [(r.prompt, r.completion, r.line) for r in recs] == [("a\u2028b", "c\u0085d", 1), ("e\u2029f\x1cg", "h", 2)]


def test_non_utf8_byte_names_its_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes(b'{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": "b"}\n{"prompt": "caf\xe9", "completion": "b"}\n')
    with pytest.raises(DataError) as e:
        load_instruction_records(f)
    assert f"{f}:3: not UTF-8 text" in str(e.value) and "0xe9 at column 16" in str(e.value)


def test_non_object_line_is_an_error(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"prompt": "a", "completion": "b"}\n["a", "b"]\n')
    with pytest.raises(DataError, match=r"d\.jsonl:2: expected a JSON object, got list"):
        load_instruction_records(f)


def test_missing_prompt_key_without_template(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}, {"question": "a", "completion": "b"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: field 'prompt': missing"):
        load_instruction_records(f)


def test_empty_completion_names_file_line_and_key(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "a", "completion": "  "}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: field 'completion': empty completion"):
        load_instruction_records(f)


def test_empty_completion_through_template_names_the_template_field(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"q": "x", "answer": ""}])
    with pytest.raises(DataError, match=r"d\.jsonl:1: field 'answer': empty completion"):
        load_instruction_records(f, {"prompt": "{q}", "completion": " {answer}"})


def test_missing_placeholder_key_names_file_line_and_key(tmp_path):
    f = write_jsonl(tmp_path / "train" / "data.jsonl", [{"question": "q", "answer": "a"}, {"question": "q"}])
    (tmp_path / "train" / "template.json").write_text(json.dumps({"prompt": "Q: {question}", "completion": "{answer}"}))
    with pytest.raises(DataError) as e:
        load_instruction_records(tmp_path / "train")
    assert f"{f}:2: field 'answer':" in str(e.value)
    assert e.value.file == str(f) and e.value.line == 2 and e.value.field == "answer"


def test_directory_channel_uses_template_beside_data(tmp_path):
    write_jsonl(tmp_path / "train" / "data.jsonl", [{"question": "2+2?", "answer": "4"}])
    (tmp_path / "train" / "template.json").write_text(json.dumps({"prompt": "Q: {question}\nA:", "completion": " {answer}"}))
    [rec] = load_instruction_records(tmp_path / "train")
    assert (rec.prompt, rec.completion) == ("Q: 2+2?\nA:", " 4")


@pytest.mark.parametrize("files", [[], ["a.jsonl", "b.jsonl"]])
def test_directory_must_hold_exactly_one_jsonl(tmp_path, files):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "template.json").write_text('{"prompt": "{a}", "completion": "{b}"}')
    for name in files:
        write_jsonl(channel / name, PAIRS)
    with pytest.raises(DataError) as e:
        load_instruction_records(channel)
    msg = str(e.value)
    assert str(channel) in msg and "exactly one .jsonl" in msg
    assert ("found: a.jsonl, b.jsonl, template.json" in msg) if files else ("found: template.json" in msg)


def test_gzipped_jsonl_is_read(tmp_path):
    f = tmp_path / "train" / "data.jsonl.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(b'{"prompt": "p", "completion": "c"}\n'))
    assert load_instruction_records(tmp_path / "train")[0].completion == "c"


def test_file_uri_goes_through_fsspec(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", PAIRS)
    assert len(load_instruction_records(f"file://{f}")) == 10


# --- templates -------------------------------------------------------------------------------

def test_template_leaves_code_braces_alone():
    text = 'def f(x): return {"k": x, 0: {} } if x else {0} | {1, 2} | {name}'
    assert render(text, {"name": "Ada"}) == 'def f(x): return {"k": x, 0: {} } if x else {0} | {1, 2} | Ada'


def test_template_escapes_as_str_format():
    # A template written for str.format (JumpStart's scripts) renders the same here.
    text = 'JSON: {{"answer": "{a}"}} literal {{a}}'
    assert render(text, {"a": "yes"}) == text.format(a="yes") == 'JSON: {"answer": "yes"} literal {a}'


def test_braces_in_values_are_never_reparsed():
    assert render("Q: {q}", {"q": "print({x})"}) == "Q: print({x})"


def test_template_values_are_stringified():
    assert render("{n} {ok} {none}|", {"n": 3, "ok": True, "none": None}) == "3 True |"


def test_template_file_errors(tmp_path):
    f = tmp_path / "template.json"
    f.write_text('{"prompt": "x"}')
    with pytest.raises(DataError, match=r"template\.json: field 'completion'"):
        load_template(f)
    f.write_text('{"prompt": "x", "completion": "y", "promt_no_context": "z"}')
    with pytest.raises(DataError, match=r"field 'promt_no_context': unknown template key"):
        load_template(f)


def test_dolly_template_variant_for_empty_context():
    t = load_template({
        "prompt": "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n",
        "prompt_no_context": "### Instruction:\n{instruction}\n\n### Response:\n",
        "completion": "{response}",
    })
    with_ctx = t.apply({"instruction": "Sum", "context": "1, 2", "response": "3"})
    assert with_ctx == ("### Instruction:\nSum\n\n### Input:\n1, 2\n\n### Response:\n", "3")
    for context in ("", "  ", None):
        assert t.apply({"instruction": "Hi", "context": context, "response": "Hello"})[0] == (
            "### Instruction:\nHi\n\n### Response:\n")
    # A missing context also takes the variant, which does not need it.
    assert "### Input" not in t.apply({"instruction": "Hi", "response": "Hello"})[0]


def test_template_without_variant_keeps_the_input_section():
    t = load_template({"prompt": "{instruction}|{context}|", "completion": "{response}"})
    assert t.apply({"instruction": "i", "context": "", "response": "r"}) == ("i||", "r")


# --- chat records ----------------------------------------------------------------------------

def test_chat_records_accept_messages_or_dialog(tmp_path):
    turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    f = write_jsonl(tmp_path / "c.jsonl", [{"messages": turn}, {"dialog": turn}])
    convs = load_chat_records(f)
    assert [m.role for m in convs[1].messages] == ["user", "assistant"] and convs[1].line == 2


def test_chat_bad_role_names_line_and_field(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                          {"role": "tool", "content": "x"}]}])
    with pytest.raises(DataError, match=r"c\.jsonl:1: field 'messages\[1\]\.role': role 'tool'"):
        load_chat_records(f)


def test_chat_without_assistant_turn_is_an_error(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    with pytest.raises(DataError, match=r"c\.jsonl:1: field 'messages': no assistant message"):
        load_chat_records(f)


# --- domain adaptation channels --------------------------------------------------------------

def test_csv_uses_text_column_else_first(tmp_path):
    a = tmp_path / "a" / "d.csv"
    a.parent.mkdir()
    a.write_text('id,text\n1,"hello, world"\n2,second\n')
    assert [d.text for d in load_documents(a.parent)] == ["hello, world", "second"]
    b = tmp_path / "b" / "d.csv"
    b.parent.mkdir()
    b.write_text("body,id\nfirst doc,1\n,2\nthird,3\n")
    docs = load_documents(b.parent)
    assert [(d.text, d.line) for d in docs] == [("first doc", 2), ("third", 4)]  # blank skipped


def test_json_array_and_json_lines_text_field_else_first(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps([{"title": "t", "text": "x"}, {"title": "u", "text": "y"}]))
    assert [d.text for d in load_documents(a)] == ["x", "y"]
    b = tmp_path / "b.json"
    b.write_text('{"body": "one", "n": 1}\n{"body": "two", "n": 2}\n')
    assert [d.text for d in load_documents(b)] == ["one", "two"]
    c = tmp_path / "c.jsonl"
    c.write_text('{"content": "only"}\n')
    assert [d.text for d in load_documents(c)] == ["only"]


def test_txt_is_one_document(tmp_path):
    f = tmp_path / "ch" / "book.txt"
    f.parent.mkdir()
    f.write_text("line one\nline two\n")
    [doc] = load_documents(f.parent)
    assert doc.text == "line one\nline two\n"


def test_domain_adaptation_channel_rules(tmp_path):
    ch = tmp_path / "ch"
    ch.mkdir()
    (ch / "a.txt").write_text("x")
    (ch / "b.csv").write_text("text\ny\n")
    with pytest.raises(DataError, match=r"exactly one .csv / .json / .jsonl / .txt file.*found: a.txt, b.csv"):
        load_documents(ch)
    (ch / "b.csv").unlink()
    (ch / "c.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match=r"found: a.txt, c.pdf"):
        load_documents(ch)
    with pytest.raises(DataError, match=r"c\.pdf: domain adaptation file must be one of"):
        load_documents(ch / "c.pdf")
    (ch / "c.pdf").unlink()
    (ch / ".DS_Store").write_bytes(b"\0")  # hidden files never count
    assert load_documents(ch)[0].text == "x"


def test_non_string_text_names_line_and_column(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "ok"}\n{"text": 5}\n')
    with pytest.raises(DataError, match=r"d\.jsonl:2: field 'text': must be a string"):
        load_documents(f)


# --- tables ----------------------------------------------------------------------------------

def test_read_table_formats(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"input": "a, b", "output": "007"}, {"input": "c", "output": "d"}]
    (tmp_path / "t.csv").write_text('input,output\n"a, b",007\nc,d\n')
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "t.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress((tmp_path / "t.csv").read_bytes()))
    for name in ("t.csv", "t.jsonl", "t.json", "t.parquet", "t.csv.gz"):
        assert read_table(tmp_path / name) == rows, name


def test_csv_row_with_extra_values_names_its_line(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('input,output\n"multi\nline",x\nc,d,e\n')
    with pytest.raises(DataError, match=r"t\.csv:4: 1 more values"):
        read_table(f)


# --- split -----------------------------------------------------------------------------------

def test_split_is_deterministic_and_respects_ratio():
    records = list(range(100))
    train, val = split_records(records, 0.2, seed=0)
    assert (train, val) == split_records(records, 0.2, seed=0)
    assert len(val) == 20 and sorted(train + val) == records and not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)  # input order kept
    assert split_records(records, 0.2, seed=1)[1] != val
    assert len(split_records(records, 0.05, 3)[1]) == 5


def test_split_edges():
    assert split_records([1, 2, 3], 0.0, 0) == ([1, 2, 3], [])
    assert split_records([1], 0.5, 0) == ([1], [])
    assert len(split_records([1, 2, 3], 0.01, 0)[1]) == 1  # ratio > 0 gives at least one
    assert len(split_records([1, 2], 0.9, 0)[0]) == 1  # and leaves at least one to train on
    with pytest.raises(HyperparameterError, match="validation_split_ratio"):
        split_records([1, 2], 1.0, 0)


def test_instruction_records_from_a_csv_file_named_directly(tmp_path):
    f = tmp_path / "pairs.csv"
    f.write_text("prompt,completion\nq1,a1\nq2,a2\n")
    assert [(r.prompt, r.completion, r.line) for r in load_instruction_records(f)] == [("q1", "a1", 2), ("q2", "a2", 3)]
