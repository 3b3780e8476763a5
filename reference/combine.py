"""Combinations and the combined distribution r (spec/03-combinations.md).

A combination is keyed by member *name*; nothing here knows which member proposes. `target`
turns the members' outputs at one position into r under one of three modes (COMBINE-5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np

from .numbers import Dist, as_float, as_fraction, lift, normalise, softmax
from .transforms import Sampling, Scores, greedy, transform

MODES = ("probs", "logits", "raw-logits")


def linear_logits(logits: Mapping[str, np.ndarray], coefficients: Mapping[str, Fraction]) -> np.ndarray:
    """sum_k a_k * l_k, where a token ruled out (-inf) by any member with a_k != 0 stays ruled out. COMBINE-6.

    A zero coefficient ignores that member entirely, -inf included. Raises if no token survives.
    """
    names = [k for k, a in coefficients.items() if a != 0]
    vocab = len(next(iter(logits.values())))
    ruled_out = np.zeros(vocab, dtype=bool)
    total = np.zeros(vocab)
    for k in names:
        l_k = logits[k]
        ruled_out |= np.isneginf(l_k)
        total += float(coefficients[k]) * np.where(np.isneginf(l_k), 0.0, l_k)
    if ruled_out.all():
        raise ValueError(
            "combination: every token is ruled out (-inf) by some member, so r is empty; "
            "loosen top_k/top_p or use mode 'probs' or 'raw-logits'"
        )
    return np.where(ruled_out, -np.inf, total)


def relative_weights(weights: Mapping) -> dict:
    """WE weights read exactly (NUM-1) and divided by their exact sum. COMBINE-2.

    relative_weights({"a": 1, "b": 3}) == {"a": Fraction(1, 4), "b": Fraction(3, 4)}.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"weights: give one weight per member name, e.g. {{'a': 1, 'b': 2}}; got {weights!r}")
    exact = {str(k): as_fraction(w, name=f"weights[{k!r}]") for k, w in weights.items()}
    shown = ", ".join(f"{k}: {w}" for k, w in exact.items())
    if any(w < 0 for w in exact.values()):
        raise ValueError(f"weights: must be non-negative (they are relative, e.g. 1 and 2), got {{{shown}}}")
    total = sum(exact.values(), Fraction(0))
    if total == 0:
        raise ValueError(f"weights: at least one must be positive (they are divided by their sum), got {{{shown}}}")
    return {k: w / total for k, w in exact.items()}


@dataclass(frozen=True)
class WeightedEnsemble:
    """WE: r = sum_k w_k p_k in mode 'probs'; sum_k w_k l_k then softmax otherwise. COMBINE-2.

    `weights` are relative: any non-negative numbers with a positive sum, divided here by their
    exact sum (NUM-1: "0.3" is 3/10, a float its exact binary value). {"a": 1, "b": 2} and
    {"a": "0.1", "b": "0.2"} both give weights {"a": 1/3, "b": 2/3}.
    """

    weights: Mapping[str, Fraction]

    def __post_init__(self):
        object.__setattr__(self, "weights", relative_weights(self.weights))

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self.weights)

    def combine_probs(self, probs: Mapping[str, Dist]) -> Dist:
        vocab = len(next(iter(probs.values())))
        return tuple(sum((w * probs[k][x] for k, w in self.weights.items()), Fraction(0)) for x in range(vocab))

    def combine_logits(self, logits: Mapping[str, np.ndarray]) -> np.ndarray:
        return linear_logits(logits, self.weights)

    def to_json(self) -> dict:
        return {"kind": "we", "weights": {k: str(w) for k, w in self.weights.items()}}


@dataclass(frozen=True)
class ContrastiveDecoding:
    """CD: r = softmax(l_expert - mu * l_amateur), mu >= 0; no plausibility mask. COMBINE-3.

    In mode 'probs' the member logits are log p_k, which differs from mode 'logits' by a constant
    per member and so gives the same r.
    """

    expert: str
    amateur: str
    mu: Fraction = Fraction(1, 10)

    def __post_init__(self):
        if self.expert == self.amateur:
            raise ValueError(f"expert/amateur: must be two different members, both are {self.expert!r}")
        mu = as_fraction(self.mu, name="mu")
        if mu < 0:
            raise ValueError(f"mu: must be >= 0, got {self.mu}")
        as_float(mu, name="mu")  # it multiplies float64 logits (NUM-1)
        object.__setattr__(self, "mu", mu)

    @property
    def members(self) -> tuple[str, ...]:
        return (self.expert, self.amateur)

    def combine_logits(self, logits: Mapping[str, np.ndarray]) -> np.ndarray:
        return linear_logits(logits, {self.expert: Fraction(1), self.amateur: -self.mu})

    def combine_probs(self, probs: Mapping[str, Dist]) -> Dist:
        return softmax(self.combine_logits({k: Scores(probs=p).to_logits() for k, p in probs.items()}))

    def to_json(self) -> dict:
        return {"kind": "cd", "expert": self.expert, "amateur": self.amateur, "mu": str(self.mu)}


@dataclass(frozen=True)
class LinearLogits:
    """Any linear combination of logits, r = softmax(sum_k a_k l_k); CD is a special case. COMBINE-4."""

    coefficients: Mapping[str, Fraction]

    def __post_init__(self):
        if not self.coefficients:
            raise ValueError("coefficients: give at least one member coefficient")
        if not isinstance(self.coefficients, Mapping):
            raise ValueError(f"coefficients: give one coefficient per member name, e.g. {{'a': 1, 'b': -1}}; "
                             f"got {self.coefficients!r}")
        exact = {str(k): as_fraction(a, name=f"coefficients[{k!r}]") for k, a in self.coefficients.items()}
        for k, a in exact.items():
            as_float(a, name=f"coefficients[{k!r}]")  # they multiply float64 logits (NUM-1)
        if all(a == 0 for a in exact.values()):
            raise ValueError(f"coefficients: at least one must be non-zero (all zero ignores every member), "
                             f"got {dict((k, str(a)) for k, a in exact.items())}")
        object.__setattr__(self, "coefficients", exact)

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self.coefficients)

    def combine_logits(self, logits):
        return linear_logits(logits, self.coefficients)

    def combine_probs(self, probs):
        return softmax(self.combine_logits({k: Scores(probs=p).to_logits() for k, p in probs.items()}))

    def to_json(self) -> dict:
        return {"kind": "linear", "coefficients": {k: str(a) for k, a in self.coefficients.items()}}


@dataclass(frozen=True)
class CustomCombination:
    """A user function of the members' outputs, keyed by member name. COMBINE-4.

    In mode 'probs' `fn` receives {name: p_k} and returns non-negative weights (normalised here);
    in the logits modes it receives {name: logits} and returns logits (softmax applied here).
    """

    fn: Callable[[Mapping[str, object]], object]
    members: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError("fn: must be callable, mapping {member name: vector} to a vector")
        if not self.members:
            raise ValueError("members: name the members the function reads, e.g. ('a', 'b')")
        object.__setattr__(self, "members", tuple(self.members))

    def combine_probs(self, probs):
        out = self.fn(probs)
        values = [v if isinstance(v, Fraction) else float(v) for v in out]
        if all(isinstance(v, Fraction) for v in values):
            return normalise(values, name="custom combination")
        return lift(values, name="custom combination")

    def combine_logits(self, logits):
        out = np.asarray(self.fn(logits), dtype=np.float64)
        if np.isnan(out).any() or np.isposinf(out).any():
            raise ValueError(f"custom combination: returned NaN or +inf logits {out}")
        return out

    def to_json(self) -> dict:
        raise ValueError("combination: a custom Python function cannot be written to JSON; use 'we', 'cd' or 'linear'")


Combination = WeightedEnsemble | ContrastiveDecoding | LinearLogits | CustomCombination


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def combined(outputs: Mapping[str, Scores], combination: Combination, mode: str, sampling: Sampling,
             processors=None, prefix=None) -> Dist:
    """r at one position before the greedy rule: the three modes of COMBINE-5.

    probs: transform each member, combine probabilities. logits: transform each member, combine
    logits, softmax. raw-logits: combine raw logits, transform once, softmax. The processors (read
    at `prefix`) are part of the transform, so they act where temperature does (PROC-10).
    """
    check_mode(mode)
    if mode == "probs":
        return combination.combine_probs({k: transform(s, sampling, processors, prefix).to_probs()
                                          for k, s in outputs.items()})
    if mode == "logits":
        return softmax(combination.combine_logits({k: transform(s, sampling, processors, prefix).to_logits()
                                                   for k, s in outputs.items()}))
    raw = combination.combine_logits({k: s.to_logits() for k, s in outputs.items()})
    return transform(Scores(logits=raw), sampling, processors, prefix).to_probs()


def target(outputs: Mapping[str, Scores], combination: Combination, mode: str, sampling: Sampling,
           processors=None, prefix=None) -> Dist:
    """r: the distribution every emitted token must follow; at T = 0 its greedy one-hot. COMBINE-7, PROC-10.

    WE of (1/2, 1/2, 0) and (0, 1/4, 3/4) with weights 1/2 each is (1/4, 3/8, 3/8); greedy: (0, 1, 0).
    `processors` and `prefix` as in `transform`.
    """
    r = combined(outputs, combination, mode, sampling, processors, prefix)
    return greedy(r) if sampling.greedy else r


def combination_from_json(obj: Mapping) -> Combination:
    """Read a combination object of the toy-ensemble format. TOY-3."""
    kind = obj.get("kind")
    if kind == "we":
        return WeightedEnsemble(obj["weights"])
    if kind == "cd":
        return ContrastiveDecoding(obj["expert"], obj["amateur"], obj.get("mu", "1/10"))
    if kind == "linear":
        return LinearLogits(obj["coefficients"])
    raise ValueError(f"combination.kind: must be 'we', 'cd' or 'linear', got {kind!r}")
