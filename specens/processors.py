"""Logits processors in torch, applied per row with that row's own prefix (spec/15-processors.md).

Rows that one member call scores have different prefixes: row j of a block of K is conditioned on
prompt + emitted + cache[:j]. So every function here takes the rows `(R, V)` together with one token
sequence `ids (L,)` (prompt + generated tokens) and the length `ends[r]` of the prefix row r was
computed after: row r's prefix is `ids[:ends[r]]`. Nothing is advanced per call or per step: each
row's processing is a pure function of its prefix (the prefix rule), which is what keeps
speculation exact with history-dependent processors.

Each function mirrors one reference function (`specens.reference.processors`) and the processor of
the library its definition comes from (transformers' `RepetitionPenaltyLogitsProcessor`,
`NoRepeatNGramLogitsProcessor`, `MinNewTokensLengthLogitsProcessor`, `NoBadWordsLogitsProcessor`,
`MinPLogitsWarper`; vLLM's presence, frequency and logit-bias arithmetic), with the same float
operations in the same order, so equal inputs give equal floats. Vectorised over rows and vocabulary:
no Python work per token id.

Shapes: `R` rows, `V` vocabulary, `L` prefix tokens.
"""

from __future__ import annotations

from typing import Sequence

import torch

NEG_INF = float("-inf")


# -- prefixes ----------------------------------------------------------------------------------
def token_counts(ids: torch.Tensor, ends: torch.Tensor, vocab_size: int, *, start: int = 0) -> torch.Tensor:
    """How often each token occurs in ids[start:ends[r]], per row: (R, V) int64.

    One bincount of the prefix all rows share, then the tokens only some rows see added per row.
    Args: ids (L,) token ids in [0, V); ends (R,) prefix lengths, each >= start. Returns (R, V).
    Example: ids (1, 2, 2), ends (2, 3), V = 3: rows (0, 1, 1) and (0, 1, 2); start = 1: (0, 0, 1), (0, 0, 2).
    """
    low, high = int(ends.min()), int(ends.max())
    base = torch.bincount(ids[start:low], minlength=vocab_size)  # (V,) the part every row shares
    counts = base.unsqueeze(0).repeat(ends.numel(), 1)  # (R, V)
    if high > low:
        extra = ids[low:high]  # (E,)
        seen = (low + torch.arange(high - low, device=ids.device)).unsqueeze(0) < ends.unsqueeze(1)  # (R, E)
        counts.scatter_add_(1, extra.unsqueeze(0).expand(ends.numel(), -1), seen.long())
    return counts


# -- penalties and bias (applied to logits) -----------------------------------------------------
def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Divide a seen token's positive logit by `penalty`, multiply a negative one (CTRL; transformers'
    RepetitionPenaltyLogitsProcessor, vLLM's repetition_penalty).

    Args: logits (R, V); seen (R, V) bool, the tokens of each row's counted prefix; penalty > 0.
    Returns (R, V). Example: penalty 2, logits (2, -1, 3), seen (1, 1, 0): (1, -2, 3).
    """
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def presence_frequency_penalty(logits: torch.Tensor, counts: torch.Tensor, presence: float,
                               frequency: float) -> torch.Tensor:
    """logits - frequency * count - presence * [count > 0] (OpenAI's and vLLM's definition).

    Args: logits (R, V); counts (R, V) occurrences in each row's counted prefix. Returns (R, V).
    Example: presence 1, frequency 1/2, logits (0, 0), counts (2, 0): (-2, 0).
    """
    out = logits
    if frequency:
        out = out - frequency * counts.to(logits.dtype)
    if presence:
        out = out - presence * (counts > 0).to(logits.dtype)
    return out


def logit_bias(logits: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """logits + bias, the bias a dense (V,) vector (0 for tokens not named). Example: (1, 2) + (0, -5) = (1, -3)."""
    return logits + bias.to(logits.dtype)


# -- bans (tokens set to -inf) --------------------------------------------------------------------
def _ban(logits: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(banned, NEG_INF)


def no_repeat_ngram_mask(ids: torch.Tensor, ends: torch.Tensor, n: int, vocab_size: int) -> torch.Tensor:
    """The tokens that would repeat an n-gram of each row's prefix: (R, V) bool (transformers'
    NoRepeatNGramLogitsProcessor; the prompt counts, as there).

    Token x is banned after prefix P (length e) when some window P[i:i+n] (i + n <= e) starts with the
    last n - 1 tokens of P and ends with x. A row with e < n bans nothing; n = 1 bans every token seen.
    Args: ids (L,); ends (R,); n >= 1. Returns (R, V).
    Example: n = 2, prefix (1, 2, 1): the bigram (1, 2) is there and the prefix ends with 1, so 2 is banned.
    """
    rows = ends.numel()
    banned = torch.zeros(rows, vocab_size + 1, dtype=torch.bool, device=ids.device)  # column V: nothing
    length = int(ends.max())
    if length < n:
        return banned[:, :vocab_size]
    windows = ids[:length].unfold(0, n, 1)  # (W, n): window i is ids[i:i+n]
    count = windows.shape[0]
    offsets = ends.unsqueeze(1) - (n - 1) + torch.arange(n - 1, device=ids.device)  # (R, n - 1)
    suffix = ids[offsets.clamp(min=0)]  # (R, n - 1): each row's last n - 1 tokens
    match = (windows[:, :-1].unsqueeze(0) == suffix.unsqueeze(1)).all(dim=-1)  # (R, W)
    inside = torch.arange(count, device=ids.device).unsqueeze(0) + n <= ends.unsqueeze(1)  # (R, W)
    match &= inside & (ends.unsqueeze(1) >= n)
    last = windows[:, -1].unsqueeze(0).expand(rows, -1)  # (R, W)
    banned.scatter_(1, torch.where(match, last, vocab_size), True)
    return banned[:, :vocab_size]


def bad_words_mask(ids: torch.Tensor, ends: torch.Tensor, bad_words_ids: Sequence[Sequence[int]],
                   vocab_size: int) -> torch.Tensor:
    """The tokens that would complete a banned sequence: (R, V) bool (transformers' NoBadWordsLogitsProcessor).

    A one-token sequence (x,) bans x everywhere; (a, ..., y, x) bans x after a prefix ending a, ..., y.
    Args: ids (L,); ends (R,); bad_words_ids: sequences of token ids in [0, V). Returns (R, V).
    Example: bad words ((3,), (1, 2)), prefix (0, 1): tokens 3 and 2 are banned.
    """
    rows = ends.numel()
    banned = torch.zeros(rows, vocab_size, dtype=torch.bool, device=ids.device)
    for word in bad_words_ids:
        head, last = list(word[:-1]), int(word[-1])
        if not head:
            banned[:, last] = True
            continue
        m = len(head)
        offsets = (ends.unsqueeze(1) - m + torch.arange(m, device=ids.device)).clamp(min=0)  # (R, m)
        pattern = torch.tensor(head, dtype=ids.dtype, device=ids.device)  # (m,)
        match = (ids[offsets] == pattern).all(dim=-1) & (ends >= m)  # (R,)
        banned[:, last] |= match
    return banned


def min_new_tokens_mask(ends: torch.Tensor, prompt_length: int, min_new_tokens: int, eos: Sequence[int],
                        vocab_size: int) -> torch.Tensor:
    """Every EOS id while fewer than `min_new_tokens` tokens follow the prompt: (R, V) bool (transformers'
    MinNewTokensLengthLogitsProcessor). Example: prompt 3, min 2, EOS (0,), ends (4, 5): bans id 0 in row 0 only."""
    banned = torch.zeros(ends.numel(), vocab_size, dtype=torch.bool, device=ends.device)
    if eos and min_new_tokens:
        early = (ends - prompt_length) < min_new_tokens  # (R,)
        banned[:, list(eos)] = early.unsqueeze(1)
    return banned


# -- min-p (applied to the transformed logits) --------------------------------------------------
def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Rule out tokens whose probability is below min_p times the top probability (transformers'
    MinPLogitsWarper with one token kept; vLLM's min_p).

    Args: logits (R, V) after temperature; min_p in [0, 1]. Returns (R, V).
    Example: min_p 1/2, probabilities (0.5, 0.3, 0.2): keeps tokens 0 and 1 (0.2 < 0.25).
    """
    probs = torch.softmax(logits, dim=-1)  # (R, V)
    threshold = min_p * probs.amax(dim=-1, keepdim=True)  # (R, 1)
    remove = probs < threshold
    remove.scatter_(-1, torch.argmax(probs, dim=-1, keepdim=True), False)  # the top token always stays
    return logits.masked_fill(remove, NEG_INF)
