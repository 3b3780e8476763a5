"""The fast path's torch arithmetic against hand-worked examples and the reference, rule by rule.

Hand examples use values exact in binary, so equality is exact. Comparisons with the reference's
rationals on random logits allow 1e-12: both compute softmax in float64, the reference then lifts
each float exactly, so they differ only by the final rounding of a few float64 operations (~1e-16).
"""

from fractions import Fraction

import numpy as np
import pytest
import torch

from specens.distributions import (
    Combiner,
    EmptyDistribution,
    accept,
    greedy,
    proposal_distribution,
    residual,
    sample,
    transform_logits,
)
from specens.reference.combine import ContrastiveDecoding, CustomCombination, LinearLogits, WeightedEnsemble, target
from specens.reference.transforms import Sampling, Scores
from specens.reference.transforms import proposal_distribution as reference_proposal

F64 = torch.float64
INF = float("inf")


def t(values):
    return torch.tensor(values, dtype=F64)


def test_top_k_keeps_exactly_k_tokens_with_ties_going_to_the_lower_id():
    """TRANSFORM-3: (2, 1, 1, 0) with k = 2 keeps ids 0 and 1, not 2."""
    out = transform_logits(t([2.0, 1.0, 1.0, 0.0]), Sampling(top_k=2))
    assert out.tolist() == [2.0, 1.0, -INF, -INF]


def test_top_k_counts_only_possible_tokens_and_keeps_ruled_out_ones_out():
    """TRANSFORM-3: with fewer possible tokens than k, the -inf ones stay -inf."""
    out = transform_logits(t([-INF, 0.0, -INF]), Sampling(top_k=2))
    assert out.tolist() == [-INF, 0.0, -INF]


def test_top_p_keeps_the_shortest_prefix_reaching_p_and_always_the_first_token():
    """TRANSFORM-4: probabilities (1/2, 1/4, 1/4): p = 3/4 keeps ids 0, 1; p = 0.1 keeps id 0 only."""
    logits = torch.log(t([0.5, 0.25, 0.25]))
    kept = lambda p: torch.isfinite(transform_logits(logits, Sampling(top_p=p))).tolist()  # noqa: E731
    assert kept("3/4") == [True, True, False]
    assert kept("0.1") == [True, False, False]
    assert kept("0.76") == [True, True, True]


def test_the_transform_order_is_temperature_then_top_k_then_top_p():
    """TRANSFORM-1, TRANSFORM-2: T = 1/2 doubles logits before the cuts; top-p sees top-k's renormalised mass."""
    logits = t([np.log(4), np.log(2), np.log(2), 0.0])  # probs 4/9, 2/9, 2/9, 1/9
    out = transform_logits(logits, Sampling(temperature="1/2", top_k=3, top_p="0.7"))
    # T = 1/2: probs 16, 4, 4, 1 (/25); top-k 3: 16, 4, 4 (/24); top-p 0.7: 16/24 < 0.7, so ids 0 and 1
    assert torch.isfinite(out).tolist() == [True, True, False, False]
    assert out[0].item() == 2 * np.log(4)


def test_greedy_is_a_one_hot_at_the_lowest_maximal_id():
    """TRANSFORM-5: greedy((1/4, 3/8, 3/8)) == (0, 1, 0)."""
    assert greedy(t([0.25, 0.375, 0.375])).tolist() == [0.0, 1.0, 0.0]


def test_a_members_proposal_distribution_matches_the_reference_and_is_one_hot_when_greedy():
    """TRANSFORM-6: p_k after temperature/top-k/top-p equals the reference's; at T = 0 its argmax one-hot."""
    rng = np.random.default_rng(0)
    for sampling in (Sampling(), Sampling(temperature="0.7", top_k=4), Sampling(top_p="0.8"), Sampling(temperature=0)):
        for _ in range(20):
            logits = rng.normal(size=7) * 2
            mine = proposal_distribution(t(logits), sampling).numpy()
            theirs = np.array([float(p) for p in reference_proposal(Scores(logits=logits), sampling)])
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)


COMBINATIONS = [
    (WeightedEnsemble({"a": "1/3", "b": "2/3"}), ("probs", "logits", "raw-logits")),
    (ContrastiveDecoding(expert="b", amateur="a", mu="0.1"), ("probs", "logits", "raw-logits")),
    (LinearLogits({"a": "-0.5", "b": "1.5"}), ("logits", "raw-logits")),
    # the reference hands a custom function tuples of Fractions (probs) or arrays, the fast path tensors:
    # a function written elementwise serves both
    (CustomCombination(lambda d: [x * y + y for x, y in zip(d["a"], d["b"])], members=("a", "b")), ("probs",)),
    (CustomCombination(lambda d: 0.25 * d["a"] + d["b"], members=("a", "b")), ("logits", "raw-logits")),
]


@pytest.mark.parametrize("combination,modes", COMBINATIONS, ids=lambda c: type(c).__name__ if not isinstance(c, tuple) else "")
def test_r_matches_the_reference_for_every_combination_and_mode(combination, modes):
    """COMBINE-1..5, COMBINE-7: r from two members' logits equals the reference's r (float64, 1e-12)."""
    rng = np.random.default_rng(1)
    for mode in modes:
        for sampling in (Sampling(), Sampling(temperature="1.5", top_k=5), Sampling(top_p="0.9"), Sampling(temperature=0)):
            combiner = Combiner(combination, ("a", "b"), mode, sampling, device=torch.device("cpu"), dtype=F64)
            for _ in range(10):
                la, lb = rng.normal(size=6) * 2, rng.normal(size=6) * 2
                la[rng.integers(6)] = -np.inf
                try:
                    theirs = target({"a": Scores(logits=la), "b": Scores(logits=lb)}, combination, mode, sampling)
                except ValueError:
                    continue  # COMBINE-6: nothing left; tested below
                mine = combiner.target(torch.stack([t(la), t(lb)])).numpy()
                np.testing.assert_allclose(mine, [float(x) for x in theirs], rtol=0, atol=1e-12, err_msg=mode)


def test_a_token_the_amateur_rules_out_stays_ruled_out_in_contrastive_decoding():
    """COMBINE-6: -mu * (-inf) must not make the amateur's excluded token certain; a_k = 0 members are ignored."""
    combiner = Combiner(ContrastiveDecoding(expert="e", amateur="a", mu="0.5"), ("a", "e"), "raw-logits", Sampling(),
                        device=torch.device("cpu"), dtype=F64)
    r = combiner.target(torch.stack([t([0.0, -INF, 0.0]), t([0.0, 0.0, 0.0])]))
    assert r.tolist() == [0.5, 0.0, 0.5]
    zero = Combiner(LinearLogits({"a": 0, "e": 1}), ("a", "e"), "raw-logits", Sampling(), device=torch.device("cpu"),
                    dtype=F64)
    assert zero.target(torch.stack([t([-INF, -INF, 0.0]), t([0.0, 0.0, 0.0])])).tolist() == [1 / 3] * 3


def test_when_every_token_is_ruled_out_r_has_no_positive_entry_and_the_draw_refuses():
    """COMBINE-6: an empty combination never yields a token (the run turns this into a named error)."""
    combiner = Combiner(WeightedEnsemble({"a": "1/2", "b": "1/2"}), ("a", "b"), "logits", Sampling(top_k=1),
                        device=torch.device("cpu"), dtype=F64)
    r = combiner.target(torch.stack([t([1.0, 0.0]), t([0.0, 1.0])]))
    with pytest.raises(EmptyDistribution):
        sample(r, 0.5, torch.arange(2))


def test_the_inverse_cdf_returns_the_smallest_token_whose_cumulative_mass_exceeds_u():
    """RNG-2: sample((1/4, 0, 3/4), 0.2) == 0 and sample(.., 0.25) == 2; zero-probability tokens never."""
    d, ids = t([0.25, 0.0, 0.75]), torch.arange(3)
    assert sample(d, 0.2, ids) == 0 and sample(d, 0.25, ids) == 2 and sample(d, 0.0, ids) == 0
    assert sample(d.float(), 0.25, ids) == 2  # float32 rows accumulate in float64 (FAST-2)


def test_a_uniform_beyond_the_rounded_total_returns_the_last_positive_token_never_an_out_of_vocabulary_id():
    """VERIFY-4, RNG-2: a total rounded below u falls back to the last token of positive probability."""
    d, ids = t([0.3, 0.3, 0.3, 0.0]), torch.arange(4)  # total 0.9 < u
    assert sample(d, 0.95, ids) == 2
    with pytest.raises(EmptyDistribution):
        sample(t([float("nan")] * 3), 0.5, torch.arange(3))


def test_the_accept_test_compares_u_times_q_with_r_without_dividing():
    """RNG-3, VERIFY-1: accept iff u * q(x) < r(x); at equality the token is rejected."""
    assert accept(0.49, 0.5, 0.25) and not accept(0.5, 0.5, 0.25) and accept(0.999, 0.5, 0.5)


def test_the_residual_is_the_normalised_excess_of_r_over_q():
    """VERIFY-2: residual((1/2, 1/2), (3/4, 1/4)) == (0, 1)."""
    assert residual(t([0.5, 0.5]), t([0.75, 0.25])).tolist() == [0.0, 1.0]


def test_a_residual_of_zero_mass_falls_back_to_r():
    """VERIFY-4: when max(0, r - q) has no mass (rounding), the replacement is drawn from r itself."""
    r = t([0.25, 0.75])
    assert residual(r, r).tolist() == [0.25, 0.75]
    assert residual(r, t([float("nan"), 0.5])).tolist() == [0.25, 0.75]
    assert Fraction(0.25) == Fraction(1, 4)  # the example values are exact in binary
