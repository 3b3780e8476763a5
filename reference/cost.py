"""Cost accounting helpers and the paper's speed-up formulas (spec/07-cost.md, spec/08-theorems.md).

The formulas are exact functions of rationals so tests can compare them with the exact engine.
"""

from __future__ import annotations

from fractions import Fraction

from .toy import Ensemble


def standard_cost(ensemble: Ensemble, tokens: int) -> Fraction:
    """Cost of a standard-ensemble run emitting `tokens` tokens: sum_k c_k per token. COST-2, COST-3.

    Prefill pays for token 0 (METHOD-2), and STD-1 calls every member once per later token.
    Two members of costs 1/4 and 1 emitting 3 tokens: 3 * 5/4 = 15/4.
    """
    return tokens * sum((m.cost for m in ensemble.members), Fraction(0))


def naive_expected_tokens(alpha: Fraction, gamma: int) -> Fraction:
    """(1 - alpha^gamma) / (1 - alpha), gamma at alpha = 1: tokens per naive round. THM-3.1."""
    alpha = Fraction(alpha)
    return Fraction(gamma) if alpha == 1 else (1 - alpha**gamma) / (1 - alpha)


def naive_speedup(alpha: Fraction, c: Fraction, gamma: int) -> Fraction:
    """S = (1 - alpha^gamma)(1 + c) / ((1 - alpha)(1 + c gamma)). THM-3.1."""
    return naive_expected_tokens(alpha, gamma) * (1 + Fraction(c)) / (1 + Fraction(c) * gamma)


def alternate_speedup(alpha: Fraction, c: Fraction, gamma_q: int, gamma_p: int) -> Fraction:
    """One-cycle approximation S = (1 - a^gq)(1 + c) / ((1 - a)(1 + c gq - a^gp c)). THM-3.6, COR-3.7.

    With gq = gp = 1 it is (1 + c) / (1 + c - alpha c): alpha = 1/2, c = 1 gives 4/3.
    """
    alpha, c = Fraction(alpha), Fraction(c)
    return naive_expected_tokens(alpha, gamma_q) * (1 + c) / (1 + c * gamma_q - alpha**gamma_p * c)
