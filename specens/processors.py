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
    out, unseen = logits, counts == 0  # an unseen token is left alone, even by a penalty beyond the dtype (0 * inf)
    if frequency:
        out = out - (frequency * counts.to(logits.dtype)).masked_fill(unseen, 0)
    if presence:
        out = out - (presence * (counts > 0).to(logits.dtype)).masked_fill(unseen, 0)
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


# -- the chain (PROC-9) ---------------------------------------------------------------------------
class ProcessorChain:
    """An ensemble's processor settings, ready for torch: PROC-9's chain up to temperature, per row.

    Built once per ensemble from the reference's `Processors` (PROC-1) and, optionally, a
    `transformers.LogitsProcessorList` of processors that are functions of the prefix. `process`
    applies, in PROC-9's order: logit_bias (PROC-6), repetition_penalty (PROC-2, prompt counted),
    frequency and presence penalties (PROC-3, generated tokens only), no_repeat_ngram_size (PROC-4,
    prompt counted), bad_words_ids (PROC-7), min_new_tokens (PROC-5); then the user's processors, each
    called once per row with `input_ids` (1, end) = that row's prefix, after every built-in one and
    before temperature. `min_p` (PROC-8) is a warper: it follows top-p inside the sampling transform
    (`specens.distributions.transform_logits`), not here.

    Args: processors: a `specens.reference.processors.Processors`; vocab_size: V; eos: the EOS ids;
        device: where the bias vector lives; logits_processor: a LogitsProcessorList or None.
    """

    STEPS = ("logit_bias", "repetition_penalty", "frequency_penalty/presence_penalty", "no_repeat_ngram_size",
             "bad_words_ids", "min_new_tokens", "logits_processor")

    def __init__(self, processors, *, vocab_size: int, eos: Sequence[int], device, logits_processor=None):
        self.settings, self.vocab_size, self.eos = processors, vocab_size, tuple(eos)
        self.logits_processor = list(logits_processor or ())
        self.bias = None
        if processors.logit_bias:
            bias = torch.zeros(vocab_size, dtype=torch.float64, device=device)  # (V,)
            ids = torch.tensor(list(processors.logit_bias), dtype=torch.long, device=device)
            bias[ids] = torch.tensor([float(b) for b in processors.logit_bias.values()], dtype=torch.float64,
                                     device=device)
            self.bias = bias
        self.penalty = float(processors.repetition_penalty)
        self.presence, self.frequency = float(processors.presence_penalty), float(processors.frequency_penalty)
        self.min_p = float(processors.min_p)

    @property
    def active(self) -> bool:
        """Whether `process` changes anything (the min-p warper aside)."""
        s = self.settings
        return bool(self.bias is not None or self.penalty != 1 or self.presence or self.frequency
                    or s.no_repeat_ngram_size or s.bad_words_ids or s.min_new_tokens or self.logits_processor)

    def steps(self, logits: torch.Tensor, ids: torch.Tensor, ends: torch.Tensor, prompt_length: int):
        """Yield (step name, rows after it) for each active step of PROC-9 before temperature."""
        s, vocab = self.settings, self.vocab_size
        if self.bias is not None:  # PROC-6
            logits = logit_bias(logits, self.bias)
            yield "logit_bias", logits
        if self.penalty != 1:  # PROC-2: the prompt counts
            logits = repetition_penalty(logits, token_counts(ids, ends, vocab) > 0, self.penalty)
            yield "repetition_penalty", logits
        if self.presence or self.frequency:  # PROC-3: generated tokens only
            counts = token_counts(ids, ends, vocab, start=prompt_length)
            logits = presence_frequency_penalty(logits, counts, self.presence, self.frequency)
            yield "frequency_penalty/presence_penalty", logits
        if s.no_repeat_ngram_size:  # PROC-4: the prompt counts
            logits = _ban(logits, no_repeat_ngram_mask(ids, ends, s.no_repeat_ngram_size, vocab))
            yield "no_repeat_ngram_size", logits
        if s.bad_words_ids:  # PROC-7
            logits = _ban(logits, bad_words_mask(ids, ends, s.bad_words_ids, vocab))
            yield "bad_words_ids", logits
        if s.min_new_tokens:  # PROC-5: counted from the end of the prompt
            logits = _ban(logits, min_new_tokens_mask(ends, prompt_length, s.min_new_tokens, self.eos, vocab))
            yield "min_new_tokens", logits
        if self.logits_processor:  # the user's, one call per row with that row's own prefix (PROC-12)
            rows = []
            for end, row in zip(ends.tolist(), logits):
                out = row.unsqueeze(0)  # (1, V)
                for processor in self.logits_processor:
                    out = processor(ids[None, :end], out)
                rows.append(out)
            logits = torch.cat(rows).to(logits.dtype)  # (R, V)
            yield "logits_processor", logits

    def process(self, logits: torch.Tensor, ids: torch.Tensor, ends: torch.Tensor, prompt_length: int) -> torch.Tensor:
        """PROC-9's chain before temperature on rows (R, V), row r after the prefix ids[:ends[r]]. PROC-12.

        Args: logits (R, V); ids (L,) prompt + generated tokens; ends (R,) each >= prompt_length.
        Returns (R, V), in the dtype of `logits`.
        """
        rows = logits
        for _, logits in self.steps(rows, ids, ends, prompt_length):
            pass
        if bool((torch.isnan(logits) | torch.isposinf(logits)).any()):  # PROC-11: name the step that overflowed
            self._raise_overflow(rows, ids, ends, prompt_length)
        return logits

    def _raise_overflow(self, rows: torch.Tensor, ids: torch.Tensor, ends: torch.Tensor, prompt_length: int):
        """Raise the ValueError of PROC-11 for the first step that made a logit +inf or NaN (a bias or a
        penalty beyond the range of the rows' dtype); rows that were already +inf or NaN are the
        member's own, and are left to the caller."""
        before = torch.isnan(rows) | torch.isposinf(rows)  # (R, V)
        if bool(before.any()):
            return
        for name, out in self.steps(rows, ids, ends, prompt_length):
            if bool((torch.isnan(out) | torch.isposinf(out)).any()):
                dtype = str(rows.dtype).replace("torch.", "")
                raise ValueError(f"{name}: makes a logit +inf or NaN in {dtype} (PROC-11); use a less extreme {name}"
                                 + (" or dtype float64" if rows.dtype != torch.float64 else ""))

    def emptied_by(self, row: torch.Tensor, ids: torch.Tensor, end: int, prompt_length: int) -> str | None:
        """The step that ruled out the last possible token of one row (V,), or None. PROC-11."""
        if not bool(torch.isfinite(row).any()):
            return None
        ends = torch.tensor([end], device=ids.device)
        for name, out in self.steps(row.unsqueeze(0), ids, ends, prompt_length):
            if not bool(torch.isfinite(out).any()):
                return name
        return None


# -- stop strings (STOP-3) ------------------------------------------------------------------------
class StopStrings:
    """Stop strings, checked on the decoded text of the emitted tokens. STOP-3 (fast path only).

    They never change a distribution: a row stops right after the token whose decoding completes a
    stop string (checked after every emitted token, STOP-4), and its text is cut right after that
    occurrence. A string the tokenizer cannot produce is refused: one that does not survive encoding
    and decoding, and holds a character that no decoded text holds (the decoding of the whole
    vocabulary in one sequence: every token's text and the separators the decoder puts between them).
    Args: strings: non-empty strings; tokenizer: the ensemble's tokenizer. Raises ValueError naming
    `argument` (`stop_strings`, or the CLI's `--stop`).
    Example: with a word-level tokenizer of words t0 .. t5, "t3 t4" is a stop string; "x" is refused.
    """

    def __init__(self, strings, tokenizer, *, argument: str = "stop_strings"):
        if isinstance(strings, str):
            strings = [strings]
        strings = list(strings)
        if not strings or any(not isinstance(s, str) or not s for s in strings):
            raise ValueError(f"{argument}: give non-empty strings, got {strings!r}")
        if tokenizer is None:
            raise ValueError(f"{argument}: stop strings are matched on decoded text and need a tokenizer; pass "
                             "tokenizer= to Ensemble, or use stop_sequences (token ids)")
        self.strings, self.tokenizer = tuple(strings), tokenizer
        alphabet = None
        for s in self.strings:
            if s in tokenizer.decode(tokenizer.encode(s, add_special_tokens=False)):
                continue
            if alphabet is None:  # every character a decoded text can hold: the tokens' and the decoder's own
                alphabet = set(tokenizer.decode(list(range(len(tokenizer)))))
            missing = sorted(set(s) - alphabet)
            if missing:
                raise ValueError(f"{argument}: the tokenizer cannot produce {s!r} (no decoded text holds "
                                 f"{missing[0]!r}); give a string its tokens can spell")

    def find(self, tokens: Sequence[int]) -> int | None:
        """Where the text of `tokens` is cut: right after the earliest-ending occurrence of a stop string,
        or None when none occurs. find(tokens of "a b stop c") == len("a b stop") for the string "stop"."""
        return cut(self.tokenizer.decode(list(tokens)), self.strings)


def cut(text: str, strings: Sequence[str]) -> int | None:
    """The end of the earliest-ending first occurrence of any of `strings` in `text`, or None. STOP-3.

    cut("a stop b", ["stop", "b"]) == 6; cut("abc", ["x"]) is None.
    """
    ends = [text.find(s) + len(s) for s in strings if s in text]
    return min(ends) if ends else None
