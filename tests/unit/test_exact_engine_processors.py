"""The exact engine with logits processors and stop sequences: every method's law is exactly the
standard ensemble's (ENGINE-1 == ENGINE-2, PROC-12), in rationals.

The matrix: each processor alone, two together, every mode, greedy and sampled, EOS ids (one and a
list), stop sequences, two and three members, a prompt, and lengths of 5 (beyond the first cycles:
verified bonus tokens and continuations, DEFECT-13) where the enumeration stays small.
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
)
from specens.reference.processors import Processors
from specens.reference.zoo import random_member, toy_ensemble

P = Processors
SETTINGS = {
    # name: (toy_ensemble kwargs, processors, stop_sequences, length)
    "repetition-2-probs-eos": (dict(n=2, vocab_size=3, eos_token_id=2), P(repetition_penalty=2), (), 5),
    "repetition-3/2-logits": (dict(n=2, vocab_size=3, mode="logits", kind="logits"), P(repetition_penalty="3/2"), (), 4),
    "presence-frequency-cd-raw": (dict(n=2, vocab_size=3, combination="cd", kind="logits"),
                                  P(presence_penalty=1, frequency_penalty="1/2"), (), 4),
    "ngram-2-prompt": (dict(n=2, vocab_size=3, prompt=(1,)), P(no_repeat_ngram_size=2), (), 5),
    "min-new-tokens-eos-list": (dict(n=2, vocab_size=3, eos_token_id=(0, 2)), P(min_new_tokens=2), (), 4),
    "logit-bias-probs": (dict(n=2, vocab_size=3, eos_token_id=1), P(logit_bias={1: "-1", 2: "1/2"}), (), 4),
    "bad-words-logits": (dict(n=2, vocab_size=3, mode="logits", kind="logits"), P(bad_words_ids=[[0, 1], [2, 2]]), (), 4),
    "min-p-T3/2": (dict(n=2, vocab_size=3, temperature=Fraction(3, 2)), P(min_p="1/3"), (), 4),
    "repetition-min-new-cd-raw-eos": (dict(n=2, vocab_size=3, combination="cd", kind="logits", eos_token_id=2),
                                      P(repetition_penalty=2, min_new_tokens=2), (), 4),
    "bias-frequency-greedy": (dict(n=2, vocab_size=3, temperature=0, eos_token_id=2),
                              P(logit_bias={0: "1/2"}, frequency_penalty=1), (), 6),
    "ngram-greedy-cd-raw": (dict(n=2, vocab_size=3, combination="cd", kind="logits", temperature=0, seed=1, prompt=(1,)),
                            P(no_repeat_ngram_size=2), (), 6),
    "repetition-stop-sequence": (dict(n=2, vocab_size=3, eos_token_id=0), P(repetition_penalty=3), ((1, 2), (2, 2)), 5),
    "three-members-repetition-stop": (dict(n=3, vocab_size=3, eos_token_id=2), P(repetition_penalty=2), ((1, 1),), 4),
    "min-p-top-p-bias-probs": (dict(n=2, vocab_size=3, kind="logits", top_p=Fraction(9, 10)),
                                P(min_p="1/4", logit_bias={1: 1}), (), 4),
}


def make(name, seed=0):
    kwargs, processors, stops, length = SETTINGS[name]
    ensemble = toy_ensemble(**{"seed": seed, "sparsity": 0, **kwargs})
    return ensemble.with_(processors=processors, stop_sequences=stops), length


def methods_for(ensemble):
    """Standard, naive SE from either end, SE with gammas 1 (role swaps) and above 1 (continuations)
    with each end as the default proposer, and the mixture where it is defined (WE in mode probs)."""
    a, b = ensemble.names[0], ensemble.names[-1]
    yield StandardEnsemble()
    yield NaiveSE(gamma=3, proposer=a)
    yield NaiveSE(gamma=1, proposer=b)
    for gammas, default in (((1,), a), ((2, 1), b), ((1, 3), a), ((3, 2), b)):
        yield SpeculativeEnsemble({k: gammas[i % len(gammas)] for i, k in enumerate(ensemble.names)}, default)
    if ensemble.mode == "probs" and ensemble.combination.to_json()["kind"] == "we":
        yield MixtureEnsemble()
        yield SpeculativeMixture(gamma=2, drafter=a)  # SMIX-1 with a member drafting
        yield SpeculativeMixture(gamma=1, drafter=b)


@pytest.mark.parametrize("name", [n for n in SETTINGS if "cd" not in n and "logits" not in n])
def test_the_speculative_mixture_with_an_outside_drafter_and_processors_emits_the_we_law_exactly(name):
    """SMIX-1..SMIX-6, METHOD-5, PROC-10, PROC-12: the outside drafter's proposals are processed like a
    member's (its own p_d at the same prefix), and every emitted token still follows r exactly."""
    ensemble, length = make(name)
    if ensemble.mode != "probs":
        pytest.skip("the speculative mixture needs WE in mode probs (SMIX-1)")
    expected = exact_ensemble_pmf(ensemble, length)
    outside = ensemble.with_(drafter=random_member("t", ensemble.vocab_size, order=2, cost="1/10", seed=5, sparsity=0))
    for gamma in (1, 3):
        assert exact_output_pmf(outside, SpeculativeMixture(gamma=gamma), length).pmf == expected, (name, gamma)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_method_with_processors_emits_the_standard_ensemble_law_exactly(name):
    """PROC-12, PROC-10, STOP-2, STOP-4: ENGINE-1 == ENGINE-2 for STD, NAIVE, SE and MIX with processors."""
    ensemble, length = make(name)
    expected = exact_ensemble_pmf(ensemble, length)
    assert sum(expected.values()) == 1
    for method in methods_for(ensemble):
        assert exact_output_pmf(ensemble, method, length).pmf == expected, f"{method} differs ({name})"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_setting_of_the_matrix_changes_the_law(name):
    """PROC-1: the processors and stop sequences of every setting move the law (else the matrix would
    show nothing about them)."""
    ensemble, length = make(name)
    plain = ensemble.with_(processors=Processors(), stop_sequences=())
    assert exact_ensemble_pmf(ensemble, length) != exact_ensemble_pmf(plain, length)


def test_the_matrix_covers_each_processor_each_mode_greedy_eos_lists_and_stop_sequences():
    """PROC-1, PROC-10, DEFECT-13: what the matrix claims to cover, it covers."""
    ensembles = [make(n)[0] for n in SETTINGS]
    fields = set()
    for e in ensembles:
        fields |= {f for f in Processors.__dataclass_fields__ if getattr(e.processors, f) != getattr(Processors(), f)}
    assert fields == set(Processors.__dataclass_fields__)
    assert {e.mode for e in ensembles} == {"probs", "logits", "raw-logits"}
    assert any(e.sampling.greedy for e in ensembles) and any(not e.sampling.greedy for e in ensembles)
    assert any(len(e.eos_token_id) == 2 for e in ensembles) and any(e.stop_sequences for e in ensembles)
    assert any(len(e.processors.to_json()) >= 2 for e in ensembles)
    assert max(length for *_, length in SETTINGS.values()) >= 5


def test_the_engine_rejects_history_advanced_once_per_step(monkeypatch):
    """Negative control for PROC-12 (DEFECT-16): verifying a block with the processors' history frozen
    at the step's start (the emitted tokens when the proposal began; SGLang PR 33643) changes the law
    of SE, while the same staleness on the proposal side alone does not (the accept test divides by
    the q the token was drawn from, VERIFY-1)."""
    from specens.reference import state
    from specens.reference.combine import target
    from specens.reference.transforms import proposal_distribution

    ensemble, length = make("repetition-2-probs-eos")
    method = SpeculativeEnsemble({"m0": 3, "m1": 2}, "m0")

    class StaleRun(state.Run):
        stale_side = "both"
        start = None

        def propose(self, name, count, *, bonus=False, stop_below=None):
            if not self.cache:
                self.start = len(self.emitted)  # the step begins: the history is read once, here
            return super().propose(name, count, bonus=bonus, stop_below=stop_below)

        def _stale(self, position):
            context = self.context(position)
            cut = len(context) if self.start is None or not self.cache else len(self.ensemble.prompt) + self.start
            return context, self.ensemble.prefix(context[:cut])

        def proposal(self, name, position):
            self._require_held(name, position)
            context, prefix = self._stale(position)
            e = self.ensemble
            return proposal_distribution(e.member(name).scores(context), e.sampling, e.processors, prefix)

        def target(self, position):
            if self.stale_side == "proposal":
                return super().target(position)
            context, prefix = self._stale(position)
            e = self.ensemble
            outputs = {m.name: m.scores(context) for m in e.members}
            return target(outputs, e.combination, e.mode, e.sampling, e.processors, prefix)

    import specens.reference.methods as methods

    monkeypatch.setattr(methods, "Run", StaleRun)
    expected = exact_ensemble_pmf(ensemble, length)
    got = exact_output_pmf(ensemble, method, length)
    assert sum(got.pmf.values()) == 1 and got.pmf != expected
    monkeypatch.setattr(StaleRun, "stale_side", "proposal")
    assert exact_output_pmf(ensemble, method, length).pmf == expected


SINGLE = {
    "repetition_penalty": P(repetition_penalty=2), "repetition_penalty_float": P(repetition_penalty="3/2"),
    "presence_penalty": P(presence_penalty=1), "frequency_penalty": P(frequency_penalty="1/2"),
    "no_repeat_ngram_size": P(no_repeat_ngram_size=3), "min_new_tokens": P(min_new_tokens=2),
    "logit_bias": P(logit_bias={0: "-3/4"}), "bad_words_ids": P(bad_words_ids=[[1, 0]]), "min_p": P(min_p="1/3"),
}


@pytest.mark.slow
@pytest.mark.parametrize("processor", list(SINGLE))
@pytest.mark.parametrize("mode", ["probs", "logits", "raw-logits"])
@pytest.mark.parametrize("temperature", [0, 1])
@pytest.mark.parametrize("combination", ["we", "cd"])
def test_full_matrix_of_single_processors_is_exact(processor, mode, temperature, combination):
    """PROC-10, PROC-12, ENGINE-1 == ENGINE-2 on the product of each processor, mode, T and combination (slow).
    Where per-member masks leave r empty (COMBINE-6: min_p in mode logits), every method raises that error."""
    ensemble = toy_ensemble(2, 3, combination=combination, mode=mode, temperature=temperature, eos_token_id=2, seed=1,
                            kind="logits", sparsity=0).with_(processors=SINGLE[processor])
    try:
        expected = exact_ensemble_pmf(ensemble, 4)
    except ValueError as e:
        assert str(e).startswith("combination: every token is ruled out"), e
        for method in methods_for(ensemble):
            with pytest.raises(ValueError, match="^combination: every token is ruled out"):
                exact_output_pmf(ensemble, method, 4)
        return
    for method in methods_for(ensemble):
        assert exact_output_pmf(ensemble, method, 4).pmf == expected, method


def test_oracle_tables_for_processors_that_read_the_history_need_the_length():
    """PROC-12: the oracle's whole-prefix states exist only for a given max_new_tokens."""
    from specens.oracle.tables import Tables

    ensemble, length = make("repetition-2-probs-eos")
    with pytest.raises(ValueError, match="^length:"):
        Tables(ensemble)
    tables = Tables(ensemble, length=length)
    assert all(len(s.tuples) == sum(3 ** n for n in range(length + 1)) for s in tables.states)
