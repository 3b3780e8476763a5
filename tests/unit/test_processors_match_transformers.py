"""The reference processors agree with transformers' own LogitsProcessor classes on the same rows
(PROC-2, PROC-4, PROC-5, PROC-6, PROC-7, PROC-8, PROC-9): the definitions of spec/15 are theirs.

Rows are float64 logits with some -inf over V = 6, histories of 0 to 9 tokens; transformers runs in
float64 too, so the outputs must be equal entry for entry (the operations are the same IEEE ones).
The negative control: a repetition penalty that skips the prompt differs from transformers'.
"""

from fractions import Fraction as F

import numpy as np
import pytest

torch = pytest.importorskip("torch")
lp = pytest.importorskip("transformers.generation.logits_process")

from specens.reference import Scores  # noqa: E402
from specens.reference.processors import (  # noqa: E402
    Prefix,
    Processors,
    apply_bad_words,
    apply_logit_bias,
    apply_min_new_tokens,
    apply_min_p,
    apply_no_repeat_ngram,
    apply_repetition_penalty,
    process,
)

V = 6
RNG = np.random.default_rng(12)
ROWS = []
for _ in range(60):
    row = RNG.normal(0, 2, V)
    row[RNG.random(V) < 0.15] = -np.inf
    row[RNG.integers(V)] = RNG.normal()  # at least one possible token
    prompt = tuple(int(t) for t in RNG.integers(0, V, RNG.integers(1, 4)))
    generated = tuple(int(t) for t in RNG.integers(0, V, RNG.integers(0, 7)))
    ROWS.append((row, prompt, generated))


def theirs(processor, history, row):
    ids = torch.tensor([list(history)], dtype=torch.long)
    return processor(ids, torch.tensor(np.array([row]), dtype=torch.float64))[0].numpy()


def same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("penalty", [F(3, 2), F(2), F(1, 2)])
def test_repetition_penalty_matches_transformers(penalty):
    """PROC-2: RepetitionPenaltyLogitsProcessor over prompt + generated tokens."""
    p = lp.RepetitionPenaltyLogitsProcessor(float(penalty))
    for row, prompt, gen in ROWS:
        ours = apply_repetition_penalty(Scores(logits=row), penalty, prompt + gen).logits
        assert same(ours, theirs(p, prompt + gen, row)), (row, prompt, gen)


def test_a_repetition_penalty_that_skips_the_prompt_does_not_match_transformers():
    """Negative control for PROC-2: counting generated tokens only is another rule."""
    p = lp.RepetitionPenaltyLogitsProcessor(2.0)
    assert any(not same(apply_repetition_penalty(Scores(logits=row), F(2), gen).logits, theirs(p, prompt + gen, row))
               for row, prompt, gen in ROWS)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_matches_transformers(n):
    """PROC-4: NoRepeatNGramLogitsProcessor over prompt + generated tokens."""
    p = lp.NoRepeatNGramLogitsProcessor(n)
    for row, prompt, gen in ROWS:
        try:
            ours = apply_no_repeat_ngram(Scores(logits=row), n, prompt + gen).logits
        except ValueError:  # PROC-11: every token ruled out; transformers returns an all -inf row
            assert np.isneginf(theirs(p, prompt + gen, row)).all()
            continue
        assert same(ours, theirs(p, prompt + gen, row)), (prompt, gen)


def test_min_new_tokens_matches_transformers():
    """PROC-5: MinNewTokensLengthLogitsProcessor with the prompt skipped, EOS lists included."""
    for eos in ((0,), (2, 5)):
        for row, prompt, gen in ROWS:
            p = lp.MinNewTokensLengthLogitsProcessor(len(prompt), 3, list(eos))
            try:
                ours = apply_min_new_tokens(Scores(logits=row), 3, len(gen), eos).logits
            except ValueError:
                assert np.isneginf(theirs(p, prompt + gen, row)).all()
                continue
            assert same(ours, theirs(p, prompt + gen, row))


def test_logit_bias_matches_one_token_sequence_bias():
    """PROC-6: SequenceBiasLogitsProcessor with one-token sequences."""
    bias = {1: F(3, 2), 4: F(-2)}
    p = lp.SequenceBiasLogitsProcessor([[[t], float(b)] for t, b in bias.items()])
    for row, prompt, gen in ROWS:
        assert same(apply_logit_bias(Scores(logits=row), bias).logits, theirs(p, prompt + gen, row))


def test_bad_words_match_transformers():
    """PROC-7: NoBadWordsLogitsProcessor over prompt + generated tokens, one- and multi-token words."""
    words = ((3,), (1, 2), (0, 0, 4))
    p = lp.NoBadWordsLogitsProcessor([list(w) for w in words], eos_token_id=5)
    for row, prompt, gen in ROWS:
        try:
            ours = apply_bad_words(Scores(logits=row), words, prompt + gen).logits
        except ValueError:
            assert np.isneginf(theirs(p, prompt + gen, row)).all()
            continue
        assert same(ours, theirs(p, prompt + gen, row))


@pytest.mark.parametrize("min_p", [F(1, 10), F(1, 3), F(4, 5)])
def test_min_p_keeps_the_tokens_transformers_keeps(min_p):
    """PROC-8: MinPLogitsWarper; the same tokens survive (ours compares exact lifted probabilities,
    theirs float64 ones: a token within rounding of the cut could differ, none does on these rows)."""
    p = lp.MinPLogitsWarper(float(min_p))
    for row, prompt, gen in ROWS:
        ours = np.isneginf(apply_min_p(Scores(logits=row), min_p).logits)
        assert same(ours, np.isneginf(theirs(p, prompt + gen, row)))


def test_the_history_chain_matches_transformers_in_its_order():
    """PROC-9: sequence bias, repetition penalty, n-gram, bad words, min_new_tokens as transformers lists
    them in GenerationMixin._get_logits_processor."""
    settings = Processors(logit_bias={2: "1/2"}, repetition_penalty="3/2", no_repeat_ngram_size=3,
                          bad_words_ids=[[1, 2]], min_new_tokens=2)
    for row, prompt, gen in ROWS:
        chain = lp.LogitsProcessorList([
            lp.SequenceBiasLogitsProcessor([[[2], 0.5]]), lp.RepetitionPenaltyLogitsProcessor(1.5),
            lp.NoRepeatNGramLogitsProcessor(3), lp.NoBadWordsLogitsProcessor([[1, 2]], eos_token_id=0),
            lp.MinNewTokensLengthLogitsProcessor(len(prompt), 2, [0]),
        ])
        try:
            ours = process(Scores(logits=row), settings, Prefix(prompt, gen, (0,))).logits
        except ValueError:
            assert np.isneginf(theirs(chain, prompt + gen, row)).all()
            continue
        assert same(ours, theirs(chain, prompt + gen, row))
