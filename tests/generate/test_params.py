from __future__ import annotations

import pytest

from springboard.errors import DataError, ValidationError
from springboard.generate import GenerationParams


def test_more_return_sequences_than_beams_without_sampling_names_the_field():
    with pytest.raises(ValidationError) as err:
        GenerationParams(num_return_sequences=3, num_beams=2)
    assert err.value.field == "num_return_sequences"
    assert "num_beams" in str(err.value)
    # allowed with sampling, or with enough beams
    assert GenerationParams(num_return_sequences=3, do_sample=True).num_return_sequences == 3
    assert GenerationParams(num_return_sequences=3, num_beams=3).num_beams == 3


@pytest.mark.parametrize(
    "values, field",
    [
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": 0}, "temperature"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": "many"}, "max_new_tokens"),
        ({"top_k": -1}, "top_k"),
        ({"stop": [""]}, "stop"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_values_raise_springboard_errors_naming_the_field(values, field):
    with pytest.raises(DataError) as err:
        GenerationParams(**values)
    assert err.value.field == field
    assert f"'{field}'" in str(err.value)


def test_parse_prefixes_the_field_for_nested_payloads():
    with pytest.raises(DataError) as err:
        GenerationParams.parse({"top_p": 7}, prefix="parameters.")
    assert err.value.field == "parameters.top_p"
    with pytest.raises(DataError) as err:
        GenerationParams.parse({"num_return_sequences": 2}, prefix="parameters.")
    assert err.value.field == "parameters.num_return_sequences"


def test_stop_accepts_a_string_or_a_list():
    assert GenerationParams(stop="\n").stop == ("\n",)
    assert GenerationParams(stop=["a", "b"]).stop == ("a", "b")


def test_batch_key_ignores_per_row_settings_but_not_decoding_ones():
    base = GenerationParams(max_new_tokens=5)
    assert base.batch_key() == GenerationParams(max_new_tokens=50, return_full_text=True).batch_key()
    assert base.batch_key() != GenerationParams(num_beams=2).batch_key()
    assert base.batch_key() != GenerationParams(stop=["x"]).batch_key()
    # a seed only matters when sampling
    assert base.batch_key() == GenerationParams(seed=3).batch_key()
    assert GenerationParams(do_sample=True, seed=3).solo
    assert not GenerationParams(do_sample=True).solo
