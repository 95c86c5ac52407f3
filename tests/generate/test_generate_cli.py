import json

from springboard.cli import main


def test_generate_cli_compares_models(tiny_causal_dir, tiny_t5_dir, capsys):
    code = main(["generate", str(tiny_causal_dir), str(tiny_t5_dir), "--prompt", "The review of movie", "--prompt", "Hello", "--max-new-tokens", "4", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["prompt"]) for r in rows] == [
        (str(tiny_causal_dir), "The review of movie"), (str(tiny_causal_dir), "Hello"),
        (str(tiny_t5_dir), "The review of movie"), (str(tiny_t5_dir), "Hello"),
    ]
    assert all(len(r["generated_texts"]) == 1 for r in rows)


def test_generate_cli_bad_params(tiny_causal_dir, capsys):
    assert main(["generate", str(tiny_causal_dir), "--prompt", "x", "--params", "{bad"]) == 1
    err = capsys.readouterr().err
    assert "--params" in err and "Traceback" not in err
    assert main(["generate", str(tiny_causal_dir), "--prompt", "x", "--params", '{"top_p": 7}']) == 1
    assert "top_p" in capsys.readouterr().err
