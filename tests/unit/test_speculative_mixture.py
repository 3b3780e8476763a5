"""The speculative mixture (SMIX-1..SMIX-6) and the outside drafter (METHOD-5, TOY-7), exactly.

The exact engine (ENGINE-1) runs the method function itself and must give the weighted
ensemble's sequence law (ENGINE-2) on every WE-in-probs setting of the exact-engine matrix, with
the drafter a member (first or last) or outside the ensemble, gammas 1..3, EOS lists and T = 0.
Negative controls: samplers with the oracle's speculative-mixture defects must differ.
"""

from fractions import Fraction as F

import pytest

from specens.reference import (
    NaiveSE,
    SpeculativeEnsemble,
    SpeculativeMixture,
    exact_ensemble_pmf,
    exact_output_pmf,
    generate,
    load_toy,
    dump_toy,
    naive_expected_tokens,
    overlap,
    plain_speedup,
    residual,
)
from specens.reference.engine import enumerate_runs
from specens.reference.zoo import random_member, toy_ensemble

from tests.unit.test_exact_engine import SETTINGS, make

WE_SETTINGS = [s for s in SETTINGS if s[2] == "we" and s[3] == "probs"]


def outside_drafter(ensemble, *, order=2, cost=F(1, 10), seed=11):
    """A drafter sharing the vocabulary, not in the combination (METHOD-5)."""
    return random_member("t", ensemble.vocab_size, order=order, cost=cost, seed=seed, sparsity=0.25)


def drafters(ensemble):
    yield ensemble, ensemble.names[0]
    yield ensemble, ensemble.names[-1]
    yield ensemble.with_(drafter=outside_drafter(ensemble)), "t"


@pytest.mark.parametrize("setting", WE_SETTINGS, ids=lambda s: "-".join(map(str, s)))
def test_speculative_mixture_emits_the_weighted_ensemble_law_exactly(setting):
    """THM-SMIX via ENGINE-1 == ENGINE-2: SMIX-1..SMIX-6, drafter a member or outside, gamma 1..3."""
    ensemble = make(setting)
    expected = exact_ensemble_pmf(ensemble, 4)
    for ens, drafter in drafters(ensemble):
        for gamma in (1, 2, 3):
            got = exact_output_pmf(ens, SpeculativeMixture(gamma=gamma, drafter=drafter), 4)
            assert got.pmf == expected, (drafter, gamma)


@pytest.mark.parametrize("setting", WE_SETTINGS[:4], ids=lambda s: "-".join(map(str, s)))
def test_naive_se_proposing_from_an_outside_drafter_emits_the_ensemble_law(setting):
    """METHOD-5, NAIVE-1: naive SE with an outside proposer; every member scores, the drafter never enters r."""
    ensemble = make(setting)
    ens = ensemble.with_(drafter=outside_drafter(ensemble))
    for gamma in (1, 3):
        got = exact_output_pmf(ens, NaiveSE(gamma=gamma, proposer="t"), 4)
        assert got.pmf == exact_ensemble_pmf(ensemble, 4)
    result = generate(ens, NaiveSE(gamma=2, proposer="t"), 6, seed=3)
    prefills = [e["member"] for e in result.trace if e["event"] == "call" and e["kind"] == "prefill"]
    assert prefills == list(ensemble.names) + ["t"]  # METHOD-1: the outside proposer is prefilled after the members
    assert all(e["proposer"] == "t" for e in result.trace if e["event"] == "verify")


def test_naive_se_from_an_outside_drafter_ends_a_fully_accepted_round_with_a_draw_from_r():
    """NAIVE-5: after every proposal of a round is accepted, the next token is a direct draw from r at no
    call, because every member scored past the proposal; a member proposer never gets one (NAIVE-4)."""
    ensemble = toy_ensemble(2, 3, seed=4)
    ens = ensemble.with_(drafter=outside_drafter(ensemble))
    bonuses = 0
    for result, _ in enumerate_runs(ens, NaiveSE(gamma=2, proposer="t"), 5):
        for step in {e["step"] for e in result.trace if e["step"] > 0}:
            events = [e for e in result.trace if e["step"] == step]
            verified = [e for e in events if e["event"] == "verify"]
            emits = [e for e in events if e["event"] == "emit"]
            full = all(e["accepted"] for e in verified) and len(verified) == sum(e["event"] == "propose" for e in events)
            if full and verified[-1]["position"] < 4:  # the run continues after the round
                assert emits[-1]["rule"] == "direct" and events[-1] is emits[-1]  # no call after the last verify
                bonuses += 1
            else:
                assert all(e["rule"] != "direct" for e in emits)
    assert bonuses > 0
    for result, _ in enumerate_runs(ensemble, NaiveSE(gamma=2, proposer="m0"), 5):
        assert [e for e in result.trace if e["event"] == "emit" and e["step"] > 0 and e["rule"] == "direct"] == []


def test_plain_speedup_counts_the_bonus_token():
    """THM-3.1 with NAIVE-5: gamma + 1 tokens per fully accepted round, one per round when nothing is accepted."""
    assert plain_speedup(F(1), F(1, 5), 3) == F(4) / (1 + F(3, 5))
    assert plain_speedup(F(0), F(1, 5), 3) == 1 / (1 + F(3, 5))
    assert plain_speedup(F(1, 2), F(0), 2) == naive_expected_tokens(F(1, 2), 3) == F(7, 4)
    for args, message in (((F(3, 2), F(1, 10), 2), "alpha: an acceptance rate must lie in"),
                          ((F(1, 2), -1, 2), "c: a drafter's cost must be >= 0"),
                          ((F(1, 2), F(1, 10), 0), "gamma: a proposal length must be an integer >= 1"),
                          ((F(1, 2), F(1, 10), 2.5), "gamma: a proposal length must be an integer >= 1")):
        with pytest.raises(ValueError, match=message):
            plain_speedup(*args)


def test_an_outside_drafter_never_enters_r_and_is_not_prefilled_when_unused():
    """METHOD-5, COMBINE-7: r is the same with or without a drafter; methods that do not propose from it never call it."""
    ensemble = toy_ensemble(2, 3, seed=4)
    ens = ensemble.with_(drafter=outside_drafter(ensemble))
    assert exact_ensemble_pmf(ens, 3) == exact_ensemble_pmf(ensemble, 3)
    result = generate(ens, SpeculativeEnsemble({"m0": 2, "m1": 1}), 5, seed=0)  # SE-1: members propose
    assert "t" not in result.calls
    assert NaiveSE(gamma=2).check(ens).proposer == "t"  # NAIVE-1: the outside drafter is naive SE's default
    assert NaiveSE(gamma=2).check(ensemble).proposer == "m0"  # ... else the cheapest member


def trace_steps(result):
    steps = {}
    for e in result.trace:
        steps.setdefault(e["step"], []).append(e)
    return steps


def test_a_block_drafts_gamma_chooses_per_position_and_calls_each_chosen_member_once():
    """SMIX-2, SMIX-3, SMIX-4: gamma drafter calls per block; each verifying member called at most once per
    block and only when chosen; chosen-d positions are emitted as is, never verified."""
    ensemble = toy_ensemble(3, 3, seed=2)
    seen_as_is = seen_verify = False
    for result, _ in enumerate_runs(ensemble, SpeculativeMixture(gamma=3, drafter="m0"), 5):
        for step, events in trace_steps(result).items():
            if step == 0:
                continue
            calls = [e["member"] for e in events if e["event"] == "call"]
            verified = {e["against"] for e in events if e["event"] == "verify"}
            assert calls.count("m0") == len([e for e in events if e["event"] == "propose"])
            others = [k for k in calls if k != "m0"]
            assert len(others) == len(set(others)) and set(others) <= verified | {"m0"}
            assert "m0" not in verified  # SMIX-3 step 2: the drafter's own choice is never verified
            seen_as_is |= any(e["event"] == "emit" and e["rule"] == "mixture:m0" for e in events)
            seen_verify |= bool(verified)
    assert seen_as_is and seen_verify


class Recording:
    """A StreamChooser that also records which choice point each uniform resolved (RNG-1)."""

    def __init__(self, seed):
        from specens.reference import StreamChooser, UniformStream

        self.inner, self.labels = StreamChooser(UniformStream(seed=seed)), []

    def draw(self, dist, what):
        self.labels.append(what)
        return self.inner.draw(dist, what)

    def accept(self, r_x, q_x, what):
        self.labels.append(what)
        return self.inner.accept(r_x, q_x, what)


def test_uniforms_follow_rng_1s_block_order_with_free_bonuses_and_carried_choices():
    """RNG-1, SMIX-2, SMIX-3, SMIX-5: per block, the drafter's draws, then per position its choice (none
    when carried over), its accept test (none when the drafter was chosen) and a residual draw after a
    rejection, then the bonus choice and, when its member ran over the block, the bonus draw. Both a
    free bonus and a carried choice occur."""
    from specens.reference import run_method

    ensemble = toy_ensemble(2, 3, seed=2)
    method = SpeculativeMixture(gamma=2, drafter="m0").check(ensemble)
    free = carried = 0
    for seed in range(40):
        chooser = Recording(seed)
        result = run_method(ensemble, method, 8, chooser)
        labels = iter(chooser.labels)
        assert next(labels) == "r@0"  # METHOD-2
        pending = False
        steps = trace_steps(result)
        for step, events in sorted(steps.items()):
            if step == 0:
                continue
            for e in events:
                if e["event"] == "propose":
                    assert next(labels) == f"m0@{e['position']}"
                elif (e["event"] == "verify" or e["event"] == "emit" and e["rule"] == "mixture:m0"):
                    if not pending:  # SMIX-3 step 1
                        assert next(labels) == "member"
                    carried += pending
                    pending = False
                    if e["event"] == "verify":
                        assert next(labels) == f"verify@{e['position']}"
                        if not e["accepted"]:
                            assert next(labels) == f"verify@{e['position']}:residual"
                elif e["event"] == "emit" and e["rule"] == "mixture:m1":  # a free bonus
                    assert [next(labels), next(labels)] == ["member", f"m1@{e['position']}"]
                    free += 1
            rejected = any(e["event"] == "verify" and not e["accepted"] for e in events)
            bonus = any(e["event"] == "emit" and e["rule"] == "mixture:m1" for e in events)
            if not rejected and not bonus and step < max(steps):  # SMIX-5: nobody could serve it: carried
                assert next(labels) == "member"
                pending = True
        assert list(labels) == []
    assert free and carried


def test_at_temperature_zero_the_method_is_a_naive_round_with_the_drafter():
    """SMIX-6: no member choices at T = 0; the drafter proposes gamma greedy tokens, every other member
    scores, verification is against r (as MIX-3 departs from MIX-2)."""
    ensemble = make(WE_SETTINGS[3])  # greedy, EOS 2
    assert ensemble.sampling.greedy
    for ens, drafter in drafters(ensemble):
        a = generate(ens, SpeculativeMixture(gamma=2, drafter=drafter), 6, seed=0)
        b = generate(ens, NaiveSE(gamma=2, proposer=drafter), 6, seed=0)
        assert a.tokens == b.tokens and a.trace == b.trace
        assert not any("against" in e for e in a.trace if e["event"] == "verify")


def test_outside_drafter_costs_count_and_it_is_cropped_after_a_rejection():
    """COST-2, METHOD-4, METHOD-5: every call of the drafter is charged c_d; a rejection crops it too."""
    ensemble = toy_ensemble(2, 3, seed=2)
    ens = ensemble.with_(drafter=outside_drafter(ensemble, cost=F(1, 7)))
    for result, _ in enumerate_runs(ens, SpeculativeMixture(gamma=2), 4):
        members = {m.name: m.cost for m in ens.models}
        total = sum((F(e["cost"]) for e in result.trace if e["event"] == "call"), F(0))
        assert total == result.cost == sum(members[k] * n for k, n in result.calls.items())
        assert result.calls["t"] >= 2  # prefill plus at least one draft call
        fed = {k: 0 for k in members}
        for e in result.trace:
            if e["event"] == "call" and e["kind"] == "forward":
                assert e["fed"][0] == fed[e["member"]]
                fed[e["member"]] = e["fed"][1]
            elif e["event"] == "crop":
                fed[e["member"]] = e["length"]


def test_toy_files_carry_the_outside_drafter_and_the_method():
    """TOY-7, TOY-4: the drafter and the speculative-mixture method survive a JSON round trip."""
    ensemble = toy_ensemble(2, 3, seed=2)
    ens = ensemble.with_(drafter=outside_drafter(ensemble))
    obj = dump_toy(ens, SpeculativeMixture(gamma=3), 5)
    assert obj["method"] == {"name": "speculative-mixture", "gamma": 3, "drafter": None}
    ens2, method, length = load_toy(obj)
    assert ens2.drafter.to_json() == ens.drafter.to_json() and method == SpeculativeMixture(gamma=3, drafter="t")
    assert "drafter" not in dump_toy(ensemble, SpeculativeMixture(gamma=3), 5)["ensemble"]


@pytest.mark.parametrize("bad, message", [
    (lambda e: e.with_(drafter=random_member("m0", 3)), "drafter: its name 'm0' is a member's"),
    (lambda e: e.with_(drafter=random_member("t", 4)), "drafter: has 4 tokens per row"),
])
def test_a_bad_outside_drafter_is_refused_in_one_line(bad, message):
    """METHOD-5: a drafter named like a member or with another vocabulary is refused naming the fix."""
    with pytest.raises(ValueError, match=message):
        bad(toy_ensemble(2, 3, seed=2))


def test_the_speculative_mixture_is_refused_where_r_is_not_a_mixture():
    """SMIX-1: only WE in mode probs; gamma >= 1; the drafter must exist."""
    with pytest.raises(ValueError, match="method: the speculative mixture is exact only"):
        SpeculativeMixture(gamma=2).check(toy_ensemble(2, 3, combination="cd"))
    with pytest.raises(ValueError, match="gamma"):
        SpeculativeMixture(gamma=0)
    with pytest.raises(ValueError, match="drafter: no member named 'x'"):
        SpeculativeMixture(gamma=2, drafter="x").check(toy_ensemble(2, 3))


def test_one_position_of_the_mixture_of_verification_steps_is_r_exactly():
    """THM-SMIX twin, in rationals: sum_k w_k (law of one VERIFY-3 step of a p_d draw against p_k), with
    the drafter's own token for k = d, equals r = sum_k w_k p_k (proofs/Mixture.v)."""
    p = {"a": (F(1, 2), F(1, 4), F(1, 4)), "b": (F(0), F(1, 3), F(2, 3)), "d": (F(3, 4), F(1, 4), F(0))}
    for weights in ({"a": F(1, 3), "b": F(2, 3)}, {"a": F(1, 5), "b": F(3, 10), "d": F(1, 2)}):
        law = [F(0)] * 3
        for k, w in weights.items():
            if k == "d":
                step = p["d"]
            else:
                res = residual(p[k], p["d"])
                reject = 1 - overlap(p["d"], p[k])
                step = tuple(min(p["d"][x], p[k][x]) + reject * res[x] for x in range(3))
            law = [a + w * s for a, s in zip(law, step)]
        assert tuple(law) == tuple(sum(w * p[k][x] for k, w in weights.items()) for x in range(3))


# -- negative controls: samplers with the oracle's speculative-mixture defects differ (ENGINE-1) ---------

def _mutated(monkeypatch, mutation):
    from specens.reference import state

    mutation(monkeypatch, state.Run)
    ensemble = toy_ensemble(2, 3, seed=2)
    got = exact_output_pmf(ensemble, SpeculativeMixture(gamma=2, drafter="m0"), 4)
    assert sum(got.pmf.values()) == 1
    return got.pmf != exact_ensemble_pmf(ensemble, 4)


def test_the_engine_catches_a_chosen_drafter_position_verified_against_another_member(monkeypatch):
    """Negative control: SMIX-3 step 2 broken (the drafter's own choice verified against the other member)."""
    def mutation(mp, Run):
        original = Run.emit_head

        def verify_instead(self):
            other = next(k for k in self.names if k != self.cache[0].proposer)
            if not self.holds_at(other, len(self.emitted)):
                self.forward(other)
            self.verify_head(against=other)
        mp.setattr(Run, "emit_head", verify_instead)
        assert original
    assert _mutated(monkeypatch, mutation)


def test_the_engine_catches_a_bonus_drawn_from_the_drafter(monkeypatch):
    """Negative control: SMIX-5 broken (the free bonus drawn from p_d whatever member was chosen)."""
    def mutation(mp, Run):
        original = Run.sample_member

        def from_drafter(self, name):
            if self.step > 0:  # the free bonus: the drafter catches up and draws it instead
                if not self.holds_at("m0", len(self.emitted)):
                    self.forward("m0")
                return original(self, "m0")
            return original(self, name)
        mp.setattr(Run, "sample_member", from_drafter)
    assert _mutated(monkeypatch, mutation)


# -- COST-4 ---------------------------------------------------------------------------------------------

def context_free(n=2, seed=3):
    ensemble = toy_ensemble(n, 3, seed=seed, orders=[0] * n)
    return ensemble, ensemble.with_(drafter=outside_drafter(ensemble, order=0, cost=F(1, 10), seed=7))


@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_the_cost_model_equals_the_exact_engines_expected_cost_on_context_free_toys(gamma):
    """COST-4, COST-2: with order-0 members and drafter the model is exact: its finite-length expected cost
    (prefill, gamma drafter calls per block, one call per chosen member, free bonuses, carried choices)
    equals ENGINE-1's, for the drafter a member (cheap or dear) or outside."""
    from specens.reference import speculative_mixture_expected_cost

    for n in (2, 3):
        ensemble, with_outside = context_free(n)
        for ens, drafter in ((ensemble, "m0"), (ensemble, ensemble.names[-1]), (with_outside, "t")):
            method = SpeculativeMixture(gamma=gamma, drafter=drafter)
            length = 4 if n == 2 else 3
            assert speculative_mixture_expected_cost(ens, method, length) == \
                exact_output_pmf(ens, method, length).expected_cost(), (n, drafter)


def test_the_long_run_cost_per_token_is_the_slope_of_the_exact_finite_cost():
    """COST-4: the stationary rate over carried choices equals the per-token slope of the exact finite cost
    (to 1e-12: the chain forgets its start geometrically)."""
    from specens.reference import speculative_mixture_cost_per_token, speculative_mixture_expected_cost

    ensemble, with_outside = context_free(3)
    for ens, drafter in ((ensemble, "m0"), (with_outside, "t")):
        p_d = ens.proposal(drafter, ())
        for gamma in (1, 3):
            method = SpeculativeMixture(gamma=gamma, drafter=drafter)
            slope = (speculative_mixture_expected_cost(ens, method, 60)
                     - speculative_mixture_expected_cost(ens, method, 30)) / 30
            rate = speculative_mixture_cost_per_token(
                {k: ens.combination.weights[k] for k in ens.names}, {m.name: m.cost for m in ens.members},
                {k: overlap(p_d, ens.proposal(k, ())) for k in ens.names if k != drafter}, ens.member(drafter).cost,
                gamma, drafter=None if drafter == "t" else drafter)
            assert abs(float(slope - rate)) < 1e-12


def test_the_cost_model_by_hand_and_its_bad_input():
    """COST-4 worked example (a perfect free outside drafter: 2/3 per token against the mixture's 1), and
    MIX-2's sum_k w_k c_k; bad weights, alphas and gamma are refused in one line."""
    from specens.reference import mixture_cost_per_token, speculative_mixture_cost_per_token

    half = {"a": F(1, 2), "b": F(1, 2)}
    assert speculative_mixture_cost_per_token(half, {"a": 1, "b": 1}, {"a": 1, "b": 1}, 0, 1) == F(2, 3)
    assert mixture_cost_per_token({"a": F(1, 3), "b": F(2, 3)}, {"a": F(1, 4), "b": 1}) == F(3, 4)
    # a drafter no member ever accepts: every block is gamma = 4 drafter calls, one member call, one token
    assert speculative_mixture_cost_per_token(half, {"a": 1, "b": 1}, {"a": 0, "b": 0}, F(1, 10), 4) == F(7, 5)
    for bad, match in [(dict(weights={"a": F(1, 2), "b": F(1, 3)}), "weights"),
                       (dict(alphas={"a": 2, "b": 1}), "alphas"), (dict(gamma=0), "gamma")]:
        args = dict(weights=half, costs={"a": 1, "b": 1}, alphas={"a": 1, "b": 1}, drafter_cost=0, gamma=1) | bad
        with pytest.raises(ValueError, match=match):
            speculative_mixture_cost_per_token(**args)


@pytest.mark.parametrize("method, message", [
    (lambda: SpeculativeMixture(gamma=2, drafter=""), "drafter: no member or outside drafter named ''"),
    (lambda: SpeculativeMixture(gamma=2, drafter=3), "drafter: no member or outside drafter named 3"),
    (lambda: NaiveSE(gamma=2, proposer=""), "proposer: no member or outside drafter named ''"),
    (lambda: SpeculativeEnsemble({"m0": 1, "m1": 1}, default_proposer="t"),
     "default_proposer: 't' is the outside drafter, which only NaiveSE and SpeculativeMixture draft from"),
    (lambda: SpeculativeEnsemble({"m0": 1, "m1": 1}, default_proposer=""), "default_proposer: no member named ''"),
])
def test_a_drafter_or_proposer_that_names_no_model_is_refused_in_one_line(method, message):
    """SMIX-1, NAIVE-1, SE-1, METHOD-5: an empty name is not the default (it used to select it silently),
    and SE's default proposer must be a member (the outside drafter used to raise a bare KeyError)."""
    ensemble = toy_ensemble(2, 3, seed=2)
    ens = ensemble.with_(drafter=outside_drafter(ensemble))
    with pytest.raises(ValueError, match=message):
        generate(ens, method(), 4, seed=0)
    assert generate(ens, SpeculativeMixture(gamma=2, drafter=None), 4, seed=0).calls["t"] >= 2  # None: the default


def test_the_cost_models_edge_cases_equal_the_exact_engine():
    """COST-4 on the edges: a member of weight 1 and one of weight 0 (either drafting), and an outside
    drafter that is a member's twin or puts no mass where a member has it; the model's finite cost
    equals ENGINE-1's expected cost."""
    from specens.reference import speculative_mixture_expected_cost
    from specens.reference.combine import WeightedEnsemble
    from specens.reference.toy import ToyMember
    from specens.reference.transforms import Scores

    ensemble, with_outside = context_free(2)
    cases = []
    for w in ({"m0": 1, "m1": 0}, {"m0": 0, "m1": 1}):
        cases += [(ensemble.with_(combination=WeightedEnsemble(w)), d) for d in ("m0", "m1")]
        cases.append((with_outside.with_(combination=WeightedEnsemble(w)), "t"))
    twin = ToyMember(name="t", table=ensemble.members[1].table, order=0, cost=F(1, 10))
    one_hot = ToyMember(name="t", table={(): Scores(probs=(F(0), F(0), F(1)))}, order=0, cost=F(1, 10))
    cases += [(ensemble.with_(drafter=twin), "t"), (ensemble.with_(drafter=one_hot), "t")]
    for ens, drafter in cases:
        for gamma in (1, 3):
            method = SpeculativeMixture(gamma=gamma, drafter=drafter)
            assert speculative_mixture_expected_cost(ens, method, 4) == exact_output_pmf(ens, method, 4).expected_cost()


@pytest.mark.parametrize("call, match", [
    (lambda f, m: f({"a": F(1, 2), "b": F(1, 2)}, {"a": 1, "b": 1}, {"a": 1, "b": 1}, -1, 1), "drafter_cost: must be >= 0"),
    (lambda f, m: f({"a": F(1, 2), "b": F(1, 2)}, {"a": 1, "b": 1}, {"a": 1, "b": 1}, float("nan"), 1),
     "drafter_cost: expected a finite number"),
    (lambda f, m: f({"a": F(1, 2), "b": F(1, 2)}, {"a": -1, "b": 1}, {"a": 1, "b": 1}, 0, 1), "costs: must be >= 0"),
    (lambda f, m: f({"a": F(1, 2), "b": F(1, 2)}, {"a": 1, "b": 1}, {"a": "x", "b": 1}, 0, 1), r"alphas\['a'\]: cannot read"),
    (lambda f, m: f({"a": F(1, 2), "b": F(1, 2)}, {"a": 1, "b": 1}, {"a": 1, "b": 1}, 0, 1, drafter="t"),
     "drafter: 't' is not a member"),
    (lambda f, m: f([F(1, 2), F(1, 2)], {"a": 1, "b": 1}, {"a": 1, "b": 1}, 0, 1), "weights: give a dict"),
    (lambda f, m: m({"a": 1, "b": 1}, {"a": 1, "b": 1}), "weights: must sum to exactly 1"),
    (lambda f, m: m({"a": F(3, 2), "b": F(-1, 2)}, {"a": 1, "b": 1}), "weights: must be >= 0"),
    (lambda f, m: m({"a": F(1, 2), "b": F(1, 2)}, {"a": 1}), "weights, costs: key both"),
])
def test_the_cost_functions_refuse_out_of_range_input_in_one_line(call, match):
    """COST-4: negative or non-numeric costs, an unknown member drafter (it used to be priced silently as an
    outside one) and unnormalised mixture weights (mixture_cost_per_token used to return sum_k w_k c_k of
    them, e.g. 2 for weights 1, 1) are refused naming the argument."""
    from specens.reference import mixture_cost_per_token, speculative_mixture_cost_per_token

    with pytest.raises(ValueError, match=match):
        call(speculative_mixture_cost_per_token, mixture_cost_per_token)


@pytest.mark.parametrize("length", [0, -1, True, 2.5])
def test_the_exact_finite_cost_refuses_a_bad_length_or_method(length):
    """COST-4: `length` is max_new_tokens (an integer >= 1; 2.5 used to recurse without end); the method a
    SpeculativeMixture."""
    from specens.reference import MixtureEnsemble, speculative_mixture_expected_cost

    _, with_outside = context_free(2)
    with pytest.raises(ValueError, match="length: the number of tokens must be an integer >= 1"):
        speculative_mixture_expected_cost(with_outside, SpeculativeMixture(gamma=2), length)
    with pytest.raises(ValueError, match="method: COST-4 prices the speculative mixture"):
        speculative_mixture_expected_cost(with_outside, MixtureEnsemble(), 3)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "x"])
def test_a_bad_seed_is_refused_in_one_line_as_the_fast_path_does(seed):
    """RNG-1: a seed is a non-negative integer; the reference used to accept True and leak NumPy's
    TypeError for 1.5 or 'x' (the fast path already refused them naming `seed`)."""
    ensemble = toy_ensemble(2, 3, seed=2)
    with pytest.raises(ValueError, match="seed: must be a non-negative integer"):
        generate(ensemble.with_(drafter=outside_drafter(ensemble)), SpeculativeMixture(gamma=2), 3, seed=seed)


@pytest.mark.parametrize("extra, key", [({"proposer": "m0"}, "proposer"), ({"gammas": {"m0": 2}}, "gammas"),
                                        ({"drafer": "m0"}, "drafer")])
def test_a_toy_method_key_the_method_does_not_take_is_refused_not_ignored(extra, key):
    """TOY-4: `{"name": "speculative-mixture", "proposer": "m0"}` used to run with the default drafter
    (the outside one), silently; a misplaced or misspelt key is now refused naming it."""
    ensemble = toy_ensemble(2, 3, seed=2)
    obj = dump_toy(ensemble.with_(drafter=outside_drafter(ensemble)), SpeculativeMixture(gamma=2), 3)
    load_toy(obj)
    obj["method"].update(extra)
    with pytest.raises(ValueError, match=f"method.{key}: method 'speculative-mixture' takes only the keys name, "
                                         "gamma, drafter"):
        load_toy(obj)


def test_the_cost_model_prices_long_blocks_without_walking_every_choice_sequence():
    """COST-4 with gamma 40 and three members: the block walk is memoised on (position, members called),
    so it finishes at once (it used to enumerate 3^40 choice sequences). A perfect outside drafter of
    cost 1/10: a block costs at most 40 c_d + 3 for at least 40 tokens, and at least 40 c_d + 1 for at
    most 41."""
    from specens.reference import speculative_mixture_cost_per_token

    w = {k: F(1, 3) for k in ("a", "b", "c")}
    rate = speculative_mixture_cost_per_token(w, dict.fromkeys(w, 1), dict.fromkeys(w, 1), F(1, 10), 40)
    assert F(5, 41) <= rate <= F(7, 40)
    assert speculative_mixture_cost_per_token(w, dict.fromkeys(w, 1), dict.fromkeys(w, F(1, 2)), F(1, 10), 40) > rate


def test_max_new_tokens_true_is_refused_by_generate_as_by_the_exact_engine():
    """METHOD-3: max_new_tokens is a positive integer; generate used to read True as 1 where the exact
    engine refused it."""
    ensemble = toy_ensemble(2, 3, seed=2)
    for run in (lambda: generate(ensemble, SpeculativeMixture(gamma=2), True, seed=0),
                lambda: exact_output_pmf(ensemble, SpeculativeMixture(gamma=2), True)):
        with pytest.raises(ValueError, match="max_new_tokens: must be a positive integer, got True"):
            run()
