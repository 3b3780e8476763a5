"""Members of any order read the row of their own window (TOY-2).

The reference, the oracle's tables and sampler, and an enumeration written here straight from the
JSON rows must agree. The enumeration below trusts neither the reference nor the oracle: it reads
rows by their key strings and forms r and the sequence law by its own recursion.
"""

import itertools
import random
from fractions import Fraction as F

import numpy as np
import pytest

from specens.oracle import VectorSampler, exact_law
from specens.oracle.tables import MemberStates, Tables
from specens.reference import (
    SpeculativeEnsemble,
    StandardEnsemble,
    exact_ensemble_pmf,
    exact_output_pmf,
    load_toy,
)
from specens.reference.toy import context_window

ISSUE_TOY = {
    "format": "specens/toy-ensemble", "version": 1,
    "ensemble": {"members": [{"name": "a", "order": 3, "probs": {
        "": ["1/2", "1/2"], "0": ["1/2", "1/2"], "0,1": ["1", "0"], "1": ["0", "1"], "*": ["1/2", "1/2"]}}],
        "combination": {"kind": "we", "weights": {"a": "1"}}},
    "method": {"name": "standard"}, "max_new_tokens": 3,
}


def test_an_order_three_member_reads_the_whole_short_context():
    """TOY-2: the issue's smallest case; after (0, 1) the member reads row "0,1", not row "1"."""
    ensemble, method, length = load_toy(ISSUE_TOY)
    want = {(0, 0, 0): F(1, 8), (0, 0, 1): F(1, 8), (0, 1, 0): F(1, 4), (1, 1, 0): F(1, 4), (1, 1, 1): F(1, 4)}
    assert exact_ensemble_pmf(ensemble, length) == want
    assert exact_output_pmf(ensemble, method, length).pmf == want
    law = exact_law(VectorSampler(ensemble, method, length))
    assert set(law) == set(want) and all(law[s] == pytest.approx(float(p), abs=1e-15) for s, p in want.items())


def test_the_window_is_the_last_order_tokens_or_all_of_them():
    """TOY-2's examples; the slice `context[len(context) - order:]` would give (2, 0) for order 5."""
    assert context_window((1, 2, 0), 5) == (1, 2, 0)
    assert context_window((1, 2, 0), 3) == (1, 2, 0)
    assert context_window((1, 2, 0), 2) == (2, 0)
    assert context_window((1, 2, 0), 0) == ()
    assert context_window((3, 1, 2, 0, 1, 1), 5) == (1, 2, 0, 1, 1)
    assert context_window((), 4) == ()


def test_the_oracle_states_of_a_high_order_member_follow_the_window():
    """TOY-2: an order-4 member's state after prompt (1, 0) and token 1 is (1, 0, 1), then it slides."""
    states = MemberStates(4, 2, (1, 0))
    assert states.tuples[states.start] == (1, 0)
    s = states.next[states.start, 1]
    assert states.tuples[s] == (1, 0, 1)
    for x in (1, 0):
        s = states.next[s, x]
    assert states.tuples[s] == (0, 1, 1, 0)


# -- the cross-check: reference, oracle and a recursion over the JSON rows ---------------------------
def _random_row(rng, v):
    weights = [rng.randint(0, 4) for _ in range(v)]
    if sum(weights) == 0:
        weights[rng.randrange(v)] = 1
    return [F(w, sum(weights)) for w in weights]


def _member_json(rng, name, order, v):
    """Rows for every context of at most `order` tokens, a few left to the default row "*"."""
    rows = {}
    for n in range(order + 1):
        for ctx in itertools.product(range(v), repeat=n):
            if rng.random() < 0.85:
                rows[",".join(map(str, ctx))] = _random_row(rng, v)
    rows["*"] = _random_row(rng, v)
    return {"name": name, "order": order, "probs": {k: [str(p) for p in r] for k, r in rows.items()}}


def _target_from_rows(toy):
    """r(history) computed here from the JSON alone: sum_k w_k p_k, p_k the row keyed by k's window."""
    ens = toy["ensemble"]
    weights = {k: F(w) for k, w in ens["combination"]["weights"].items()}

    def row(member, history):
        order = member["order"]
        window = history if len(history) <= order else history[len(history) - order:]
        key = ",".join(str(t) for t in window) if order > 0 else ""
        table = member["probs"]
        return [F(p) for p in table.get(key, table["*"])]

    def r(history):
        rows = [(weights[m["name"]], row(m, history)) for m in ens["members"]]
        return [sum(w * p[x] for w, p in rows) for x in range(len(rows[0][1]))]

    return r


def _law_from_rows(toy, length):
    """The sequence law from the JSON alone: products of r, ending at an EOS id or `length` tokens."""
    ens, r = toy["ensemble"], _target_from_rows(toy)
    eos = ens["eos_token_id"]
    eos = set() if eos is None else {eos} if isinstance(eos, int) else set(eos)
    law = {}

    def extend(prefix, p):
        if len(prefix) == length or (prefix and prefix[-1] in eos):
            law[prefix] = p
            return
        for x, q in enumerate(r(list(ens["prompt"]) + list(prefix))):
            if q > 0:
                extend(prefix + (x,), p * q)

    extend((), F(1))
    return law


GRID = [(order, prompt, v) for order in range(6) for prompt in range(4) for v in (2, 3)]


@pytest.mark.parametrize("order, prompt_length, vocab", GRID, ids=lambda x: str(x))
def test_reference_oracle_and_json_rows_give_one_law(order, prompt_length, vocab):
    """TOY-2, METHOD-3, ENGINE-1, ENGINE-2: for orders 0..5, prompts of 0..3 tokens and V = 2, 3, the
    reference's law (ENGINE-2, and ENGINE-1 on SE), the oracle's tables and its sampler's enumerated
    law agree with a law computed from the JSON rows by key. The oracle is float64 (1e-12: products
    of a few probabilities, each rounded once); the rest is exact."""
    rng = random.Random(f"{order}:{prompt_length}:{vocab}")
    other = rng.randrange(6)
    eos = [None, vocab - 1, [0, vocab - 1]][rng.randrange(3)]
    toy = {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": 3,
           "ensemble": {"members": [_member_json(rng, "a", order, vocab), _member_json(rng, "b", other, vocab)],
                        "combination": {"kind": "we", "weights": {"a": "1/3", "b": "2/3"}},
                        "eos_token_id": eos, "prompt": [rng.randrange(vocab) for _ in range(prompt_length)]},
           "method": {"name": "se", "gammas": {"a": 2, "b": 1}, "default_proposer": "a"}}
    want = _law_from_rows(toy, 3)
    assert sum(want.values()) == 1
    ensemble, method, length = load_toy(toy)
    assert exact_ensemble_pmf(ensemble, length) == want
    assert exact_output_pmf(ensemble, method, length).pmf == want
    assert exact_output_pmf(ensemble, StandardEnsemble(), length).pmf == want
    tables, target = Tables(ensemble), _target_from_rows(toy)
    for context in {ensemble.prompt + seq[:i] for seq in want for i in range(len(seq))}:
        r = tables.r(np.array([tables.consistent_code(context)]))[0]
        assert r == pytest.approx([float(p) for p in target(list(context))], abs=1e-15), context
    law = exact_law(VectorSampler(ensemble, SpeculativeEnsemble({"a": 2, "b": 1}, "a"), length))
    assert set(law) <= set(want)
    for seq, p in want.items():
        assert law.get(seq, 0.0) == pytest.approx(float(p), abs=1e-12), seq


def test_the_cross_check_rejects_the_old_negative_slice(monkeypatch):
    """Negative control for TOY-2: with `context[len(context) - order:]` (a negative start slices from
    the end) the reference's law is the issue's wrong one, and the recursion over the rows disagrees."""
    from specens.reference import toy

    def old_slice(context, order):
        return tuple(context[len(context) - order:]) if order else ()

    monkeypatch.setattr(toy, "context_window", old_slice)
    ensemble, _, length = load_toy(ISSUE_TOY)
    wrong = {(0, 0, 0): F(1, 8), (0, 0, 1): F(1, 8), (0, 1, 1): F(1, 4), (1, 1, 1): F(1, 2)}
    assert exact_ensemble_pmf(ensemble, length) == wrong != _law_from_rows({**ISSUE_TOY, "ensemble": {
        **ISSUE_TOY["ensemble"], "prompt": [], "eos_token_id": None}}, length)
