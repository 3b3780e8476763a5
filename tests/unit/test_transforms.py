"""Hand-worked transforms (TRANSFORM-1..TRANSFORM-6, NUM-1, NUM-2), exact in Fractions."""

from fractions import Fraction as F

import numpy as np
import pytest

from specens.reference.numbers import as_fraction, lift, softmax
from specens.reference.transforms import (
    Sampling,
    Scores,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    greedy,
    proposal_distribution,
    transform,
)


def probs(*xs):
    return Scores(probs=tuple(F(x) for x in xs))


def test_rational_strings_and_binary_floats_are_read_exactly():
    """NUM-1: '1/3' is one third; 0.1 is its exact binary value, not one tenth."""
    assert as_fraction("1/3", name="w") == F(1, 3)
    assert as_fraction(0.5, name="w") == F(1, 2)
    assert as_fraction(0.1, name="w") == F(0.1) != F(1, 10)


def test_lifting_reads_each_float_exactly_and_renormalises():
    """NUM-2: lift((0.25, 0.5)) == (1/3, 2/3) exactly."""
    assert lift([0.25, 0.5]) == (F(1, 3), F(2, 3))


def test_softmax_gives_zero_to_minus_infinity_and_sums_to_one_exactly():
    """NUM-2: exp(l - max l), exp(-inf) = 0, lifted."""
    d = softmax(np.array([0.0, np.log(3.0), -np.inf]))
    assert d[2] == 0 and sum(d) == 1
    assert abs(float(d[1]) - 0.75) < 1e-15  # log/exp round trip in float64: one ulp-scale error


def test_temperature_one_half_squares_probabilities():
    """TRANSFORM-2: T = 1/2 turns (1/3, 2/3) into (1/5, 4/5)."""
    assert apply_temperature(probs("1/3", "2/3"), F(1, 2)).probs == (F(1, 5), F(4, 5))


def test_temperature_two_takes_square_roots_through_logits():
    """TRANSFORM-2: T = 2 turns (1/5, 4/5) into (1/3, 2/3) (via float64, NUM-2)."""
    d = transform(probs("1/5", "4/5"), Sampling(temperature=2)).to_probs()
    assert abs(float(d[0]) - 1 / 3) < 1e-15  # sqrt through exp/log in float64


def test_top_k_keeps_exactly_k_tokens_and_breaks_ties_to_the_lower_id():
    """TRANSFORM-3: (1/2, 1/4, 1/4) with k = 2 keeps tokens 0 and 1 (the tie goes to id 1)."""
    assert apply_top_k(probs("1/2", "1/4", "1/4"), 2).probs == (F(2, 3), F(1, 3), F(0))
    logits = apply_top_k(Scores(logits=np.array([1.0, 3.0, 3.0, 0.0])), 1).logits
    assert list(np.isfinite(logits)) == [False, True, False, False]


def test_top_k_never_keeps_an_impossible_token():
    """TRANSFORM-3: k larger than the support keeps only possible tokens."""
    assert apply_top_k(probs("1/2", "1/2", "0", "0"), 3).probs == (F(1, 2), F(1, 2), F(0), F(0))


def test_top_p_keeps_the_shortest_prefix_reaching_p():
    """TRANSFORM-4: (1/2, 1/4, 1/4) with p = 3/4 keeps 0 and 1; p = 1/2 keeps only 0; p = 1 keeps all."""
    d = probs("1/2", "1/4", "1/4")
    assert apply_top_p(d, F(3, 4)).probs == (F(2, 3), F(1, 3), F(0))
    assert apply_top_p(d, F(1, 2)).probs == (F(1), F(0), F(0))
    assert apply_top_p(d, F(1)).probs == d.probs
    assert apply_top_p(probs("1/10", "9/10"), F(1, 100)).probs == (F(0), F(1))  # first token always kept


def test_transforms_apply_in_the_order_temperature_top_k_top_p():
    """TRANSFORM-1: T = 1/2 then k = 2 then p = 4/5 on (1/2, 1/3, 1/6).

    T: (9, 4, 1)/14; k = 2: (9/13, 4/13, 0); p = 4/5: 9/13 < 4/5 so both stay.
    """
    s = Sampling(temperature=F(1, 2), top_k=2, top_p=F(4, 5))
    assert transform(probs("1/2", "1/3", "1/6"), s).probs == (F(9, 13), F(4, 13), F(0))


def test_greedy_is_a_one_hot_with_ties_to_the_lowest_id():
    """TRANSFORM-5: greedy((1/4, 3/8, 3/8)) == (0, 1, 0)."""
    assert greedy((F(1, 4), F(3, 8), F(3, 8))) == (F(0), F(1), F(0))


def test_a_members_own_distribution_is_transformed_and_greedy_at_temperature_zero():
    """TRANSFORM-6: p_k at T = 1 is the table; at T = 0 its one-hot argmax."""
    d = probs("1/4", "3/4")
    assert proposal_distribution(d, Sampling()) == d.probs
    assert proposal_distribution(d, Sampling(temperature=0)) == (F(0), F(1))


@pytest.mark.parametrize("kwargs, word", [
    ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"), ({"top_p": "3/2"}, "top_p"),
    ({"top_k": 0}, "top_k"), ({"top_k": 1.5}, "top_k"),
])
def test_bad_sampling_settings_raise_an_error_naming_the_argument(kwargs, word):
    """TRANSFORM-1..TRANSFORM-4: negative temperature, top-p outside (0, 1], bad top-k."""
    with pytest.raises(ValueError, match=word):
        Sampling(**kwargs)


@pytest.mark.parametrize("logits", [[0.0, np.nan], [0.0, np.inf], [-np.inf, -np.inf]])
def test_non_finite_logits_raise_an_error(logits):
    """TRANSFORM-1: NaN and +inf logits are errors; all -inf is an error."""
    with pytest.raises(ValueError, match="logits"):
        Scores(logits=np.array(logits))
