"""With logits processors, the fast path in float32 samples the exact ensemble law: chi-square on real models.

Members: tiny random Llama (cost 1/4) and GPT-2 (cost 1) models, V = 6, prompt (1, 2). The exact law
of the first 4 emitted tokens is ENGINE-2's recursion over the reference twin (float64 forwards,
the reference's processors at every prefix, PROC-12), so it is computed by other code than the
sampler's. 4 tokens reach past the first cycles of every method (DEFECT-13), where history-dependent
settings bite. Samples: one row per fixed seed; cells with expected count below 5 pooled; a sampled
sequence of probability 0 rejects outright. Each test has significance 0.001, Sidak-corrected across
the matrix; the negative control (processors applied to every row of a member call with that call's
last prefix, DEFECT-16) must be rejected by the same test at the same level.
"""

import numpy as np
import pytest
import torch

import specens.state
from specens.api import Ensemble, generate
from specens.coupling import reference_ensemble, reference_member, tiny_causal_lm
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.engine import exact_ensemble_pmf
from specens.reference.methods import NaiveSE, SpeculativeEnsemble
from specens.reference.processors import Processors
from specens.oracle.stats import p_value, pearson, pool_cells, sidak_level

torch.set_num_threads(1)
LENGTH, PROMPT, VOCAB = 4, [1, 2], 6
CASES = {
    "we-se-penalties": (lambda a, b: WeightedEnsemble({a: "1/3", b: "2/3"}), None,
                        SpeculativeEnsemble({"a": 3, "b": 2}), Processors(repetition_penalty="2.5", frequency_penalty="0.5")),
    "cd-naive-ngram-bias": (lambda a, b: ContrastiveDecoding(expert=b, amateur=a, mu="0.1"), None, NaiveSE(gamma=3),
                            Processors(no_repeat_ngram_size=2, logit_bias={3: "1.5"}, min_p="0.05")),
    "we-se-min-new": (lambda a, b: WeightedEnsemble({a: "1/2", b: "1/2"}), 0,
                      SpeculativeEnsemble({"a": 2, "b": 1}, "b"), Processors(min_new_tokens=2, presence_penalty="1", bad_words_ids=[[4, 4]])),
}
ALPHA = sidak_level(0.001, len(CASES))  # Sidak across the matrix
SAMPLES = 600  # per test: about 10 s of CPU each


def ensemble_for(case):
    combination, eos, method, processors = CASES[case]
    members = [Member(tiny_causal_lm("llama", VOCAB, seed=40), name="a", cost="1/4"),
               Member(tiny_causal_lm("gpt2", VOCAB, seed=41), name="b")]
    return Ensemble(members, combination("a", "b"), eos_token_id=eos, processors=processors), method


def exact_pmf(ensemble):
    ref = reference_ensemble(ensemble, PROMPT, members=[reference_member(m, VOCAB) for m in ensemble.members])
    return exact_ensemble_pmf(ref, LENGTH)


def sample(ensemble, method, seed0=20_000):
    rows = generate(ensemble, [PROMPT] * SAMPLES, max_new_tokens=LENGTH, method=method, seed=seed0)
    return [tuple(r.tokens) for r in rows]


def pooled_chi_square(samples: list, pmf: dict):
    """Pearson's chi-square of sequence counts against the exact pmf, cells pooled to expected >= 5
    (the oracle's `pool_cells`). Returns (p, table of expected and observed per listed cell); a sampled
    sequence of probability 0 is a certain rejection, p = 0."""
    outside = sorted({s for s in samples if s not in pmf})
    if outside:
        return 0.0, f"sequences of probability 0 sampled: {outside[:10]}"
    cells = sorted(pmf, key=lambda s: -pmf[s])
    expected = np.array([float(pmf[s]) * len(samples) for s in cells])
    observed = np.array([samples.count(s) for s in cells], dtype=float)
    pooled = pool_cells(expected, observed)
    p = p_value(pearson(pooled.observed, pooled.expected), len(pooled.expected) - 1)
    table = "\n".join(f"{str(c):>16}: expected {e:7.1f} observed {o:5.0f}"
                      for c, e, o in zip(cells, expected, observed) if e >= 5 or o > 0)
    return p, table


def total_variation(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(float(a.get(s, 0)) - float(b.get(s, 0))) for s in set(a) | set(b))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_four_tokens_with_processors_follow_the_exact_law_in_float32(case):
    """PROC-2..PROC-10, PROC-12, ENGINE-2, FAST-2: chi-square of the joint law of 4 tokens at 0.001 (Sidak).

    The processors move the law far (TV > 0.1 from the law without them), so passing is not vacuous.
    """
    ensemble, method = ensemble_for(case)
    pmf = exact_pmf(ensemble)
    plain = exact_pmf(Ensemble(list(ensemble.members), ensemble.combination,
                               eos_token_id=ensemble.eos_token_id or None))
    assert total_variation(pmf, plain) > 0.1
    p, table = pooled_chi_square(sample(ensemble, method), pmf)
    assert p > ALPHA, f"p = {p:.2e} < {ALPHA:.2e}\n{table}"


def test_processing_a_call_with_its_last_prefix_is_rejected_by_the_same_test(monkeypatch):
    """Negative control (DEFECT-16, PROC-5, PROC-12): every row of a member call processed with the call's last
    prefix (history advanced once per call, not per token: min_new_tokens and the bad word read too late)
    changes the law; the same test must reject it."""
    def one_prefix(self, rows, first):
        count = rows.shape[0]
        ends = torch.full((count,), len(self.prompt) + first + count - 1, device=rows.device)
        return self.chain.process(rows, self._history(first + count - 1), ends, len(self.prompt))

    ensemble, method = ensemble_for("we-se-min-new")
    pmf = exact_pmf(ensemble)
    monkeypatch.setattr(specens.state.Run, "_process", one_prefix)
    p, table = pooled_chi_square(sample(ensemble, method), pmf)
    print(f"\nnegative control: p = {p:.2e}")
    assert p < ALPHA, f"the wrong sampler passed: p = {p:.2e}\n{table}"
