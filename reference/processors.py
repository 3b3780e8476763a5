"""Logits processors: settings that read the history (spec/15-processors.md).

`Processors` holds the settings (PROC-1); one function per processor turns a `Scores` row and its
history (the prompt, and the tokens emitted before the position) into another `Scores` row, exact
on probability rows where the arithmetic allows (PROC-11). `process` applies the history part of
PROC-9's chain; `apply_min_p` is the warper that follows top-p.

Stop strings (STOP-3) are decoded text and live on the fast path only; the reference has no text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np

from .numbers import as_float, as_fraction, normalise
from .transforms import MAX_EXACT_POWER, Scores  # PROC-11: p ** theta is exact up to the bound of TRANSFORM-2


def _int(value, name: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer ({fix}), got {value!r}")
    return int(value)


def _number(value, name: str) -> Fraction:
    exact = as_fraction(value, name=name)
    as_float(exact, name=name)  # NUM-1: must fit float64
    return exact


def _token_ids(value, name: str) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name}: must be a sequence of token ids such as [3, 1], got {value!r}")
    ids = tuple(value)
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0 for t in ids):
        raise ValueError(f"{name}: every entry must be a non-negative token id, got {list(value)!r}")
    return tuple(int(t) for t in ids)


@dataclass(frozen=True)
class Processors:
    """The logits-processor settings of an ensemble, each inactive at its default. PROC-1.

    repetition_penalty (> 0; 1 inactive, PROC-2), presence_penalty and frequency_penalty (reals; 0
    inactive, PROC-3), no_repeat_ngram_size (integer >= 0, PROC-4), min_new_tokens (integer >= 0,
    PROC-5), logit_bias ({token id: bias}, PROC-6), bad_words_ids (tuple of non-empty token-id
    tuples, PROC-7), min_p (in [0, 1], PROC-8). Numbers are kept exact (NUM-1). Checks that need
    the vocabulary, the EOS ids or the length are in `check`. Raises ValueError naming the setting.
    Processors(repetition_penalty=2).active == True; Processors().active == False.
    """

    repetition_penalty: Fraction = Fraction(1)
    presence_penalty: Fraction = Fraction(0)
    frequency_penalty: Fraction = Fraction(0)
    no_repeat_ngram_size: int = 0
    min_new_tokens: int = 0
    logit_bias: Mapping = field(default_factory=dict)
    bad_words_ids: tuple = ()
    min_p: Fraction = Fraction(0)

    def __post_init__(self):
        theta = _number(self.repetition_penalty, "repetition_penalty")
        if theta <= 0:
            raise ValueError(f"repetition_penalty: must be > 0 (1 means no penalty, above 1 discourages "
                             f"repeats), got {self.repetition_penalty}")
        object.__setattr__(self, "repetition_penalty", theta)
        object.__setattr__(self, "presence_penalty", _number(self.presence_penalty, "presence_penalty"))
        object.__setattr__(self, "frequency_penalty", _number(self.frequency_penalty, "frequency_penalty"))
        object.__setattr__(self, "no_repeat_ngram_size",
                           _int(self.no_repeat_ngram_size, "no_repeat_ngram_size", "0 turns it off"))
        object.__setattr__(self, "min_new_tokens", _int(self.min_new_tokens, "min_new_tokens", "0 turns it off"))
        if not isinstance(self.logit_bias, Mapping):
            raise ValueError(f"logit_bias: must be a mapping {{token id: bias}}, got {self.logit_bias!r}")
        bias = {}
        for key, b in self.logit_bias.items():
            token = int(key) if isinstance(key, str) and key.strip().isdigit() else key
            if isinstance(token, bool) or not isinstance(token, (int, np.integer)) or token < 0:
                raise ValueError(f"logit_bias: keys must be non-negative token ids, got {key!r}")
            bias[int(token)] = _number(b, f"logit_bias[{int(token)}]")
        object.__setattr__(self, "logit_bias", dict(sorted(bias.items())))
        if isinstance(self.bad_words_ids, (str, bytes)) or not hasattr(self.bad_words_ids, "__iter__"):
            raise ValueError(f"bad_words_ids: must be a list of token-id lists such as [[3], [1, 2]], "
                             f"got {self.bad_words_ids!r}")
        words = tuple(_token_ids(w, "bad_words_ids") for w in self.bad_words_ids)
        if any(not w for w in words):
            raise ValueError("bad_words_ids: a bad word is empty; give each as a non-empty list of token ids")
        object.__setattr__(self, "bad_words_ids", words)
        min_p = _number(self.min_p, "min_p")
        if not 0 <= min_p <= 1:
            raise ValueError(f"min_p: must lie in [0, 1] (0 turns it off), got {self.min_p}")
        object.__setattr__(self, "min_p", min_p)

    def __hash__(self):
        return hash((self.repetition_penalty, self.presence_penalty, self.frequency_penalty,
                     self.no_repeat_ngram_size, self.min_new_tokens, tuple(self.logit_bias.items()),
                     self.bad_words_ids, self.min_p))

    @property
    def active(self) -> bool:
        """Whether any setting differs from its inactive default. PROC-1."""
        return self != NO_PROCESSORS

    @property
    def reads_history(self) -> bool:
        """Whether some active setting reads the history (all but logit_bias and min_p). PROC-12."""
        return (self.repetition_penalty != 1 or self.presence_penalty != 0 or self.frequency_penalty != 0
                or self.no_repeat_ngram_size > 0 or self.min_new_tokens > 0 or bool(self.bad_words_ids))

    def check(self, vocab_size: int, eos_token_id: Sequence[int] = (), max_new_tokens: int | None = None):
        """Refuse settings that do not fit the vocabulary, the EOS ids or the length. PROC-1.

        Raises ValueError naming the setting: a bias or bad word token outside [0, vocab_size), a
        one-token bad word that is an EOS id, min_new_tokens above max_new_tokens or without EOS ids.
        """
        for token in self.logit_bias:
            if token >= vocab_size:
                raise ValueError(f"logit_bias: token {token} is outside the vocabulary [0, {vocab_size}); "
                                 "remove it or use an id below the vocabulary size")
        for word in self.bad_words_ids:
            if any(t >= vocab_size for t in word):
                raise ValueError(f"bad_words_ids: {list(word)} has a token outside the vocabulary [0, {vocab_size})")
            if len(word) == 1 and word[0] in tuple(eos_token_id):
                raise ValueError(f"bad_words_ids: {list(word)} is an EOS id, which would never be ruled out "
                                 "(transformers drops it); use min_new_tokens or remove it from eos_token_id")
        if self.min_new_tokens > 0 and not tuple(eos_token_id):
            raise ValueError(f"min_new_tokens: {self.min_new_tokens} rules out EOS ids, but the ensemble has "
                             "none; set eos_token_id or use min_new_tokens=0")
        if max_new_tokens is not None and self.min_new_tokens > max_new_tokens:
            raise ValueError(f"min_new_tokens: {self.min_new_tokens} is above max_new_tokens={max_new_tokens}; "
                             "use at most max_new_tokens")
        return self

    def to_json(self) -> dict:
        """The toy format's `processors` object (TOY-6): only the active settings, numbers as rational strings."""
        out = {}
        if self.repetition_penalty != 1:
            out["repetition_penalty"] = str(self.repetition_penalty)
        if self.presence_penalty != 0:
            out["presence_penalty"] = str(self.presence_penalty)
        if self.frequency_penalty != 0:
            out["frequency_penalty"] = str(self.frequency_penalty)
        if self.no_repeat_ngram_size:
            out["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        if self.min_new_tokens:
            out["min_new_tokens"] = self.min_new_tokens
        if self.logit_bias:
            out["logit_bias"] = {str(t): str(b) for t, b in self.logit_bias.items()}
        if self.bad_words_ids:
            out["bad_words_ids"] = [list(w) for w in self.bad_words_ids]
        if self.min_p != 0:
            out["min_p"] = str(self.min_p)
        return out

    @classmethod
    def from_json(cls, obj: Mapping) -> "Processors":
        """Read a `processors` object (TOY-6); an unknown key is refused naming it and the known ones."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"processors: expected a JSON object such as {{\"repetition_penalty\": \"3/2\"}}, got {obj!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"processors: unknown setting {unknown[0]!r}; the settings are {sorted(known)}")
        return cls(**obj)


NO_PROCESSORS = Processors()


@dataclass(frozen=True)
class Prefix:
    """What a processor reads at position i: the prompt, the tokens generated before i (emitted and
    cached, PROC-12) and the EOS ids (for min_new_tokens, PROC-5). `history` is prompt + generated."""

    prompt: tuple = ()
    generated: tuple = ()
    eos_token_id: tuple = ()

    @property
    def history(self) -> tuple:
        return tuple(self.prompt) + tuple(self.generated)


# -- one function per processor (PROC-2 .. PROC-8) ----------------------------------------------------
def _mask(scores, banned: set, name: str):
    """Rule the tokens `banned` out (-inf, or probability 0 renormalised exactly). PROC-11.

    A mask that leaves no possible token is an error naming the processor.
    """
    if not banned:
        return scores
    if scores.probs is not None:
        kept = [p if x not in banned else Fraction(0) for x, p in enumerate(scores.probs)]
        if not any(kept):
            raise ValueError(f"{name}: rules out every possible token at this position; relax {name}")
        return Scores(probs=normalise(kept))
    logits = np.array(scores.logits, dtype=np.float64)
    logits[sorted(banned)] = -np.inf
    if np.isneginf(logits).all():
        raise ValueError(f"{name}: rules out every possible token at this position; relax {name}")
    return Scores(logits=logits)


def _overflow(logits: np.ndarray, name: str):
    """Logits a processor made +inf or NaN (a bias or penalty beyond float64), or all -inf, are an error
    naming it. PROC-11."""
    if np.isnan(logits).any() or np.isposinf(logits).any():
        raise ValueError(f"{name}: makes a logit +inf or NaN in float64 (PROC-11); use a less extreme {name}")
    if np.isneginf(logits).all():
        raise ValueError(f"{name}: rules out every possible token at this position; relax {name}")
    return Scores(logits=logits)


def _add(scores, amounts: np.ndarray, name: str):
    """Add float64 amounts to the logits (log p on a probability row), -inf kept; none added: unchanged. PROC-11."""
    if not np.any(amounts):
        return scores
    with np.errstate(invalid="ignore", over="ignore"):
        return _overflow(scores.to_logits() + amounts, name)


def apply_logit_bias(scores, logit_bias: Mapping):
    """l_x + b_x for every biased token. PROC-6.

    On logits (0, 0) with {1: 1}: (0, 1). On probabilities it goes through float64 (NUM-2).
    """
    amounts = np.zeros(scores.vocab_size)
    for token, b in logit_bias.items():
        amounts[token] = float(b)
    return _add(scores, amounts, "logit_bias")


def apply_repetition_penalty(scores, penalty: Fraction, history: Sequence[int]):
    """Each distinct token of `history` (prompt + generated): l * theta if l < 0, else l / theta. PROC-2.

    On logits (2, -1, 0) with theta = 2 after history (0, 1): (1, -2, 0). On probabilities the penalised
    tokens become p ** theta, exact for an integer theta up to 64 (PROC-11): (1/2, 1/2) after (0,)
    with theta = 2 gives (1/4, 1/2) renormalised to (1/3, 2/3).
    """
    seen = sorted(set(history))
    if penalty == 1 or not seen:
        return scores
    if scores.probs is not None and penalty.denominator == 1 and penalty <= MAX_EXACT_POWER:
        power, seen_set = int(penalty), set(seen)
        return Scores(probs=normalise([p ** power if x in seen_set else p for x, p in enumerate(scores.probs)]))
    logits = np.array(scores.to_logits(), dtype=np.float64)
    theta = float(penalty)
    part = logits[seen]
    with np.errstate(over="ignore"):
        logits[seen] = np.where(part < 0, part * theta, part / theta)
    return _overflow(logits, "repetition_penalty")


def apply_presence_frequency(scores, presence: Fraction, frequency: Fraction, generated: Sequence[int]):
    """l_x - frequency * c_x - presence * [c_x > 0], c_x the count of x among the generated tokens
    (the prompt is not counted). PROC-3.

    On logits (0, 0, 0) after generated (1, 1) with frequency 1/2, presence 1: (0, -2, 0).
    """
    amounts = np.zeros(scores.vocab_size)
    with np.errstate(over="ignore"):
        for token, count in Counter(generated).items():
            amounts[token] = -(float(frequency) * count + float(presence))
    return _add(scores, amounts, "frequency_penalty/presence_penalty")


def banned_ngram_tokens(n: int, history: Sequence[int]) -> set:
    """Tokens that would repeat an n-gram of `history` (prompt + generated). PROC-4.

    banned_ngram_tokens(2, (1, 2, 1)) == {2}: the 2-gram (1, 2) occurred and the history ends with 1.
    """
    h = tuple(history)
    if n <= 0 or len(h) < n - 1:
        return set()
    tail = h[len(h) - (n - 1):] if n > 1 else ()
    return {h[j + n - 1] for j in range(len(h) - n + 1) if h[j:j + n - 1] == tail}


def apply_no_repeat_ngram(scores, n: int, history: Sequence[int]):
    """Rule out every token that would complete an n-gram already in the history. PROC-4."""
    return _mask(scores, banned_ngram_tokens(n, history), "no_repeat_ngram_size")


def banned_bad_words(words: Sequence[tuple], history: Sequence[int]) -> set:
    """Last tokens of the bad words whose other tokens end the history (prompt + generated). PROC-7.

    banned_bad_words(((3,), (1, 2)), (0, 1)) == {3, 2}; after (0, 2) only {3}.
    """
    h = tuple(history)
    return {w[-1] for w in words if len(w) - 1 <= len(h) and (len(w) == 1 or h[len(h) - len(w) + 1:] == w[:-1])}


def apply_bad_words(scores, words: Sequence[tuple], history: Sequence[int]):
    """Rule out the bad words' last tokens where the history ends with the rest of the word. PROC-7."""
    return _mask(scores, banned_bad_words(words, history), "bad_words_ids")


def apply_min_new_tokens(scores, min_new_tokens: int, generated_count: int, eos_token_id: Sequence[int]):
    """While fewer than min_new_tokens tokens are generated before the position, rule out every EOS id. PROC-5.

    At position 1 with min_new_tokens = 2 and EOS (0, 3): tokens 0 and 3 get probability 0.
    """
    return _mask(scores, set(eos_token_id) if generated_count < min_new_tokens else set(), "min_new_tokens")


def apply_min_p(scores, min_p: Fraction):
    """Rule out every token with p_x < min_p * max(p), on exact probabilities (lifted from logits,
    NUM-2). PROC-8.

    (1/2, 1/4, 1/8, 1/8) with min_p = 1/3 keeps tokens 0 and 1: (2/3, 1/3, 0, 0).
    """
    if min_p == 0:
        return scores
    probs = scores.to_probs()
    cut = min_p * max(probs)
    return _mask(scores, {x for x, p in enumerate(probs) if p < cut}, "min_p")


def process(scores, processors: Processors, prefix: Prefix):
    """The history part of PROC-9's chain on one row: logit_bias, repetition_penalty, frequency and
    presence penalties, no_repeat_ngram_size, bad_words_ids, min_new_tokens. PROC-9, PROC-12.

    `prefix` is the prefix of the position (PROC-12). min_p follows top-p (`apply_min_p`).
    """
    if not processors.active:
        return scores
    history = prefix.history
    scores = apply_logit_bias(scores, processors.logit_bias)
    scores = apply_repetition_penalty(scores, processors.repetition_penalty, history)
    scores = apply_presence_frequency(scores, processors.presence_penalty, processors.frequency_penalty,
                                      prefix.generated)
    scores = apply_no_repeat_ngram(scores, processors.no_repeat_ngram_size, history)
    scores = apply_bad_words(scores, processors.bad_words_ids, history)
    return apply_min_new_tokens(scores, processors.min_new_tokens, len(prefix.generated), prefix.eos_token_id)
