"""Hand-worked verification (VERIFY-1..VERIFY-4) and one full speculative-ensemble run (SE-1..SE-6)."""

from fractions import Fraction as F

import pytest

from specens.reference import (
    Ensemble,
    SpeculativeEnsemble,
    ToyMember,
    WeightedEnsemble,
    acceptance_probability,
    generate,
    overlap,
    residual,
    total_variation,
)
from specens.reference.rng import StreamChooser, UniformStream
from specens.reference.transforms import Scores
from specens.reference.verify import verify


def chooser(*uniforms):
    return StreamChooser(UniformStream(list(uniforms)))


Q, R = (F(3, 4), F(1, 4)), (F(1, 2), F(1, 2))


def test_acceptance_probability_is_min_of_one_and_r_over_q():
    """VERIFY-1: min(1, (1/2) / (3/4)) = 2/3; min(1, (1/2) / (1/4)) = 1."""
    assert acceptance_probability(R[0], Q[0]) == F(2, 3)
    assert acceptance_probability(R[1], Q[1]) == 1


def test_a_token_with_u_below_the_ratio_is_accepted_without_a_second_uniform():
    """VERIFY-1, VERIFY-3: u = 0.6 < 2/3 accepts token 0 and uses one uniform."""
    c = chooser(0.6)
    assert verify(0, Q, R, c) == (True, 0)
    assert len(c.stream.used) == 1


def test_rejected_token_is_drawn_from_the_residual():
    """VERIFY-2, VERIFY-3: u = 0.7 >= 2/3 rejects token 0; residual (0, 1) gives token 1."""
    assert residual(R, Q) == (F(0), F(1))
    c = chooser(0.7, 0.0)
    assert verify(0, Q, R, c) == (False, 1)
    assert len(c.stream.used) == 2


def test_the_accept_test_compares_without_dividing():
    """VERIFY-1 / RNG-3: u * q(x) < r(x); u exactly at the ratio rejects."""
    assert verify(0, Q, R, chooser(float(F(2, 3)) + 1e-16, 0.5))[0] is False
    assert verify(0, Q, R, chooser(0.5))[0] is True


def test_zero_residual_mass_falls_back_to_r():
    """VERIFY-4: if q == r the residual mass is zero; the residual is r (never NaN or out of range)."""
    assert residual(R, R) == R


def test_one_step_emits_r_exactly():
    """VERIFY-3 (THM-VERIFY on one example): min(q, r) + mass * residual = r."""
    a = overlap(Q, R)
    res = residual(R, Q)
    assert a == 1 - total_variation(Q, R) == F(3, 4)
    assert tuple(min(q, r) + (1 - a) * s for q, r, s in zip(Q, R, res)) == R


def test_one_full_speculative_ensemble_run_by_hand():
    """SE-1..SE-6, METHOD-1..METHOD-4 on a two-member WE, worked by hand.

    a = (1/2, 1/2) costs 1/4; b = (1/4, 3/4) costs 1; weights a 1/4, b 3/4 so r = (5/16, 11/16).
    gammas a 2, b 1; default proposer a (cheapest); max_new_tokens 4.
      u0 = .5  first token from r: 0.5 >= 5/16, token 1.                      emitted [1]
      a proposes 2: u1 = .1 -> 0 at position 1; u2 = .9 -> 1 at position 2.
      b scores positions 0..2 and draws its bonus: u3 = .2 -> 0 at position 3.
      verify position 1 (token 0 from a): r/q = (5/16)/(1/2) = 5/8; u4 = .7 rejects;
        residual max(0, r - q) = (0, 3/16) -> u5 draws 1.                      emitted [1, 1]
      cache dropped, a and b cropped to 1 token; a restarts:
      a proposes 2: u6 = .3 -> 0 at position 2; u7 = .6 -> 1 at position 3 (the last one allowed).
      b scores (no bonus: no room); verify position 2: u8 = .5, .5 * 1/2 < 5/16 accepts;
      verify position 3: r/q = 11/8, u9 accepts.                               emitted [1, 1, 0, 1]
    cost: prefill 5/4 + a 1/2 + b 1 + a 1/2 + b 1 = 17/4.
    """
    a = ToyMember("a", {(): Scores(probs=(F(1, 2), F(1, 2)))}, order=0, cost=F(1, 4))
    b = ToyMember("b", {(): Scores(probs=(F(1, 4), F(3, 4)))}, order=0, cost=1)
    ensemble = Ensemble((a, b), WeightedEnsemble({"a": "1/4", "b": "3/4"}))
    uniforms = [0.5, 0.1, 0.9, 0.2, 0.7, 0.0, 0.3, 0.6, 0.5, 0.99]
    result = generate(ensemble, SpeculativeEnsemble({"a": 2, "b": 1}), 4, uniforms=uniforms)
    assert result.tokens == [1, 1, 0, 1]
    assert result.cost == F(17, 4)
    assert result.uniforms_used == 10
    assert result.calls == {"a": 5, "b": 3}
    verifies = [(e["position"], e["proposer"], e["accepted"], e["emitted"]) for e in result.trace if e["event"] == "verify"]
    assert verifies == [(1, "a", False, 1), (2, "a", True, 0), (3, "a", True, 1)]
    bonus = [e for e in result.trace if e["event"] == "propose" and e["bonus"]]
    assert [(e["member"], e["position"], e["token"]) for e in bonus] == [("b", 3, 0)]
    crops = [(e["member"], e["length"]) for e in result.trace if e["event"] == "crop"]
    assert crops == [("a", 1), ("b", 1)]


def test_a_stream_that_runs_out_raises_an_error_naming_uniforms():
    """RNG-1: a given stream is finite; running past it is an error, not a silent reseed."""
    a = ToyMember("a", {(): Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    ensemble = Ensemble((a,), WeightedEnsemble({"a": 1}))
    with pytest.raises(ValueError, match="uniforms"):
        generate(ensemble, SpeculativeEnsemble({"a": 1}), 3, uniforms=[0.5])
