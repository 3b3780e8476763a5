"""The exact law of the vectorised sampler's own code, by enumerating its choice points (ENGINE-1).

The reference engine runs `reference/methods.py` once per outcome path. Here the same depth-first
search runs `sampler.py` (or a mutant of it): each chain replays a *script* of outcome indices, takes
outcome 0 past the script's end and records the outcomes it did not take; every untaken outcome
becomes a new script. Chains run in batches, so one vectorised run explores thousands of paths.
Probabilities are float64: this gives a mutant's exact law (to rounding) and checks the sampler
against `reference.exact_ensemble_pmf` without statistics.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .sampler import PAD, VectorSampler


def draw_measure(probs: np.ndarray) -> np.ndarray:
    """The probability of each token under inverse_cdf with u ~ U[0, 1): RNG-2's own law. (m, V) -> (m, V).

    Equal to `probs` for a distribution; for an unnormalised row (a mutant's) the mass above its total
    goes to the last positive token, as RNG-2 says. [[0.25, 0, 0.25]] -> [[0.25, 0, 0.75]].
    """
    lower, upper = _bounds(probs)
    return upper - lower


def _bounds(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lower_x, upper_x): the uniforms that inverse_cdf maps to token x. (m, V) each."""
    c = np.minimum(np.cumsum(probs, axis=1), 1.0)
    lower = np.concatenate([np.zeros((len(c), 1)), c[:, :-1]], axis=1)
    upper = c.copy()
    last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    rows = np.arange(len(c))
    upper[rows, last] = 1.0
    after = np.arange(probs.shape[1])[None, :] > last[:, None]
    return np.where(after, 1.0, lower), np.where(after, 1.0, upper)


def _accept_probability(r_x: np.ndarray, q_x: np.ndarray) -> np.ndarray:
    """P(u * q(x) < r(x)) for u ~ U[0, 1): min(1, r/q), and for q(x) = 0 (only a mutant) 1 if r(x) > 0. RNG-3."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q_x > 0, np.minimum(1.0, r_x / np.where(q_x > 0, q_x, 1.0)), (r_x > 0).astype(float))


class ScriptChooser:
    """Resolves each chain's choice points from its script of outcome indices. ENGINE-1.

    A draw's outcomes are the tokens of positive probability in id order; an accept test's are
    accept, reject (zero-probability outcomes skipped), as in the reference engine.
    """

    def __init__(self, scripts: list[tuple]):
        n, depth = len(scripts), max([len(s) for s in scripts] + [1])
        self.script = np.zeros((n, depth + 8), dtype=np.int64)
        for b, s in enumerate(scripts):
            self.script[b, :len(s)] = s
        self.length = np.array([len(s) for s in scripts], dtype=np.int64)
        self.depth = np.zeros(n, dtype=np.int64)
        self.outcomes = np.zeros_like(self.script)  # number of outcomes at each choice point reached
        self.taken = np.zeros_like(self.script)
        self.prob = np.ones(n)

    def _pick(self, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Choose, per chain, the scripted (or first) outcome among the positive columns of weights."""
        d = self.depth[idx]
        if d.size and d.max() >= self.script.shape[1]:
            grow = np.zeros_like(self.script)
            self.script, self.outcomes, self.taken = (np.concatenate([a, grow], axis=1)
                                                      for a in (self.script, self.outcomes, self.taken))
        positive = weights > 0
        choice = np.where(d < self.length[idx], self.script[idx, d], 0)
        rank = np.cumsum(positive, axis=1) - 1
        column = np.argmax(positive & (rank == choice[:, None]), axis=1)
        self.outcomes[idx, d], self.taken[idx, d] = positive.sum(axis=1), choice
        self.depth[idx] = d + 1
        return column

    def draw(self, idx, probs):
        weights = draw_measure(probs)
        x = self._pick(idx, weights)
        self.prob[idx] *= weights[np.arange(len(idx)), x]
        return x

    def accept(self, idx, r_x, q_x):
        a = _accept_probability(r_x, q_x)
        weights = np.stack([a, 1.0 - a], axis=1)
        outcome = self._pick(idx, weights)
        self.prob[idx] *= weights[np.arange(len(idx)), outcome]
        return outcome == 0

    def step(self, idx):
        pass

    def final_prob(self) -> np.ndarray:
        return self.prob


class IntervalChooser(ScriptChooser):
    """Scripts for a sampler that reuses one uniform for every choice point of a step (a mutant's RNG).

    Each chain carries the interval of uniforms consistent with its choices in the current step; a
    choice splits it, and a step's probability is the final interval's length.
    """

    def __init__(self, scripts):
        super().__init__(scripts)
        self.a, self.b = np.zeros(len(scripts)), np.ones(len(scripts))

    def _split(self, idx, lower, upper):
        lo = np.maximum(self.a[idx, None], lower)
        hi = np.minimum(self.b[idx, None], upper)
        outcome = self._pick(idx, np.maximum(0.0, hi - lo))
        rows = np.arange(len(idx))
        self.a[idx], self.b[idx] = lo[rows, outcome], hi[rows, outcome]
        return outcome

    def draw(self, idx, probs):
        return self._split(idx, *_bounds(probs))

    def accept(self, idx, r_x, q_x):
        t = _accept_probability(r_x, q_x)[:, None]
        zeros, ones = np.zeros_like(t), np.ones_like(t)
        return self._split(idx, np.concatenate([zeros, t], 1), np.concatenate([t, ones], 1)) == 0

    def step(self, idx):
        self.prob[idx] *= self.b[idx] - self.a[idx]
        self.a[idx], self.b[idx] = 0.0, 1.0

    def final_prob(self):
        return self.prob * (self.b - self.a)


def exact_law(sampler: VectorSampler, *, chooser_class=ScriptChooser, batch: int = 16384,
              max_paths: int = 2_000_000) -> dict:
    """{sequence: probability} of `sampler`'s emitted tokens, by enumerating its code's paths. ENGINE-1.

    Every outcome path is run once; a path's probability is the product of its outcomes' (float64).
    The probabilities sum to 1 up to rounding.
    """
    frontier: list[tuple] = [()]
    law: dict = defaultdict(float)
    paths = 0
    while frontier:
        scripts = frontier[-batch:]
        del frontier[-batch:]
        paths += len(scripts)
        if paths > max_paths:
            raise ValueError(f"max_paths: more than {max_paths} paths to enumerate; use a smaller toy ensemble "
                             "or length")
        chooser = chooser_class(scripts)
        tokens = sampler.run(chooser, len(scripts), wrap=False).tokens()
        rows, where = np.unique(tokens, axis=0, return_inverse=True)
        for row, p in zip(rows.tolist(), np.bincount(where.ravel(), weights=chooser.final_prob())):
            law[tuple(x for x in row if x != PAD)] += float(p)
        d = np.arange(chooser.outcomes.shape[1])[None, :]
        fresh = (d >= chooser.length[:, None]) & (d < chooser.depth[:, None]) & (chooser.outcomes > 1)
        taken = chooser.taken.tolist()
        for b, at in zip(*np.nonzero(fresh)):
            prefix = tuple(taken[b][:at])
            frontier.extend(prefix + (c,) for c in range(1, int(chooser.outcomes[b, at])))
    return dict(law)
