"""The fast path on CUDA: coupling with the reference in float64, members on two devices, and the
3-token chi-square in float32. Skipped without a CUDA device; run with `pytest -m cuda`.

Tolerances as in test_fast_coupling.py: ratios within 1e-9 relative (cuBLAS sums in another order
than the CPU reference forward, ~1e-15 in float64). Chi-square as in test_fast_chi_square.py:
significance 0.001, cells pooled to expected count >= 5, and the accept-everything negative control.
"""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import specens.state
from specens.api import Ensemble, generate
from specens.coupling import reference_ensemble, reference_member, tiny_causal_lm, trace_mismatches
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.engine import exact_ensemble_pmf
from specens.reference.methods import (MixtureEnsemble, NaiveSE, SpeculativeEnsemble, SpeculativeMixture,
                                       StandardEnsemble)
from specens.reference.methods import generate as reference_generate
from specens.reference.transforms import Sampling

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def members_on(devices, dtype, vocab=12):
    return [Member(tiny_causal_lm(arch, vocab, seed=60 + i, dtype=dtype).to(device), name=arch, cost=cost)
            for i, (arch, device, cost) in enumerate(zip(("llama", "gpt2"), devices, ("1/4", "1")))]


@pytest.mark.parametrize("devices", [("cuda", "cuda"), ("cuda", "cpu")])
def test_on_cuda_the_fast_path_equals_the_reference_in_float64(devices):
    """RNG-1, TRACE-1, FAST-2, FAST-3: same stream, same tokens and trace; members may sit on different devices."""
    members = members_on(devices, torch.float64)
    for combination, sampling in ((WeightedEnsemble({"llama": "1/3", "gpt2": "2/3"}), Sampling(top_k=6)),
                                  (ContrastiveDecoding(expert="gpt2", amateur="llama"), Sampling()),
                                  (WeightedEnsemble({"llama": "1/2", "gpt2": "1/2"}), Sampling(temperature=0))):
        fast = Ensemble(members, combination, sampling=sampling, dtype="float64", device="cuda")
        twins = [reference_member(m, 12) for m in members]
        ref = reference_ensemble(fast, [1, 2], members=twins)
        methods = [StandardEnsemble(), NaiveSE(gamma=3), SpeculativeEnsemble({"llama": 2, "gpt2": 1}),
                   SpeculativeEnsemble({"llama": 1, "gpt2": 3}, "gpt2")]
        if isinstance(combination, WeightedEnsemble):
            methods += [MixtureEnsemble(), SpeculativeMixture(gamma=3, drafter="llama")]  # SMIX-1
        for method in methods:
            for seed in range(3):
                out = generate(fast, [1, 2], max_new_tokens=8, method=method, seed=seed, trace=True)
                exact = reference_generate(ref, method.check(ref), 8, seed=seed)
                assert out.tokens == exact.tokens and not trace_mismatches(out.trace, exact.trace, rtol=1e-9)


def chi_square_p(ensemble, method, pmf, samples=1500):
    rows = generate(ensemble, [[1, 2]] * samples, max_new_tokens=3, method=method, seed=20_000)
    counts = {}
    for r in rows:
        counts[tuple(r.tokens)] = counts.get(tuple(r.tokens), 0) + 1
    cells = sorted(pmf, key=lambda s: float(pmf[s]), reverse=True)
    expected = np.array([float(pmf[s]) * samples for s in cells])
    observed = np.array([counts.get(s, 0) for s in cells], dtype=float)
    big = expected >= 5
    exp, obs = np.append(expected[big], expected[~big].sum()), np.append(observed[big], observed[~big].sum())
    if exp[-1] < 5:
        exp, obs = np.append(exp[:-2], exp[-2] + exp[-1]), np.append(obs[:-2], obs[-2] + obs[-1])
    return chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def test_on_cuda_the_first_three_tokens_follow_the_exact_law_in_float32_and_the_negative_control_fails(monkeypatch):
    """ENGINE-2, FAST-2: chi-square at 0.001 on CUDA float32; accepting every proposal must be rejected."""
    members = members_on(("cuda", "cuda"), torch.float32, vocab=6)
    fast = Ensemble(members, WeightedEnsemble({"llama": "1/3", "gpt2": "2/3"}))
    pmf = exact_ensemble_pmf(reference_ensemble(fast, [1, 2], members=[reference_member(m, 6) for m in members]), 3)
    method = SpeculativeEnsemble({"llama": 2, "gpt2": 1})
    assert chi_square_p(fast, method, pmf) > 0.001
    monkeypatch.setattr(specens.state, "accept", lambda u, q_x, r_x: True)
    assert chi_square_p(fast, method, pmf) < 0.001
