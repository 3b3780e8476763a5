"""Coupling: with the same uniforms, the fast path emits the reference's tokens and trace, event by event.

(a) Toy members wrapped as torch modules (`ToyLM`, real `DynamicCache`s, crops): the reference
ensemble is the toy itself. (b) Tiny random transformers models (Llama, GPT-2, Qwen2) in float64;
the reference runs the same weights through `ReferenceMember` (a full no-cache forward per context).

Ratios `r(x)/q(x)` are compared with a relative tolerance of 1e-9. The reference lifts float64
softmax values exactly and the fast path divides in float64, so on toys they agree to a few ulp
(~1e-15); on transformers the cached forward sums in another order than the full forward, moving
logits by ~1e-14 and ratios by ~1e-13. 1e-9 leaves four orders of margin above that, and six
below the ~1e-3 change any wrong distribution would make. Every other field must be equal.
"""


import pytest
import torch

from specens.api import Ensemble, generate
from specens.coupling import ToyLM, assert_coupled, reference_ensemble, reference_member, tiny_causal_lm
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.methods import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
)
from specens.reference.transforms import Sampling
from specens.reference.zoo import toy_ensemble

RTOL = 1e-9
torch.set_num_threads(1)


def methods_for(names, mode, combination):
    """Every method, gammas 1 (many role swaps) and above 1 (continuations), each member as proposer."""
    yield StandardEnsemble()
    for gamma in (1, 3):
        for proposer in (names[0], names[-1]):
            yield NaiveSE(gamma=gamma, proposer=proposer)
    for gammas in ((1,), (2, 1), (1, 3), (3, 2)):
        for default in (names[0], names[-1]):
            yield SpeculativeEnsemble({k: gammas[i % len(gammas)] for i, k in enumerate(names)}, default)
    yield NaiveSE(gamma=3, proposer=names[0], confidence_threshold=0.55)  # METHOD-6: proposals of varying length
    yield SpeculativeEnsemble({k: 3 for k in names}, names[-1], confidence_threshold=0.45)
    if mode == "probs" and isinstance(combination, WeightedEnsemble):
        yield MixtureEnsemble()
        for gamma, drafter in ((1, names[0]), (3, names[0]), (2, names[-1])):  # SMIX-1 (outside drafters:
            yield SpeculativeMixture(gamma=gamma, drafter=drafter)  # tests/e2e/test_fast_speculative_mixture.py)


def check_coupled(ensemble, ref, prompt, method, seed, length):
    fast, slow = assert_coupled(ensemble, ref, prompt, method, seed, length, rtol=RTOL)
    assert fast is None or fast.calls == {k: slow.calls.get(k, 0) for k in ensemble.names}
    return fast


# -- (a) toy members ---------------------------------------------------------------------------
TOYS = [
    # (n, V, combination, mode, temperature, top_k, top_p, kind, eos)
    (2, 3, "we", "probs", 1, None, None, "probs", None),
    (2, 4, "we", "probs", 1, None, None, "logits", 2),
    (2, 3, "we", "probs", 0, None, None, "probs", 2),
    (2, 4, "we", "probs", "1/2", 2, None, "logits", None),
    (2, 4, "we", "probs", 1, None, "0.8", "logits", 3),
    (2, 3, "we", "logits", 1, None, None, "logits", None),
    (2, 3, "we", "raw-logits", "3/2", None, None, "logits", 2),
    (2, 3, "cd", "raw-logits", 1, None, None, "logits", None),
    (2, 3, "cd", "raw-logits", 0, None, None, "logits", 2),
    (2, 4, "cd", "logits", 1, 3, None, "logits", None),
    (2, 4, "cd", "probs", 1, 3, None, "logits", 1),
    (3, 3, "we", "probs", 1, None, None, "probs", 2),
    (3, 3, "we", "raw-logits", 0, None, None, "logits", None),
    (3, 4, "we", "logits", "0.7", None, None, "logits", 1),
    # (..., eos, orders): members of order 3 and above (TOY-2), an EOS list (METHOD-3), and an order-6
    # member that reads the whole history (prompt of 1 + 6 tokens - 1).
    (2, 3, "we", "probs", 1, None, None, "probs", (0, 2), (5, 3)),
    (2, 3, "cd", "raw-logits", 1, None, None, "logits", None, (6, 4)),
]


def toy_case(setting, seed=0):
    n, v, comb, mode, t, k, p, kind, eos, orders = setting + (None,) * (10 - len(setting))
    sparsity = 0.25 if (comb, mode) == ("we", "probs") else 0
    toy = toy_ensemble(n, v, combination=comb, mode=mode, temperature=t, top_k=k, top_p=p, kind=kind,
                       sparsity=sparsity, eos_token_id=eos, seed=seed, orders=orders)
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    fast = Ensemble(members, toy.combination, mode=toy.mode, sampling=toy.sampling,
                    eos_token_id=list(toy.eos_token_id) or None, dtype="float64")
    return toy, fast


@pytest.mark.parametrize("setting", TOYS, ids=lambda s: "-".join(map(str, s)))
def test_fast_path_equals_the_reference_on_toy_members_for_every_method(setting):
    """RNG-1, TRACE-1: same stream, same tokens and trace; STD-1, NAIVE-1, SE-1..SE-6, MIX-1..MIX-3, METHOD-1..4, METHOD-6.

    Also TRANSFORM-1..6, COMBINE-1..7 (every mode), VERIFY-1..4 and FAST-3 (the toys' caches are real
    DynamicCaches, cropped after every rejection).
    """
    toy, fast = toy_case(setting)
    prompt = [1]
    ref = toy.with_(prompt=tuple(prompt))
    for method in methods_for(fast.names, fast.mode, fast.combination):
        for seed in range(3):
            check_coupled(fast, ref, prompt, method, seed, 6)


def test_padded_logit_columns_are_dropped_and_change_nothing():
    """FAST-1: a member with extra (padded) logit columns is aligned to V and couples with the unpadded reference."""
    toy, _ = toy_case(TOYS[1])
    members = [Member(ToyLM(m, extra_logits=5 * i), name=m.name, cost=m.cost) for i, m in enumerate(toy.members)]
    fast = Ensemble(members, toy.combination, vocab_size=toy.vocab_size, eos_token_id=2, dtype="float64")
    assert [m.logit_width for m in members] == [4, 9] and fast.vocab_size == 4
    for seed in range(5):
        out = check_coupled(fast, toy.with_(prompt=(0,)), [0], SpeculativeEnsemble({"m0": 2, "m1": 1}), seed, 8)
        assert all(0 <= t < 4 for t in out.tokens)


# -- (b) tiny transformers models in float64 ----------------------------------------------------
def hf_members(archs, vocab, dtype=torch.float64):
    costs = ["1/4", "1", "1/2"]
    return [Member(tiny_causal_lm(arch, vocab, seed=10 + i, dtype=dtype, layers=1 + i % 2), name=f"{arch}{i}",
                   cost=costs[i]) for i, arch in enumerate(archs)]


HF_CASES = [
    # (architectures, combination, mode, sampling, eos)
    (("llama", "gpt2"), "we", None, Sampling(), None),
    (("qwen2", "llama"), "we", "logits", Sampling(temperature="0.8", top_k=5), 3),
    (("gpt2", "qwen2"), "cd", None, Sampling(), None),
    (("llama", "qwen2"), "cd", None, Sampling(temperature=0), 2),
    (("llama", "gpt2", "qwen2"), "we", None, Sampling(top_p="0.9"), None),
]


@pytest.mark.parametrize("case", HF_CASES, ids=lambda c: "-".join(c[0]) + f"-{c[1]}-{c[2]}")
def test_fast_path_equals_the_reference_on_tiny_transformers_in_float64(case):
    """RNG-1, TRACE-1, FAST-2 (float64 selectable), FAST-3: Llama, GPT-2 and Qwen2 members, every method.

    Unequal WE weights (equal ones hide role-keyed combinations, COMBINE-1); CD with the last member
    as expert (COMBINE-3); top-k, top-p, temperature, greedy (TRANSFORM-1..6); EOS (METHOD-3).
    """
    archs, kind, mode, sampling, eos = case
    members = hf_members(archs, 12)
    names = [m.name for m in members]
    if kind == "we":
        raw = list(range(1, len(names) + 1))
        combination = WeightedEnsemble({k: f"{w}/{sum(raw)}" for k, w in zip(names, raw)})
    else:
        combination = ContrastiveDecoding(expert=names[-1], amateur=names[0], mu="1/10")
    fast = Ensemble(members, combination, mode=mode, sampling=sampling, eos_token_id=eos, dtype="float64")
    twins = [reference_member(m, fast.vocab_size) for m in members]  # one memo for all methods
    for prompt in ([1, 2], [5]):
        ref = reference_ensemble(fast, prompt, members=twins)
        for method in methods_for(names, fast.mode, combination):
            for seed in range(2):
                check_coupled(fast, ref, prompt, method, seed, 7)


def test_members_of_different_logit_widths_sharing_a_tokenizer_couple_with_the_reference():
    """FAST-1: Llama with vocab_size 12 and Qwen2 with 16 share a 12-token tokenizer; padded columns dropped."""
    from specens.coupling import tiny_tokenizer

    tokenizer = tiny_tokenizer(12)
    members = [Member(tiny_causal_lm("llama", 12, seed=3, dtype=torch.float64), name="a", cost="1/4",
                      tokenizer=tokenizer),
               Member(tiny_causal_lm("qwen2", 16, seed=4, dtype=torch.float64), name="b", tokenizer=tokenizer)]
    fast = Ensemble(members, WeightedEnsemble({"a": "1/3", "b": "2/3"}), dtype="float64")
    assert [m.logit_width for m in members] == [12, 16] and fast.vocab_size == 12
    twins = [reference_member(m, 12) for m in members]
    ref = reference_ensemble(fast, [1, 2], members=twins)
    for seed in range(4):
        out = check_coupled(fast, ref, [1, 2], SpeculativeEnsemble({"a": 3, "b": 1}), seed, 10)
        shown = out.tokens[:-1] if out.stop_reason == "eos" else out.tokens  # the text leaves a final EOS out
        assert all(0 <= t < 12 for t in out.tokens) and out.text == tokenizer.decode(shown)


def test_a_batch_row_equals_the_same_prompt_run_alone_with_its_own_stream():
    """FAST-4: rows are independent runs; row b with seed s + b equals a single run with seed s + b."""
    members = hf_members(("llama", "gpt2"), 12, dtype=torch.float32)
    fast = Ensemble(members, WeightedEnsemble({members[0].name: "1/4", members[1].name: "3/4"}))
    prompts = [[1, 2], [3], [1, 2]]
    method = SpeculativeEnsemble({m.name: 2 for m in members})
    batch = generate(fast, prompts, max_new_tokens=8, method=method, seed=7, trace=True)
    assert len(batch) == 3
    for b, prompt in enumerate(prompts):
        alone = generate(fast, prompt, max_new_tokens=8, method=method, seed=7 + b, trace=True)
        assert batch[b].tokens == alone.tokens and batch[b].trace == alone.trace
        assert batch[b].stats.calls == alone.stats.calls
    assert batch[0].tokens != batch[2].tokens or batch[0].trace != batch[2].trace  # independent streams


def test_greedy_speculative_naive_and_mixture_emit_the_greedy_standard_ensemble_tokens():
    """TRANSFORM-5, COMBINE-7, MIX-3: at T = 0 every method emits the ensemble's argmax sequence (float32)."""
    for archs, kind in ((("llama", "gpt2"), "we"), (("qwen2", "llama", "gpt2"), "we"), (("gpt2", "qwen2"), "cd")):
        members = hf_members(archs, 16, dtype=torch.float32)
        names = [m.name for m in members]
        combination = (WeightedEnsemble({k: f"{i + 1}/{len(names) * (len(names) + 1) // 2}" for i, k in enumerate(names)})
                       if kind == "we" else ContrastiveDecoding(expert=names[-1], amateur=names[0], mu="0.1"))
        fast = Ensemble(members, combination, sampling=Sampling(temperature=0))
        for prompt in ([1], [4, 2, 9]):
            expected = generate(fast, prompt, max_new_tokens=16, seed=0).tokens
            methods = [NaiveSE(gamma=3), NaiveSE(gamma=2, proposer=names[-1]),
                       SpeculativeEnsemble({k: 3 for k in names}), SpeculativeEnsemble({k: 1 for k in names}, names[-1])]
            if kind == "we":
                methods.append(MixtureEnsemble())
            for method in methods:
                assert generate(fast, prompt, max_new_tokens=16, method=method, seed=1).tokens == expected, method
