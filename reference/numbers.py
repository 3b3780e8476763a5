"""Exact numbers for the reference (spec/02-transforms.md, NUM rules).

Every distribution the reference hands to a sampler is a tuple of `Fraction`s summing to exactly 1.
Rules that stay inside the rationals (weights, top-k, top-p on probabilities, integer powers) are
computed exactly; rules that need `exp` or `log` are computed in float64 and then *lifted*: each
float is read as the exact rational it represents and the vector is renormalised exactly (NUM-2).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from numbers import Rational
from typing import Iterable, Sequence

import numpy as np

Dist = tuple  # tuple[Fraction, ...] summing to exactly 1; index = token id

MAX_EXPONENT = 400  # NUM-1: text numbers lie within 10^-400 .. 10^400 in magnitude (or are 0)
MAX_CHARACTERS = 1000  # NUM-1: and are written in at most this many characters


def _check_written_size(text: str, *, name: str) -> None:
    """Refuse text numbers whose exact value would take unbounded time to build (1e999999999). NUM-1."""
    if len(text) > MAX_CHARACTERS:
        raise ValueError(f"{name}: a number written in {len(text)} characters is too long (at most {MAX_CHARACTERS})")
    for part in text.split("/"):
        try:
            d = Decimal(part.strip())
        except (InvalidOperation, ValueError):
            continue  # not a decimal: Fraction() says what is wrong with it
        if d.is_finite() and abs(d.adjusted() if d != 0 else d.as_tuple().exponent) > MAX_EXPONENT:
            raise ValueError(f"{name}: {text.strip()[:40]!r} is out of range; numbers lie within "
                             f"1e-{MAX_EXPONENT} .. 1e{MAX_EXPONENT} in magnitude (or are 0)")


def as_fraction(value, *, name: str) -> Fraction:
    """Read a number as an exact `Fraction`: text as written, a Python float at its binary value. NUM-1.

    Text (a decimal or rational string, or a `Decimal` such as `json_loads` gives for a JSON
    number) is read as written: `as_fraction("0.3", name="w") == Fraction(3, 10)`,
    `as_fraction("1/3", name="w") == Fraction(1, 3)`. A float is taken at its exact binary value:
    `as_fraction(0.5, name="w") == Fraction(1, 2)`, `as_fraction(0.3, name="w") == Fraction(0.3)`.
    Text beyond 1e400 in magnitude (or a non-zero one below 1e-400), or longer than 1000
    characters, is refused: `"1e999999999"` would take hours to expand.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got the boolean {value!r}")
    if isinstance(value, (Fraction, int, Rational)):
        return Fraction(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name}: expected a finite number, got {value}")
        _check_written_size(str(value), name=name)
        return Fraction(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        return Fraction(float(value))
    if isinstance(value, str):
        _check_written_size(value, name=name)
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{name}: cannot read {value!r} as a number; write e.g. 0.25 or \"1/4\"") from None
    raise ValueError(f"{name}: expected a number or a rational string, got {type(value).__name__}")


def as_float(value, *, name: str) -> float:
    """A number (NUM-1) as float64, refused naming `name` when it is beyond float64's range (1e400). NUM-2.

    as_float("1/4", name="mu") == 0.25; as_float("1e400", name="mu") raises ValueError.
    """
    exact = as_fraction(value, name=name)
    try:
        out = float(exact)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        shown = format(Decimal(exact.numerator) / Decimal(exact.denominator), ".3g")
        raise ValueError(f"{name}: {shown} is too large for float64 (at most about 1.8e308 in magnitude)")
    return out


def json_loads(text: str):
    """Parse JSON with its decimal numbers kept as written (as `Decimal`), so 0.3 means 3/10. NUM-1.

    >>> as_fraction(json_loads('{"w": 0.3}')["w"], name="w")
    Fraction(3, 10)
    """
    return json.loads(text, parse_float=Decimal)


def lift(values: Iterable[float], *, name: str = "distribution") -> Dist:
    """Lift float64 weights to an exact distribution: exact value of each float, renormalised. NUM-2.

    >>> lift([0.25, 0.75])
    (Fraction(1, 4), Fraction(3, 4))
    """
    floats = [float(v) for v in values]
    if any(not math.isfinite(v) or v < 0 for v in floats):
        raise ValueError(f"{name}: weights must be finite and non-negative, got {floats}")
    exact = [Fraction(v) for v in floats]
    total = sum(exact)
    if total <= 0:
        raise ValueError(f"{name}: every weight is zero, so there is nothing to normalise")
    return tuple(x / total for x in exact)


def normalise(weights: Sequence[Fraction], *, name: str = "distribution") -> Dist:
    """Exact normalisation of non-negative rational weights. NUM-1."""
    if any(w < 0 for w in weights):
        raise ValueError(f"{name}: weights must be non-negative, got {[str(w) for w in weights]}")
    total = sum(weights, Fraction(0))
    if total <= 0:
        raise ValueError(f"{name}: every weight is zero, so there is nothing to normalise")
    return tuple(Fraction(w) / total for w in weights)


def softmax(logits: np.ndarray) -> Dist:
    """softmax over float64 logits with -inf as probability 0, computed as exp(l - max l), lifted. NUM-2.

    >>> softmax(np.array([0.0, 0.0, -np.inf]))
    (Fraction(1, 2), Fraction(1, 2), Fraction(0, 1))
    """
    logits = np.asarray(logits, dtype=np.float64)
    finite = logits[np.isfinite(logits)]
    if finite.size == 0:
        raise ValueError("logits: every entry is -inf, so the distribution is empty")
    weights = np.exp(logits - finite.max())  # exp(-inf) == 0
    return lift(weights, name="softmax")


def log(dist: Sequence[Fraction]) -> np.ndarray:
    """Natural log of a distribution as float64 logits, log 0 = -inf. NUM-2."""
    out = np.full(len(dist), -np.inf)
    for x, p in enumerate(dist):
        if p > 0:
            out[x] = math.log(p.numerator) - math.log(p.denominator)
    return out


def one_hot(token: int, vocab_size: int) -> Dist:
    """The distribution that puts all mass on `token`."""
    return tuple(Fraction(int(x == token)) for x in range(vocab_size))


def argmax(values: Sequence) -> int:
    """Index of the largest value, ties to the lowest index. TRANSFORM-5."""
    best = 0
    for x in range(1, len(values)):
        if values[x] > values[best]:
            best = x
    return best
