"""Bad input to the reference raises ValueError naming the argument (issue 2's list)."""

from fractions import Fraction as F

import pytest

from specens.reference import (
    Ensemble,
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    ToyMember,
    WeightedEnsemble,
    exact_ensemble_pmf,
    generate,
)
from specens.reference.transforms import Scores
from specens.reference.zoo import toy_ensemble


def member(name, probs, cost=1):
    return ToyMember(name, {(): Scores(probs=tuple(F(p) for p in probs))}, order=0, cost=cost)


def test_members_with_different_vocabulary_sizes_are_refused():
    """COMBINE-1 / NOTATION-1: all members share one vocabulary."""
    with pytest.raises(ValueError, match="vocabulary"):
        Ensemble((member("a", [1, 0]), member("b", [1, 0, 0])), WeightedEnsemble({"a": "1/2", "b": "1/2"}))


def test_a_combination_naming_other_members_is_refused():
    """COMBINE-1: the combination must name exactly the ensemble's members."""
    with pytest.raises(ValueError, match="combination"):
        Ensemble((member("a", [1, 0]), member("b", [0, 1])), WeightedEnsemble({"a": "1/2", "c": "1/2"}))


def test_duplicate_member_names_are_refused():
    """NOTATION-1: members are addressed by a unique name."""
    with pytest.raises(ValueError, match="unique"):
        Ensemble((member("a", [1, 0]), member("a", [0, 1])), WeightedEnsemble({"a": 1}))


@pytest.mark.parametrize("make", [lambda: NaiveSE(gamma=0), lambda: SpeculativeEnsemble({"m0": 0, "m1": 1}),
                                  lambda: SpeculativeEnsemble({"m0": True, "m1": 1})])
def test_proposal_lengths_below_one_are_refused(make):
    """NAIVE-1, SE-1: gamma >= 1."""
    with pytest.raises(ValueError, match="gamma"):
        make()


def test_mixture_is_refused_outside_a_weighted_ensemble_in_probs_mode():
    """MIX-1."""
    with pytest.raises(ValueError, match="mixture"):
        generate(toy_ensemble(2, 3, combination="cd", sparsity=0), MixtureEnsemble(), 3, seed=0)
    with pytest.raises(ValueError, match="mixture"):
        generate(toy_ensemble(2, 3, mode="logits", sparsity=0), MixtureEnsemble(), 3, seed=0)


@pytest.mark.parametrize("length", [0, -1, 2.5])
def test_max_new_tokens_must_be_a_positive_integer(length):
    """METHOD-3."""
    with pytest.raises(ValueError, match="max_new_tokens"):
        exact_ensemble_pmf(toy_ensemble(2, 3), length)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(toy_ensemble(2, 3), NaiveSE(), length, seed=0)


def test_out_of_vocabulary_prompt_and_eos_are_refused():
    """TOY-1: prompt ids and eos_token_id lie in [0, V)."""
    with pytest.raises(ValueError, match="prompt"):
        toy_ensemble(2, 3, prompt=(5,))
    with pytest.raises(ValueError, match="eos_token_id"):
        toy_ensemble(2, 3, eos_token_id=3)


def test_non_positive_member_cost_is_refused():
    """COST-1: c_k > 0."""
    with pytest.raises(ValueError, match="cost"):
        member("a", [1, 0], cost=0)


def test_proposer_must_be_a_member():
    """NAIVE-1, SE-1: the proposer is addressed by a member name."""
    with pytest.raises(ValueError, match="no member named"):
        generate(toy_ensemble(2, 3), NaiveSE(gamma=2, proposer="nobody"), 3, seed=0)


@pytest.mark.parametrize("gammas", [[3, 1], (3, 1), 3])
def test_gammas_by_position_are_refused_naming_the_by_name_form(gammas):
    """SE-1: members are addressed by name, never by position; a list is one ValueError, not an AttributeError."""
    with pytest.raises(ValueError, match=r"gammas: give one proposal length per member by name, e\.g\. \{'a': 3"):
        SpeculativeEnsemble(gammas)
