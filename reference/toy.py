"""Toy members and ensembles, and their JSON format (spec/09-toy-format.md).

A toy member is a Markov model of a small order over a small vocabulary: a table from the last
`order` tokens of the context to logits or exact probabilities. Toy ensembles drive the reference,
the exact engine, the conformance vectors and `specens check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .combine import Combination, WeightedEnsemble, check_mode, target
from .numbers import Dist, as_fraction
from .processors import NO_PROCESSORS, Prefix, Processors
from .toy_json import FORMAT, VERSION, read_ensemble, read_member, read_toy, read_toy_file
from .transforms import Sampling, Scores, proposal_distribution, transform


def context_window(context: Sequence[int], order: int) -> tuple:
    """The tokens a member of order `order` reads: the last `order` of `context`, all of them when
    there are fewer. TOY-2.

    Every place that keys a context by a member's order goes through this function.
    context_window((1, 2, 0), 2) == (2, 0); context_window((1, 2, 0), 5) == (1, 2, 0);
    context_window((1, 2, 0), 0) == ().
    """
    start = max(0, len(context) - order)  # a negative start would slice from the end
    return tuple(context[start:]) if order else ()


def stop_sequences(value, *, vocab_size: int) -> tuple:
    """Stop token sequences as one normalised type: a sorted tuple of non-empty tuples, no repeats. STOP-2.

    `value` is empty or a list of token-id lists, every id in [0, V).
    stop_sequences([[2, 1], [3]], vocab_size=4) == ((2, 1), (3,)).
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"stop_sequences: must be a list of token-id lists such as [[2, 1]], got {value!r}")
    out = set()
    for seq in value:
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
            raise ValueError(f"stop_sequences: each stop sequence must be a list of token ids, got {seq!r}")
        seq = tuple(seq)
        if not seq:
            raise ValueError("stop_sequences: a stop sequence is empty; give each as a non-empty list of token ids")
        if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < vocab_size for t in seq):
            raise ValueError(f"stop_sequences: every id must be a token id in [0, {vocab_size}), got {list(seq)!r}")
        out.add(tuple(int(t) for t in seq))
    return tuple(sorted(out))


def eos_ids(value, *, vocab_size: int) -> tuple:
    """The end-of-sequence ids as one normalised type: a sorted tuple without repeats. METHOD-3.

    `value` is None (no EOS), one token id, or a list of ids; every id must lie in [0, V).
    eos_ids(None, vocab_size=4) == (); eos_ids(2, vocab_size=4) == (2,); eos_ids([3, 1], vocab_size=4) == (1, 3).
    """
    ids = () if value is None else (value,) if isinstance(value, (int, np.integer)) else value
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise ValueError(f"eos_token_id: must be a token id, a list of token ids or None, got {value!r}")
    ids = tuple(ids)
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < vocab_size for t in ids):
        raise ValueError(f"eos_token_id: every id must be a token id in [0, {vocab_size}), got {value!r}")
    return tuple(sorted({int(t) for t in ids}))


@dataclass(frozen=True)
class ToyMember:
    """A context-to-scores table keyed by the last `order` tokens (fewer at the start). TOY-2.

    `table` maps a tuple of token ids to a `Scores`; the key `None` is the default row used for
    contexts missing from the table.
    """

    name: str
    table: Mapping
    order: int = 1
    cost: Fraction = Fraction(1)
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: a member needs a non-empty string name, got {self.name!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 0:
            raise ValueError(f"order: must be a non-negative integer, got {self.order!r}")
        if not self.table:
            raise ValueError(f"table of member {self.name!r}: has no rows; give at least the default row (key None)")
        cost = as_fraction(self.cost, name=f"cost of member {self.name!r}")
        if not 0 < cost:
            raise ValueError(f"cost of member {self.name!r}: must be positive, got {self.cost}")
        object.__setattr__(self, "cost", cost)
        sizes = {s.vocab_size for s in self.table.values()}
        if len(sizes) != 1:
            raise ValueError(f"table of member {self.name!r}: rows have different vocabulary sizes {sorted(sizes)}")
        v = sizes.pop()
        for key in self.table:
            if key is not None and (len(key) > self.order or any(not 0 <= t < v for t in key)):
                raise ValueError(f"table of member {self.name!r}: the key {key} is not a context of at most "
                                 f"{self.order} token ids in [0, {v}) (TOY-2)")

    @property
    def vocab_size(self) -> int:
        return next(iter(self.table.values())).vocab_size

    def scores(self, context: Sequence[int]) -> Scores:
        """The member's output at the position after `context`. TOY-2."""
        key = context_window(context, self.order)
        if key in self.table:
            return self.table[key]
        if None in self.table:
            return self.table[None]
        raise ValueError(f"member {self.name!r}: no table row for context {key} and no default row '*'")

    @classmethod
    def from_json(cls, obj: Mapping, path: str = "member") -> "ToyMember":
        """Read one member object of a toy file; errors name its JSON path. TOY-2."""
        return read_member(obj, path)

    def to_json(self) -> dict:
        kind = "probs" if next(iter(self.table.values())).probs is not None else "logits"
        rows = {}
        for key, s in self.table.items():
            k = "*" if key is None else ",".join(map(str, key))
            rows[k] = [str(p) for p in s.probs] if kind == "probs" else [("-inf" if np.isneginf(v) else float(v)) for v in s.logits]
        return {"name": self.name, "order": self.order, "cost": str(self.cost), kind: rows}


class MemberLookup:
    """Members addressed by name (NOTATION-1); shared by the reference and the fast-path ensembles."""

    members: tuple
    drafter = None  # the outside drafter of METHOD-5, or None

    @property
    def names(self) -> tuple[str, ...]:
        """The members' names, in index order: the combination's (the outside drafter is not one)."""
        return tuple(m.name for m in self.members)

    @property
    def models(self) -> tuple:
        """Every model a run may call: the members, then the outside drafter if any. METHOD-5."""
        return self.members + ((self.drafter,) if self.drafter is not None else ())

    def member(self, name: str):
        """A member, or the outside drafter, by name (METHOD-5)."""
        for m in self.models:
            if m.name == name:
                return m
        outside = f" and the outside drafter {self.drafter.name!r}" if self.drafter is not None else ""
        raise ValueError(f"member: no member named {name!r}; the members are {list(self.names)}{outside}")

    def cheapest(self) -> str:
        """The default proposer unless one is named: lowest cost, ties to the lowest index. SE-1."""
        return min(self.members, key=lambda m: m.cost).name


@dataclass(frozen=True)
class Ensemble(MemberLookup):
    """Members (addressed by name), a combination keyed by name, a mode and sampling settings. COMBINE-1.

    mode defaults to 'probs' for WE and 'raw-logits' otherwise (COMBINE-5). `eos_token_id` takes
    None, one id or a list of ids and is stored as a sorted tuple (`eos_ids`, METHOD-3).
    `processors` are the logits processors (PROC-1, checked against the vocabulary and the EOS ids);
    `stop_sequences` the stop token sequences (STOP-2), stored as a sorted tuple of tuples.
    """

    members: tuple
    combination: Combination
    mode: str | None = None
    sampling: Sampling = Sampling()
    eos_token_id: tuple = ()
    prompt: tuple = ()
    drafter: ToyMember | None = None
    processors: Processors = NO_PROCESSORS
    stop_sequences: tuple = ()
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        members = tuple(self.members)
        object.__setattr__(self, "members", members)
        if not members:
            raise ValueError("members: an ensemble needs at least one member")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"members: names must be unique, got {names}")
        sizes = {m.vocab_size for m in members}
        if len(sizes) != 1:
            raise ValueError(f"members: vocabulary sizes differ {dict((m.name, m.vocab_size) for m in members)}; all members must share one vocabulary")
        if set(self.combination.members) != set(names):
            raise ValueError(
                f"combination: names members {sorted(self.combination.members)} but the ensemble has {sorted(names)}; "
                "key the combination by exactly the members' names"
            )
        if self.drafter is not None:  # METHOD-5, TOY-7
            if not all(hasattr(self.drafter, a) for a in ("name", "cost", "vocab_size", "scores")):
                raise ValueError(f"drafter: must be a member such as a ToyMember (or None), got "
                                 f"{type(self.drafter).__name__}")
            if self.drafter.name in names:
                raise ValueError(f"drafter: its name {self.drafter.name!r} is a member's; an outside drafter is not in the "
                                 "combination, so give it another name (or propose from that member instead)")
            if self.drafter.vocab_size not in sizes:
                raise ValueError(f"drafter: has {self.drafter.vocab_size} tokens per row but the members have "
                                 f"{sizes.pop()}; an outside drafter shares the members' vocabulary")
        mode = self.mode or ("probs" if isinstance(self.combination, WeightedEnsemble) else "raw-logits")
        object.__setattr__(self, "mode", check_mode(mode))
        if not isinstance(self.sampling, Sampling):
            raise ValueError("sampling: must be a Sampling(...)")
        v = self.vocab_size
        object.__setattr__(self, "eos_token_id", eos_ids(self.eos_token_id, vocab_size=v))
        prompt = tuple(self.prompt)
        if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < v for t in prompt):
            raise ValueError(f"prompt: token ids must lie in [0, {v}), got {list(prompt)}")
        object.__setattr__(self, "prompt", prompt)
        if not isinstance(self.processors, Processors):
            raise ValueError("processors: must be a Processors(...) (specens.reference.processors)")
        self.processors.check(v, self.eos_token_id)
        object.__setattr__(self, "stop_sequences", stop_sequences(self.stop_sequences, vocab_size=v))

    @property
    def vocab_size(self) -> int:
        return self.members[0].vocab_size

    def stopped(self, generated) -> bool:
        """Whether a row whose generated tokens are `generated` has stopped: it ends with an EOS id
        (METHOD-3, STOP-1) or with a stop sequence (STOP-2). The prompt is not read.

        With EOS (3,) and stop sequences ((2, 1),): stopped((0, 3)) and stopped((2, 1)) are True,
        stopped((1, 2)) is False.
        """
        generated = tuple(generated)
        if not generated:
            return False
        if generated[-1] in self.eos_token_id:
            return True
        return any(len(s) <= len(generated) and generated[-len(s):] == s for s in self.stop_sequences)

    def prefix(self, context: tuple) -> Prefix:
        """Split a context (prompt + generated tokens) into the processors' Prefix. PROC-12.

        With prompt (1,): prefix((1, 0, 2)) == Prefix(prompt=(1,), generated=(0, 2), eos_token_id=...).
        """
        n = len(self.prompt)
        if tuple(context[:n]) != self.prompt:
            raise ValueError(f"context: {list(context)} does not start with the prompt {list(self.prompt)}")
        return Prefix(self.prompt, tuple(context[n:]), self.eos_token_id)

    def proposal(self, name: str, context: tuple) -> Dist:
        """p_k after `context` (memoised; a pure function of the context, processors included). TRANSFORM-6, PROC-12."""
        key = ("p", name, context)
        if key not in self._memo:
            self._memo[key] = proposal_distribution(self.member(name).scores(context), self.sampling,
                                                    self.processors, self.prefix(context))
        return self._memo[key]

    def confidence(self, name: str, context: tuple) -> Dist:
        """What METHOD-6 reads a proposer's confidence from: p_k after `context` before greedy's one-hot
        (TRANSFORM-1's distribution, processors included; p_k itself at T > 0). Memoised."""
        if not self.sampling.greedy:
            return self.proposal(name, context)
        key = ("c", name, context)
        if key not in self._memo:
            self._memo[key] = transform(self.member(name).scores(context), self.sampling, self.processors,
                                        self.prefix(context)).to_probs()
        return self._memo[key]

    def target(self, context: tuple) -> Dist:
        """r after `context` (memoised; processors read the same context). COMBINE-7, PROC-12."""
        key = ("r", context)
        if key not in self._memo:
            outputs = {m.name: m.scores(context) for m in self.members}
            self._memo[key] = target(outputs, self.combination, self.mode, self.sampling, self.processors,
                                     self.prefix(context))
        return self._memo[key]

    def with_(self, **changes) -> "Ensemble":
        """A copy with some fields changed (and a fresh memo)."""
        fields = dict(members=self.members, combination=self.combination, mode=self.mode, sampling=self.sampling,
                      eos_token_id=self.eos_token_id, prompt=self.prompt, drafter=self.drafter,
                      processors=self.processors, stop_sequences=self.stop_sequences)
        fields.update(changes)
        return Ensemble(**fields)

    @classmethod
    def from_json(cls, obj: Mapping) -> "Ensemble":
        """Read the `ensemble` part of a toy file; errors name the JSON path. TOY-1."""
        return read_ensemble(obj)

    def to_json(self) -> dict:
        """The `ensemble` object of a toy file (TOY-1); `processors` and `stop_sequences` only when set (TOY-6)."""
        s = self.sampling
        out = {
            "members": [m.to_json() for m in self.members],
            "combination": self.combination.to_json(),
            "mode": self.mode,
            "sampling": {"temperature": str(s.temperature), "top_k": s.top_k, "top_p": None if s.top_p is None else str(s.top_p)},
            "eos_token_id": _eos_json(self.eos_token_id),
            "prompt": list(self.prompt),
        }
        if self.drafter is not None:  # TOY-7: written only when there is one
            out["drafter"] = self.drafter.to_json()
        if self.processors.active:
            out["processors"] = self.processors.to_json()
        if self.stop_sequences:
            out["stop_sequences"] = [list(q) for q in self.stop_sequences]
        return out


def _eos_json(ids: tuple):
    """The shortest TOY-1 form of the EOS ids: null, one id, or a list of several."""
    return None if not ids else ids[0] if len(ids) == 1 else list(ids)


def load_toy(path_or_obj) -> tuple[Ensemble, object, int]:
    """Read a toy file: (ensemble, method, max_new_tokens). TOY-1.

    Accepts a path or an already parsed dict. Errors name the offending field by its JSON path
    (`ensemble.members[1].probs`), and an unreadable file by its path.
    """
    obj = read_toy_file(path_or_obj) if isinstance(path_or_obj, (str, Path)) else path_or_obj
    return read_toy(obj)


def dump_toy(ensemble: Ensemble, method, max_new_tokens: int) -> dict:
    """The toy-file JSON object for an ensemble, a method and a length. TOY-1."""
    return {"format": FORMAT, "version": VERSION, "ensemble": ensemble.to_json(), "method": method.to_json(),
            "max_new_tokens": max_new_tokens}
