"""Hypothesis properties of the reference over generated distributions and toy ensembles."""

from fractions import Fraction as F

from hypothesis import given, strategies as st

from specens.reference import (
    NaiveSE,
    SpeculativeEnsemble,
    acceptance_probability,
    exact_ensemble_pmf,
    exact_output_pmf,
    overlap,
    residual,
    sample,
    total_variation,
)
from specens.reference.transforms import Scores, apply_top_k, apply_top_p
from specens.reference.zoo import toy_ensemble


@st.composite
def dists(draw, size=None):
    size = size or draw(st.integers(2, 5))
    weights = draw(st.lists(st.integers(0, 6), min_size=size, max_size=size).filter(lambda w: sum(w) > 0))
    return tuple(F(w, sum(weights)) for w in weights)


pairs = st.integers(2, 5).flatmap(lambda v: st.tuples(dists(v), dists(v)))


@given(pairs)
def test_one_verification_step_emits_r_for_any_q_and_r(qr):
    """VERIFY-3 (THM-VERIFY): sum_x q(x) [a(x) 1{x = y} + (1 - a(x)) res(y)] = r(y) exactly."""
    q, r = qr
    res = residual(r, q)
    law = [F(0)] * len(r)
    for x, qx in enumerate(q):
        if qx == 0:
            continue
        a = acceptance_probability(r[x], qx)
        law[x] += qx * a
        for y, ry in enumerate(res):
            law[y] += qx * (1 - a) * ry
    assert tuple(law) == r


@given(pairs)
def test_acceptance_rate_is_one_minus_total_variation(qr):
    """VERIFY-1 (THM-ACCEPT): sum_x q(x) min(1, r(x)/q(x)) = sum min(q, r) = 1 - TV(q, r)."""
    q, r = qr
    a = sum((qx * acceptance_probability(r[x], qx) for x, qx in enumerate(q) if qx > 0), F(0))
    assert a == overlap(q, r) == 1 - total_variation(q, r)


@given(pairs)
def test_the_residual_is_a_distribution_supported_where_r_exceeds_q(qr):
    """VERIFY-2, VERIFY-4."""
    q, r = qr
    res = residual(r, q)
    assert sum(res) == 1 and all(p >= 0 for p in res)
    if q != r:
        assert all((p > 0) == (r[x] > q[x]) for x, p in enumerate(res))


@given(dists(), st.fractions(min_value=0, max_value=1).filter(lambda u: u < 1))
def test_sample_returns_the_token_whose_cdf_interval_holds_u(d, u):
    """RNG-2: d(0) + .. + d(x-1) <= u < d(0) + .. + d(x), and d(x) > 0."""
    x = sample(d, u)
    assert d[x] > 0 and sum(d[:x]) <= u < sum(d[: x + 1])


@given(dists(), st.integers(1, 6))
def test_top_k_keeps_exactly_min_k_and_support_tokens(d, k):
    """TRANSFORM-3."""
    kept = apply_top_k(Scores(probs=d), k).probs
    assert sum(1 for p in kept if p > 0) == min(k, sum(1 for p in d if p > 0))


@given(dists(), st.fractions(min_value=F(1, 100), max_value=1))
def test_top_p_keeps_the_shortest_prefix_with_mass_at_least_p(d, p):
    """TRANSFORM-4: kept mass >= p, and dropping the least likely kept token would fall below p."""
    kept = [x for x, v in enumerate(apply_top_p(Scores(probs=d), p).probs) if v > 0]
    mass = sum(d[x] for x in kept)
    assert mass >= p
    assert mass - min(d[x] for x in kept) < p or len(kept) == 1


@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 3), st.sampled_from([0, 1]),
       st.sampled_from(["m0", "m1"]))
def test_speculative_and_naive_ensembles_are_exact_on_random_toys(seed, g0, g1, temperature, default):
    """SE-1, NAIVE-1 (ENGINE-1 == ENGINE-2) on random two-member toys with EOS."""
    ensemble = toy_ensemble(2, 3, seed=seed, temperature=temperature, eos_token_id=2)
    expected = exact_ensemble_pmf(ensemble, 3)
    assert exact_output_pmf(ensemble, SpeculativeEnsemble({"m0": g0, "m1": g1}, default), 3).pmf == expected
    assert exact_output_pmf(ensemble, NaiveSE(gamma=g0, proposer=default), 3).pmf == expected
