"""The paper's cost results (THM-3.1, THM-3.2, COR-3.3..COR-3.5, THM-3.6, COR-3.7) checked exactly.

Where a statement is about the samplers, the exact engine supplies the law; where it is algebra,
a grid of rationals does.
"""

from collections import Counter
from fractions import Fraction as F
from itertools import product

import pytest

from specens.reference import (
    Ensemble,
    NaiveSE,
    ToyMember,
    WeightedEnsemble,
    alternate_speedup,
    naive_expected_tokens,
    naive_speedup,
    overlap,
)
from specens.reference.cost import never_slower_proposer
from specens.reference.engine import enumerate_runs
from specens.reference.transforms import Scores

GRID = [F(k, 8) for k in range(9)]


def constant_rate_ensemble(q, p, weight_q):
    """Two context-free members: every proposal of `a` is accepted with the same alpha (THM-3.1's assumption)."""
    a = ToyMember("a", {(): Scores(probs=q)}, order=0, cost=F(1, 4))
    b = ToyMember("b", {(): Scores(probs=p)}, order=0, cost=1)
    return Ensemble((a, b), WeightedEnsemble({"a": weight_q, "b": 1 - weight_q}))


def test_a_naive_round_emits_a_truncated_geometric_number_of_tokens():
    """THM-3.1: tokens emitted by the first naive round have mean (1 - alpha^gamma) / (1 - alpha), exactly."""
    q, p = (F(1, 2), F(1, 3), F(1, 6)), (F(1, 6), F(1, 6), F(2, 3))
    ensemble = constant_rate_ensemble(q, p, F(1, 3))
    alpha = overlap(q, ensemble.target(()))
    for gamma in (1, 2, 3):
        law = Counter()
        for result, prob in enumerate_runs(ensemble, NaiveSE(gamma=gamma, proposer="a"), 1 + gamma):
            law[sum(1 for e in result.trace if e["event"] == "emit" and e["step"] == 1)] += prob
        assert sum(n * pr for n, pr in law.items()) == naive_expected_tokens(alpha, gamma)
        assert law[gamma] == alpha ** (gamma - 1)


def test_naive_speed_up_is_tokens_per_round_over_cost_per_round():
    """THM-3.1: S = E[tokens] (1 + c) / (1 + c gamma) on a grid of rationals."""
    for alpha, c, gamma in product(GRID, GRID, (1, 2, 5)):
        expected_tokens = sum(alpha**i for i in range(gamma))
        assert naive_speedup(alpha, c, gamma) == expected_tokens * (1 + c) / (1 + c * gamma)


def test_we_acceptance_is_at_least_the_proposers_weight():
    """THM-3.2 on the exact toy: alpha = 1 - (1 - lambda) TV(p, q) >= lambda."""
    q, p = (F(1, 2), F(1, 2), F(0)), (F(0), F(1, 4), F(3, 4))
    for lam in GRID:
        alpha = overlap(q, constant_rate_ensemble(q, p, lam).target(()))
        assert alpha >= lam
    disjoint = (F(0), F(0), F(1))
    assert overlap(q, constant_rate_ensemble(q, disjoint, F(1, 3)).target(())) == F(1, 3)


def test_choosing_the_heavier_member_as_proposer_gives_alpha_at_least_one_half():
    """COR-3.3: max over the two proposers of alpha >= max(lambda, 1 - lambda) >= 1/2."""
    q, p = (F(1, 2), F(1, 2), F(0)), (F(0), F(1, 4), F(3, 4))
    for lam in GRID:
        r = constant_rate_ensemble(q, p, lam).target(())
        best = max(overlap(q, r), overlap(p, r))
        assert best >= max(lam, 1 - lam) >= F(1, 2)


def test_gamma_two_speeds_up_exactly_when_alpha_exceeds_c_over_one_plus_c():
    """COR-3.4 on a grid: S(gamma = 2) > 1 iff alpha > c / (1 + c)."""
    for alpha, c in product(GRID, GRID):
        assert (naive_speedup(alpha, c, 2) > 1) == (alpha > c / (1 + c))


def test_gamma_one_is_never_slower_for_any_proposer():
    """COR-3.5: with gamma = 1 the naive formula gives S = 1 whatever alpha and c."""
    for alpha, c in product(GRID, GRID):
        assert naive_speedup(alpha, c, 1) == 1


def test_the_never_slower_proposer_is_never_slower_at_gamma_two():
    """COR-3.5: the member never_slower_proposer picks from weights and costs alone has S(gamma = 2) >= 1
    at its exact acceptance on the reference's WE target; the other member (negative control) can be slower."""
    q, p = (F(1, 2), F(1, 2), F(0)), (F(0), F(1, 4), F(3, 4))
    other_slower = 0
    for lam, cost_a, cost_b in product(GRID, (F(1, 4), F(1), F(3)), (F(1, 3), F(1), F(2))):
        a = ToyMember("a", {(): Scores(probs=q)}, order=0, cost=cost_a)
        b = ToyMember("b", {(): Scores(probs=p)}, order=0, cost=cost_b)
        ensemble = Ensemble((a, b), WeightedEnsemble({"a": lam, "b": 1 - lam}))
        r = ensemble.target(())
        alphas, costs = (overlap(q, r), overlap(p, r)), (cost_a, cost_b)
        chosen = never_slower_proposer((lam, 1 - lam), costs)
        other = 1 - chosen
        assert naive_speedup(alphas[chosen], costs[chosen] / costs[other], 2) >= 1, (lam, costs)
        assert naive_speedup(alphas[chosen], costs[chosen] / costs[other], 1) == 1
        other_slower += naive_speedup(alphas[other], costs[other] / costs[chosen], 2) < 1
    assert other_slower > 0


def test_never_slower_proposer_refuses_what_the_corollary_does_not_cover():
    """COR-3.5 is about two members with weights summing to one and positive costs: anything else is refused."""
    for weights, costs, argument in [((F(1, 3), F(1, 3), F(1, 3)), (1, 1, 1), "pass two of each"),
                                     ((F(1, 2), F(1, 3)), (1, 1), "weights"),
                                     ((F(3, 2), F(-1, 2)), (1, 1), "weights"),
                                     ((F(1, 2), F(1, 2)), (0, 1), "costs")]:
        with pytest.raises(ValueError, match=argument):
            never_slower_proposer(weights, costs)


def test_alternate_formula_with_gammas_of_one_is_never_below_one():
    """THM-3.6, COR-3.7: S(1, 1) = (1 + c) / (1 + c - alpha c) >= 1, equality iff alpha c = 0."""
    for alpha, c in product(GRID, GRID):
        s = alternate_speedup(alpha, c, 1, 1)
        assert s == (1 + c) / (1 + c - alpha * c)
        assert s >= 1 and (s == 1) == (alpha * c == 0)


def test_alternate_formula_reduces_to_the_naive_one_when_the_other_member_never_proposes():
    """THM-3.6: at alpha = 0 the bonus term vanishes and S = (1 + c) / (1 + c gq)."""
    for c, gq, gp in product(GRID, (1, 2, 4), (1, 3)):
        assert alternate_speedup(0, c, gq, gp) == (1 + c) / (1 + c * gq)
