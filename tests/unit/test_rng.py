"""The randomness contract (RNG-1..RNG-3)."""

from fractions import Fraction as F

import numpy as np
import pytest

from specens.reference import generate
from specens.reference.rng import UniformStream, accepts, sample
from specens.reference.zoo import toy_ensemble
from specens.reference import SpeculativeEnsemble


def test_sample_is_the_inverse_cdf_over_token_ids():
    """RNG-2: sample((1/4, 0, 3/4), 0.2) = 0 and 0.25 gives 2 (token 1 has probability 0)."""
    d = (F(1, 4), F(0), F(3, 4))
    assert sample(d, F(1, 5)) == 0
    assert sample(d, F(1, 4)) == 2
    assert sample(d, F(0)) == 0


def test_sample_never_returns_a_zero_probability_token_even_at_rounding_edges():
    """RNG-2: a float total below 1 returns the last positive token, never an out-of-range id."""
    d = (0.3, 0.3, 0.3999999, 0.0)
    assert sample(d, 0.99999999) == 2


def test_sample_rejects_a_uniform_outside_the_unit_interval():
    """RNG-2: u must lie in [0, 1)."""
    with pytest.raises(ValueError, match="u"):
        sample((F(1),), 1.0)


def test_accept_test_is_strict():
    """RNG-3: accepts(u, r(x), q(x)) is u * q(x) < r(x); equality rejects."""
    assert accepts(F(1, 2), F(1, 2), F(1, 4)) is True  # 1/8 < 1/2
    assert accepts(F(1, 2), F(1, 4), F(1, 2)) is False  # 1/4 < 1/4 fails


def test_a_seeded_stream_is_numpys_pcg64():
    """RNG-1: UniformStream(seed=s) yields Generator(PCG64(s)).random()."""
    expected = np.random.Generator(np.random.PCG64(5)).random(4)
    stream = UniformStream(seed=5)
    assert [next(stream) for _ in range(4)] == list(expected)


def test_one_uniform_per_choice_point_so_the_same_stream_gives_the_same_run():
    """RNG-1: two runs with the same uniforms emit the same tokens and trace; the count is exact."""
    ensemble = toy_ensemble(2, 3, seed=3)
    method = SpeculativeEnsemble({"m0": 2, "m1": 1})
    a = generate(ensemble, method, 6, seed=11)
    b = generate(ensemble, method, 6, uniforms=UniformStream(seed=11)._generator.random(a.uniforms_used))
    assert (a.tokens, a.trace, a.uniforms_used) == (b.tokens, b.trace, b.uniforms_used)
    choice_points = sum(1 for e in a.trace if e["event"] in ("propose", "verify")) + sum(
        1 for e in a.trace if e["event"] == "emit" and e["rule"] in ("direct", "residual"))
    assert a.uniforms_used == choice_points
