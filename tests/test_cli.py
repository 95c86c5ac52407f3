import pytest

from springboard.cli import main, parse_pairs
from springboard.errors import ValidationError


def test_parse_pairs_strips_hyperparameters_but_keeps_env_verbatim():
    assert parse_pairs([" lora_r = 8 ", "epoch=2"], "--hp") == {"lora_r": "8", "epoch": "2"}
    assert parse_pairs(["HYPER_PARAMS= {'a': 1} ", "X=a=b"], "--env", strip=False) == {
        "HYPER_PARAMS": " {'a': 1} ",
        "X": "a=b",
    }
    for bad in ("NOEQUALS", "=value"):
        with pytest.raises(ValidationError, match=f"--env '{bad}': expected KEY=VALUE"):
            parse_pairs([bad], "--env", strip=False)


def test_malformed_env_is_a_clean_cli_error(tmp_path, capsys):
    assert main(["transform", "--model", "m", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--env", "NOEQUALS"]) == 1
    err = capsys.readouterr().err
    assert "--env 'NOEQUALS': expected KEY=VALUE" in err and "Traceback" not in err
