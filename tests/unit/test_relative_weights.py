"""WE weights are relative and read exactly (NUM-1, COMBINE-2, TOY-3): Python API, toy files, CLI."""

import json
import re
from fractions import Fraction as F

import pytest

from specens.cli import attach_dash_values, main
from specens.reference import WeightedEnsemble, load_toy
from specens.reference.combine import relative_weights
from specens.reference.numbers import as_fraction, json_loads


def test_text_is_read_as_written_and_floats_at_their_binary_value():
    """NUM-1: "0.3" is 3/10, "1/3" a third, the float 0.3 its exact binary value."""
    assert as_fraction("0.3", name="w") == F(3, 10)
    assert as_fraction("1/3", name="w") == F(1, 3)
    assert as_fraction(0.3, name="w") == F(5404319552844595, 2**54) != F(3, 10)
    assert as_fraction(json_loads('{"w": 0.3}')["w"], name="w") == F(3, 10)
    assert as_fraction(json_loads('{"w": 1e-3}')["w"], name="w") == F(1, 1000)


@pytest.mark.parametrize("given", [{"a": 1, "b": 2}, {"a": "0.1", "b": "0.2"}, {"a": "1/3", "b": "2/3"},
                                   {"a": "0.33", "b": "0.66"}, {"a": F(5), "b": 10}])
def test_weights_are_relative_and_divided_by_their_exact_sum(given):
    """COMBINE-2: (1, 2), (0.1, 0.2), (1/3, 2/3), (0.33, 0.66) are the same weights (1/3, 2/3)."""
    assert WeightedEnsemble(given).weights == {"a": F(1, 3), "b": F(2, 3)}


def test_python_float_weights_are_normalised_at_their_exact_value():
    """COMBINE-2: {"a": 0.3, "b": 0.7} is accepted; w_a = Fraction(0.3) / (Fraction(0.3) + Fraction(0.7))."""
    weights = WeightedEnsemble({"a": 0.3, "b": 0.7}).weights
    total = F(0.3) + F(0.7)
    assert total != 1  # the binary values do not sum to 1, which used to be refused
    assert weights == {"a": F(0.3) / total, "b": F(0.7) / total}
    assert sum(weights.values()) == 1
    assert weights["a"] == F(5404319552844595, 18014398509481983)  # 2^54 - 1 below: their sum is 1 - 2^-54


def test_a_zero_weight_is_allowed_when_another_is_positive():
    """COMBINE-2: non-negative weights with a positive sum."""
    assert WeightedEnsemble({"a": 0, "b": "0.5"}).weights == {"a": 0, "b": 1}


@pytest.mark.parametrize("given, message", [
    ({"a": -1, "b": 2}, "weights: must be non-negative"),
    ({"a": "-0.1", "b": "0.2"}, "weights: must be non-negative"),
    ({"a": 0, "b": 0.0}, "weights: at least one must be positive"),
    ({}, "weights: give one weight per member name"),
    ({"a": "x"}, r"weights\['a'\]: cannot read 'x'"),
    ({"a": float("nan")}, r"weights\['a'\]: expected a finite number"),
])
def test_bad_weights_are_one_line_errors_naming_weights(given, message):
    """COMBINE-2: negative weights and an all-zero vector stay errors."""
    with pytest.raises(ValueError, match=message) as error:
        relative_weights(given)
    assert "\n" not in str(error.value)


def toy_with_weights(weights_json: str) -> str:
    return ('{"format": "specens/toy-ensemble", "version": 1, "ensemble": {"members": ['
            '{"name": "a", "order": 0, "probs": {"": ["1/2", "1/2"]}},'
            '{"name": "b", "order": 0, "probs": {"": ["1", "0"]}}],'
            '"combination": {"kind": "we", "weights": ' + weights_json + '}}, "max_new_tokens": 1}')


def test_a_toy_file_reads_decimal_weights_as_written(tmp_path):
    """TOY-3, NUM-1: JSON numbers 0.3 and 0.7 in a file are 3/10 and 7/10; 1 and 2 are 1/3 and 2/3."""
    path = tmp_path / "toy.json"
    path.write_text(toy_with_weights('{"a": 0.3, "b": 0.7}'))
    ensemble, _, _ = load_toy(path)
    assert ensemble.combination.weights == {"a": F(3, 10), "b": F(7, 10)}
    assert ensemble.target(()) == (F(17, 20), F(3, 20))  # 3/10 (1/2, 1/2) + 7/10 (1, 0)
    path.write_text(toy_with_weights('{"a": 1, "b": 2}'))
    assert load_toy(path)[0].combination.weights == {"a": F(1, 3), "b": F(2, 3)}


def test_a_parsed_toy_dict_reads_float_weights_at_their_binary_value():
    """TOY-3, NUM-1: once the caller's json.loads made 0.3 a float, its exact value is used."""
    ensemble, _, _ = load_toy(json.loads(toy_with_weights('{"a": 0.3, "b": 0.7}')))
    total = F(0.3) + F(0.7)
    assert ensemble.combination.weights == {"a": F(0.3) / total, "b": F(0.7) / total}


def test_a_toy_file_with_negative_weights_is_refused_naming_weights(tmp_path):
    """TOY-3: the error names the field."""
    path = tmp_path / "toy.json"
    path.write_text(toy_with_weights('{"a": -1, "b": 2}'))
    with pytest.raises(ValueError, match="weights: must be non-negative"):
        load_toy(path)


def test_cli_weights_are_relative():
    """COMBINE-2: --weights 1,2 and --weights 0.33,0.66 both give (1/3, 2/3); no value gives equal weights."""
    from specens._cli_generate import parse_weights

    names = ["pylib", "pytests"]
    assert parse_weights("1,2", names) == {"pylib": F(1, 3), "pytests": F(2, 3)}
    assert parse_weights("0.33, 0.66", names) == {"pylib": F(1, 3), "pytests": F(2, 3)}
    assert parse_weights("0.3,0.7", names) == {"pylib": F(3, 10), "pytests": F(7, 10)}
    assert parse_weights(None, names) == {"pylib": F(1, 2), "pytests": F(1, 2)}


def test_a_negative_value_after_an_option_is_attached_to_it():
    """argparse would read "-1,2" as an option; main() attaches it to --weights (and --costs, --gammas)."""
    assert attach_dash_values(["generate", "--weights", "-1,2", "hi"]) == ["generate", "--weights=-1,2", "hi"]
    assert attach_dash_values(["generate", "--costs", "-.5,1"]) == ["generate", "--costs=-.5,1"]
    assert attach_dash_values(["generate", "--weights", "1,2", "--trace"]) == ["generate", "--weights", "1,2", "--trace"]
    assert attach_dash_values(["generate", "--trace", "-1,2"]) == ["generate", "--trace", "-1,2"]


@pytest.mark.parametrize("argv, message", [
    (["--weights", "-1,2"], "--weights: must be non-negative"),
    (["--weights=-1,2"], "--weights: must be non-negative"),
    (["--weights", "0,0"], "--weights: at least one must be positive"),
    (["--weights", "1,x"], r"--weights\['pytests'\]: cannot read 'x'"),
    (["--weights", "1"], "--weights: give 2 comma-separated values"),
])
def test_cli_bad_weights_reach_specens_own_message(argv, message, capsys):
    """COMBINE-2: specens' one-line message naming --weights, not argparse's "expected one argument";
    checked before any model is loaded."""
    assert main(["generate", "--members", "pylib,pytests", *argv, "def f():"]) == 2
    err = capsys.readouterr().err
    assert "expected one argument" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


def test_generate_help_says_weights_are_relative(capsys):
    """COMBINE-2 in --help."""
    with pytest.raises(SystemExit) as done:
        main(["generate", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "relative WE weights" in text and "divided by their sum" in text and "read as written" in text
