"""Member transforms: temperature, top-k, top-p, greedy (spec/02-transforms.md).

A member's output at one position is a `Scores`: either logits (float64, `-inf` allowed for a token
the member rules out) or exact probabilities. The transform is applied in the fixed order
temperature -> top-k -> top-p (TRANSFORM-1) and never changes the representation, so the three
combination modes of spec/03 can take logits or probabilities from the same object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from .numbers import Dist, argmax, as_fraction, log, normalise, one_hot, softmax


@dataclass(frozen=True)
class Scores:
    """One member's output at one position: `logits` (float64 array) or exact `probs`. TRANSFORM-1."""

    logits: np.ndarray | None = None
    probs: Dist | None = None

    def __post_init__(self):
        if (self.logits is None) == (self.probs is None):
            raise ValueError("Scores: give exactly one of logits= or probs=")
        if self.logits is not None:
            logits = np.asarray(self.logits, dtype=np.float64)
            if np.isnan(logits).any() or np.isposinf(logits).any():
                raise ValueError(f"logits: NaN and +inf are not allowed (use -inf to rule a token out), got {logits}")
            if np.isneginf(logits).all():
                raise ValueError("logits: every entry is -inf; at least one token must be possible")
            object.__setattr__(self, "logits", logits)

    @property
    def vocab_size(self) -> int:
        return len(self.logits) if self.logits is not None else len(self.probs)

    def to_probs(self) -> Dist:
        """Probabilities: the exact table, or softmax of the logits (NUM-2)."""
        return self.probs if self.probs is not None else softmax(self.logits)

    def to_logits(self) -> np.ndarray:
        """Logits: the logits, or log of the probabilities (log 0 = -inf)."""
        return self.logits if self.logits is not None else log(self.probs)

    def _masked(self, keep: set[int]) -> "Scores":
        if self.logits is not None:
            return Scores(logits=np.where([x in keep for x in range(self.vocab_size)], self.logits, -np.inf))
        return Scores(probs=normalise([p if x in keep else Fraction(0) for x, p in enumerate(self.probs)]))


@dataclass(frozen=True)
class Sampling:
    """Sampling settings shared by every member and by the combined distribution. TRANSFORM-1.

    temperature: T > 0 scales logits by 1/T; T = 0 is greedy (TRANSFORM-5).
    top_k: keep the k most likely tokens (None: all). top_p: nucleus mass in (0, 1] (None: 1).
    """

    temperature: Fraction = Fraction(1)
    top_k: int | None = None
    top_p: Fraction | None = None

    def __post_init__(self):
        t = as_fraction(self.temperature, name="temperature")
        if t < 0:
            raise ValueError(f"temperature: must be >= 0 (0 means greedy), got {self.temperature}")
        object.__setattr__(self, "temperature", t)
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1):
            raise ValueError(f"top_k: must be a positive integer or None, got {self.top_k!r}")
        if self.top_p is not None:
            p = as_fraction(self.top_p, name="top_p")
            if not 0 < p <= 1:
                raise ValueError(f"top_p: must lie in (0, 1] (or be None for no nucleus cut), got {self.top_p}")
            object.__setattr__(self, "top_p", p)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


MAX_EXACT_POWER = 64  # TRANSFORM-2: p ** (1/T) is exact for integer 1/T up to this; beyond, through logits


def apply_temperature(scores: Scores, temperature: Fraction) -> Scores:
    """Divide logits by T (T > 0). TRANSFORM-2.

    On exact probabilities this is p ** (1/T) renormalised, kept exact when 1/T is an integer of at
    most MAX_EXACT_POWER: T = 1/2 turns (1/3, 2/3) into (1/5, 4/5). Otherwise (T = 1e-9 included)
    the logits log p are divided by T in float64 (NUM-2); a T so small that they leave float64's
    range is refused, naming temperature.
    """
    if temperature == 1:
        return scores
    inverse = 1 / temperature
    if scores.probs is not None and inverse.denominator == 1 and inverse <= MAX_EXACT_POWER:
        return Scores(probs=normalise([p ** int(inverse) for p in scores.probs]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = scores.to_logits() / float(temperature)
    if np.isnan(scaled).any() or np.isposinf(scaled).any() or np.isneginf(scaled).all():
        shown = format(Decimal(temperature.numerator) / Decimal(temperature.denominator), ".3g")
        raise ValueError(f"temperature: {shown} divides the logits beyond float64's range; "
                         "use a larger temperature, or 0 for greedy")
    return Scores(logits=scaled)


def _rank(values) -> list[int]:
    """Token ids from most to least likely; equal values keep the lower id first. TRANSFORM-3."""
    return sorted(range(len(values)), key=lambda x: (-values[x], x))


def apply_top_k(scores: Scores, top_k: int | None) -> Scores:
    """Keep the `top_k` highest-scoring possible tokens, ties to the lower id. TRANSFORM-3.

    (0.5, 0.25, 0.25) with k = 2 keeps tokens 0 and 1: (2/3, 1/3, 0).
    """
    if top_k is None or top_k >= scores.vocab_size:
        return scores
    values = scores.to_logits() if scores.logits is not None else scores.probs
    possible = [x for x in _rank(values) if (scores.probs[x] > 0 if scores.probs is not None else math.isfinite(values[x]))]
    return scores._masked(set(possible[:top_k]))


def apply_top_p(scores: Scores, top_p: Fraction | None) -> Scores:
    """Keep the shortest most-likely-first prefix whose probability reaches `top_p`. TRANSFORM-4.

    Ranking as in top-k (ties to the lower id); the first token is always kept.
    (1/2, 1/4, 1/4) with p = 3/4 keeps tokens 0 and 1: (2/3, 1/3, 0).
    """
    if top_p is None or top_p == 1:
        return scores
    probs = scores.to_probs()
    keep, mass = set(), Fraction(0)
    for x in _rank(probs):
        keep.add(x)
        mass += probs[x]
        if mass >= top_p:
            break
    return scores._masked(keep)


def transform(scores: Scores, sampling: Sampling, processors=None, prefix=None) -> Scores:
    """[processors] -> temperature -> top-k -> top-p -> [min_p], with T = 0 read as T = 1 (greedy acts
    later). TRANSFORM-1, PROC-9.

    `processors` (a `Processors`, default none) read `prefix` (a `Prefix`: the prompt, the tokens
    generated before the position and the EOS ids, PROC-12); a processor that reads the history
    needs the prefix.
    """
    from .processors import Prefix, apply_min_p, process

    temperature = Fraction(1) if sampling.greedy else sampling.temperature
    if processors is not None and processors.active:
        if prefix is None and processors.reads_history:
            raise ValueError("prefix: these processors read the history; pass the position's Prefix (PROC-12)")
        scores = process(scores, processors, prefix or Prefix())
    scores = apply_top_p(apply_top_k(apply_temperature(scores, temperature), sampling.top_k), sampling.top_p)
    return apply_min_p(scores, processors.min_p) if processors is not None else scores


def greedy(dist: Dist) -> Dist:
    """T = 0: all mass on the most likely token, ties to the lowest id. TRANSFORM-5.

    greedy((1/4, 3/8, 3/8)) == (0, 1, 0).
    """
    return one_hot(argmax(dist), len(dist))


def proposal_distribution(scores: Scores, sampling: Sampling, processors=None, prefix=None) -> Dist:
    """p_k: the exact distribution a member draws its own tokens from. TRANSFORM-6, PROC-10.

    The transformed probabilities (processors included, read at the position's prefix); at T = 0
    their greedy one-hot.
    """
    dist = transform(scores, sampling, processors, prefix).to_probs()
    return greedy(dist) if sampling.greedy else dist
