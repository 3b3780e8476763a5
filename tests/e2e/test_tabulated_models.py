"""Toys tabulated from real transformers models (TOY-2): members whose rows depend on the whole history.

Two tiny seeded Llama models in float64 are tabulated after a two-token prompt for every context
a run of 4 tokens can reach (order 2 + 4 - 1 = 5). The exact engine must give every method the
ensemble law of that toy exactly (ENGINE-1 == ENGINE-2), and that law must be the one the fast
path's own probabilities give on the same models: r from its KV-cached calls and its combiner,
multiplied along each sequence. Tolerance 1e-9 relative, as in test_fast_coupling: cached and
uncached forwards of the same float64 weights differ by ~1e-14 in the logits.
"""

import json
import math
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

from specens.api import Ensemble  # noqa: E402
from specens.coupling import tiny_causal_lm  # noqa: E402
from specens.members import Member  # noqa: E402
from specens.oracle import VectorSampler, exact_law  # noqa: E402
from specens.oracle.tabulate import tabulate_member, tabulated_toy  # noqa: E402
from specens.reference import (  # noqa: E402
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    StandardEnsemble,
    exact_ensemble_pmf,
    exact_output_pmf,
    load_toy,
)

torch.set_num_threads(1)
V, PROMPT, LENGTH = 3, (1, 0), 4
COMBINATIONS = {
    "we-probs": ({"kind": "we", "weights": {"small": "1/3", "large": "2/3"}}, None),
    "cd-raw-logits": ({"kind": "cd", "expert": "large", "amateur": "small", "mu": "1/10"}, "raw-logits"),
}


@pytest.fixture(scope="module")
def models():
    return {"small": tiny_causal_lm("llama", V, seed=3, dtype=torch.float64, hidden=8),
            "large": tiny_causal_lm("llama", V, seed=4, dtype=torch.float64, hidden=8, layers=2)}


def toy_for(models, combination):
    spec, mode = COMBINATIONS[combination]
    toy = tabulated_toy(models, spec, PROMPT, LENGTH, vocab_size=V, costs={"small": "1/4", "large": 1}, mode=mode,
                        eos_token_id=[0, 2] if combination == "cd-raw-logits" else None)
    return json.loads(json.dumps(toy))  # through JSON text: the float rows must survive it exactly


def test_a_tabulated_member_reads_the_whole_history(models):
    """TOY-2: order = prompt + L - 1; a row per reachable context, each the model's own logits there."""
    member = tabulate_member(models["small"], PROMPT, LENGTH, name="small", vocab_size=V)
    assert member["order"] == len(PROMPT) + LENGTH - 1 == 5
    assert len(member["logits"]) == sum(V ** j for j in range(LENGTH)) + 1
    ensemble, _, _ = load_toy(toy_for(models, "we-probs"))
    context = PROMPT + (2, 2, 1)
    with torch.no_grad():
        want = models["small"](input_ids=torch.tensor([context]), use_cache=False).logits[0, -1].tolist()
    got = ensemble.member("small").scores(context).logits.tolist()
    assert got == pytest.approx(want, rel=1e-12) and got != ensemble.member("small").scores(context[2:]).logits.tolist()


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_every_method_has_the_exact_law_of_the_tabulated_models(models, combination):
    """ENGINE-1 == ENGINE-2 on members whose rows depend on the whole history (TOY-2); EOS list (METHOD-3)."""
    ensemble, _, length = load_toy(toy_for(models, combination))
    expected = exact_ensemble_pmf(ensemble, length)
    assert sum(expected.values()) == 1
    methods = [StandardEnsemble(), NaiveSE(2, "large"), SpeculativeEnsemble({"small": 1, "large": 3}, "small"),
               SpeculativeEnsemble({"small": 2, "large": 1}, "large")]
    if combination == "we-probs":
        methods.append(MixtureEnsemble())
    for method in methods:
        assert exact_output_pmf(ensemble, method, length).pmf == expected, method
    law = exact_law(VectorSampler(ensemble, methods[2], length))  # the oracle's sampler on the same toy
    assert set(law) <= set(expected)
    assert all(law.get(s, 0.0) == pytest.approx(float(p), abs=1e-12) for s, p in expected.items())


@torch.no_grad()
def fast_sequence_probability(fast, seq):
    """prod_i r(y_i) with r from the fast path: each member's KV-cached calls, then its combiner."""
    rows = []
    for m in fast.members:
        first = m.prefill(list(PROMPT))[None]  # (1, W)
        rest = m.feed(list(seq[:-1])) if len(seq) > 1 else first[:0]  # (len - 1, W)
        rows.append(torch.cat([first, rest])[:, :V].to(torch.float64))  # (len, V)
    p = 1.0
    for i, x in enumerate(seq):
        r = fast.combiner.target(torch.stack([row[i] for row in rows]))  # (N, V) -> (V,)
        p *= float(r[x])
    return p


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
def test_the_tabulated_law_is_the_fast_paths_law_on_the_same_models(models, combination):
    """COMBINE-7, FAST-3: the exact law of the tabulated toy equals the product of the fast path's r
    along every sequence (relative 1e-9, see the module docstring), and nothing is missing."""
    ensemble, _, length = load_toy(toy_for(models, combination))
    fast = Ensemble([Member(model, name=name, cost=1) for name, model in models.items()], ensemble.combination,
                    mode=ensemble.mode, vocab_size=V, dtype="float64")
    law = exact_ensemble_pmf(ensemble, length)
    total = 0.0
    for seq, p in law.items():
        q = fast_sequence_probability(fast, seq)
        assert math.isclose(q, float(p), rel_tol=1e-9), (seq, q, float(p))
        total += q
    assert total == pytest.approx(1.0, abs=1e-12)
    assert sum(law.values(), Fraction(0)) == 1
