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


def never_slower_proposer(weights: tuple[Fraction, Fraction], costs: tuple[Fraction, Fraction]) -> int:
    """Index of a WE member whose naive rounds of gamma = 2 are never slower than the ensemble. COR-3.5.

    The member qualifies when its weight is at least its share of the cost, w_i >= c_i / (c_0 + c_1):
    its acceptance is at least its weight (THM-3.2) and naive_speedup(alpha, c_i / c_j, 2) >= 1 iff
    alpha >= c_i / (c_i + c_j) (COR-3.4's threshold). Weights and shares both sum to one, so one of
    the two members always qualifies; the one with the larger margin w_i - share_i is returned (the
    first on a tie). Needs no alpha: weights and costs decide.

    Args:
        weights: the two WE weights, non-negative, summing to one.
        costs: the two members' costs per call, positive.
    Returns:
        0 or 1, the member to propose.

    Weights (1/2, 1/2), costs (1/4, 1): shares (1/5, 4/5), margins (3/10, -3/10), so member 0; its
    alpha >= 1/2 gives naive_speedup(1/2, 1/4, 2) = (3/2)(5/4)/(3/2) = 5/4 >= 1.
    """
    w = [Fraction(x) for x in weights]
    c = [Fraction(x) for x in costs]
    if len(w) != 2 or len(c) != 2:
        raise ValueError(f"weights, costs: pass two of each (COR-3.5 covers two members); got {len(w)} and {len(c)}")
    if min(w) < 0 or sum(w) != 1:
        raise ValueError(f"weights: need two non-negative weights summing to 1, got {weights}")
    if min(c) <= 0:
        raise ValueError(f"costs: need two positive costs per call, got {costs}")
    margins = [w[i] - c[i] / (c[0] + c[1]) for i in (0, 1)]
    return 0 if margins[0] >= margins[1] else 1


def alternate_speedup(alpha: Fraction, c: Fraction, gamma_q: int, gamma_p: int) -> Fraction:
    """One-cycle approximation S = (1 - a^gq)(1 + c) / ((1 - a)(1 + c gq - a^gp c)). THM-3.6, COR-3.7.

    With gq = gp = 1 it is (1 + c) / (1 + c - alpha c): alpha = 1/2, c = 1 gives 4/3.
    """
    alpha, c = Fraction(alpha), Fraction(c)
    return naive_expected_tokens(alpha, gamma_q) * (1 + c) / (1 + c * gamma_q - alpha**gamma_p * c)


def tabled_cost(trace, table) -> Fraction:
    """Sum of t_k(n) over a run's forward calls, n the tokens each processed. COST-4.

    Args:
        trace: a run's trace (TRACE-1): events with `event`, and for `call` events `member`, `kind`
            and `fed` = [start, end]. Prefill calls are left out.
        table: {member name: {n: t_k(n)}}, costs as numbers or rational strings.
    Returns:
        The tabled cost, exact (Fraction; a float cost enters as its exact binary value).
    Raises:
        ValueError: a call's member or token count is not in the table.

    Calls (a, 1 token), (b, 2 tokens), (a, 1 token) with t_a = {1: 1/4}, t_b = {2: 3/2}: 1/4 + 3/2 + 1/4 = 2.
    """
    total = Fraction(0)
    for e in trace:
        if e["event"] != "call" or e["kind"] != "forward":
            continue
        start, end = e["fed"]
        costs = table.get(e["member"])
        if costs is None or (end - start) not in costs:
            raise ValueError(f"table: no cost for a call of member {e['member']!r} over {end - start} token(s); "
                             "measure t_k(n) for every n the runs use (scripts/bench_cost.py)")
        total += Fraction(costs[end - start])
    return total
