"""Processors on the bundled trained members: the first two tokens follow the exact law (chi-square).

`specens.coupling.first_two_tokens_check` computes the law of the first two emitted tokens on the
reference twin (float64 forwards, the reference's processors at each prefix, PROC-12) and tests 600
float32 rows against it at 0.001 (Sidak over the cases). The negative control drops the processors
on the rows of every member call after the prompt's (DEFECT-16: processors lost on the speculative
path); the same test must reject it.
"""

import pytest
import torch

import specens.state
from specens import (ContrastiveDecoding, Ensemble, Member, Sampling, SpeculativeEnsemble, WeightedEnsemble,
                     bundled_model_path)
from specens.coupling import first_two_tokens_check
from specens.oracle.stats import sidak_level
from specens.reference.processors import Processors

torch.set_num_threads(1)
PROMPT = "def median(data):\n"
SAMPLING = Sampling(top_k=8)  # concentrates the law on few cells, so 600 rows resolve it (TRANSFORM-3)
CASES = {
    "we": (lambda: WeightedEnsemble({"pytiny": "1/3", "pylib": "2/3"}), SpeculativeEnsemble({"pytiny": 2, "pylib": 1}),
           Processors(repetition_penalty=3, no_repeat_ngram_size=2, logit_bias={4: "-2"})),  # 4: "#"
    "cd": (lambda: ContrastiveDecoding(expert="pylib", amateur="pytiny", mu="1/10"),
           SpeculativeEnsemble({"pytiny": 1, "pylib": 2}, default_proposer="pylib"),
           Processors(presence_penalty="1.5", repetition_penalty="1.5", min_p="0.1")),
}
LEVEL = sidak_level(0.001, len(CASES))


@pytest.fixture(scope="module")
def members():
    costs = {"pylib": 1, "pytiny": "2/5"}
    return [Member.from_pretrained(bundled_model_path(name), name=name, cost=c) for name, c in costs.items()]


def check(members, case):
    combination, method, processors = CASES[case]
    ensemble = Ensemble(members, combination(), sampling=SAMPLING, processors=processors)
    prompt = ensemble.tokenizer(PROMPT)["input_ids"]
    return first_two_tokens_check(ensemble, prompt, method, rows=600, seed=300)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_two_tokens_with_processors_follow_the_exact_law(members, case):
    """PROC-2, PROC-3, PROC-4, PROC-6, PROC-8, PROC-10, PROC-12, ENGINE-2: chi-square at 0.001 (Sidak)."""
    p, table = check(members, case)
    assert p > LEVEL, f"p = {p:.2e} <= {LEVEL:.2e}\n{table}"


def test_processors_dropped_after_the_prompt_fail_the_same_check(members, monkeypatch):
    """Negative control (DEFECT-16): the rows of member calls after prefill keep their raw logits."""
    hold = specens.state.Run._hold

    def prefill_only(self, name, rows, first):
        return hold(self, name, rows, first) if first == 0 else rows

    monkeypatch.setattr(specens.state.Run, "_hold", prefill_only)
    p, table = check(members, "we")
    assert p < LEVEL, f"the wrong sampler passed: p = {p:.2e}\n{table}"
