"""specens' torch processors against transformers' own, on rows a tiny transformers model scored in one call.

One call scores a block of K tokens, so its K rows have K different prefixes (row j after
prompt + block[:j]). specens processes all K rows at once, each with its own prefix; transformers'
processor is called once per row with that row's input_ids. The results must be equal bit for bit
(`torch.equal`): the same float operations in the same order, no tolerance.
"""

import pytest
import torch
from transformers import (MinNewTokensLengthLogitsProcessor, MinPLogitsWarper, NoBadWordsLogitsProcessor,
                          NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor)

from specens.coupling import tiny_causal_lm
from specens.processors import (bad_words_mask, min_new_tokens_mask, min_p_filter, no_repeat_ngram_mask,
                                repetition_penalty, token_counts)

torch.set_num_threads(1)
VOCAB = 11
PROMPT = [3, 1, 4, 1, 5]
BLOCK = [9, 2, 6, 5, 3, 5, 1, 4, 1, 8]  # repeats tokens and bigrams of the prompt and of itself


def scored_block(dtype):
    """(ids (L,), ends (K,), rows (K, V)): the model's rows after prompt + BLOCK[:j], j = 0..K-1, from one call."""
    model = tiny_causal_lm("llama", VOCAB, seed=5, dtype=dtype)
    ids = torch.tensor(PROMPT + BLOCK)
    with torch.no_grad():
        logits = model(input_ids=ids[None]).logits[0]  # (L, V)
    ends = torch.arange(len(PROMPT), len(PROMPT) + len(BLOCK))  # row j is conditioned on ids[:P + j]
    return ids, ends, logits[ends - 1]


def per_row(processor, ids, ends, rows):
    """transformers' processor called once per row with that row's own input_ids (1, end)."""
    return torch.cat([processor(ids[None, :end], row[None].clone()) for end, row in zip(ends.tolist(), rows)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("penalty", [1.3, 0.7, 2.0])
def test_repetition_penalty_equals_transformers_on_every_row_of_a_block(dtype, penalty):
    """PROC-1: the prompt counts, as in transformers; each row penalises only the tokens of its own prefix."""
    ids, ends, rows = scored_block(dtype)
    seen = token_counts(ids, ends, VOCAB) > 0
    ours = repetition_penalty(rows, seen, penalty)
    theirs = per_row(RepetitionPenaltyLogitsProcessor(penalty), ids, ends, rows)
    assert torch.equal(ours, theirs)
    one_prefix = repetition_penalty(rows, seen[-1:].expand_as(seen), penalty)  # every row with the last prefix
    assert not torch.equal(one_prefix, theirs)  # the defect of applying one call's prefix to all its rows shows


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_no_repeat_ngram_size_equals_transformers_on_every_row_of_a_block(n):
    """PROC-1: bans computed per row from that row's own prefix, prompt included."""
    ids, ends, rows = scored_block(torch.float32)
    ours = rows.masked_fill(no_repeat_ngram_mask(ids, ends, n, VOCAB), float("-inf"))
    theirs = per_row(NoRepeatNGramLogitsProcessor(n), ids, ends, rows)
    assert torch.equal(ours, theirs)
    assert torch.isneginf(ours).any()  # the block repeats n-grams, so something is banned


@pytest.mark.parametrize("minimum", [0, 1, 3, 9, 20])
def test_min_new_tokens_equals_transformers_on_every_row_of_a_block(minimum):
    """PROC-1: EOS ruled out while fewer than min_new_tokens tokens follow the prompt, counted per row."""
    ids, ends, rows = scored_block(torch.float32)
    eos = [2, 7]
    ours = rows.masked_fill(min_new_tokens_mask(ends, len(PROMPT), minimum, eos, VOCAB), float("-inf"))
    theirs = per_row(MinNewTokensLengthLogitsProcessor(len(PROMPT), minimum, eos), ids, ends, rows)
    assert torch.equal(ours, theirs)


def test_bad_words_equal_transformers_on_every_row_of_a_block():
    """PROC-1: a one-token bad word is banned everywhere, a longer one only after its head."""
    ids, ends, rows = scored_block(torch.float32)
    bad = [[8], [5, 3], [1, 4, 1], [6, 6]]
    ours = rows.masked_fill(bad_words_mask(ids, ends, bad, VOCAB), float("-inf"))
    theirs = per_row(NoBadWordsLogitsProcessor(bad), ids, ends, rows)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("min_p", [0.05, 0.3, 0.9])
def test_min_p_equals_transformers(min_p):
    """PROC-1: min-p on the (transformed) logits, one token always kept."""
    _, _, rows = scored_block(torch.float32)
    assert torch.equal(min_p_filter(rows, min_p), MinPLogitsWarper(min_p)(None, rows.clone()))


def test_token_counts_count_each_row_prefix_from_the_start_given():
    """PROC-1: counts of ids[start:end] per row, worked by hand."""
    ids, ends = torch.tensor([1, 2, 2, 0]), torch.tensor([2, 4, 3])
    assert token_counts(ids, ends, 3).tolist() == [[0, 1, 1], [1, 1, 2], [0, 1, 2]]
    assert token_counts(ids, ends, 3, start=2).tolist() == [[0, 0, 0], [1, 0, 1], [0, 0, 1]]
