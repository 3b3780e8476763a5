"""The exact engine (ENGINE-1) against the ensemble's sequence law (ENGINE-2), for every method.

Equality is exact, in rationals. The matrix covers n = 1, 2, 3 members, V = 2..4, lengths up to 4,
gammas 1..4 (1 gives many role swaps, above 1 continuations), greedy and sampled, every mode,
top-k/top-p, EOS (one id or a list), members of orders 0 to 5 with prompts (some reading the whole
history), and each member as the default proposer (DEFECT-13).
"""

from fractions import Fraction

import pytest

from specens.reference import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
    exact_ensemble_pmf,
    exact_output_pmf,
    standard_cost,
)
from specens.reference.zoo import toy_ensemble

SETTINGS = [
    # (n, V, combination, mode, temperature, top_k, top_p, kind, eos). Logit combinations of sparse
    # members can rule out every token (COMBINE-6), so they get members without zero entries.
    (1, 3, "we", "probs", 1, None, None, "probs", None),
    (2, 2, "we", "probs", 1, None, None, "probs", None),
    (2, 3, "we", "probs", 1, None, None, "probs", 2),
    (2, 3, "we", "probs", 0, None, None, "probs", 2),
    (2, 3, "we", "probs", "1/2", 2, None, "probs", None),
    (2, 4, "we", "probs", 1, None, "3/4", "probs", 3),
    (2, 3, "we", "logits", 1, None, None, "logits", None),
    (2, 3, "we", "raw-logits", "3/2", None, None, "logits", 2),
    (2, 3, "cd", "raw-logits", 1, None, None, "logits", None),
    (2, 3, "cd", "raw-logits", 0, None, None, "logits", 2),
    (2, 3, "cd", "logits", 1, 2, None, "probs", None),
    (2, 2, "cd", "probs", 1, None, "9/10", "probs", 1),
    (3, 2, "we", "probs", 1, None, None, "probs", None),
    (3, 3, "we", "probs", 1, None, None, "probs", 2),
    (3, 3, "we", "raw-logits", 0, None, None, "logits", None),
    (3, 2, "we", "logits", 1, None, None, "probs", 1),
    # (..., eos, orders, prompt): members of order 3 to 5 (TOY-2), some reading the whole history
    # (order >= prompt length + 4 - 1), and EOS lists of two ids (METHOD-3).
    (2, 2, "we", "probs", 1, None, None, "probs", None, (3, 1), ()),
    (2, 3, "we", "probs", 1, None, None, "probs", (0, 2), (1, 4), (2,)),
    (2, 3, "cd", "raw-logits", 1, None, None, "logits", (1, 2), (5, 3), (0, 1)),
    (2, 2, "we", "logits", 0, None, None, "logits", None, (4, 5), (1, 1)),
    (3, 3, "we", "probs", "1/2", 2, None, "probs", (1, 2), (3, 0, 4), (1,)),
]


def make(setting, seed=0):
    n, v, comb, mode, t, k, p, kind, eos, orders, prompt = setting + (None, ())[len(setting) - 9:]
    return toy_ensemble(n, v, combination=comb, mode=mode, temperature=Fraction(t), top_k=k,
                        top_p=None if p is None else Fraction(p), kind=kind,
                        sparsity=0.25 if (comb, mode) == ("we", "probs") else 0, eos_token_id=eos, seed=seed,
                        orders=orders, prompt=prompt)


def methods_for(ensemble):
    names = ensemble.names
    yield StandardEnsemble()
    for gamma in (1, 3):
        for proposer in (names[0], names[-1]):
            yield NaiveSE(gamma=gamma, proposer=proposer)
    for gammas in ((1,), (2, 1), (1, 3), (4, 2)):
        for default in (names[0], names[-1]):
            yield SpeculativeEnsemble({k: gammas[i % len(gammas)] for i, k in enumerate(names)}, default)
    if ensemble.mode == "probs" and ensemble.combination.to_json()["kind"] == "we":
        yield MixtureEnsemble()
        yield SpeculativeMixture(gamma=2, drafter=names[-1])  # SMIX-1 (more: test_speculative_mixture.py)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(map(str, s)))
def test_every_method_emits_the_ensemble_sequence_law_exactly(setting):
    """ENGINE-1 == ENGINE-2 for STD-1, NAIVE-1, SE-1, MIX-1, SMIX-1 (METHOD-1..METHOD-4, EOS and length)."""
    ensemble = make(setting)
    length = 4
    expected = exact_ensemble_pmf(ensemble, length)
    assert sum(expected.values()) == 1
    for method in methods_for(ensemble):
        got = exact_output_pmf(ensemble, method, length)
        assert got.pmf == expected, f"{method} differs from the ensemble law"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(map(str, s)))
def test_speculative_ensemble_with_gammas_of_one_never_costs_more_than_the_standard_ensemble(setting):
    """COST-3 / COR-3.7, branch by branch: every enumerated run, each default proposer."""
    ensemble = make(setting, seed=1)
    for default in ensemble.names:
        method = SpeculativeEnsemble({k: 1 for k in ensemble.names}, default)
        for seq, cost, p in exact_output_pmf(ensemble, method, 4).runs:
            assert cost <= standard_cost(ensemble, len(seq)), (default, seq, cost)


def test_the_engine_sees_the_alternation_when_runs_are_long_enough():
    """DEFECT-13: with gamma 1 and length 4, a two-member SE run verifies bonus tokens (SE-3) and
    the scorer's continuation (SE-6) appears with gamma 2; otherwise the matrix would prove little."""
    ensemble = make(SETTINGS[2])
    from specens.reference.engine import enumerate_runs

    bonus_verified = continued = False
    for result, _ in enumerate_runs(ensemble, SpeculativeEnsemble({"m0": 1, "m1": 2}, "m0"), 4):
        bonus_positions = {e["position"] for e in result.trace if e["event"] == "propose" and e["bonus"]}
        verified = {e["position"] for e in result.trace if e["event"] == "verify"}
        bonus_verified |= bool(bonus_positions & verified)
        continued |= any(e["event"] == "propose" and not e["bonus"] and e["member"] == "m1" for e in result.trace)
    assert bonus_verified and continued


def test_the_matrix_has_high_order_members_whole_histories_and_eos_lists():
    """TOY-2, METHOD-3: orders 3, 4 and 5, a member whose order covers prompt + 3 generated tokens (so
    its row depends on the whole history), prompts, and an EOS list of two ids are all in the matrix."""
    ensembles = [make(s) for s in SETTINGS]
    orders = {m.order for e in ensembles for m in e.members}
    assert {0, 1, 2, 3, 4, 5} <= orders
    assert any(m.order >= len(e.prompt) + 3 and e.prompt for e in ensembles for m in e.members)
    assert any(len(e.eos_token_id) == 2 for e in ensembles)


def test_the_engine_catches_a_sampler_that_emits_the_bonus_token_unverified(monkeypatch):
    """Negative control for ENGINE-1: a DEFECT-3 mutant (bonus token emitted without VERIFY-1) differs."""
    from specens.reference import state

    ensemble = make(SETTINGS[2])
    original = state.Run.verify_head

    def verify_unless_bonus(self):
        position = len(self.emitted)
        if any(e["event"] == "propose" and e["bonus"] and e["position"] == position for e in self.trace):
            head = self.cache.pop(0)
            self.emit(head.token, "accepted")
            return True
        return original(self)

    monkeypatch.setattr(state.Run, "verify_head", verify_unless_bonus)
    got = exact_output_pmf(ensemble, SpeculativeEnsemble({"m0": 1, "m1": 1}, "m0"), 4)
    assert sum(got.pmf.values()) == 1
    assert got.pmf != exact_ensemble_pmf(ensemble, 4)


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("vocab", [2, 3, 4])
@pytest.mark.parametrize("mode", ["probs", "logits", "raw-logits"])
@pytest.mark.parametrize("temperature", [0, 1])
def test_full_matrix_of_speculative_ensembles_is_exact(n, vocab, mode, temperature):
    """ENGINE-1 == ENGINE-2 on the full product (slow: run with -m slow)."""
    ensemble = toy_ensemble(n, vocab, mode=mode, temperature=temperature, eos_token_id=vocab - 1, seed=1,
                            kind="logits" if mode != "probs" else "probs")
    expected = exact_ensemble_pmf(ensemble, 4)
    for method in methods_for(ensemble):
        assert exact_output_pmf(ensemble, method, 4).pmf == expected


def test_any_sampler_written_against_a_chooser_gets_its_exact_law():
    """ENGINE-1 for a sampler outside the methods: exact_sampler_pmf of a method's own run is exact_output_pmf's
    law; a one-token speculative step with the residual emits r and without it does not (negative control);
    list results are taken as tuples; hidden randomness outside the chooser (draws that change from one
    replay to the next) is caught because the paths no longer sum to 1; `limit` is enforced."""
    from specens.reference import exact_sampler_pmf, run_method
    from specens.reference.verify import residual

    ensemble = make(SETTINGS[1], seed=2)
    method = SpeculativeEnsemble(gammas={"m0": 2, "m1": 1})
    assert exact_sampler_pmf(lambda c: run_method(ensemble, method, 3, c).tokens) == \
        exact_output_pmf(ensemble, method, 3).pmf

    q, r = (Fraction(3, 4), Fraction(1, 4)), (Fraction(1, 2), Fraction(1, 2))

    def step(chooser, fixed):
        x = chooser.draw(q, "propose")
        if chooser.accept(r[x], q[x], "verify"):
            return x
        return chooser.draw(residual(r, q) if fixed else q, "replace")

    assert exact_sampler_pmf(lambda c: step(c, True)) == {0: Fraction(1, 2), 1: Fraction(1, 2)}
    assert exact_sampler_pmf(lambda c: step(c, False)) == {0: Fraction(11, 16), 1: Fraction(5, 16)}
    assert exact_sampler_pmf(lambda c: [c.draw(q, "a"), c.draw(q, "b")])[(0, 1)] == Fraction(3, 16)

    calls = []

    def hidden(chooser):  # its distribution depends on how often it has run, not only on the choices
        calls.append(1)
        return chooser.draw(q if len(calls) % 2 else (Fraction(1, 2), Fraction(1, 2)), "x")

    with pytest.raises(RuntimeError, match="sum to"):
        exact_sampler_pmf(hidden)
    with pytest.raises(ValueError, match="limit: more than 3 runs"):
        exact_sampler_pmf(lambda c: [c.draw(q, str(i)) for i in range(3)], limit=3)
