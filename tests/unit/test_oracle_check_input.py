"""check_samples refuses malformed input with one-line errors naming `samples`, `law` or `length` (ORACLE-5)."""

from fractions import Fraction

import numpy as np
import pytest

from specens.oracle import check_samples

LAW = {(0,): Fraction(1, 2), (1,): Fraction(1, 2)}
LAW2 = {(0, 0): Fraction(1, 4), (0, 1): Fraction(1, 4), (1,): Fraction(1, 2)}
MATCHING = [[0, 0]] * 250 + [[0, 1]] * 250 + [[1]] * 500  # samples matching LAW2 exactly


@pytest.mark.parametrize("length", [0, -1, True, 1.5])
def test_a_length_below_one_or_not_an_integer_is_refused_naming_length(length):
    """ORACLE-5: length=0 used to reject samples that match the law; -1 gave a numpy error."""
    with pytest.raises(ValueError, match=r"^length: .*positive integer"):
        check_samples(MATCHING, LAW2, length=length, warn=False)


def test_a_matching_sample_is_not_rejected_at_any_valid_length():
    """ORACLE-5 (control for the test above): the same samples at lengths 1 and 2 are never rejected."""
    first = {(0,): Fraction(1, 2), (1,): Fraction(1, 2)}
    assert not check_samples(MATCHING, first, length=1, warn=False).rejected
    assert not check_samples(MATCHING, LAW2, length=2, warn=False).rejected


@pytest.mark.parametrize("samples, what", [
    (np.array([0, 1] * 200), r"2-D array .* shape \(400,\); for one-token sequences use samples\[:, None\]"),
    (np.zeros((4, 1, 1), dtype=int), r"2-D array .* shape \(4, 1, 1\)"),
    ([[0.9]] * 500 + [[1.2]] * 500, "sequence 0 holds \\[0.9\\]; token ids must be integers"),
    ([["1"]] * 500 + [["0"]] * 500, "sequence 0 holds \\['1'\\]; token ids must be integers"),
    ([[True]] * 10, "token ids must be integers"),
    ([0, 1, 0], "sequence 0 is 0, not a sequence of token ids"),
    ("0101", "expected an \\(n, L\\) integer array or a list of token sequences, got str"),
    (np.array([[0.0], [1.0]]), "expected integer token ids, got an array of float64"),
])
def test_samples_of_the_wrong_shape_or_type_are_refused_naming_samples(samples, what):
    """ORACLE-5: 1-D/3-D arrays, floats (0.9 was truncated to token 0), strings and bare ids are refused."""
    with pytest.raises(ValueError, match=r"^samples: .*" + what):
        check_samples(samples, LAW, warn=False)


@pytest.mark.parametrize("law, what", [
    ({}, "expected a non-empty mapping"),
    ([((0,), 1.0)], "expected a non-empty mapping"),
    ({0: 1.0}, "keys must be tuples of integer token ids, got 0"),
    ({("0",): 1.0}, "keys must be tuples of integer token ids"),
])
def test_a_malformed_law_is_refused_naming_law(law, what):
    """ORACLE-5: check_samples([[0]], {}) used to fail with 'max() arg is an empty sequence'."""
    with pytest.raises(ValueError, match=r"^law: .*" + what):
        check_samples([[0]] * 20, law, warn=False)


def test_numpy_targets_and_unsigned_arrays_are_accepted():
    """ORACLE-4, ORACLE-5: a float32 target_tv and a uint8 array are numbers and token ids like any other."""
    samples = np.array([[0], [1]] * 500, dtype=np.uint8)
    report = check_samples(samples, LAW, target_tv=np.float32(0.5), warn=False)
    assert report.verdict == "CONSISTENT"
