"""End-of-sequence lists on the reference side (METHOD-3, TOY-1): every id in the list ends a row."""

import json
from fractions import Fraction as F

import numpy as np
import pytest

from specens.oracle import VectorSampler, exact_law
from specens.reference import SpeculativeEnsemble, dump_toy, exact_ensemble_pmf, exact_output_pmf, generate, load_toy
from specens.reference.toy import eos_ids
from specens.reference.zoo import toy_ensemble


def test_eos_ids_are_normalised_to_one_sorted_tuple():
    """METHOD-3: None, one id or a list; stored as a sorted tuple; out-of-range ids name the argument."""
    assert eos_ids(None, vocab_size=4) == ()
    assert eos_ids(2, vocab_size=4) == (2,)
    assert eos_ids([3, 1, 3], vocab_size=4) == (1, 3)
    assert eos_ids(np.int64(1), vocab_size=4) == (1,)
    for bad in (4, [0, 4], -1, True, "2", [1.0]):
        with pytest.raises(ValueError, match="eos_token_id"):
            eos_ids(bad, vocab_size=4)
    assert toy_ensemble(2, 3, eos_token_id=[2, 0]).eos_token_id == (0, 2)


@pytest.mark.parametrize("given, written", [(None, None), (2, 2), ([2, 0], [0, 2])])
def test_a_toy_file_writes_eos_as_null_one_id_or_a_sorted_list(given, written):
    """TOY-1: the shortest form is written, and reading it back gives the same tuple."""
    ensemble = toy_ensemble(2, 3, eos_token_id=given, seed=1)
    toy = json.loads(json.dumps(dump_toy(ensemble, SpeculativeEnsemble({"m0": 1, "m1": 2}).check(ensemble), 3)))
    assert toy["ensemble"]["eos_token_id"] == written
    assert load_toy(toy)[0].eos_token_id == ensemble.eos_token_id


def test_every_id_of_an_eos_list_ends_a_row_by_hand():
    """METHOD-3, ENGINE-2: one order-0 member, r = (1/2, 1/4, 1/4), EOS ids {0, 2}, L = 2: a row stops at
    0 or 2; only 1 continues. So P(0) = 1/2, P(2) = 1/4, P(1, x) = 1/4 r(x)."""
    toy = {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": 2,
           "ensemble": {"members": [{"name": "a", "order": 0, "probs": {"": ["1/2", "1/4", "1/4"]}}],
                        "combination": {"kind": "we", "weights": {"a": 1}}, "eos_token_id": [2, 0]},
           "method": {"name": "se", "gammas": {"a": 2}}}
    ensemble, method, length = load_toy(toy)
    want = {(0,): F(1, 2), (2,): F(1, 4), (1, 0): F(1, 8), (1, 1): F(1, 16), (1, 2): F(1, 16)}
    assert exact_ensemble_pmf(ensemble, length) == want
    assert exact_output_pmf(ensemble, method, length).pmf == want
    law = exact_law(VectorSampler(ensemble, method, length))
    assert law == pytest.approx({s: float(p) for s, p in want.items()}, abs=1e-15)
    assert generate(ensemble, method, length, uniforms=[0.9, 0.99, 0.5]).tokens == [2]  # u = 0.9 draws 2


def test_with_one_id_of_the_list_missing_the_law_differs():
    """Negative control for METHOD-3: stopping at id 2 only (not 0) changes the law of the same toy."""
    both = toy_ensemble(2, 3, eos_token_id=[0, 2], seed=2)
    assert exact_ensemble_pmf(both, 3) != exact_ensemble_pmf(both.with_(eos_token_id=2), 3)


def test_specens_check_reads_samples_ending_at_any_id_of_the_list():
    """ORACLE-7, METHOD-3: with EOS ids (0, 2) a sample may end early at 0 or at 2, and nothing may follow either."""
    from specens._cli_check import BadLine, parse_line

    read = dict(vocab_size=3, eos=(0, 2), length=3, limit=3)
    assert parse_line("[2]", 1, **read) == [2] and parse_line("[1, 0]", 2, **read) == [1, 0]
    with pytest.raises(BadLine, match="follow the end-of-sequence token 0"):
        parse_line("[1, 0, 1]", 3, **read)
    with pytest.raises(BadLine, match="token 0 or 2"):
        parse_line("[1]", 4, **read)
