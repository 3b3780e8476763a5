"""COST-5: the tabled cost of a run, t_k(n) per call of n tokens, on hand-worked traces and exact-engine runs."""

from fractions import Fraction as F

import pytest

from specens.reference import NaiveSE, SpeculativeEnsemble, StandardEnsemble, generate
from specens.reference.cost import tabled_cost
from specens.reference.zoo import toy_ensemble


def call(member, start, end, kind="forward"):
    return {"step": 1, "event": "call", "member": member, "kind": kind, "fed": [start, end], "cost": "1"}


def test_tabled_cost_sums_the_cost_of_each_call_by_its_token_count():
    """COST-5: (a, 1), (b, 2), (a, 1) tokens with t_a(1) = 1/4, t_b(2) = 3/2 cost 2; prefill and other events are free."""
    trace = [call("a", 0, 0, "prefill"), call("b", 0, 0, "prefill"), {"step": 0, "event": "emit"},
             call("a", 0, 1), call("b", 0, 2), call("a", 1, 2)]
    table = {"a": {1: "1/4", 2: "9/10"}, "b": {1: 1, 2: F(3, 2)}}
    assert tabled_cost(trace, table) == 2
    table["b"][2] = 0.5  # a float enters exactly
    assert tabled_cost(trace, table) == 1


@pytest.mark.parametrize("method", [StandardEnsemble(), NaiveSE(gamma=3), SpeculativeEnsemble({"m0": 2, "m1": 1})],
                         ids=lambda m: m.name)
def test_a_table_constant_in_n_gives_the_cost_of_cost_2_less_prefill(method):
    """COST-5 reduces to COST-1/COST-2 when t_k(n) = c_k for every n (prefill left out)."""
    ensemble = toy_ensemble(2, 3, seed=2)
    result = generate(ensemble, method, 8, seed=4)
    table = {m.name: {n: m.cost for n in range(1, 10)} for m in ensemble.members}
    prefill = sum(m.cost for m in ensemble.members)
    assert tabled_cost(result.trace, table) == result.cost - prefill


def test_a_call_the_table_does_not_cover_is_refused_in_one_line():
    """COST-5: no guess for a token count the table lacks, nor for an unknown member."""
    with pytest.raises(ValueError, match=r"table: no cost for a call of member 'a' over 3 token\(s\)") as e:
        tabled_cost([call("a", 0, 3)], {"a": {1: 1, 2: 1}})
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="member 'c'"):
        tabled_cost([call("c", 0, 1)], {"a": {1: 1}})
