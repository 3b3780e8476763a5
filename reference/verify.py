"""Verification of one proposed token against r (spec/04-verification.md)."""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from .numbers import Dist
from .rng import Chooser


def acceptance_probability(r_x: Fraction, q_x: Fraction) -> Fraction:
    """min(1, r(x) / q(x)) for a token x drawn from q (so q(x) > 0). VERIFY-1.

    acceptance_probability(1/4, 1/2) == 1/2.
    """
    if q_x <= 0:
        raise ValueError(f"q_x: a proposed token has q(x) > 0, got {q_x}; was it drawn from another distribution?")
    return min(Fraction(1), r_x / q_x)


def residual(r: Sequence[Fraction], q: Sequence[Fraction]) -> Dist:
    """norm(max(0, r - q)), the distribution a rejected token is replaced from. VERIFY-2.

    If its mass is zero (impossible after a rejection in exact arithmetic, possible after rounding
    in floating point) the residual is r itself (VERIFY-4).
    residual((1/2, 1/2), (3/4, 1/4)) == (0, 1).
    """
    excess = [max(Fraction(0), r_x - q_x) for r_x, q_x in zip(r, q)]
    mass = sum(excess, Fraction(0))
    if mass <= 0:
        return tuple(r)
    return tuple(e / mass for e in excess)


def overlap(q: Sequence[Fraction], r: Sequence[Fraction]) -> Fraction:
    """alpha = sum_x min(q(x), r(x)) = 1 - TV(q, r), the probability a draw from q is accepted. THM-ACCEPT."""
    return sum((min(a, b) for a, b in zip(q, r)), Fraction(0))


def total_variation(a: Sequence[Fraction], b: Sequence[Fraction]) -> Fraction:
    """TV(a, b) = 1/2 sum_x |a(x) - b(x)|. NOTATION-1."""
    return sum((abs(x - y) for x, y in zip(a, b)), Fraction(0)) / 2


def verify(token: int, q: Dist, r: Dist, chooser: Chooser, what: str = "verify") -> tuple[bool, int]:
    """Accept `token` (drawn from q) with probability min(1, r/q), else draw from the residual. VERIFY-3.

    Returns (accepted, emitted token). One uniform for the test; one more only after a rejection.
    """
    if chooser.accept(r[token], q[token], what):
        return True, token
    return False, chooser.draw(residual(r, q), what + ":residual")
