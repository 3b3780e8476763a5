"""Float64 lookup tables of a toy ensemble, for the vectorised sampler (spec/09-toy-format.md).

A toy member of order `o` reads only the last `o` tokens of its context (fewer at the start,
TOY-2), so its output is a function of a small *context state*: the tuple of those tokens. Each
member gets its own state space, a transition table `next[state, token]` and its proposal table
`p[state] = p_k` (TRANSFORM-6). The combined distribution r (COMBINE-7) is a function of the
members' states, one per member; the tables fill it lazily, because a correct sampler only ever
asks for consistent tuples (every member at the same context) while a mutant may mix them.

Every row comes from the reference (`specens.reference`), rounded once from its exact rationals to
float64, so the tables add no second implementation of a rule.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from specens.reference import Ensemble, Sampling, proposal_distribution, target
from specens.reference.toy import context_window

TargetFn = Callable[[Mapping[str, object]], tuple]  # {member name: Scores} -> r (exact)

MAX_TARGET_ROWS = 4_000_000


def _floats(dist) -> np.ndarray:
    return np.array([float(p) for p in dist], dtype=np.float64)


class MemberStates:
    """The context states of one member: every tuple of at most `order` tokens. TOY-2.

    `index[tuple]` numbers them, `next[s, x]` is the state after appending token x, and
    `start` is the state of the prompt. Order 1 over V = 2: states (), (0,), (1,); next[(), 1] = (1,).
    """

    def __init__(self, order: int, vocab_size: int, prompt: tuple):
        self.order = order
        self.tuples = [t for n in range(order + 1) for t in itertools.product(range(vocab_size), repeat=n)]
        self.index = {t: i for i, t in enumerate(self.tuples)}
        self.next = np.array([[self.index[context_window(t + (x,), order)] for x in range(vocab_size)]
                              for t in self.tuples], dtype=np.int64)  # (S, V)
        self.start = self.index[context_window(prompt, order)]

    def __len__(self) -> int:
        return len(self.tuples)


class Tables:
    """Per-member proposal tables and a lazily filled table of r over tuples of member states.

    target_fn: how r is formed from the members' outputs (default: the reference's COMBINE-7 with
    the ensemble's combination, mode and sampling); mutants pass their own.
    """

    def __init__(self, ensemble: Ensemble, *, target_fn: TargetFn | None = None):
        self.ensemble = ensemble
        self.names = ensemble.names
        self.vocab_size = v = ensemble.vocab_size
        self.members = ensemble.members
        self.states = [MemberStates(m.order, v, ensemble.prompt) for m in ensemble.members]
        sizes = [len(s) for s in self.states]
        rows = int(np.prod(sizes))
        if rows > MAX_TARGET_ROWS:
            raise ValueError(f"ensemble: its members have {rows} joint context states, more than the oracle's "
                             f"{MAX_TARGET_ROWS}; use a smaller vocabulary or lower member orders")
        self.strides = np.cumprod([1] + sizes[:-1]).astype(np.int64)  # (N,)
        self.target_fn = target_fn or (lambda outputs: target(outputs, ensemble.combination, ensemble.mode,
                                                              ensemble.sampling))
        self._r = np.zeros((rows, v))  # (S_0 * ... * S_{N-1}, V)
        self._have = np.zeros(rows, dtype=bool)
        self._p: dict = {}
        self._variants: dict = {}
        self.p = [self.proposal_table(k) for k in range(len(self.names))]  # N x (S_k, V)

    def variant(self, key, make: Callable[[], "Tables"]) -> "Tables":
        """Another table set for the same ensemble (a mutant's target), built once and kept."""
        if key not in self._variants:
            self._variants[key] = make()
        return self._variants[key]

    def outputs(self, states: tuple) -> dict:
        """The members' outputs (reference `Scores`) when member k is at context state states[k]."""
        return {m.name: m.scores(self.states[k].tuples[s]) for k, (m, s) in enumerate(zip(self.members, states))}

    def proposal_table(self, k: int, sampling: Sampling | None = None, *, exact: bool = False) -> np.ndarray:
        """p_k for every context state of member k, under `sampling` (default: the ensemble's). TRANSFORM-6."""
        sampling = sampling or self.ensemble.sampling
        key = (k, sampling, exact)
        if key not in self._p:
            member = self.members[k]
            rows = [proposal_distribution(member.scores(t), sampling) for t in self.states[k].tuples]
            self._p[key] = rows if exact else np.array([_floats(r) for r in rows])  # (S_k, V)
        return self._p[key]

    def codes(self, states: list[np.ndarray]) -> np.ndarray:
        """One integer per chain for the tuple of member states: sum_k states[k] * stride_k."""
        code = states[0] * self.strides[0]
        for k in range(1, len(states)):
            code = code + states[k] * self.strides[k]
        return code

    def r(self, codes: np.ndarray) -> np.ndarray:
        """r for each code, filling missing rows from the reference. COMBINE-7. (m,) -> (m, V)."""
        missing = codes[~self._have[codes]]
        for code in np.unique(missing):
            states = tuple(int(code // self.strides[k]) % len(self.states[k]) for k in range(len(self.names)))
            self._r[code] = _floats(self.target_fn(self.outputs(states)))
            self._have[code] = True
        return self._r[codes]

    def consistent_code(self, context: tuple) -> int:
        """The code of the state tuple where every member sees the same `context`."""
        states = []
        for s in self.states:
            states.append(s.index[context_window(context, s.order)])
        return int(sum(st * stride for st, stride in zip(states, self.strides)))
