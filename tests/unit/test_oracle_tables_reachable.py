"""The oracle's tables built for a run's length (ORACLE-8, ORACLE-11): only the context states a run
reaches, r kept sparse past MAX_TARGET_ROWS; the same rows and the same exact law of the oracle's
sampler as the full tables, and a state past the length refused by name."""

import numpy as np
import pytest

from specens.oracle import VectorSampler, exact_law
from specens.oracle import tables as tables_module
from specens.oracle.tables import MemberStates, Tables
from specens.reference import SpeculativeEnsemble
from specens.reference.toy import context_window
from specens.reference.zoo import toy_ensemble

V, PROMPT, LENGTH = 3, (1, 2), 3


def force_reachable(monkeypatch):
    """Force the reachable-state and sparse paths on a toy small enough to compare with the full tables."""
    monkeypatch.setattr(tables_module, "FULL_STATES", 0)
    monkeypatch.setattr(tables_module, "MAX_TARGET_ROWS", 0)


@pytest.fixture
def small_limits(monkeypatch):
    force_reachable(monkeypatch)


def ensemble():
    return toy_ensemble(2, V, orders=[4, 2], prompt=PROMPT, eos_token_id=0, seed=3)


def test_a_member_gets_the_windows_of_prompt_plus_up_to_length_tokens(small_limits):
    """ORACLE-8: order 4 after a 2-token prompt, length 3: windows of 2 + 0..3 tokens, and one 'beyond'."""
    states = MemberStates(4, V, PROMPT, length=LENGTH)
    want = {context_window(PROMPT + tuple(y), 4) for j in range(LENGTH + 1) for y in np.ndindex(*(V,) * j)}
    assert set(states.tuples) == want and len(states) == len(want) + 1
    assert states.next[states.beyond].tolist() == [states.beyond] * V
    deepest = states.index[context_window(PROMPT + (0, 0, 0), 4)]  # (2, 0, 0, 0); then (0, 0, 0, 1) is 4 tokens on
    assert states.next[deepest, 1] == states.beyond
    with pytest.raises(ValueError, match="length: a chain went past max_new_tokens"):
        states.context(states.beyond)


def test_reachable_sparse_tables_give_the_full_tables_rows_and_exact_law(monkeypatch):
    """ORACLE-8: r at every reachable context and p_k at every reachable state equal the full tables'
    (the same reference rows); the sampler's exact law (enumerated) is the same float64 law."""
    ens = ensemble()
    full = Tables(ens)
    force_reachable(monkeypatch)
    reach = Tables(ens, length=LENGTH)
    assert not reach.dense and all(s.beyond is not None for s in reach.states)
    for j in range(LENGTH):
        for y in np.ndindex(*(V,) * j):
            context = PROMPT + tuple(y)
            got = reach.r(np.array([reach.consistent_code(context)]))[0]
            assert got.tolist() == full.r(np.array([full.consistent_code(context)]))[0].tolist()
            for k, (a, b) in enumerate(zip(reach.states, full.states)):
                assert reach.p[k][a.index[context_window(context, a.order)]].tolist() == \
                    full.p[k][b.index[context_window(context, b.order)]].tolist()
    method = SpeculativeEnsemble({"m0": 2, "m1": 1}, "m0")
    assert exact_law(VectorSampler(ens, method, LENGTH, tables=reach)) == \
        exact_law(VectorSampler(ens, method, LENGTH, tables=full))


def test_too_many_windows_without_a_length_are_refused_naming_length(monkeypatch):
    """ORACLE-8: a tabulated-size member without length= is refused with the fix, not built."""
    monkeypatch.setattr(tables_module, "FULL_STATES", 10)
    with pytest.raises(ValueError, match="pass length=max_new_tokens"):
        Tables(ensemble())
