"""Float64 lookup tables of a toy ensemble, for the vectorised sampler (spec/09-toy-format.md).

A toy member of order `o` reads only the last `o` tokens of its context (fewer at the start,
TOY-2), so its output is a function of a small *context state*: the tuple of those tokens. Each
member gets its own state space, a transition table `next[state, token]` and its proposal table
`p[state] = p_k` (TRANSFORM-6). The combined distribution r (COMBINE-7) is a function of the
members' states, one per member; the tables fill it lazily, because a correct sampler only ever
asks for consistent tuples (every member at the same context) while a mutant may mix them.

Every row comes from the reference (`specens.reference`), rounded once from its exact rationals to
float64, so the tables add no second implementation of a rule.

Logits processors that read the history (PROC-12: repetition penalties, n-gram and bad-word masks,
min_new_tokens) make every output a function of the whole prefix, so with them each member's state
is the whole context (prompt + generated tokens, the states a run of `length` tokens reaches) and
every row is computed from that prefix.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from specens.reference import Ensemble, Sampling, proposal_distribution, target
from specens.reference.processors import Prefix
from specens.reference.toy import context_window

TargetFn = Callable[[Mapping[str, object]], tuple]  # {member name: Scores} -> r (exact)

MAX_TARGET_ROWS = 4_000_000  # joint states of a dense r table; beyond it r is kept for the tuples met only
FULL_STATES = 100_000  # a member with more windows than this gets only its reachable ones (given a length)


def _floats(dist) -> np.ndarray:
    return np.array([float(p) for p in dist], dtype=np.float64)


class MemberStates:
    """The context states of one member, numbered: `index[tuple]`, `next[s, x]`, `start`. TOY-2.

    Without `length`, every tuple of at most `order` tokens is a state, so `next` is defined
    everywhere (a wrong sampler may reach any window). With `length` (max_new_tokens) and more than
    FULL_STATES such tuples, only the windows of prompt + y for y of at most `length` tokens are
    states (what a run can reach), plus one state `beyond` that `next` leads to from a window of
    prompt + `length` tokens: its proposal row is NaN and `Tables.r` refuses it, naming `length`.
    Order 1 over V = 2: states (), (0,), (1,); next[(), 1] = (1,).
    """

    def __init__(self, order: int, vocab_size: int, prompt: tuple, *, length: int | None = None,
                 reachable_only: bool = False):
        self.order = order
        start = context_window(prompt, order)
        full = sum(vocab_size ** n for n in range(order + 1))
        self.beyond = None
        if length is None or (full <= FULL_STATES and not reachable_only):
            self.tuples = [t for n in range(order + 1) for t in itertools.product(range(vocab_size), repeat=n)]
        else:  # breadth first from the prompt's window, `length` tokens deep
            self.tuples, frontier, seen = [start], [start], {start}
            for _ in range(length):
                grown = []
                for t in frontier:
                    for x in range(vocab_size):
                        u = context_window(t + (x,), order)
                        if u not in seen:
                            seen.add(u)
                            grown.append(u)
                self.tuples += grown
                frontier = grown
            self.beyond = len(self.tuples)
        self.index = {t: i for i, t in enumerate(self.tuples)}
        rows = [[self.index.get(context_window(t + (x,), order), self.beyond) for x in range(vocab_size)]
                for t in self.tuples]
        if self.beyond is not None:
            rows.append([self.beyond] * vocab_size)
        self.next = np.array(rows, dtype=np.int64)  # (S, V)
        self.start = self.index[start]

    def context(self, state: int) -> tuple:
        """The tokens of a state; the state `beyond` has none (ValueError naming length)."""
        if state == self.beyond:
            raise ValueError("length: a chain went past max_new_tokens tokens, beyond the states the oracle's "
                             "tables were built for; build them with a larger length")
        return self.tuples[state]

    def __len__(self) -> int:
        return len(self.tuples) + (self.beyond is not None)


class Tables:
    """Per-member proposal tables and a lazily filled table of r over tuples of member states.

    target_fn: how r is formed from the members' outputs (default: the reference's COMBINE-7 with
    the ensemble's combination, mode and sampling); mutants pass their own.
    length: max_new_tokens of the runs; members with many windows (a tabulated model, whose order is
    the prompt's length + L - 1) then get only the states a run reaches (`MemberStates`). When the
    joint states pass MAX_TARGET_ROWS, r is stored for the tuples met only (sorted codes), so a
    kit's law of two tabulated checkpoints fits; each row is the same reference row either way.
    """

    def __init__(self, ensemble: Ensemble, *, target_fn: TargetFn | None = None, length: int | None = None):
        self.ensemble = ensemble
        self.names = ensemble.names  # the members: r reads these (COMBINE-7)
        self.vocab_size = v = ensemble.vocab_size
        self.members = ensemble.models  # the members, then an outside drafter at index N if any (METHOD-5)
        self.model_names = tuple(m.name for m in self.members)
        self.length = length
        self.processors = ensemble.processors
        self.history = self.processors.reads_history  # PROC-12: states are whole prefixes
        if self.history and length is None:
            raise ValueError("length: processors that read the history need the tables built for max_new_tokens "
                             "(Tables(ensemble, length=...))")
        whole = len(ensemble.prompt) + (length or 0)
        self.states = [MemberStates(max(m.order, whole) if self.history else m.order, v, ensemble.prompt,
                                    length=length, reachable_only=self.history) for m in self.members]
        sizes = [len(s) for s in self.states[:len(self.names)]]
        if length is None and any(len(st.tuples) > FULL_STATES for st in self.states):
            raise ValueError(f"ensemble: a member has {max(sizes)} context states, more than the oracle's "
                             f"{FULL_STATES}; pass length=max_new_tokens to build only the states a run reaches")
        rows = int(np.prod([float(n) for n in sizes]))
        if rows >= 2 ** 62:
            raise ValueError(f"ensemble: {rows:.3g} joint context states do not fit int64 codes; use fewer members")
        self.strides = np.cumprod([1] + sizes[:-1]).astype(np.int64)  # (N,)
        self.target_fn = target_fn or (lambda outputs, prefix=None: target(
            outputs, ensemble.combination, ensemble.mode, ensemble.sampling, ensemble.processors, prefix))
        self.dense = rows <= MAX_TARGET_ROWS
        self._r = np.zeros((int(rows) if self.dense else 0, v))  # dense: (S_0 * ... * S_{N-1}, V); sparse: (met, V)
        self._have = np.zeros(int(rows) if self.dense else 0, dtype=bool)
        self._met = np.zeros(0, dtype=np.int64)  # sparse: the codes whose rows _r holds, sorted
        self._p: dict = {}
        self._variants: dict = {}
        self.p = [self.proposal_table(k) for k in range(len(self.members))]  # (N + drafter) x (S_k, V)

    def variant(self, key, make: Callable[[], "Tables"]) -> "Tables":
        """Another table set for the same ensemble (a mutant's target), built once and kept."""
        if key not in self._variants:
            self._variants[key] = make()
        return self._variants[key]

    def outputs(self, states: tuple) -> dict:
        """The members' outputs (reference `Scores`) when member k is at context state states[k]."""
        return {m.name: m.scores(self.states[k].context(s)) for k, (m, s) in enumerate(zip(self.members, states))}

    def prefix(self, context: tuple) -> Prefix | None:
        """The processors' prefix of a whole context (None when no processor reads the history). PROC-12."""
        return self.ensemble.prefix(context) if self.history else None

    def proposal_row(self, k: int, context: tuple, sampling: Sampling | None = None, processors=None, prefix=None):
        """p_k of member k after `context` (exact), with the processors read at `prefix` (default: the
        context's own, PROC-12). A chain of processors that empties the row gives None."""
        sampling = sampling or self.ensemble.sampling
        processors = self.processors if processors is None else processors
        prefix = self.prefix(context) if prefix is None else prefix
        try:
            return proposal_distribution(self.members[k].scores(context), sampling, processors, prefix)
        except ValueError:
            if not self.history:
                raise
            return None  # PROC-11: a dead end (every token ruled out) that a correct run never reaches

    def proposal_table(self, k: int, sampling: Sampling | None = None, *, exact: bool = False,
                       processors=None) -> np.ndarray:
        """p_k for every context state of member k, under `sampling` and `processors` (default: the
        ensemble's). TRANSFORM-6, PROC-10. In history mode a dead-end row is NaN."""
        sampling = sampling or self.ensemble.sampling
        key = (k, sampling, exact, processors)
        if key not in self._p:
            rows = [self.proposal_row(k, t, sampling, processors) for t in self.states[k].tuples]
            if not exact:
                rows = [(float("nan"),) * self.vocab_size if r is None else r for r in rows]
            if self.states[k].beyond is not None:  # a state no correct run reaches: NaN, never a silent row
                rows.append(None if exact else (float("nan"),) * self.vocab_size)
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
        if not self.dense:
            return self._sparse_r(codes)
        missing = codes[~self._have[codes]]
        for code in np.unique(missing):
            self._r[code] = self._row(int(code))
            self._have[code] = True
        return self._r[codes]

    def decode(self, code: int) -> tuple:
        """The tuple of member states of a code."""
        return tuple(code // int(self.strides[k]) % len(self.states[k]) for k in range(len(self.names)))

    def _row(self, code: int) -> np.ndarray:
        states = self.decode(code)
        if not self.history:
            return _floats(self.target_fn(self.outputs(states)))
        # PROC-12: the processors read the whole prefix, which member 0's state holds (in a correct run
        # every member's state is the same prefix)
        return _floats(self.target_fn(self.outputs(states), self.prefix(self.states[0].context(states[0]))))

    def _sparse_r(self, codes: np.ndarray) -> np.ndarray:
        """r kept for the codes met only: sorted codes `_met`, their rows `_r`. (m,) -> (m, V)."""
        at = np.searchsorted(self._met, codes)  # (m,)
        known = (at < len(self._met)) & (self._met[np.minimum(at, max(len(self._met) - 1, 0))] == codes) \
            if len(self._met) else np.zeros(len(codes), dtype=bool)
        if not known.all():
            new = np.unique(codes[~known])
            met = np.concatenate([self._met, new])
            order = np.argsort(met, kind="stable")
            self._met = met[order]
            self._r = np.concatenate([self._r, np.array([self._row(int(c)) for c in new])])[order]
            at = np.searchsorted(self._met, codes)
        return self._r[at]

    def consistent_code(self, context: tuple) -> int:
        """The code of the state tuple where every member sees the same `context`."""
        states = []
        for s in self.states[:len(self.names)]:
            states.append(s.index[context_window(context, s.order)])
        return int(sum(st * stride for st, stride in zip(states, self.strides)))
