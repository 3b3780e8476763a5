"""The checker's statistics (spec/13-oracle.md): pooling, Pearson and G, Sidak, power.

Every function takes plain arrays: expected counts under the exact law, observed counts from a
sampler, and returns numbers a reader can recompute with scipy.stats by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

MIN_EXPECTED = 5.0  # ORACLE-1: every pooled cell expects at least this many samples


@dataclass(frozen=True)
class Pooled:
    """Cells after pooling: `expected`, `observed` per pooled cell (K',), `cell_of` (K,) the pooled
    cell of each original cell, and `other` the index of the pooled "other" cell (None if no pooling)."""

    expected: np.ndarray
    observed: np.ndarray
    cell_of: np.ndarray
    other: int | None

    @property
    def df(self) -> int:
        return max(0, len(self.expected) - 1)


def pool_cells(expected, observed=None, *, minimum: float = MIN_EXPECTED) -> Pooled:
    """Merge the cells of smallest expected count into one "other" cell until every cell expects >= minimum. ORACLE-1.

    Deterministic: cells are ordered by expected count, ties by their position in the input (the
    caller gives cells in a canonical order). Every cell expecting less than `minimum` goes to
    "other"; if "other" still expects less than `minimum`, the next smallest cells join it. The
    other cells keep their order; "other" comes last. Pooling looks only at expected counts.

    Expected (1, 2, 10, 7) -> cells 0 and 1 pool to 3 < 5, so cell 3 (7) joins: (10, 10).
    """
    expected = np.asarray(expected, dtype=np.float64)
    observed = np.zeros_like(expected) if observed is None else np.asarray(observed, dtype=np.float64)
    if expected.shape != observed.shape or expected.ndim != 1:
        raise ValueError(f"observed: must have the shape of expected {expected.shape}, got {observed.shape}")
    if (expected < 0).any() or not np.isfinite(expected).all():
        raise ValueError("expected: counts must be finite and non-negative")
    order = np.lexsort((np.arange(len(expected)), expected))
    small = int((expected < minimum).sum())
    if small == 0:
        return Pooled(expected, observed, np.arange(len(expected)), None)
    total = np.cumsum(expected[order])
    # the smallest j >= small whose first j cells (ascending) expect >= minimum together
    j = min(len(order), max(small, int(np.searchsorted(total, minimum, side="left")) + 1))
    pooled = np.sort(order[j:])
    cell_of = np.full(len(expected), len(pooled), dtype=np.int64)
    cell_of[pooled] = np.arange(len(pooled))
    kept_e, kept_o = expected[pooled], observed[pooled]
    other_e, other_o = expected[order[:j]].sum(), observed[order[:j]].sum()
    return Pooled(np.append(kept_e, other_e), np.append(kept_o, other_o), cell_of, len(pooled))


def pearson(observed, expected) -> float:
    """Pearson's X^2 = sum (o - e)^2 / e over cells with e > 0. ORACLE-2.

    pearson([3, 7], [5, 5]) == 1.6.
    """
    o, e = np.asarray(observed, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.sum((o - e) ** 2 / e))


def g_statistic(observed, expected) -> float:
    """The G-test statistic 2 sum o ln(o / e) (0 ln 0 = 0). ORACLE-2.

    g_statistic([3, 7], [5, 5]) == 2 (3 ln 0.6 + 7 ln 1.4) = 1.6463...
    """
    o, e = np.asarray(observed, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    positive = o > 0
    return float(2.0 * np.sum(o[positive] * np.log(o[positive] / e[positive])))


STATISTICS = {"pearson": pearson, "g": g_statistic}


def p_value(statistic: float, df: int) -> float:
    """Upper tail of chi-square with df degrees of freedom; 1 when df = 0 (nothing to test). ORACLE-2."""
    return 1.0 if df <= 0 else float(special.chdtrc(df, statistic))


def sidak_level(alpha: float, tests: int) -> float:
    """Per-test level so that `tests` independent tests reject together with probability alpha. ORACLE-3.

    1 - (1 - alpha)^(1/m): alpha 0.001 over 10 tests gives 1.0005e-4.
    """
    _check_alpha(alpha)
    return float(-np.expm1(np.log1p(-alpha) / max(1, tests)))


def sidak_p(p_values) -> float:
    """The family's p-value: 1 - (1 - min p)^m over the m tests. ORACLE-3.

    Rejecting when it is below alpha is rejecting when any p is below sidak_level(alpha, m).
    """
    p = np.asarray(list(p_values), dtype=np.float64)
    if p.size == 0:
        return 1.0
    return float(-np.expm1(p.size * np.log1p(-min(float(p.min()), 1.0))) if p.min() < 1 else 1.0)


def _check_alpha(alpha):
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: the significance level must lie in (0, 1), got {alpha!r}; e.g. 0.001")


def _check_power(power):
    if not 0 < power < 1:
        raise ValueError(f"power: must lie in (0, 1), got {power!r}; e.g. 0.9")


def noncentrality(df: int, level: float, power: float) -> float:
    """The noncentrality lambda at which chi-square(df) rejects at `level` with probability `power`. ORACLE-4."""
    _check_power(power)
    critical = _critical(level, df)
    f = lambda lam: _ncx2_sf(critical, df, lam) - power  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0 if f(0.0) < 0 else 1e-12, hi, xtol=1e-10, rtol=1e-10))


def _critical(level: float, df: int) -> float:
    """The chi-square(df) value exceeded with probability `level`."""
    return float(special.chdtri(df, level))


def _ncx2_sf(x: float, df: int, lam: float) -> float:
    """P(noncentral chi-square(df, lam) > x)."""
    return float(special.chdtrc(df, x)) if lam <= 0 else float(1.0 - special.chndtr(x, df, lam))


def _pooled(probs, n: float) -> Pooled:
    """The joint check's cells after pooling (ORACLE-1) at n samples, in units of probability times n."""
    probs = np.asarray(probs, dtype=np.float64)
    return pool_cells(n * probs[probs > 0])


def _pooled_df(probs, n: float) -> int:
    return _pooled(probs, n).df


def pooled_mass(probs, n: int) -> float:
    """The law's probability in the joint check's pooled cell "other" at n samples (0 if nothing is pooled). ORACLE-4.

    A bias that moves mass only among the sequences of "other" leaves the pooled counts' law unchanged,
    so the joint test cannot see it: its TV can reach this mass. pooled_mass([0.5, 0.25, 0.25], 12)
    == 0.5 (expected counts 6, 3, 3: the two 3s pool).
    """
    if n <= 0:
        return 1.0
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs[probs > 0]
    pooled = pool_cells(n * probs)
    return 0.0 if pooled.other is None else math.fsum(probs[pooled.cell_of == pooled.other])


def pooled_detectable_tv(probs, n: int, *, alpha: float, power: float = 0.9, tests: int = 1) -> float:
    """The TV bias over the pooled cells that the joint Pearson test detects with probability `power`. ORACLE-4.

    Least favourable alternative: among laws at total variation d from `probs` measured over the
    pooled cells, Pearson's noncentrality n sum (p1 - p0)^2 / p0 is at least 4 n d^2 (Cauchy-Schwarz),
    reached when the bias moves mass d between two halves of the probability, proportionally. So d =
    sqrt(lambda / (4 n)) where chi-square(df, lambda) exceeds its level-alpha' critical value with
    probability `power`, alpha' = sidak_level(alpha, tests), df from pooling n * probs (ORACLE-1).
    Asymptotic (local alternatives); inf when pooling leaves nothing to test.
    """
    _check_alpha(alpha)
    _check_power(power)
    if n <= 0:
        return float("inf")
    df = _pooled_df(probs, n)
    if df == 0:
        return float("inf")
    return float(np.sqrt(noncentrality(df, sidak_level(alpha, tests), power) / (4.0 * n)))


def detectable_tv(probs, n: int, *, alpha: float, power: float = 0.9, tests: int = 1) -> float:
    """The smallest TV bias the joint Pearson test detects with probability `power` from n samples. ORACLE-4.

    pooled_detectable_tv + pooled_mass: a law at total variation d from `probs` is at least d - m
    away from it over the pooled cells, m the mass of the pooled cell "other" (moving mass inside
    "other" is invisible to the pooled test; the rest is seen). So every bias of at least
    pooled_detectable_tv + m is detected with probability `power`. inf when pooling leaves nothing
    to test. A law with one possible sequence detects any bias d as impossible samples:
    d = 1 - (1 - power)^(1/n).
    """
    _check_alpha(alpha)
    _check_power(power)
    if n <= 0:
        return float("inf")
    if int((np.asarray(probs) > 0).sum()) == 1:  # one possible sequence: any bias shows as impossible samples
        return float(-np.expm1(np.log1p(-power) / n))
    return pooled_detectable_tv(probs, n, alpha=alpha, power=power, tests=tests) + pooled_mass(probs, n)


def sample_size(probs, tv: float, *, alpha: float, power: float = 0.9, tests: int = 1) -> int:
    """How many samples the joint Pearson test needs to detect a TV bias `tv` with `power`. ORACLE-4.

    The inverse of detectable_tv: first the pooled mass m(n) must fall below `tv`, then n =
    lambda(df(n)) / (4 (tv - m(n))^2), solved by fixed-point iteration (fewer cells pool as n grows),
    and finally the least n, by bisection below that point, at which detectable_tv(n) <= tv.
    """
    if isinstance(tv, bool) or not 0 < tv <= 1:
        raise ValueError(f"tv: the total-variation bias must lie in (0, 1], got {tv!r}")
    _check_alpha(alpha)
    level = sidak_level(alpha, tests)
    ok = lambda n: detectable_tv(probs, n, alpha=alpha, power=power, tests=tests) <= tv  # noqa: E731
    n = 1
    for _ in range(200):
        if ok(n):
            break
        mass = pooled_mass(probs, n)
        if mass >= tv or _pooled_df(probs, n) == 0:
            n *= 2  # too much of the law is pooled (or nothing is tested) at this size
            continue
        df = _pooled_df(probs, n)
        n = max(n + 1, int(np.ceil(noncentrality(df, level, power) / (4.0 * (tv - mass) ** 2))))
    low = n // 2  # bisect for the least n (above n / 2) that still detects tv
    while low + 1 < n:
        mid = (low + n) // 2
        low, n = (low, mid) if ok(mid) else (mid, n)
    return n


def power_against(probs, alternative, n: int, *, alpha: float, tests: int = 1) -> float:
    """Probability that the joint tests reject when samples follow `alternative`. ORACLE-4.

    The larger of the Pearson test's power (noncentral chi-square over the cells pooled under
    `probs`, lambda = n sum (a - p)^2 / p) and the chance of seeing at least one sequence `probs`
    rules out (an impossible cell rejects at once, ORACLE-5).
    """
    _check_alpha(alpha)
    p, a = np.asarray(probs, dtype=np.float64), np.asarray(alternative, dtype=np.float64)
    impossible = float(a[p <= 0].sum())
    seen_impossible = -np.expm1(n * np.log1p(-min(impossible, 1.0))) if impossible < 1 else 1.0
    pooled = pool_cells(n * p[p > 0], n * a[p > 0])
    if pooled.df == 0:
        return float(seen_impossible)
    shares_p, shares_a = pooled.expected / n, pooled.observed / n
    shares_a = shares_a / max(shares_a.sum(), 1e-300)
    lam = n * float(np.sum((shares_a - shares_p) ** 2 / shares_p))
    critical = _critical(sidak_level(alpha, tests), pooled.df)
    return float(max(_ncx2_sf(critical, pooled.df, lam), seen_impossible))
