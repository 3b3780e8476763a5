"""Hand-worked combinations in all three modes (COMBINE-1..COMBINE-7)."""

from fractions import Fraction as F

import numpy as np
import pytest

from specens.reference.combine import (
    ContrastiveDecoding,
    CustomCombination,
    LinearLogits,
    WeightedEnsemble,
    combined,
    target,
)
from specens.reference.numbers import softmax
from specens.reference.transforms import Sampling, Scores

A = Scores(probs=(F(1, 2), F(1, 2), F(0)))
B = Scores(probs=(F(0), F(1, 4), F(3, 4)))
WE = WeightedEnsemble({"a": "1/4", "b": "3/4"})


def test_weighted_ensemble_in_probs_mode_averages_probabilities():
    """COMBINE-2, COMBINE-5: 1/4 (1/2, 1/2, 0) + 3/4 (0, 1/4, 3/4) = (1/8, 5/16, 9/16)."""
    assert combined({"a": A, "b": B}, WE, "probs", Sampling()) == (F(1, 8), F(5, 16), F(9, 16))


def test_weighted_ensemble_is_keyed_by_name_not_by_order():
    """COMBINE-1: swapping the order of the outputs changes nothing."""
    assert combined({"b": B, "a": A}, WE, "probs", Sampling()) == combined({"a": A, "b": B}, WE, "probs", Sampling())


def test_weighted_ensemble_in_logits_mode_is_a_normalised_geometric_mean():
    """COMBINE-2, COMBINE-5, COMBINE-6: logits 1/4 l_a + 3/4 l_b; a token ruled out by either is out."""
    la, lb = np.log([0.5, 0.25, 0.25]), np.log([0.25, 0.25, 0.5])
    r = combined({"a": Scores(logits=la), "b": Scores(logits=lb)}, WE, "logits", Sampling())
    expected = np.array([0.5**0.25 * 0.25**0.75, 0.25, 0.25**0.25 * 0.5**0.75])
    assert np.allclose([float(x) for x in r], expected / expected.sum(), rtol=1e-14, atol=0)  # float64 exp/log
    r = combined({"a": A, "b": B}, WE, "logits", Sampling())
    assert r == (F(0), F(1), F(0))  # token 0 ruled out by b, token 2 by a


def test_raw_logits_mode_applies_the_transform_once_after_combining():
    """COMBINE-5: raw-logits with T = 1/2 is softmax(2 * combined raw logits); top-k acts on the combination."""
    la, lb = np.array([0.0, 1.0, 2.0]), np.array([2.0, 1.0, 0.0])
    outputs = {"a": Scores(logits=la), "b": Scores(logits=lb)}
    r = combined(outputs, WE, "raw-logits", Sampling(temperature=F(1, 2), top_k=1))
    assert r == (F(1), F(0), F(0))  # combined logits (1.5, 1, 0.5): top-1 keeps token 0
    r = combined(outputs, WE, "raw-logits", Sampling(temperature=F(1, 2)))
    assert r == softmax(2 * (0.25 * la + 0.75 * lb))


def test_modes_differ_when_top_k_acts_on_members_or_on_the_combination():
    """COMBINE-5: probs mode truncates each member before averaging; raw-logits truncates the average."""
    outputs = {"a": Scores(logits=np.array([0.0, 1.0, 2.0])), "b": Scores(logits=np.array([2.0, 1.0, 0.0]))}
    s = Sampling(top_k=1)
    assert combined(outputs, WE, "probs", s) == (F(3, 4), F(0), F(1, 4))
    assert combined(outputs, WE, "raw-logits", s) == (F(1), F(0), F(0))


def test_contrastive_decoding_subtracts_mu_times_the_amateur():
    """COMBINE-3: softmax(l_e - mu l_a) with mu = 1/10; probs and logits modes agree."""
    le, la = np.array([1.0, 0.0, -1.0]), np.array([3.0, 0.0, 0.0])
    cd = ContrastiveDecoding(expert="e", amateur="a", mu="1/10")
    outputs = {"e": Scores(logits=le), "a": Scores(logits=la)}
    expected = softmax(le - 0.1 * la)
    assert combined(outputs, cd, "raw-logits", Sampling()) == expected
    assert combined(outputs, cd, "logits", Sampling()) == expected
    assert np.allclose([float(x) for x in combined(outputs, cd, "probs", Sampling())],
                       [float(x) for x in expected], rtol=1e-13)  # log p differs from l by a float constant


def test_contrastive_decoding_keeps_tokens_the_amateur_rules_out_out():
    """COMBINE-6: -mu * (-inf) does not make a token certain; a token the amateur rules out stays out."""
    cd = ContrastiveDecoding(expert="e", amateur="a")
    outputs = {"e": Scores(logits=np.array([0.0, 0.0])), "a": Scores(logits=np.array([0.0, -np.inf]))}
    assert combined(outputs, cd, "raw-logits", Sampling()) == (F(1), F(0))


def test_a_combination_that_rules_out_every_token_raises_an_error():
    """COMBINE-6: disjoint supports in mode 'logits' leave r empty: an error naming the cause."""
    with pytest.raises(ValueError, match="ruled out"):
        combined({"a": Scores(probs=(F(1), F(0))), "b": Scores(probs=(F(0), F(1)))},
                 WeightedEnsemble({"a": "1/2", "b": "1/2"}), "logits", Sampling())


def test_linear_and_custom_combinations_are_keyed_by_member_name():
    """COMBINE-4: linear logits and a user function of {name: vector}."""
    lin = LinearLogits({"e": "3/2", "a": "-1/2"})
    outputs = {"e": Scores(logits=np.array([1.0, 0.0])), "a": Scores(logits=np.array([0.0, 2.0]))}
    assert combined(outputs, lin, "raw-logits", Sampling()) == softmax(np.array([1.5, -1.0]))
    custom = CustomCombination(lambda p: [p["a"][x] * p["b"][x] for x in range(3)], members=("a", "b"))
    assert combined({"a": A, "b": B}, custom, "probs", Sampling()) == (F(0), F(1), F(0))


def test_greedy_target_is_the_argmax_of_the_ensemble_not_of_a_member():
    """COMBINE-7: at T = 0, r is the one-hot of the T = 1 combination (DEFECT-1: member 0's argmax)."""
    a = Scores(probs=(F(6, 10), F(4, 10)))
    b = Scores(probs=(F(0), F(1)))
    we = WeightedEnsemble({"a": "1/2", "b": "1/2"})
    assert target({"a": a, "b": b}, we, "probs", Sampling(temperature=0)) == (F(0), F(1))


@pytest.mark.parametrize("weights", [{"a": "0", "b": "0"}, {"a": "-1/2", "b": "3/2"}, {}])
def test_invalid_weights_raise_an_error_naming_weights(weights):
    """COMBINE-2: weights must be non-negative with a positive sum (relative weights)."""
    with pytest.raises(ValueError, match="weights"):
        WeightedEnsemble(weights)


def test_unknown_mode_raises_an_error_naming_mode():
    """COMBINE-5: only probs, logits, raw-logits."""
    with pytest.raises(ValueError, match="mode"):
        combined({"a": A, "b": B}, WE, "average", Sampling())


def test_contrastive_decoding_needs_two_different_members_and_non_negative_mu():
    """COMBINE-3."""
    with pytest.raises(ValueError, match="expert/amateur"):
        ContrastiveDecoding("a", "a")
    with pytest.raises(ValueError, match="mu"):
        ContrastiveDecoding("a", "b", mu=-1)
