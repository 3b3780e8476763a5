"""Step-level rules of each method, read off traces of real runs (METHOD, STD, NAIVE, SE, MIX, COST, TRACE)."""

from collections import Counter
from fractions import Fraction as F

import pytest

from specens.reference import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    StandardEnsemble,
    generate,
)
from specens.reference.engine import enumerate_runs
from specens.reference.zoo import toy_ensemble

ENSEMBLE = toy_ensemble(2, 3, seed=2)  # m0 costs 1/4, m1 costs 1; WE weights 1/3, 2/3
THREE = toy_ensemble(3, 3, seed=2)


def calls(result, kind=None):
    return [e for e in result.trace if e["event"] == "call" and (kind is None or e["kind"] == kind)]


@pytest.mark.parametrize("method", [StandardEnsemble(), NaiveSE(gamma=2), SpeculativeEnsemble({"m0": 2, "m1": 1}),
                                    MixtureEnsemble()], ids=lambda m: m.name)
def test_every_member_prefills_once_and_the_first_token_comes_from_r(method):
    """METHOD-1, METHOD-2: one prefill per member, then one direct draw from r with no call."""
    result = generate(ENSEMBLE, method, 6, seed=4)
    assert [e["member"] for e in calls(result, "prefill")] == ["m0", "m1"]
    step0 = [e for e in result.trace if e["step"] == 0]
    assert [e["event"] for e in step0] == ["call", "call", "emit"] and step0[-1]["rule"] == "direct"


def test_no_call_ever_feeds_a_token_a_member_has_already_processed():
    """METHOD-4, COST-1: fed ranges of one member are contiguous except after a crop."""
    for result, _ in enumerate_runs(ENSEMBLE, SpeculativeEnsemble({"m0": 2, "m1": 2}), 4):
        fed = {"m0": 0, "m1": 0}
        for e in result.trace:
            if e["event"] == "call" and e["kind"] == "forward":
                assert e["fed"][0] == fed[e["member"]] < e["fed"][1]
                fed[e["member"]] = e["fed"][1]
            elif e["event"] == "crop":
                fed[e["member"]] = e["length"]


def test_standard_ensemble_calls_every_member_once_per_token_then_draws_from_r():
    """STD-1, STD-2."""
    result = generate(ENSEMBLE, StandardEnsemble(), 5, seed=1)
    for step in range(1, 5):
        events = [(e["event"], e.get("member"), e.get("rule")) for e in result.trace if e["step"] == step]
        assert events == [("call", "m0", None), ("call", "m1", None), ("emit", None, "direct")]


def test_naive_se_proposes_gamma_scores_once_and_never_draws_a_bonus():
    """NAIVE-2, NAIVE-3, NAIVE-4: proposer calls gamma times, each other member once, no bonus token."""
    for result, _ in enumerate_runs(ENSEMBLE, NaiveSE(gamma=2, proposer="m0"), 5):
        assert not any(e["event"] == "propose" and e["bonus"] for e in result.trace)
        for step in {e["step"] for e in result.trace if e["step"] > 0}:
            c = Counter(e["member"] for e in result.trace if e["step"] == step and e["event"] == "call")
            proposed = sum(1 for e in result.trace if e["step"] == step and e["event"] == "propose")
            assert c["m1"] == 1 and c["m0"] == proposed
            verdicts = [e["accepted"] for e in result.trace if e["step"] == step and e["event"] == "verify"]
            assert False not in verdicts[:-1]  # verification stops at the first rejection


def test_after_a_rejection_the_default_proposer_restarts():
    """SE-2, SE-5: the step after a rejection is a fresh proposal by the default proposer."""
    seen = 0
    for default in ("m0", "m1"):
        for result, _ in enumerate_runs(ENSEMBLE, SpeculativeEnsemble({"m0": 1, "m1": 2}, default), 5):
            rejected_steps = {e["step"] for e in result.trace if e["event"] == "verify" and not e["accepted"]}
            for step in rejected_steps:
                nxt = [e for e in result.trace if e["step"] == step + 1 and e["event"] == "propose"]
                if nxt:
                    seen += 1
                    assert {e["member"] for e in nxt} == {default} and not nxt[0]["bonus"]
    assert seen > 0


def test_tokens_are_verified_only_when_every_member_holds_them_and_against_their_proposer():
    """SE-3, SE-4: with three members a token is verified only after both others scored it."""
    for result, _ in enumerate_runs(THREE, SpeculativeEnsemble({"m0": 1, "m1": 1, "m2": 1}), 3):
        proposer = {}
        for e in result.trace:
            if e["event"] == "propose":
                proposer[e["position"]] = e["member"]
            if e["event"] == "verify":
                assert e["proposer"] == proposer[e["position"]]


def test_mixture_spends_one_call_per_token_and_runs_standard_steps_when_greedy():
    """MIX-2, MIX-3."""
    result = generate(ENSEMBLE, MixtureEnsemble(), 6, seed=3)
    assert sum(result.calls.values()) == 2 + 5  # prefill twice, then one call per later token
    greedy = ENSEMBLE.with_(sampling=ENSEMBLE.sampling.__class__(temperature=0))
    g = generate(greedy, MixtureEnsemble(), 6, seed=3)
    assert g.tokens == generate(greedy, StandardEnsemble(), 6, seed=9).tokens
    assert g.calls == {"m0": 6, "m1": 6}


def test_cost_is_the_sum_of_the_calls_costs():
    """COST-2: cost = sum over calls of c_k, prefill included."""
    result = generate(THREE, SpeculativeEnsemble({"m0": 3, "m1": 1, "m2": 2}), 8, seed=5)
    assert result.cost == sum(F(e["cost"]) for e in calls(result))
    assert sum(result.calls.values()) == len(calls(result))


FIELDS = {"call": {"member", "kind", "fed", "cost"}, "propose": {"member", "position", "token", "bonus"},
          "verify": {"position", "token", "proposer", "ratio", "accepted", "emitted"},
          "emit": {"position", "token", "rule"}, "crop": {"member", "length"}}


@pytest.mark.parametrize("method", [StandardEnsemble(), NaiveSE(gamma=3), SpeculativeEnsemble({"m0": 3, "m1": 1}),
                                    MixtureEnsemble()], ids=lambda m: m.name)
def test_trace_events_have_exactly_the_specified_fields(method):
    """TRACE-1."""
    result = generate(ENSEMBLE, method, 8, seed=6)
    for e in result.trace:
        assert set(e) == {"step", "event"} | FIELDS[e["event"]], e
    assert [e["token"] for e in result.trace if e["event"] == "emit"] == result.tokens
