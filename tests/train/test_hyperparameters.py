import pytest

from springboard import hyperparameters
from springboard.errors import HyperparameterError
from springboard.train.hyperparameters import parse


def test_seed_dicts_work_unchanged_with_family_defaults():
    flan = hyperparameters.retrieve_default("huggingface-text2text-flan-t5-small")
    hp = parse("flan-t5", {"epochs": "2", "batch_size": "8"}, flan)
    assert (hp.epochs, hp.per_device_train_batch_size, hp.peft_type) == (2, 8, "none")
    assert hp.validation_split_ratio == 0.05 and hp.max_output_length == 128
    llama = hyperparameters.retrieve_default("llama-2-7b")
    hp = parse("causal-lm", {"epoch": "5", "instruction_tuned": "True", "max_input_length": "1024"}, llama)
    assert (hp.epochs, hp.instruction_tuned, hp.lora_r, hp.lora_alpha, hp.lora_dropout) == (5, True, 8, 32, 0.05)
    assert hp.validation_split_ratio == 0.2
    assert parse("causal-lm", {"preprocessing_num_workers": "None"}).preprocessing_num_workers is None


def test_both_epoch_spellings_and_conflicts():
    assert parse("causal-lm", {"epochs": "3"}).epochs == parse("causal-lm", {"epoch": "3"}).epochs == 3
    with pytest.raises(HyperparameterError, match="given twice"):
        parse("causal-lm", {"epoch": "2", "epochs": "3"})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lora_r": "0"}, "'lora_r': must be an integer >= 1 and <= 1024"),
        ({"learning_rate": "2"}, "'learning_rate': must be a number > 0 and <= 1"),
        ({"validation_split_ratio": "1"}, "'validation_split_ratio': must be a number >= 0 and < 1"),
        ({"peft_type": "qlora"}, "'peft_type': must be one of 'lora' or 'none'"),
        ({"instruction_tuned": "maybe"}, "'instruction_tuned': must be True or False"),
        ({"max_train_samples": "0"}, "'max_train_samples': must be -1 (all) or at least 1"),
        ({"batch_size": "abc"}, "'batch_size': must be an integer"),
    ],
)
def test_out_of_range_names_key_and_range(values, message):
    with pytest.raises(HyperparameterError) as err:
        parse("causal-lm", values)
    assert message in str(err.value)


def test_unknown_key_lists_valid_names():
    with pytest.raises(HyperparameterError) as err:
        parse("flan-t5", {"instruction_tuned": "True"})  # a causal-only key
    assert "unknown hyperparameter 'instruction_tuned' for flan-t5 models" in str(err.value)
    assert "max_output_length" in str(err.value) and "epochs" in str(err.value)
