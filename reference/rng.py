"""The randomness contract (spec/06-randomness.md).

Every random decision of every method is a *choice point* that consumes exactly one uniform
u in [0, 1) from a single stream, in the order the method reaches it (RNG-1). There are two kinds:
a draw from a distribution (RNG-2) and an accept test (RNG-3). A `Chooser` resolves them: the
`StreamChooser` with uniforms, the exact engine (engine.py) by enumerating every outcome.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np


def sample(dist: Sequence, u) -> int:
    """Inverse CDF over token ids: the smallest x with u < d(0) + ... + d(x). RNG-2.

    Zero-probability tokens are never returned. If rounding leaves u at or above the float total,
    the last token with positive probability is returned (never an id outside the vocabulary).
    sample((1/4, 0, 3/4), 0.25) == 2, sample((1/4, 0, 3/4), 0.2) == 0.
    """
    if not 0 <= u < 1:
        raise ValueError(f"u: a uniform must lie in [0, 1), got {u}")
    cumulative = 0
    for x, p in enumerate(dist):
        cumulative += p
        if p > 0 and u < cumulative:
            return x
    positive = [x for x, p in enumerate(dist) if p > 0]
    if not positive:
        raise ValueError("dist: has no positive entry, nothing can be sampled")
    return positive[-1]


def accepts(u, r_x, q_x) -> bool:
    """The accept test: u * q(x) < r(x), i.e. u < r(x) / q(x) without dividing. RNG-3."""
    return u * q_x < r_x


class Chooser(Protocol):
    def draw(self, dist: Sequence[Fraction], what: str) -> int:
        """Resolve a draw from `dist` (one uniform)."""

    def accept(self, r_x: Fraction, q_x: Fraction, what: str) -> bool:
        """Resolve an accept test of probability min(1, r_x / q_x) (one uniform)."""


class UniformStream:
    """The one stream of uniforms of a run, given as a list or generated from a seed. RNG-1.

    Seeded streams use NumPy's PCG64 `Generator(PCG64(seed)).random()` doubles, which are multiples
    of 2**-53 in [0, 1), read as exact rationals.
    """

    def __init__(self, uniforms: Iterable[float] | None = None, *, seed: int | None = None):
        if (uniforms is None) == (seed is None):
            raise ValueError("UniformStream: give either uniforms= or seed=")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed: must be a non-negative integer (PCG64 takes no negative seed), got {seed!r}")
        self._given = None if uniforms is None else [float(u) for u in uniforms]
        self._generator = None if seed is None else np.random.Generator(np.random.PCG64(seed))
        self.used: list[float] = []

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        if self._given is not None:
            if len(self.used) >= len(self._given):
                raise ValueError(f"uniforms: the stream ran out after {len(self._given)} uniforms; supply more")
            u = self._given[len(self.used)]
        else:
            u = float(self._generator.random())
        if not 0 <= u < 1:
            raise ValueError(f"uniforms: entry {len(self.used)} is {u}, outside [0, 1)")
        self.used.append(u)
        return u


class StreamChooser:
    """Resolves choice points with uniforms from one stream, exactly (uniforms read as rationals). RNG-1."""

    def __init__(self, stream: UniformStream):
        self.stream = stream

    def draw(self, dist, what):
        return sample(dist, Fraction(next(self.stream)))

    def accept(self, r_x, q_x, what):
        return accepts(Fraction(next(self.stream)), r_x, q_x)
