"""The fast path in default precision (float32) samples the ensemble's law: chi-square on real models.

Members: tiny random Llama (cost 1/4) and GPT-2 (cost 1) models, V = 6. The exact law of the first
3 emitted tokens is ENGINE-2's recursion (`exact_ensemble_pmf`) over the same weights, each prefix
scored by a full float64 forward. Samples: one row per fixed seed. Cells with expected count below 5
are pooled. Each test has significance 0.001, Sidak-corrected across the matrix below; every
negative control (a deliberately wrong sampler) must be rejected by the same test at the same level.
"""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import specens.state
from specens.api import Ensemble, generate
from specens.coupling import reference_ensemble, reference_member, tiny_causal_lm
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.engine import exact_ensemble_pmf
from specens.reference.methods import NaiveSE, SpeculativeEnsemble
from specens.reference.transforms import Sampling

torch.set_num_threads(1)
LENGTH, PROMPT, VOCAB = 3, [1, 2], 6
CASES = {
    "we-se": (lambda a, b: WeightedEnsemble({a: "1/3", b: "2/3"}), Sampling(), SpeculativeEnsemble({"a": 2, "b": 1})),
    "cd-se": (lambda a, b: ContrastiveDecoding(expert=b, amateur=a, mu="0.1"), Sampling(top_k=6),
              SpeculativeEnsemble({"a": 1, "b": 2}, "b")),
    "we-naive": (lambda a, b: WeightedEnsemble({a: "1/2", b: "1/2"}), Sampling(temperature="0.8"), NaiveSE(gamma=3)),
}
ALPHA = 1 - (1 - 0.001) ** (1 / len(CASES))  # Sidak across the matrix
SAMPLES = 600  # per test: about 8 s of CPU each (12 ms a row, dominated by transformers' per-call overhead)


def ensemble_for(case):
    combination, sampling, method = CASES[case]
    members = [Member(tiny_causal_lm("llama", VOCAB, seed=40), name="a", cost="1/4"),
               Member(tiny_causal_lm("gpt2", VOCAB, seed=41), name="b")]
    return Ensemble(members, combination("a", "b"), sampling=sampling), method


def pooled_chi_square(samples: list, pmf: dict):
    """Chi-square of sequence counts against pmf, cells with expected count < 5 pooled. Returns (p, table)."""
    n = len(samples)
    counts = {}
    for s in samples:
        counts[s] = counts.get(s, 0) + 1
    assert set(counts) <= set(pmf), f"sampled sequences outside the support: {set(counts) - set(pmf)}"
    cells = sorted(pmf, key=lambda s: float(pmf[s]), reverse=True)
    expected = np.array([float(pmf[s]) * n for s in cells])
    observed = np.array([counts.get(s, 0) for s in cells], dtype=float)
    big = expected >= 5
    exp = np.append(expected[big], expected[~big].sum())
    obs = np.append(observed[big], observed[~big].sum())
    if exp[-1] < 5:  # pool the remainder into the smallest kept cell
        exp[-2] += exp[-1]
        obs[-2] += obs[-1]
        exp, obs = exp[:-1], obs[:-1]
    exp *= obs.sum() / exp.sum()
    p = chisquare(obs, exp).pvalue
    table = "\n".join(f"{str(c):>14} expected {e:8.1f} observed {o:5.0f}"
                      for c, e, o in zip([cells[i] for i in np.flatnonzero(big)] + ["pooled"], exp, obs))
    return p, table


def sample_first_tokens(ensemble, method, seed0):
    rows = generate(ensemble, [PROMPT] * SAMPLES, max_new_tokens=LENGTH, method=method, seed=seed0)
    return [tuple(r.tokens) for r in rows]


def exact_pmf(ensemble):
    ref = reference_ensemble(ensemble, PROMPT, members=[reference_member(m, VOCAB) for m in ensemble.members])
    return exact_ensemble_pmf(ref, LENGTH)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_three_tokens_follow_the_exact_ensemble_law_in_float32(case):
    """ENGINE-2, FAST-2, SE-1, NAIVE-1: chi-square of the joint law of 3 tokens, significance 0.001 (Sidak)."""
    ensemble, method = ensemble_for(case)
    pmf = exact_pmf(ensemble)
    p, table = pooled_chi_square(sample_first_tokens(ensemble, method, 10_000), pmf)
    assert p > ALPHA, f"p = {p:.2e} < {ALPHA:.2e}\n{table}"


def test_a_sampler_that_accepts_every_proposal_is_rejected_by_the_same_test(monkeypatch):
    """Negative control (VERIFY-1): accepting every proposal emits the proposers' laws, not r; must be rejected."""
    ensemble, method = ensemble_for("we-se")
    pmf = exact_pmf(ensemble)
    monkeypatch.setattr(specens.state, "accept", lambda u, q_x, r_x: True)
    p, table = pooled_chi_square(sample_first_tokens(ensemble, method, 10_000), pmf)
    print(f"\nnegative control: p = {p:.2e}")
    assert p < ALPHA, f"the wrong sampler passed: p = {p:.2e}\n{table}"
