"""The vectorised reference sampler (ORACLE-8): coupled token for token with `reference.generate`, and
its own code's exact law equal to the ensemble law, for every case of the matrix."""

import numpy as np
import pytest

from specens.oracle import CASES, VectorSampler, exact_law
from specens.oracle.cases import ToyCase
from specens.oracle.enumerate import IntervalChooser, draw_measure
from specens.oracle.sampler import PAD, UniformChooser, inverse_cdf
from specens.reference import SpeculativeEnsemble, exact_ensemble_pmf, generate
from specens.reference.zoo import toy_ensemble


def test_inverse_cdf_follows_rng_2_in_float64():
    """RNG-2: the spec's examples, and a row whose total falls short returns its last possible token."""
    d = np.array([[0.25, 0.0, 0.75]] * 3)
    assert inverse_cdf(d, np.array([0.2, 0.25, 0.99])).tolist() == [0, 2, 2]
    short = np.array([[0.25, 0.25, 0.0]])
    assert inverse_cdf(short, np.array([0.9])).tolist() == [1]
    assert draw_measure(short).tolist() == [[0.25, 0.75, 0.0]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_chain_emits_the_reference_tokens_from_the_same_uniforms(case):
    """ORACLE-8, RNG-1: chain b fed row b of the uniforms emits what reference.generate emits from it,
    and consumes exactly as many uniforms."""
    uniforms = np.random.default_rng(11).random((120, 48))
    tokens, used = case.sampler().replay(uniforms)
    for b in range(len(uniforms)):
        result = generate(case.ensemble, case.method, case.length, uniforms=list(uniforms[b]))
        assert [t for t in tokens[b] if t != PAD] == result.tokens, b
        assert used[b] == result.uniforms_used, b


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_sampler_code_has_exactly_the_ensemble_law(case):
    """ORACLE-8, ENGINE-1, ENGINE-2: enumerating the vectorised code's choice points gives the reference's
    law to float64 rounding (1e-12: products of a dozen probabilities, each rounded once)."""
    length = min(case.length, 4)
    law = exact_law(VectorSampler(case.ensemble, case.method, length))
    expected = exact_ensemble_pmf(case.ensemble, length)
    assert set(law) <= set(expected)
    for seq, p in expected.items():
        assert law.get(seq, 0.0) == pytest.approx(float(p), abs=1e-12), seq


def test_interval_enumeration_gives_the_law_of_one_uniform_per_step():
    """ENGINE-1 for a sampler that reuses one uniform per step: a one-step run (the first token only)
    has the law of r, whatever reuse does."""
    ensemble = toy_ensemble(2, 4, seed=3)
    sampler = VectorSampler(ensemble, SpeculativeEnsemble({"m0": 1, "m1": 1}, "m0"), 1)
    law = exact_law(sampler, chooser_class=IntervalChooser)
    for seq, p in exact_ensemble_pmf(ensemble, 1).items():
        assert law[seq] == pytest.approx(float(p), abs=1e-15)


def test_samples_are_reproducible_and_padded_after_the_end():
    """ORACLE-8: a seed fixes the samples; -1 fills positions after an EOS."""
    case = next(c for c in CASES if c.ensemble.eos_token_id)
    a, b = case.sampler().sample(2000, seed=5, chunk=333), case.sampler().sample(2000, seed=5, chunk=333)
    assert np.array_equal(a, b) and not np.array_equal(a, case.sampler().sample(2000, seed=6, chunk=333))
    is_eos = np.isin(a, case.ensemble.eos_token_id)
    ends = is_eos.argmax(axis=1)
    early = is_eos.any(axis=1) & (ends < case.length - 1)
    assert early.any() and all((a[i, ends[i] + 1:] == PAD).all() for i in np.flatnonzero(early))


def test_the_sampler_rejects_bad_arguments_naming_them():
    """ORACLE-8: n, seed and a stream that runs out are errors that say what to do."""
    sampler = CASES[0].sampler()
    with pytest.raises(ValueError, match="n:"):
        sampler.sample(-1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        sampler.sample(5)
    with pytest.raises(ValueError, match="ran out"):
        sampler.replay(np.full((2, 1), 0.5))
    with pytest.raises(ValueError, match="uniforms"):
        UniformChooser(np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match="method"):
        VectorSampler(CASES[0].ensemble, "se", 3)


def test_a_toy_case_round_trips_through_its_toy_file():
    """TOY-1: a case written as a toy file and read back samples the same sequences."""
    case = CASES[1]
    again = ToyCase.from_toy("again", case.toy())
    assert np.array_equal(again.sampler().sample(500, seed=2), case.sampler().sample(500, seed=2))
