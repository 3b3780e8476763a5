"""The exact engine: the output distribution of the sampler code itself (spec/10-engine.md).

`exact_output_pmf` runs a method with a `ReplayChooser` that resolves each choice point from a
script of decisions; a depth-first search over scripts visits every possible run once, and each
run's probability is the product of the probabilities of its decisions. So the distribution is
that of `methods.py` as written, not of a second formula. `exact_ensemble_pmf` is that second,
independent formula for the standard ensemble: the product of r's conditionals (ENGINE-2).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from .methods import Method, run_method
from .toy import Ensemble
from .verify import acceptance_probability


class _Replay:
    """Resolves choice points from `script`; past its end takes the first outcome and notes the rest."""

    def __init__(self, script: list[int]):
        self.script, self.depth, self.probability = script, 0, Fraction(1)
        self.untaken: list[tuple[int, int]] = []  # (depth, number of outcomes) of new choice points

    def _choose(self, outcomes: list[tuple[object, Fraction]]):
        if self.depth < len(self.script):
            value, p = outcomes[self.script[self.depth]]
        else:
            value, p = outcomes[0]
            if len(outcomes) > 1:
                self.untaken.append((self.depth, len(outcomes)))
        self.depth += 1
        self.probability *= p
        return value

    def draw(self, dist, what):
        return self._choose([(x, p) for x, p in enumerate(dist) if p > 0])

    def accept(self, r_x, q_x, what):
        a = acceptance_probability(r_x, q_x)
        return self._choose([(v, p) for v, p in ((True, a), (False, 1 - a)) if p > 0])


@dataclass
class ExactResult:
    """pmf over emitted sequences, pmf of total cost, and the runs (sequence, cost, probability)."""

    pmf: dict
    cost_pmf: dict
    runs: list

    def expected_cost(self) -> Fraction:
        return sum((c * p for c, p in self.cost_pmf.items()), Fraction(0))

    def expected_length(self) -> Fraction:
        return sum((len(s) * p for s, p in self.pmf.items()), Fraction(0))


def enumerate_choices(fn, *, limit: int = 2_000_000):
    """Yield (fn(chooser), probability) once per distinct path of decisions `fn` can take. ENGINE-1.

    `fn(chooser)` is any sampler written against a chooser: it makes every random choice through
    `chooser.draw(dist, what)` (a token drawn from `dist`, a sequence of exact probabilities) and
    `chooser.accept(r_x, q_x, what)` (the accept test of VERIFY-1), `what` a label. The paths'
    probabilities sum to 1. Raises ValueError after `limit` paths.

    >>> from fractions import Fraction as F
    >>> sorted(enumerate_choices(lambda c: c.draw((F(1, 4), F(0), F(3, 4)), "x")))
    [(0, Fraction(1, 4)), (2, Fraction(3, 4))]
    """
    stack: list[list[int]] = [[]]
    count = 0
    while stack:
        script = stack.pop()
        chooser = _Replay(script)
        result = fn(chooser)
        count += 1
        if count > limit:
            raise ValueError(f"limit: more than {limit} runs to enumerate; use a smaller toy ensemble or length")
        yield result, chooser.probability
        for depth, n in reversed(chooser.untaken):
            prefix = script + [0] * (depth - len(script))
            for choice in range(n - 1, 0, -1):
                stack.append(prefix + [choice])


def exact_sampler_pmf(fn, *, limit: int = 2_000_000) -> dict:
    """The exact law {fn's result: probability} of a sampler written against a chooser. ENGINE-1.

    `fn` as for `enumerate_choices`; results must be hashable (a list is taken as a tuple). Raises
    ValueError after `limit` paths, and RuntimeError if the paths' probabilities do not sum to 1 (a
    chooser used after `fn` returned, say). Example: docs/howto-exact-law.md.
    """
    pmf: dict = defaultdict(Fraction)
    for result, p in enumerate_choices(fn, limit=limit):
        pmf[tuple(result) if isinstance(result, list) else result] += p
    total = sum(pmf.values(), Fraction(0))
    if total != 1:
        raise RuntimeError(f"the paths' probabilities sum to {total}, not 1")
    return dict(pmf)


def enumerate_runs(ensemble: Ensemble, method: Method, max_new_tokens: int, *, limit: int = 2_000_000):
    """Yield (result, probability) for every distinct run of `method`. ENGINE-1."""
    yield from enumerate_choices(lambda chooser: run_method(ensemble, method, max_new_tokens, chooser), limit=limit)


def exact_output_pmf(ensemble: Ensemble, method: Method, max_new_tokens: int) -> ExactResult:
    """Exact law of the emitted sequence and of the cost of `method`, by enumerating the sampler. ENGINE-1."""
    pmf, cost_pmf, runs = defaultdict(Fraction), defaultdict(Fraction), []
    for result, p in enumerate_runs(ensemble, method, max_new_tokens):
        seq = tuple(result.tokens)
        pmf[seq] += p
        cost_pmf[result.cost] += p
        runs.append((seq, result.cost, p))
    total = sum(pmf.values(), Fraction(0))
    if total != 1:  # ENGINE-1: every run is visited exactly once
        raise RuntimeError(f"engine bug: run probabilities sum to {total}, not 1")
    return ExactResult(dict(pmf), dict(cost_pmf), runs)


ENUMERATION_LIMIT = 1_000_000  # ENGINE-2: prefixes exact_ensemble_pmf visits before it gives up (read at each call)


def exact_ensemble_pmf(ensemble: Ensemble, max_new_tokens: int, *, limit: int | None = None) -> dict:
    """P(y) = prod_i r(y_i | prompt, y_<i), sequences ending at an EOS id, a stop sequence (STOP-2) or
    max_new_tokens. ENGINE-2, METHOD-3.

    Computed over prefixes with an explicit stack (depth-first, tokens in increasing order; no
    recursion, so a greedy toy of 1,500 tokens is fine), independently of any sampler. Raises
    ValueError naming max_new_tokens once more than `limit` prefixes would be visited: a sampled toy
    over V = 2 tokens has up to 2^40 sequences of 40 tokens. For V = 2, r = (1/2, 1/2) at every
    position and max_new_tokens 2: {(0, 0): 1/4, (0, 1): 1/4, (1, 0): 1/4, (1, 1): 1/4}.
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: must be a positive integer, got {max_new_tokens!r}")
    ensemble.processors.check(ensemble.vocab_size, ensemble.eos_token_id, max_new_tokens)  # PROC-1
    limit = ENUMERATION_LIMIT if limit is None else limit
    out: dict = {}
    stack = [((), Fraction(1))]
    visited = 0
    while stack:
        prefix, p = stack.pop()
        visited += 1
        if visited > limit:
            raise ValueError(
                f"max_new_tokens: the exact law of {max_new_tokens} tokens has more than {limit:,} prefixes to "
                f"enumerate (up to {ensemble.vocab_size}^{max_new_tokens} sequences); use a smaller "
                "max_new_tokens (specens check: --length) or a toy with fewer possible tokens")
        if len(prefix) == max_new_tokens or ensemble.stopped(prefix):  # METHOD-3, STOP-2
            out[prefix] = p
            continue
        r = ensemble.target(ensemble.prompt + prefix)
        stack.extend((prefix + (x,), p * r_x) for x, r_x in reversed(list(enumerate(r))) if r_x > 0)
    return out
