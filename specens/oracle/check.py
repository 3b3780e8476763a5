"""Goodness of fit of sampled sequences against an exact law over sequences (spec/13-oracle.md).

`check_samples(samples, law)` runs a family of tests: the joint law of the whole sequence (the first
`L` tokens) and, for each position i, the conditional law of token i given the tokens before it,
each with Pearson's X^2 and the G-test over pooled cells, Sidak-corrected across the family. Any
sample the law rules out rejects at once. A run too small to detect the target TV bias is
INCONCLUSIVE, never "consistent". The `Report` prints the verdict, the family p-value, an estimated
total variation, the TV bias the run could detect (and, when that is too large, how many samples
are needed), and the cells of largest discrepancy.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .stats import (MIN_EXPECTED, STATISTICS, detectable_tv, p_value, pool_cells, pooled_mass, sample_size,
                    sidak_level, sidak_p)

DEFAULT_ALPHA = 0.001
DEFAULT_POWER = 0.9
DEFAULT_TARGET_TV = 0.05  # a run that cannot detect this TV bias with DEFAULT_POWER is underpowered
PAD = -1


class UnderpoweredWarning(UserWarning):
    """The run is too small to detect the target TV bias with the stated power: INCONCLUSIVE (ORACLE-4)."""


class LargeTVWarning(UserWarning):
    """No test rejected, yet the estimated TV exceeds the target by more than sampling noise (ORACLE-6)."""


@dataclass(frozen=True)
class Cell:
    """One (pooled) cell of one check: what the law expects and what the samples gave."""

    check: str
    label: str
    expected: float
    observed: float

    @property
    def residual(self) -> float:
        """Pearson residual (o - e) / sqrt(e); infinite for a cell the law rules out."""
        if self.expected <= 0:
            return float("inf")
        return (self.observed - self.expected) / np.sqrt(self.expected)


@dataclass(frozen=True)
class TestResult:
    """One test of the family: a check (joint or position i) with one statistic. ORACLE-2."""

    check: str
    statistic: str
    value: float
    df: int
    p_value: float


@dataclass
class Report:
    """What a check found: `verdict` is REJECTED, INCONCLUSIVE or CONSISTENT (ORACLE-3, ORACLE-4).

    `samples_needed`: when the run is underpowered, the least number of samples with which a run
    of this check detects a TV bias of `target_tv` with probability `power` (ORACLE-4).
    """

    n: int
    length: int
    alpha: float
    tests: list
    family_p: float
    impossible: list
    cells: list
    tv: float
    tv_noise: float
    detectable_tv: float
    power: float
    target_tv: float
    sequences: int
    pooled_cells: int
    label: str = ""
    samples_needed: int | None = None
    pooled_mass: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def large_tv(self) -> bool:
        """Not rejected, yet the estimated TV exceeds the target plus the TV of sampling noise. ORACLE-6."""
        return not self.rejected and self.tv > self.tv_noise + self.target_tv

    def large_tv_line(self) -> str:
        """The warning a report gives when `large_tv`. ORACLE-6."""
        return (f"warning: the estimated TV {self.tv:.4f} exceeds the target {self.target_tv:g} plus sampling "
                f"noise {self.tv_noise:.4f}, yet no test rejected; the samples may be biased: draw more samples")

    @property
    def rejected(self) -> bool:
        return self.family_p < self.alpha

    @property
    def underpowered(self) -> bool:
        return not self.detectable_tv <= self.target_tv

    @property
    def inconclusive(self) -> bool:
        """Not rejected, and too small to detect the target TV bias (or nothing left to test). ORACLE-3."""
        return not self.rejected and self.underpowered

    @property
    def verdict(self) -> str:
        """REJECTED (a rejection at level alpha stands at any power), INCONCLUSIVE, or CONSISTENT. ORACLE-3."""
        return "REJECTED" if self.rejected else "INCONCLUSIVE" if self.inconclusive else "CONSISTENT"

    def power_line(self) -> str:
        """One line on the run's power; for an underpowered run, how many samples it needs. ORACLE-4."""
        detect = (f"detect a TV bias of {self.detectable_tv:.4f}" if math.isfinite(self.detectable_tv)
                  else "cannot detect a TV bias of any size")
        line = (f"{self.n} samples {detect} with power {self.power:g}"
                + ("" if self.tests or self.sequences == 1 else " (no test is left after pooling)")
                + (f" (of which {self.pooled_mass:.4f} is the law's mass pooled into 'other', where a bias "
                   "is invisible)" if self.tests and self.pooled_mass > 0 else ""))
        if not self.underpowered:
            return f"{line}, within the target {self.target_tv:g}"
        return f"{line}, above the target {self.target_tv:g}: use at least {self.samples_needed:,} samples"

    def worst(self, k: int = 10) -> list:
        """The k cells of largest |Pearson residual|, cells the law rules out first. ORACLE-6."""
        return sorted(self.impossible + self.cells, key=lambda c: (-abs(c.residual), c.check, c.label))[:k]

    def format(self, k: int = 10) -> str:
        """The human-readable report. ORACLE-6."""
        verdict = {"REJECTED": "REJECTED", "CONSISTENT": "consistent with the exact law",
                   "INCONCLUSIVE": "INCONCLUSIVE (too few samples to tell)"}[self.verdict]
        lines = [
            f"specens oracle{': ' + self.label if self.label else ''}: {verdict} at alpha = {self.alpha:g} "
            f"(Sidak-adjusted p = {self.family_p:.3g} over {len(self.tests)} tests)",
            f"samples: {self.n} sequences of up to {self.length} tokens; {self.sequences} possible sequences, "
            f"{self.pooled_cells} cells after pooling",
            f"estimated TV {self.tv:.4f} (sampling noise alone gives about {self.tv_noise:.4f})",
            f"power: {self.power_line()}",
        ]
        if self.large_tv:
            lines.append(self.large_tv_line())
        if self.impossible:
            lines.append(f"{sum(int(c.observed) for c in self.impossible)} samples the law rules out "
                         f"(probability 0), in {len(self.impossible)} cells")
        lines += [f"  {note}" for note in self.notes]
        lines.append(f"{'test':<24} {'statistic':<9} {'value':>12} {'df':>6} {'p-value':>10}")
        for t in self.tests:
            lines.append(f"{t.check:<24} {t.statistic:<9} {t.value:>12.2f} {t.df:>6} {t.p_value:>10.3g}")
        if k <= 0:
            return "\n".join(lines)
        lines.append("largest discrepancies (expected vs observed):")
        lines.append(f"{'check':<14} {'cell':<32} {'expected':>11} {'observed':>9} {'(o-e)/sqrt(e)':>14}")
        for c in self.worst(k):
            lines.append(f"{c.check:<14} {c.label:<32} {c.expected:>11.1f} {int(c.observed):>9} {c.residual:>+14.2f}")
        return "\n".join(lines)

    __str__ = format


# -- sequences as integer codes -----------------------------------------------------------------
def as_token_array(samples, length: int) -> np.ndarray:
    """Samples as an (n, length) int64 array, PAD (-1) after each sequence's end. ORACLE-5.

    Accepts a 2-D integer array or an iterable of sequences of integer token ids, in both of which
    PAD or any negative value ends a row (a token after it is refused); tokens past `length` are
    dropped (the check is over the first `length` tokens). Anything else (a 1-D or 3-D array, floats, strings) is refused, naming `samples`.
    """
    if isinstance(samples, np.ndarray):
        if samples.ndim != 2:
            fix = "; for one-token sequences use samples[:, None]" if samples.ndim == 1 else ""
            raise ValueError(f"samples: expected a 2-D array (sequences, tokens), got shape {samples.shape}{fix}")
        if not np.issubdtype(samples.dtype, np.integer):
            raise ValueError(f"samples: expected integer token ids, got an array of {samples.dtype}")
        out = np.full((len(samples), length), PAD, dtype=np.int64)
        width = min(length, samples.shape[1])
        out[:, :width] = samples[:, :width]
        out[out < 0] = PAD
        ended = np.cumsum(out == PAD, axis=1) > 0
        if (ended & (out != PAD)).any():
            row = int(np.argmax((ended & (out != PAD)).any(axis=1)))
            raise ValueError(f"samples: row {row} has a token after its end (PAD); pad only at the end")
        return out
    if isinstance(samples, (str, bytes, Mapping)) or not hasattr(samples, "__iter__"):
        raise ValueError(f"samples: expected an (n, L) integer array or a list of token sequences, "
                         f"got {type(samples).__name__}")
    rows = []
    for i, seq in enumerate(samples):
        if isinstance(seq, (str, bytes, Mapping)) or not hasattr(seq, "__iter__"):
            raise ValueError(f"samples: sequence {i} is {seq!r}, not a sequence of token ids; "
                             "give a list of sequences, e.g. [[0, 2], [1]]")
        seq = list(seq)[:length]
        if any(isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) for t in seq):
            raise ValueError(f"samples: sequence {i} holds {seq!r}; token ids must be integers (not floats, "
                             "strings or booleans)")
        seq = [int(t) for t in seq]
        end = next((j for j, t in enumerate(seq) if t < 0), len(seq))  # PAD (any negative value) ends it
        if any(t >= 0 for t in seq[end:]):
            raise ValueError(f"samples: sequence {i} has a token after its end (a negative id, PAD) {seq}; "
                             "pad only at the end")
        rows.append(seq[:end] + [PAD] * (length - end))
    return np.array(rows, dtype=np.int64).reshape(len(rows), length)


def _encode(tokens: np.ndarray, base: int) -> np.ndarray:
    """One int64 per row: the tokens as base-`base` digits, PAD as the digit base - 1."""
    digits = np.where(tokens == PAD, base - 1, tokens)
    code = np.zeros(len(tokens), dtype=np.int64)
    for i in range(tokens.shape[1]):
        code = code * base + digits[:, i]
    return code


def _label(tokens) -> str:
    return "(" + ", ".join(str(int(t)) for t in tokens if t != PAD) + ")"


@dataclass
class _Law:
    """The exact law as arrays: rows (K, L) with PAD, probabilities (K,), sorted by code."""

    rows: np.ndarray
    probs: np.ndarray
    codes: np.ndarray
    base: int


def prefix_law(law: Mapping, n: int) -> dict:
    """The law of the first `n` tokens of a sequence drawn from `law` ({sequence: probability}): every
    sequence's probability added to its first `n` tokens (a shorter one, ended by EOS, kept whole).
    Exact when the probabilities are Fractions. Example: {(0, 1): 1/2, (0, 2): 1/4, (1,): 1/4}, n = 1:
    {(0,): 3/4, (1,): 1/4}."""
    out: dict = {}
    for seq, p in law.items():
        out[seq[:n]] = out.get(seq[:n], 0) + p
    return out


def _check_law(law) -> None:
    """A law is a non-empty mapping from tuples of integer token ids to probabilities. ORACLE-5."""
    if not isinstance(law, Mapping) or not law:
        raise ValueError("law: expected a non-empty mapping {sequence tuple: probability}, e.g. "
                         f"reference.exact_ensemble_pmf(ensemble, length); got {law!r:.60}")
    for seq in law:
        if not isinstance(seq, tuple) or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) for t in seq):
            raise ValueError(f"law: keys must be tuples of integer token ids, got {seq!r}")


def _law_arrays(law: Mapping, length: int | None, extra_max_token: int) -> _Law:
    items = [(tuple(int(t) for t in seq), float(p)) for seq, p in law.items() if p > 0]
    if not items:
        raise ValueError("law: has no sequence of positive probability")
    length = length or max(len(s) for s, _ in items)
    if any(len(s) > length for s, _ in items):
        raise ValueError(f"law: has sequences longer than length={length}; give the law of the first {length} "
                         "tokens (e.g. reference.exact_ensemble_pmf(ensemble, length))")
    total = sum(p for _, p in items)
    if abs(total - 1) > 1e-9:
        raise ValueError(f"law: probabilities sum to {total}, not 1")
    rows = np.array([list(s) + [PAD] * (length - len(s)) for s, _ in items], dtype=np.int64).reshape(len(items), length)
    base = max(int(rows.max()), extra_max_token) + 2
    if base ** length >= 2**62:
        raise ValueError(f"length: {length} tokens over {base - 1} ids do not fit the checker's integer codes")
    codes = _encode(rows, base)
    order = np.argsort(codes)
    return _Law(rows[order], np.array([p for _, p in items])[order] / total, codes[order], base)


# -- the checks -------------------------------------------------------------------------------------
def _tests(name: str, expected, observed, statistics) -> tuple:
    """Pool (ORACLE-1), then one TestResult per statistic (ORACLE-2)."""
    pooled = pool_cells(expected, observed)
    values = {s: STATISTICS[s](pooled.observed, pooled.expected) for s in statistics}
    return pooled, [TestResult(name, s, values[s], pooled.df, p_value(values[s], pooled.df)) for s in statistics]


def joint_check(tokens: np.ndarray, law: _Law, statistics) -> tuple:
    """The joint law of whole sequences over pooled cells; samples of probability 0 listed apart. ORACLE-5."""
    n = len(tokens)
    seen, counts = np.unique(_encode(tokens, law.base), return_counts=True)
    at = np.minimum(np.searchsorted(law.codes, seen), len(law.codes) - 1)
    known = law.codes[at] == seen
    observed = np.zeros(len(law.codes))
    observed[at[known]] = counts[known]
    impossible = []
    if (~known).any():
        first = {int(c): row for c, row in zip(_encode(tokens, law.base), tokens)}
        impossible = [Cell("joint", _label(first[int(c)]), 0.0, float(k)) for c, k in zip(seen[~known], counts[~known])]
    possible = observed.sum()  # the tests are over the possible samples: impossible ones reject apart (ORACLE-5)
    expected = (possible or n) * law.probs
    pooled, tests = _tests(f"joint ({tokens.shape[1]} tokens)", expected, observed, statistics)
    if not possible:  # nothing to test; the cells still show what n exact samples would give
        tests = []
    cells = [Cell("joint", _label(law.rows[i]), expected[i], observed[i])
             for i in np.flatnonzero(pooled.cell_of != (pooled.other if pooled.other is not None else -1))]
    if pooled.other is not None:
        size = int((pooled.cell_of == pooled.other).sum())
        cells.append(Cell("joint", f"other ({size} sequences)", pooled.expected[-1], pooled.observed[-1]))
    return tests, cells, impossible, observed, pooled


def conditional_check(tokens: np.ndarray, law: _Law, position: int, statistics) -> tuple:
    """Token `position` given the tokens before it, per observed prefix, pooled per prefix. ORACLE-5.

    Given each prefix's count n_g, the tokens after it are multinomial(n_g, r(. | prefix)) under the
    law; the statistics add over prefixes, and so do their degrees of freedom.
    """
    i, base = position, law.base
    name = f"position {i} | prefix"
    continues = law.rows[:, i] != PAD
    mine = tokens[tokens[:, i] != PAD]
    if not continues.any() or not len(mine):
        return [TestResult(name, s, 0.0, 0, 1.0) for s in statistics], []
    cell_codes, where = np.unique(_encode(law.rows[continues, : i + 1], base), return_inverse=True)
    cell_probs = np.bincount(where.ravel(), weights=law.probs[continues])  # P(prefix, token), sorted by code
    seen, counts = np.unique(_encode(mine[:, : i + 1], base), return_counts=True)
    law_prefix, seen_prefix = cell_codes // base, seen // base  # both sorted
    prefixes = np.unique(seen_prefix)
    law_at = np.searchsorted(law_prefix, prefixes, side="left"), np.searchsorted(law_prefix, prefixes, side="right")
    seen_at = np.searchsorted(seen_prefix, prefixes, side="left"), np.searchsorted(seen_prefix, prefixes, side="right")
    totals, df, cells = {s: 0.0 for s in statistics}, 0, []
    for prefix, a, b, c, d in zip(prefixes, *law_at, *seen_at):
        if a == b:
            continue  # a prefix the law rules out: the joint check reports it
        codes_g = cell_codes[a:b]
        at = np.minimum(np.searchsorted(codes_g, seen[c:d]), b - a - 1)
        ok = codes_g[at] == seen[c:d]  # tokens the law rules out after this prefix: the joint check reports them
        observed = np.zeros(b - a)
        observed[at[ok]] = counts[c:d][ok]
        n_g = observed.sum()  # the group's possible samples (ORACLE-5)
        if n_g < 2 * MIN_EXPECTED:
            continue  # a single pooled cell
        pooled = pool_cells(n_g * cell_probs[a:b] / cell_probs[a:b].sum(), observed)
        if pooled.df == 0:
            continue
        df += pooled.df
        for s in statistics:
            totals[s] += STATISTICS[s](pooled.observed, pooled.expected)
        head = _label(_digits(int(prefix), base, i))
        for j in range(len(pooled.expected)):
            token = "other" if j == pooled.other else str(int(codes_g[np.argmax(pooled.cell_of == j)] % base))
            cells.append(Cell(f"position {i}", f"{head} -> {token}", pooled.expected[j], pooled.observed[j]))
    return [TestResult(name, s, totals[s], df, p_value(totals[s], df)) for s in statistics], cells


def impossible_kinds(ruled_out: np.ndarray, law: _Law) -> str:
    """Why the samples the law rules out (`ruled_out`, rows as checked) are impossible, counted by kind,
    with the likely fix. ORACLE-5.

    Kinds, first match: no token at all; an id that no sequence of the law holds; a token after an id
    that ends the law's shorter sequences (an end-of-sequence id); fewer tokens than the check's length
    without ending in such an id (an engine that strips its EOS token does this); any other sequence.
    """
    rows, counts = np.unique(ruled_out, axis=0, return_counts=True)
    length = ruled_out.shape[1]
    sizes = (law.rows != PAD).sum(axis=1)
    ends = sorted({int(law.rows[i, sizes[i] - 1]) for i in np.flatnonzero((sizes < length) & (sizes > 0))})
    ids = set(np.unique(law.rows[law.rows != PAD]).tolist())
    kinds: dict = {}
    for row, count in zip(rows, counts):
        seq = [int(t) for t in row if t != PAD]
        if not seq:
            kind = "are empty (no token" + ("; if your engine strips the EOS token, keep it)" if ends else ")")
        elif any(t not in ids for t in seq):
            kind = (f"hold an id no sequence of the law holds ({', '.join(str(t) for t in sorted(set(seq) - ids))}; "
                    "an id outside the vocabulary?)")
        elif any(t in ends for t in seq[:-1]):
            kind = f"have a token after an end-of-sequence id ({', '.join(map(str, ends))})"
        elif len(seq) < length:
            kind = (f"end before {length} tokens without an end-of-sequence id ("
                    + (f"the law's shorter sequences end with {', '.join(map(str, ends))}: keep the EOS token in "
                       "each sample, some engines strip it)" if ends else
                       f"the law has no sequence shorter than {length}: check fewer tokens, length=...)"))
        else:
            kind = "are other sequences the law rules out"
        kinds[kind] = kinds.get(kind, 0) + int(count)
    return "impossible samples: " + "; ".join(f"{k:,} {kind}" for kind, k in kinds.items())


def _digits(code: int, base: int, width: int) -> list:
    return [(code // base ** (width - 1 - j)) % base for j in range(width)]


def _tv_noise(probs: np.ndarray, n: int) -> float:
    """About E[TV(empirical, law)] for n exact samples: 1/2 sum_x E|X_x/n - p_x| (normal, capped at 2p)."""
    return float(0.5 * np.sum(np.minimum(np.sqrt(2 * probs * (1 - probs) / (np.pi * n)), 2 * probs)))


def check_samples(samples, law: Mapping, *, length: int | None = None, alpha: float = DEFAULT_ALPHA,
                  statistics: Sequence[str] = ("pearson", "g"), conditionals: bool = True,
                  power: float = DEFAULT_POWER, target_tv: float = DEFAULT_TARGET_TV, label: str = "",
                  warn: bool = True) -> Report:
    """Test sampled sequences against an exact law over sequences. ORACLE-3, ORACLE-5, ORACLE-6.

    samples: an (n, L) integer array (PAD = -1 after an end) or an iterable of token sequences.
    law: {sequence tuple: probability} over sequences of at most `length` tokens (those shorter end
    with EOS), e.g. `specens.reference.exact_ensemble_pmf(ensemble, length)`. The family is the joint
    check and, if `conditionals`, one check per position, each with every statistic in `statistics`
    ('pearson', 'g'); checks with no degree of freedom after pooling are left out. The verdict rejects
    when the Sidak-adjusted p-value is below `alpha`, or when a sample has probability 0. Otherwise,
    when the run cannot detect a TV bias of `target_tv` with `power`, the verdict is INCONCLUSIVE,
    the report states `samples_needed`, and (if `warn`) an UnderpoweredWarning says so.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: the significance level must lie in (0, 1), got {alpha!r}; e.g. 0.001")
    if isinstance(target_tv, bool) or not isinstance(target_tv, (int, float, np.floating)) or not 0 < target_tv <= 1:
        raise ValueError(f"target_tv: the TV bias the check must detect lies in (0, 1], got {target_tv!r}; e.g. 0.05")
    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown or not statistics:
        raise ValueError(f"statistics: choose from {sorted(STATISTICS)}, got {list(statistics)}")
    _check_law(law)
    if length is None:
        length = max(len(s) for s in law)
    elif isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length: the number of tokens to check must be a positive integer, got {length!r}")
    length = int(length)
    tokens = as_token_array(samples, length)
    n = len(tokens)
    if n == 0:
        raise ValueError("samples: no sequences to check; draw some (see sample_size for how many)")
    arrays = _law_arrays(law, length, int(tokens.max(initial=0)))
    tests, cells, impossible, observed, pooled = joint_check(tokens, arrays, statistics)
    possible = np.isin(_encode(tokens, arrays.base), arrays.codes) if impossible else slice(None)
    if conditionals:
        kept = tokens[possible]  # the tests are over the possible samples (ORACLE-5)
        for i in range(length):
            more_tests, more_cells = conditional_check(kept, arrays, i, statistics)
            tests += more_tests
            cells += more_cells
    family = [t for t in tests if t.df > 0]
    family_p = 0.0 if impossible else sidak_p(t.p_value for t in family)
    tv = 0.5 * (np.abs(observed / n - arrays.probs).sum() + sum(c.observed for c in impossible) / n)
    detectable = detectable_tv(arrays.probs, n, alpha=alpha, power=power, tests=max(1, len(family)))
    report = Report(n=n, length=length, alpha=alpha, tests=family, family_p=family_p, impossible=impossible,
                    cells=cells, tv=float(tv), tv_noise=_tv_noise(arrays.probs, n), detectable_tv=detectable,
                    power=power, target_tv=target_tv, sequences=len(arrays.probs),
                    pooled_cells=len(pooled.expected), label=label,
                    pooled_mass=pooled_mass(arrays.probs, n) if len(arrays.probs) > 1 else 0.0)
    if report.underpowered:
        # the largest family this check can have, so that a run of this size is powered whatever survives pooling
        most_tests = len(statistics) * (1 + length if conditionals else 1)
        report.samples_needed = sample_size(arrays.probs, target_tv, alpha=alpha, power=power, tests=most_tests)
    if impossible:
        report.notes.append(impossible_kinds(tokens[~possible], arrays))
    report.notes.append(f"per-test level {sidak_level(alpha, max(1, len(family))):.3g} (Sidak over "
                        f"{len(family)} tests{', over the possible samples' if impossible else ''})")
    if warn and report.inconclusive:
        warnings.warn(f"inconclusive check{': ' + label if label else ''}: {report.power_line()}",
                      UnderpoweredWarning, stacklevel=2)
    if warn and report.large_tv:
        warnings.warn(f"check{': ' + label if label else ''}: {report.large_tv_line()}", LargeTVWarning, stacklevel=2)
    return report
