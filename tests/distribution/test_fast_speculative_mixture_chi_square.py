"""The speculative mixture on the fast path in default precision (float32) samples the WE law: chi-square.

Members: the tiny random Llama and GPT-2 models of test_fast_chi_square.py (V = 6, weights 1/3, 2/3) and
an outside drafter (a tiny Qwen2, METHOD-5) or the cheap member drafting. Exact law of the first 3 tokens
by ENGINE-2's recursion in float64 (the drafter does not enter it). Significance 0.001, Sidak-corrected
across the cases; the negative control (every drafted token accepted, so positions follow the drafter)
must be rejected by the same test.
"""

import pytest
import torch

import specens.state
from specens.api import Ensemble, generate
from specens.coupling import tiny_causal_lm
from specens.members import Member
from specens.reference.combine import WeightedEnsemble
from specens.reference.methods import SpeculativeMixture

from tests.distribution.test_fast_chi_square import LENGTH, PROMPT, SAMPLES, VOCAB, exact_pmf, pooled_chi_square

torch.set_num_threads(1)
CASES = {"outside-g3": SpeculativeMixture(gamma=3), "member-a-g2": SpeculativeMixture(gamma=2, drafter="a")}
ALPHA = 1 - (1 - 0.001) ** (1 / len(CASES))  # Sidak across the cases


def ensemble_with_drafter():
    members = [Member(tiny_causal_lm("llama", VOCAB, seed=40), name="a", cost="1/4"),
               Member(tiny_causal_lm("gpt2", VOCAB, seed=41), name="b")]
    drafter = Member(tiny_causal_lm("qwen2", VOCAB, seed=42), name="d", cost="1/10")
    return Ensemble(members, WeightedEnsemble({"a": "1/3", "b": "2/3"}), drafter=drafter)


def sample(ensemble, method):
    rows = generate(ensemble, [PROMPT] * SAMPLES, max_new_tokens=LENGTH, method=method, seed=20_000)
    return [tuple(r.tokens) for r in rows]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_speculative_mixture_follows_the_weighted_ensemble_law_in_float32(case):
    """THM-SMIX, SMIX-1, FAST-2: chi-square of the joint law of 3 tokens, significance 0.001 (Sidak)."""
    ensemble = ensemble_with_drafter()
    p, table = pooled_chi_square(sample(ensemble, CASES[case]), exact_pmf(ensemble))
    assert p > ALPHA, f"p = {p:.2e} < {ALPHA:.2e}\n{table}"


def test_a_speculative_mixture_that_keeps_every_drafted_token_is_rejected(monkeypatch):
    """Negative control (SMIX-3): accepting every drafted token emits the drafter's law; must be rejected."""
    ensemble = ensemble_with_drafter()
    monkeypatch.setattr(specens.state, "accept", lambda u, q_x, r_x: True)
    p, table = pooled_chi_square(sample(ensemble, CASES["outside-g3"]), exact_pmf(ensemble))
    print(f"\nnegative control: p = {p:.2e}")
    assert p < ALPHA, f"the wrong sampler passed: p = {p:.2e}\n{table}"
