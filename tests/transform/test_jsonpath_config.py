import pytest

from springboard.errors import HyperparameterError, ValidationError
from springboard.transform.config import TransformConfig, hyper_params
from springboard.transform.jsonpath import JSONPath

REC = {"id": 7, "text_inputs": "hi", "meta": {"tags": ["a", "b", "c"]}, "SageMakerOutput": {"x": 1}}


@pytest.mark.parametrize(
    "path, expected",
    [
        ("$", REC),
        ("$.id", 7),
        ("$.meta.tags[1]", "b"),
        ("$.meta.tags[-1]", "c"),
        ("$.meta.tags[0:2]", ["a", "b"]),
        ("$.meta.tags[1:]", ["b", "c"]),
        ("$.meta.tags[0,2]", ["a", "c"]),
        ("$['id','SageMakerOutput']", {"id": 7, "SageMakerOutput": {"x": 1}}),
        ('$["text_inputs"]', "hi"),
        ("$.meta.*", [["a", "b", "c"]]),
        ("$.meta['tags'][*]", ["a", "b", "c"]),
    ],
)
def test_jsonpath_subset(path, expected):
    assert JSONPath(path).select(REC) == expected


def test_field_paths_without_dollar():
    assert JSONPath("meta.tags[0]").select(REC) == "a"
    assert JSONPath("generated_texts[0]").select({"generated_texts": ["x"]}) == "x"


@pytest.mark.parametrize("path", ["$.", "$[", "$..a", "$.a b", "$[foo]"])
def test_jsonpath_invalid(path):
    with pytest.raises(ValidationError, match="invalid JSONPath"):
        JSONPath(path)


def test_jsonpath_missing_raises_keyerror():
    with pytest.raises(KeyError):
        JSONPath("$.nope").select(REC)
    with pytest.raises(KeyError):
        JSONPath("$.meta.tags[9]").select(REC)


def test_hyper_params_parsed_as_literal_as_the_seed_builds_it():
    env = {"HYPER_PARAMS": str({"batch_size": 4, "max_length": 50, "top_k": 50, "top_p": 0.95, "do_sample": True})}
    hp = hyper_params(env)
    assert hp.batch_size == 4
    assert hp.params == {"max_length": 50, "top_k": 50, "top_p": 0.95, "do_sample": True}
    assert hyper_params({}) is None
    # a JSON object with only strings and numbers is a Python literal too
    assert hyper_params({"HYPER_PARAMS": '{"max_new_tokens": 5}'}).params == {"max_new_tokens": 5}


@pytest.mark.parametrize(
    "raw, message",
    [
        ("__import__('os').system('touch /tmp/pwned')", "could not parse"),
        ("[1, 2]", "must be a dict"),
        ("{'batch_size': 0}", "batch_size"),
        ("{'max_lenght': 5}", "unknown key.*max_lenght"),
        ("{'top_p': 5.0}", "top_p"),
    ],
)
def test_hyper_params_errors(raw, message):
    with pytest.raises(HyperparameterError, match=message):
        hyper_params({"HYPER_PARAMS": raw})


def test_config_validates_at_construction():
    with pytest.raises(HyperparameterError):
        TransformConfig(model="m", input="i", output="o", environment={"HYPER_PARAMS": "{'top_k': -1}"})
    with pytest.raises(Exception, match="accept"):
        TransformConfig(model="m", input="i", output="o", accept="image/png")
    with pytest.raises(Exception, match="max_payload"):
        TransformConfig(model="m", input="i", output="o", max_payload=101)
    with pytest.raises(Exception, match="use a local path, file:// or s3://"):
        TransformConfig(model="m", input="gs://bucket/x", output="o")
    assert TransformConfig(model="m", input="s3://bucket/x", output="o").input == "s3://bucket/x"
    with pytest.raises(Exception, match="master is a Spark setting"):
        TransformConfig(model="m", input="i", output="o", master="local[2]")
    assert TransformConfig(model="m", input="i", output="o", on_error="error-line").on_error == "error_line"
    assert TransformConfig(model="m", input="file:///tmp/x", output="o").input == "/tmp/x"



def test_cli_reports_bad_configuration_without_traceback(tmp_path, capsys):
    from springboard.cli import main

    src = tmp_path / "a.jsonl"
    src.write_text('{"id": 1, "text_inputs": "x"}\n')
    base = ["transform", "--model", "m", "--input", str(src), "--output", str(tmp_path / "o")]
    assert main(base + ["--max-payload", "200"]) == 1
    assert "error: invalid transform configuration: max_payload" in capsys.readouterr().err
    assert main(base + ["--env", "HYPER_PARAMS={'max_new_tokens': 'many'}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: HYPER_PARAMS") and "max_new_tokens" in err and "Traceback" not in err
