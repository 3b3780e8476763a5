"""Built-in toy ensembles: seeded random Markov members with exact rational tables (spec/09).

Used by the demo, the test matrix and the conformance vectors. Everything is a pure function of
its arguments, so a case name or seed reproduces the same ensemble everywhere.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import numpy as np

from .combine import ContrastiveDecoding, WeightedEnsemble
from .toy import Ensemble, ToyMember
from .transforms import Sampling, Scores


def random_member(name: str, vocab_size: int, *, order: int = 1, cost=1, seed: int = 0, kind: str = "probs",
                  sparsity: float = 0.25) -> ToyMember:
    """A member with one row per context of length <= order, drawn from `seed`. TOY-2.

    kind 'probs' gives exact rational rows with denominators up to 8 per weight (some zeros);
    kind 'logits' gives small half-integer logits with some -inf.
    """
    rng = random.Random(f"{name}:{vocab_size}:{order}:{seed}:{kind}")
    table = {}
    for n in range(order + 1):
        for ctx in itertools.product(range(vocab_size), repeat=n):
            if kind == "probs":
                w = [0 if rng.random() < sparsity else rng.randint(1, 8) for _ in range(vocab_size)]
                if sum(w) == 0:
                    w[rng.randrange(vocab_size)] = 1
                table[ctx] = Scores(probs=tuple(Fraction(x, sum(w)) for x in w))
            else:
                l = [(-np.inf if rng.random() < sparsity else rng.randint(-6, 6) / 2) for _ in range(vocab_size)]
                if all(np.isneginf(l)):
                    l[rng.randrange(vocab_size)] = 0.0
                table[ctx] = Scores(logits=np.array(l))
    return ToyMember(name=name, table=table, order=order, cost=cost)


def toy_ensemble(n: int = 2, vocab_size: int = 3, *, combination: str = "we", mode: str | None = None,
                 temperature=1, top_k=None, top_p=None, eos_token_id=None, seed: int = 0,
                 kind: str = "probs", costs=None, prompt=(), sparsity: float = 0.25, orders=None) -> Ensemble:
    """n members named m0, m1, ...; member 0 is the cheap one (cost 1/4), the rest cost 1.

    orders: each member's order (TOY-2); default 1, 2, 1, 2, ...

    combination 'we' uses unequal weights (equal ones hide role-keyed bugs, DEFECT-13);
    'cd' makes the last member the expert and member 0 the amateur, mu = 1/10.
    """
    costs = costs or [Fraction(1, 4)] + [Fraction(1)] * (n - 1)
    orders = orders or [1 + (k % 2) for k in range(n)]
    if len(orders) != n:
        raise ValueError(f"orders: give one order per member ({n}), got {list(orders)}")
    members = tuple(random_member(f"m{k}", vocab_size, order=orders[k], cost=costs[k], seed=seed, kind=kind,
                                   sparsity=sparsity)
                    for k in range(n))
    names = [m.name for m in members]
    if combination == "we":
        raw = [Fraction(k + 1) for k in range(n)]
        comb = WeightedEnsemble({k: w / sum(raw) for k, w in zip(names, raw)})
    elif combination == "cd":
        if n != 2:
            raise ValueError(f"n: contrastive decoding needs exactly 2 members, got {n}")
        comb = ContrastiveDecoding(expert=names[-1], amateur=names[0], mu=Fraction(1, 10))
    else:
        raise ValueError(f"combination: 'we' or 'cd', got {combination!r}")
    return Ensemble(members, comb, mode=mode, sampling=Sampling(temperature, top_k, top_p),
                    eos_token_id=eos_token_id, prompt=tuple(prompt))
