"""COST-6: SE of two members with gammas 1, 1 as a Markov chain, exact where its assumptions hold.

On toy ensembles whose members do not read their context (order 0) every proposal of member k is
accepted with the same probability overlap(q_k, r), independently, so the chain's finite-length
expected cost must equal the exact engine's (ENGINE-1), under COST-1's costs and under a COST-5
table whose two-token calls cost more than one-token calls; and the long-run rate must be the
slope of that cost. Negative controls: the paper's one-cycle formula (THM-3.6) and the same chain
without the draft call after a rejection both miss the exact engine.
"""

from fractions import Fraction as F

import pytest

from specens.reference import (
    SpeculativeEnsemble,
    alternate_acceptance_needed,
    alternate_cost_per_token,
    alternate_expected_cost,
    alternate_speedup,
    exact_output_pmf,
    overlap,
)
from specens.reference.cost import tabled_cost
from specens.reference.engine import enumerate_runs

from tests.unit.test_exact_engine import SETTINGS, make

# two-member settings, made context-free (orders 0, 0) and without EOS (a stop would end the chain early)
TWO = [s[:8] + (None, [0, 0]) for s in SETTINGS if s[0] == 2 and len(s) <= 9]


def se(ensemble, proposer):
    return SpeculativeEnsemble(gammas={k: 1 for k in ensemble.names}, default_proposer=proposer)


def dear_two_token_calls(ensemble):
    """A COST-5 table unlike COST-1: calls of two tokens dearer than calls of one, by member."""
    cheap, dear = ensemble.names
    return {cheap: {1: F(1, 5), 2: F(1, 4)}, dear: {1: F(1), 2: F(21, 20)}}


def exact_tabled(ensemble, method, length, table):
    """E[tabled cost of the trace] over the exact engine's runs (ENGINE-1, COST-5)."""
    return sum((p * tabled_cost(result.trace, table) for result, p in enumerate_runs(ensemble, method, length)), F(0))


def rates(ensemble):
    r = ensemble.target(ensemble.prompt)
    return {k: overlap(ensemble.proposal(k, ensemble.prompt), r) for k in ensemble.names}


@pytest.mark.parametrize("setting", TWO, ids=lambda s: "-".join(map(str, s[:8])))
def test_the_chain_equals_the_exact_engines_expected_cost_on_context_free_toys(setting):
    """COST-6, COST-5, ENGINE-1: equal for 1 to 4 tokens, either default proposer, COST-1's costs and a table."""
    ensemble = make(setting, seed=3)
    prefill = sum((m.cost for m in ensemble.members), F(0))  # COST-2 counts it, COST-5 leaves it out
    for proposer in ensemble.names:
        method = se(ensemble, proposer)
        for length in range(1, 5):
            assert alternate_expected_cost(ensemble, method, length) == \
                exact_output_pmf(ensemble, method, length).expected_cost() - prefill, (proposer, length)
            table = dear_two_token_calls(ensemble)
            assert alternate_expected_cost(ensemble, method, length, table) == \
                exact_tabled(ensemble, method, length, table), (proposer, length)


@pytest.mark.parametrize("setting", [TWO[0], next(s for s in TWO if s[2] == "cd")], ids=lambda s: s[2])
def test_the_long_run_cost_per_token_is_the_slope_of_the_exact_finite_cost(setting):
    """COST-6: the renewal cycle's cost over its tokens is the per-token slope of the exact finite cost
    (to 1e-9: the chain forgets its start and its end geometrically)."""
    ensemble = make(setting, seed=3)
    table = dear_two_token_calls(ensemble)
    for proposer in ensemble.names:
        method = se(ensemble, proposer)
        slope = (alternate_expected_cost(ensemble, method, 600, table)
                 - alternate_expected_cost(ensemble, method, 300, table)) / 300
        assert abs(float(slope - alternate_cost_per_token(rates(ensemble), table, proposer=proposer))) < 1e-9


def test_the_paper_s_one_cycle_formula_and_a_chain_without_the_redraft_miss_the_exact_engine():
    """Negative controls for the two tests above: THM-3.6's speed-up (one alpha, COST-1's costs) misses the
    exact long-run speed-up by over 10%, and a chain that forgets d's draft call after a rejection (charging
    only the verifications) misses the exact finite cost, so those comparisons can fail."""
    ensemble = make(next(s for s in TWO if s[2] == "cd"), seed=3)
    cheap, dear = ensemble.names
    alphas = rates(ensemble)
    table = {m.name: {1: m.cost, 2: m.cost} for m in ensemble.members}
    c = ensemble.member(cheap).cost / ensemble.member(dear).cost
    exact = (1 + c) / (alternate_cost_per_token(alphas, table, proposer=cheap) / ensemble.member(dear).cost)
    one_cycle = alternate_speedup(alphas[cheap], c, 1, 1)
    assert abs(exact / one_cycle - 1) > F(1, 10), (float(exact), float(one_cycle))

    method, length = se(ensemble, cheap), 5
    a_d, a_o, t_d, t_o = alphas[cheap], alphas[dear], table[cheap], table[dear]
    v = {"S": F(0), "D": F(0), "O": F(0)}
    for _ in range(length - 1):  # the chain of alternate_expected_cost with S's call left out
        v = {"D": t_o[2] + a_d * v["O"] + (1 - a_d) * v["S"], "O": t_d[2] + a_o * v["D"] + (1 - a_o) * v["S"]}
        v["S"] = v["D"]
    assert v["S"] + t_d[1] != exact_tabled(ensemble, method, length, table)
    assert alternate_expected_cost(ensemble, method, length, table) == exact_tabled(ensemble, method, length, table)


def test_worked_values_and_the_paper_s_formula_where_they_agree():
    """COST-6's note: 1 at alpha = 0, 2 at alpha = 1, 36/25 at c = 1/5, alpha = 1/2; THM-3.6's value when c = 1."""
    def speedup(alpha, c):
        table = {"d": {1: c, 2: c}, "o": {1: 1, 2: 1}}
        return (1 + F(c)) / alternate_cost_per_token({"d": alpha, "o": alpha}, table, proposer="d")

    assert speedup(0, F(1, 5)) == 1 and speedup(1, F(1, 5)) == 2
    assert speedup(F(1, 2), F(1, 5)) == F(36, 25) > alternate_speedup(F(1, 2), F(1, 5), 1, 1) == F(12, 11)
    for alpha in (F(0), F(1, 7), F(1, 2), F(9, 10), F(1)):
        assert speedup(alpha, 1) == alternate_speedup(alpha, 1, 1, 1)
        c = F(1, 5)
        assert speedup(alpha, c) == (1 + c) * (1 + alpha) / (1 + c + alpha * (1 - alpha) * c)


def test_the_acceptance_a_speed_up_needs_inverts_the_speed_up():
    """COST-6: alternate_acceptance_needed(S(a)) == a exactly, for a measured-looking table; 36/25 needs 1/2."""
    table = {"drafter": {"1": "0.2047", "2": "0.2132"}, "expert": {"1": 1, "2": "1.055"}}  # JSON-style keys
    standard = F("0.2047") + 1
    for a in (F(0), F(3, 10), F(583, 1000), F(1)):
        s = standard / alternate_cost_per_token({"drafter": a, "expert": F(939, 1000)}, table, proposer="drafter")
        assert alternate_acceptance_needed(s, {"drafter": 0, "expert": F(939, 1000)}, table, proposer="drafter") == a
    cost1 = {"d": {1: F(1, 5), 2: F(1, 5)}, "o": {1: 1, 2: 1}}
    assert alternate_acceptance_needed(F(36, 25), {"d": 0, "o": F(1, 2)}, cost1, proposer="d") == F(1, 2)
    assert alternate_acceptance_needed(3, {"d": 0, "o": 1}, cost1, proposer="d") > 1  # past the ceiling of 2


@pytest.mark.parametrize("call, match", [
    (lambda: alternate_cost_per_token({"d": F(1, 2)}, {}, proposer="d"), "alphas: COST-6 prices SE of two"),
    (lambda: alternate_cost_per_token({"d": 2, "o": 1}, {}, proposer="d"), r"alphas: acceptance rates lie in \[0, 1\]"),
    (lambda: alternate_cost_per_token({"d": 1, "o": 1}, {}, proposer="x"), "proposer: 'x' is not one of"),
    (lambda: alternate_cost_per_token({"d": 1, "o": 1}, {"d": {1: 1, 2: 1}}, proposer="d"), "table: no row for member 'o'"),
    (lambda: alternate_cost_per_token({"d": 1, "o": 1}, {"d": {1: 1}, "o": {1: 1, 2: 1}}, proposer="d"),
     r"table: member 'd' needs t\(1\) and t\(2\)"),
    (lambda: alternate_cost_per_token({"d": 1, "o": 1}, {"d": {1: -1, 2: 1}, "o": {1: 1, 2: 1}}, proposer="d"),
     r"table\['d'\]"),
    (lambda: alternate_cost_per_token({"d": "nan", "o": 1}, {}, proposer="d"), "alphas"),
    (lambda: alternate_acceptance_needed(0, {"d": 1, "o": 1}, {"d": {1: 1, 2: 1}, "o": {1: 1, 2: 1}}, proposer="d"),
     "speedup: a positive ratio"),
])
def test_bad_input_is_refused_in_one_line(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_the_exact_finite_cost_refuses_what_its_chain_does_not_model():
    """COST-6's conditions: SE of two members with gammas 1, 1, no threshold, order 0, no EOS; a length >= 1."""
    from specens.reference import NaiveSE

    ensemble = make(TWO[0], seed=3)
    with pytest.raises(ValueError, match="method: COST-6 prices SE"):
        alternate_expected_cost(ensemble, NaiveSE(proposer="m0", gamma=1), 3)
    with pytest.raises(ValueError, match="gammas 1, 1"):
        alternate_expected_cost(ensemble, SpeculativeEnsemble(gammas={"m0": 2, "m1": 1}), 3)
    with pytest.raises(ValueError, match="gammas 1, 1"):
        alternate_expected_cost(ensemble, SpeculativeEnsemble(gammas={"m0": 1, "m1": 1}, confidence_threshold="1/2"), 3)
    with pytest.raises(ValueError, match="order-0 members"):
        alternate_expected_cost(make(SETTINGS[1], seed=3), se(ensemble, "m0"), 3)  # orders 1, 2
    with pytest.raises(ValueError, match="order-0 members"):
        alternate_expected_cost(ensemble.with_(eos_token_id=1), se(ensemble, "m0"), 3)
    for length in (0, True, 2.0):
        with pytest.raises(ValueError, match="length: the number of tokens"):
            alternate_expected_cost(ensemble, se(ensemble, "m0"), length)
