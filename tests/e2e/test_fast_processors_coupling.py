"""Coupling with processors: with the same uniforms the fast path emits the reference's tokens and trace.

The reference applies each processor at position i from the prefix prompt + seq[:i] (PROC-12), one
position at a time, exactly where the arithmetic allows; the fast path processes a member call's
whole block of rows at once, each row with its own prefix, in torch. Equal tokens and traces event
by event, for every method, mode, processor alone and in pairs, greedy and sampled, EOS lists and
stop sequences, over lengths well beyond the first cycles (DEFECT-11, DEFECT-13), show the two agree.
Ratios are compared with the relative tolerance of test_fast_coupling.py (1e-9; see there why).
"""


import pytest
import torch

from specens.api import Ensemble
from specens.coupling import ToyLM, assert_coupled, reference_ensemble, reference_member, tiny_causal_lm
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.methods import (MixtureEnsemble, NaiveSE, SpeculativeEnsemble, SpeculativeMixture,
                                       StandardEnsemble)
from specens.reference.processors import Processors
from specens.reference.transforms import Sampling
from specens.reference.zoo import random_member, toy_ensemble

RTOL = 1e-9
torch.set_num_threads(1)

# Each processor alone and two together. min_p 3/10 is no ratio of two toy weights (integers 1..8), so no
# token sits exactly at its cut, where float and exact arithmetic may round apart (NUM-2's note).
PROCESSORS = {
    "repetition": Processors(repetition_penalty="3/2"),
    "repetition-int": Processors(repetition_penalty=2),
    "presence-frequency": Processors(presence_penalty="1/2", frequency_penalty="1/4"),
    "ngram": Processors(no_repeat_ngram_size=3),
    "min-new": Processors(min_new_tokens=4),
    "bias": Processors(logit_bias={0: "-3/2", 2: 1}),
    "bad-words": Processors(bad_words_ids=[[1, 1], [3, 0]]),
    "min-p": Processors(min_p="3/10"),
    "repetition+ngram": Processors(repetition_penalty="5/4", no_repeat_ngram_size=3),
    "bias+min-new": Processors(logit_bias={1: "1/2"}, min_new_tokens=3),
    "frequency+min-p": Processors(frequency_penalty="3/4", min_p="3/10"),
}


def methods_for(names, mode, combination):
    """Every method, gammas 1 (many role swaps) and above 1 (continuations), each member as proposer."""
    yield StandardEnsemble()
    for gamma, proposer in ((1, names[0]), (3, names[-1])):
        yield NaiveSE(gamma=gamma, proposer=proposer)
    for gammas, default in (((1, 1), names[0]), ((3, 2), names[0]), ((1, 3), names[-1])):
        yield SpeculativeEnsemble({k: gammas[i % 2] for i, k in enumerate(names)}, default)
    if mode == "probs" and isinstance(combination, WeightedEnsemble):
        yield MixtureEnsemble()
        yield SpeculativeMixture(gamma=3, drafter=names[0])  # SMIX-1 with a member drafting
        yield SpeculativeMixture(gamma=1, drafter=names[-1])


def check_coupled(fast, ref, prompt, method, seed, length):
    return assert_coupled(fast, ref, prompt, method, seed, length, rtol=RTOL)[0]


TOYS = [
    # (n, V, combination, mode, temperature, kind, eos, stop sequences)
    (2, 4, "we", "probs", 1, "probs", None, ()),
    (2, 4, "we", "probs", 1, "probs", (0, 3), ()),
    (2, 4, "we", "logits", "1/2", "logits", 0, ((1, 2),)),
    (2, 4, "cd", "raw-logits", 1, "logits", 3, ()),
    (2, 4, "cd", "raw-logits", 0, "logits", None, ((2, 2), (0, 1, 0))),
    (3, 4, "we", "probs", 0, "logits", None, ((3, 3),)),  # greedy on logits: exact rational rows tie in r
]


def toy_pair(setting, processors, seed=0):
    n, v, comb, mode, t, kind, eos, stops = setting
    toy = toy_ensemble(n, v, combination=comb, mode=mode, temperature=t, kind=kind, eos_token_id=eos, seed=seed,
                       sparsity=0.2 if kind == "probs" else 0)
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    if processors.min_new_tokens and not toy.eos_token_id:
        processors = Processors(**{**processors.__dict__, "min_new_tokens": 0})
    fast = Ensemble(members, toy.combination, mode=toy.mode, sampling=toy.sampling,
                    eos_token_id=list(toy.eos_token_id) or None, dtype="float64", processors=processors,
                    stop_sequences=stops)
    return toy.with_(processors=processors, stop_sequences=stops), fast


@pytest.mark.parametrize("setting", TOYS, ids=lambda s: "-".join(map(str, s[:6])))
@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_fast_path_with_processors_equals_the_reference_on_toy_members(setting, name):
    """PROC-2..PROC-10, PROC-12, STOP-2, STOP-4, RNG-1, TRACE-1: every method, 10 tokens, 2 seeds."""
    toy, fast = toy_pair(setting, PROCESSORS[name])
    prompt = [1, 2]
    ref = toy.with_(prompt=tuple(prompt))
    coupled = 0
    for method in methods_for(fast.names, fast.mode, fast.combination):
        for seed in range(2):
            coupled += check_coupled(fast, ref, prompt, method, seed, 10) is not None
    # In mode logits min-p leaves each member few tokens, whose sets may not meet (COMBINE-6): then both refuse.
    assert coupled > 0 or (fast.mode == "logits" and PROCESSORS[name].min_p)


HF_CASES = [
    # (architectures, combination, mode, sampling, eos, processors)
    (("llama", "gpt2"), "we", None, Sampling(), 3,
     Processors(repetition_penalty="13/10", no_repeat_ngram_size=2, min_new_tokens=2)),
    (("qwen2", "llama"), "we", "logits", Sampling(temperature="0.8", top_k=6), None,
     Processors(presence_penalty="0.4", frequency_penalty="0.3", logit_bias={4: "-2.5"})),
    (("gpt2", "qwen2"), "cd", None, Sampling(), 2,
     Processors(repetition_penalty="1.5", bad_words_ids=[[5], [1, 7]], min_p="0.05")),
    (("llama", "qwen2"), "cd", None, Sampling(temperature=0), None,
     Processors(repetition_penalty="1.2", no_repeat_ngram_size=3)),
]


@pytest.mark.parametrize("case", HF_CASES, ids=lambda c: "-".join(c[0]) + f"-{c[1]}-{c[2]}")
def test_fast_path_with_processors_equals_the_reference_on_tiny_transformers_in_float64(case):
    """PROC-10, PROC-12, FAST-2, FAST-3: Llama, GPT-2 and Qwen2 members with KV caches, every method."""
    archs, kind, mode, sampling, eos, processors = case
    members = [Member(tiny_causal_lm(arch, 12, seed=10 + i, dtype=torch.float64, layers=1 + i % 2),
                      name=f"{arch}{i}", cost=["1/4", "1"][i]) for i, arch in enumerate(archs)]
    names = [m.name for m in members]
    combination = (WeightedEnsemble({names[0]: "1/3", names[1]: "2/3"}) if kind == "we"
                   else ContrastiveDecoding(expert=names[-1], amateur=names[0], mu="1/10"))
    fast = Ensemble(members, combination, mode=mode, sampling=sampling, eos_token_id=eos, dtype="float64",
                    processors=processors)
    twins = [reference_member(m, fast.vocab_size) for m in members]
    ref = reference_ensemble(fast, [1, 2, 1], members=twins)
    for method in methods_for(names, fast.mode, combination):
        for seed in range(2):
            check_coupled(fast, ref, [1, 2, 1], method, seed, 12)


def test_processing_each_block_row_with_the_calls_last_prefix_breaks_coupling(monkeypatch):
    """DEFECT-16's negative control: a fast path that processes every row of a call's block with one prefix
    (history advanced per call, not per token) no longer equals the reference, so the test above can fail."""
    import specens.state

    def one_prefix(self, rows, first):
        count = rows.shape[0]
        end = len(self.prompt) + first + count - 1
        ends = torch.full((count,), end, device=rows.device)  # every row with the last row's prefix
        return self.chain.process(rows, self._history(first + count - 1), ends, len(self.prompt))

    toy, fast = toy_pair(TOYS[0], Processors(repetition_penalty=4, no_repeat_ngram_size=3))
    ref = toy.with_(prompt=(1, 2))
    method = SpeculativeEnsemble({"m0": 3, "m1": 3})
    monkeypatch.setattr(specens.state.Run, "_process", one_prefix)
    failures = 0
    for seed in range(10):
        try:
            check_coupled(fast, ref, [1, 2], method, seed, 10)
        except AssertionError:
            failures += 1
    assert failures > 0


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_the_speculative_mixture_with_an_outside_drafter_and_processors_equals_the_reference(name):
    """SMIX-1..SMIX-6, METHOD-5, PROC-10, PROC-12: the outside drafter's rows are processed with their own
    prefixes on the fast path as in the reference; same tokens, trace, uniforms and cost."""
    toy, _ = toy_pair(TOYS[1], PROCESSORS[name])
    drafter = random_member("t", toy.vocab_size, order=2, cost="1/10", seed=5, sparsity=0)
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    fast = Ensemble(members, toy.combination, mode=toy.mode, sampling=toy.sampling,
                    eos_token_id=list(toy.eos_token_id) or None, dtype="float64", processors=toy.processors,
                    stop_sequences=toy.stop_sequences, drafter=Member(ToyLM(drafter), name="t", cost="1/10"))
    ref = toy.with_(prompt=(1, 2), drafter=drafter)
    coupled = 0
    for method in (SpeculativeMixture(gamma=1), SpeculativeMixture(gamma=3), NaiveSE(gamma=2, proposer="t")):
        for seed in range(3):
            coupled += check_coupled(fast, ref, [1, 2], method, seed, 10) is not None
    assert coupled > 0
