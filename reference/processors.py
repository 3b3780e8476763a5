"""Logits processors: settings that read the history (spec/15-processors.md).

`Processors` holds the settings (PROC-1); one function per processor turns a `Scores` row and its
history (the prompt, and the tokens emitted before the position) into another `Scores` row, exact
on probability rows where the arithmetic allows (PROC-11). `process` applies the history part of
PROC-9's chain; `apply_min_p` is the warper that follows top-p.

Stop strings (STOP-3) are decoded text and live on the fast path only; the reference has no text.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np

from .numbers import as_float, as_fraction, normalise

MAX_EXACT_PENALTY = 64  # PROC-11: p ** theta is exact for an integer theta up to this, as TRANSFORM-2


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
        return self != Processors()

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
