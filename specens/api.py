"""The public fast-path API: `Ensemble`, `generate`, and what a run returns (spec/11-fast-path.md).

    >>> ensemble = Ensemble([Member(small, name="s", cost="1/4"), Member(large, name="l")],  # doctest: +SKIP
    ...                     WeightedEnsemble({"s": "1/2", "l": "1/2"}), tokenizer=tokenizer)
    >>> out = generate(ensemble, "def f(", method=SpeculativeEnsemble({"s": 3, "l": 1}),   # doctest: +SKIP
    ...                max_new_tokens=32, seed=0)
    >>> out.text, out.stats.alpha                                                            # doctest: +SKIP

Combinations, modes, sampling settings and methods are the reference's own config objects, so one
ensemble description drives both the NumPy reference and the fast path.
"""

from __future__ import annotations

import copy
import numbers
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Sequence

import torch

from specens._inputs import AUTO, is_integer, positive_int, prompt_rows, thread_count, torch_threads, uniform_streams
from specens.distributions import Combiner
from specens.members import Member, resolve_device  # noqa: F401  (resolve_device: part of this module's API)
from specens.processors import ProcessorChain, StopStrings
from specens.reference.combine import CustomCombination, WeightedEnsemble, check_mode
from specens.reference.methods import (MixtureEnsemble, NaiveSE, SpeculativeEnsemble, SpeculativeMixture,
                                       StandardEnsemble, dispatch)
from specens.reference.processors import NO_PROCESSORS, Processors
from specens.reference.toy import MemberLookup  # names, member(name), cheapest(): what method.check reads
from specens.reference.toy import eos_ids, stop_sequences as checked_stop_sequences
from specens.reference.transforms import Sampling
from specens.state import PHASES, Run

METHODS = (StandardEnsemble, NaiveSE, SpeculativeEnsemble, MixtureEnsemble, SpeculativeMixture)
DTYPES = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32,
          torch.float64: torch.float64}


def default_method(names: Sequence[str]) -> SpeculativeEnsemble:
    """The method `generate()` and `specens generate` use when none is given: SE with gamma 1 for every
    member, the cheapest member drafting first (SE-1). For members a, b: SpeculativeEnsemble({"a": 1, "b": 1})."""
    return SpeculativeEnsemble({name: 1 for name in names})


def _vocabulary(tokenizer) -> dict:
    return tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}


def _ids(value) -> list:
    """An id or a list of ids (as generation configs and tokenizers write them) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, numbers.Integral) else list(value)


def configured_eos(members, tokenizer, vocab_size: int) -> tuple[int, ...]:
    """EOS ids an ensemble with a tokenizer stops at by default (FAST-6, METHOD-3): every id the members'
    generation configs and the tokenizer name as end of sequence, in [0, V).

    Without a tokenizer (token ids in, token ids out) there is none: a random model's default
    config names an EOS id nobody chose. Example: configs naming 5 and [0, 5], a tokenizer naming 7,
    V = 6: (0, 5).
    """
    if tokenizer is None:
        return ()
    ids = []
    for m in members:
        ids += _ids(getattr(getattr(m.model, "generation_config", None), "eos_token_id", None))
    ids += _ids(getattr(tokenizer, "eos_token_id", None))
    return eos_ids([t for t in ids if 0 <= t < vocab_size], vocab_size=vocab_size)


class Ensemble(MemberLookup):
    """Members, a combination keyed by member name, a mode and sampling settings. COMBINE-1, FAST-1, FAST-2.

    Args:
        members: `Member`s (a bare model is wrapped and named m0, m1, ... by position).
        combination: `WeightedEnsemble`, `ContrastiveDecoding`, `LinearLogits`, `CustomCombination`,
            or a callable of {name: vector} (made a `CustomCombination`); default: equal weights.
            A custom function receives torch tensors (V,) here (the reference passes tuples of
            Fractions or NumPy arrays): written elementwise, one function serves both.
        mode: 'probs', 'logits' or 'raw-logits' (default: 'probs' for WE, 'raw-logits' otherwise).
        sampling: `Sampling(temperature, top_k, top_p)`; temperature 0 is greedy.
        eos_token_id: the end-of-sequence ids E (METHOD-3): a row stops right after emitting any of
            them. An id or a list of ids; None or []: never stop early; 'auto' (default): the ids
            the members' generation configs and the tokenizer name (none without a tokenizer).
            Stored as a sorted tuple, as the reference does: `ensemble.eos_token_id == (0,)`.
        tokenizer: the shared tokenizer (for text prompts and for FAST-1's vocabulary size).
        vocab_size: the shared vocabulary size V, when no tokenizer says it (FAST-1).
        device: where r is formed and verified (default: where the first member's logits appear).
        dtype: 'float32' (default) or 'float64' for combination and verification (FAST-2).
        drafter: an outside drafter (METHOD-5): a `Member` (or a bare model, named 'drafter') sharing
            the tokenizer but not in the combination. `NaiveSE(proposer=its name)` and
            `SpeculativeMixture` propose from it; it never enters r, and its calls cost its `cost`.
        processors: `Processors(repetition_penalty=..., ...)` (specens.reference.processors, PROC-1),
            applied where temperature is (PROC-10), each row with its own prefix (PROC-12).
        stop_sequences: token-id sequences that end a row once its emitted tokens end with one (STOP-2).
        logits_processor: a `transformers.LogitsProcessorList` (or a list of such processors) whose
            processors are functions of the prefix: each is called once per row with
            `input_ids` (1, prompt + generated tokens before that row's position) and `scores` (1, V),
            after the built-in processors and before temperature, where they apply (PROC-10). A
            processor that keeps state between calls (counting its calls, say) is not a function of
            the prefix, and speculation would change its output law.
    """

    def __init__(self, members: Sequence, combination=None, *, mode: str | None = None,
                 sampling: Sampling = Sampling(), eos_token_id=AUTO, tokenizer=None,
                 vocab_size: int | None = None, device=None, dtype="float32", drafter=None,
                 processors: Processors = NO_PROCESSORS, stop_sequences=(), logits_processor=None):
        members = tuple(m if isinstance(m, Member) else Member(m, name=f"m{i}") for i, m in enumerate(members))
        if not members:
            raise ValueError("members: an ensemble needs at least one member")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"members: names must be unique, got {names}; pass name= to each Member")
        if drafter is not None and not isinstance(drafter, Member):
            drafter = Member(drafter, name="drafter")
        if drafter is not None and drafter.name in names:
            raise ValueError(f"drafter: its name {drafter.name!r} is a member's; an outside drafter is not in the "
                             "combination, so give it another name= (or propose from that member instead)")
        self.drafter = drafter  # METHOD-5
        if combination is None:
            combination = WeightedEnsemble({k: Fraction(1, len(names)) for k in names})
        elif callable(combination) and not hasattr(combination, "members"):
            combination = CustomCombination(combination, members=tuple(names))
        if set(getattr(combination, "members", ())) != set(names):
            raise ValueError(f"combination: names members {sorted(getattr(combination, 'members', ()))} but the "
                             f"ensemble has {sorted(names)}; key the combination by exactly the members' names")
        if not isinstance(sampling, Sampling):
            raise ValueError("sampling: must be a specens Sampling(temperature=..., top_k=..., top_p=...)")
        if dtype not in DTYPES:
            raise ValueError(f"dtype: the combination runs in 'float32' or 'float64', got {dtype!r}")
        self.members, self.combination, self.sampling = members, combination, sampling
        self.mode = check_mode(mode or ("probs" if isinstance(combination, WeightedEnsemble) else "raw-logits"))
        self.tokenizer = tokenizer or next((m.tokenizer for m in members if m.tokenizer is not None), None)
        self.vocab_size = self._align_vocabulary(vocab_size)
        self.eos_token_id = self._eos(eos_token_id)
        self.device = resolve_device(device) if device is not None else members[0].output_device
        self.dtype = DTYPES[dtype]
        self.stop_sequences = checked_stop_sequences(stop_sequences, vocab_size=self.vocab_size)  # STOP-2
        self._set_sampling(sampling, processors, logits_processor)

    def _set_sampling(self, sampling: Sampling, processors, logits_processor):
        """Sampling, PROC-1's settings (checked against V and E) and the user's processors (as a tuple of
        callables), with the processor chain and the combiner built from them."""
        if not isinstance(processors, Processors):
            raise ValueError(f"processors: must be a specens Processors(repetition_penalty=..., ...), "
                             f"got {processors!r}")
        processors.check(self.vocab_size, self.eos_token_id)
        if logits_processor is None:
            logits_processor = ()
        elif callable(logits_processor) and not isinstance(logits_processor, (list, tuple)):
            logits_processor = [logits_processor]
        if not isinstance(logits_processor, (list, tuple)) or not all(callable(p) for p in logits_processor):
            raise ValueError(f"logits_processor: a transformers.LogitsProcessorList, or a list of processors "
                             f"called as processor(input_ids, scores), got {logits_processor!r}")
        self.sampling, self.processors, self.logits_processor = sampling, processors, tuple(logits_processor)
        self.chain = ProcessorChain(processors, vocab_size=self.vocab_size, eos=self.eos_token_id,
                                    device=self.device, logits_processor=self.logits_processor)
        self.combiner = Combiner(self.combination, self.names, self.mode, sampling, device=self.device,
                                 dtype=self.dtype, min_p=self.chain.min_p)

    def _eos(self, eos_token_id) -> tuple[int, ...]:
        """E as the reference stores it: a sorted tuple of distinct ids in [0, V). METHOD-3."""
        if isinstance(eos_token_id, str):
            if eos_token_id != AUTO:
                raise ValueError(f"eos_token_id: a token id, a list of them, None (never stop early) or {AUTO!r}, "
                                 f"got {eos_token_id!r}")
            return configured_eos(self.members, self.tokenizer, self.vocab_size)
        return eos_ids(eos_token_id, vocab_size=self.vocab_size)

    def with_sampling(self, sampling: Sampling, processors: Processors | None = None,
                      logits_processor=None) -> "Ensemble":
        """The same members, combination and mode under other sampling settings, processor settings
        (None: the same) and user processors (None: the same); the members are shared."""
        processors = self.processors if processors is None else processors
        logits_processor = self.logits_processor if logits_processor is None else logits_processor
        if sampling == self.sampling and processors == self.processors and logits_processor is self.logits_processor:
            return self
        other = copy.copy(self)
        other._set_sampling(sampling, processors, logits_processor)
        return other

    def _align_vocabulary(self, vocab_size: int | None) -> int:
        """V: the tokenizer's size; padded logit columns beyond it are dropped. FAST-1.

        Members whose tokenizers have different vocabularies are refused. Without any tokenizer
        or `vocab_size`, members must have equal logit widths.
        """
        owners = [(None, self.tokenizer)] + [(m, m.tokenizer) for m in self.models]
        owners = [(m, t) for m, t in owners if t is not None]
        tokenizers = [t for _, t in owners]
        reference = _vocabulary(tokenizers[0]) if tokenizers else None
        for owner, t in owners[1:]:
            if _vocabulary(t) != reference or len(t) != len(tokenizers[0]):
                if owner is not None and owner is self.drafter:
                    raise ValueError(f"drafter: {owner.name!r} uses another tokenizer than the members (a different "
                                     "vocabulary); an outside drafter must share theirs (METHOD-5), so pick one of "
                                     "their model family")
                raise ValueError("tokenizer: the members use different tokenizers (different vocabularies); an "
                                 "ensemble needs one shared tokenizer, so pick members of one model family")
        widths = {m.name: m.logit_width for m in self.models}
        if vocab_size is None and tokenizers:
            vocab_size = len(tokenizers[0])
        if vocab_size is None:
            if len(set(widths.values())) != 1:
                raise ValueError(f"vocab_size: the members' logit widths differ {widths}; pass the shared tokenizer "
                                 "(tokenizer=...) or vocab_size=... so padded columns can be dropped")
            vocab_size = next(iter(widths.values()))
        vocab_size = positive_int(vocab_size, "vocab_size")
        short = {k: w for k, w in widths.items() if w < vocab_size}
        if short:
            who = "models (members and the outside drafter)" if self.drafter is not None else "members"  # METHOD-5
            raise ValueError(f"vocab_size: {who} {short} produce fewer logits than the vocabulary's {vocab_size} "
                             "tokens; they do not share this tokenizer")
        return vocab_size

    def __repr__(self) -> str:
        drafter = f", drafter={self.drafter!r}" if self.drafter is not None else ""
        return (f"Ensemble({list(self.members)}, {self.combination!r}, mode={self.mode!r}, V={self.vocab_size}, "
                f"{self.dtype} on {self.device}{drafter})")


@dataclass
class Statistics:
    """What one row cost and how proposals fared. Per member: calls (prefill included), generated tokens
    fed, tokens proposed, verified and accepted as proposer; seconds per phase (prefill; propose: the
    proposer's calls and draws; score: every other call; verify: forming r, accept tests, direct draws).
    On CUDA, phase times are host times: a kernel's time can show up in the next phase that syncs."""

    emitted: int = 0
    prompt_tokens: int = 0
    cost: Fraction = Fraction(0)
    calls: dict = field(default_factory=dict)
    tokens_fed: dict = field(default_factory=dict)
    proposed: dict = field(default_factory=dict)
    verified: dict = field(default_factory=dict)
    accepted: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    threads: int = 0  # torch's thread count during the run

    @property
    def alpha(self) -> dict:
        """Acceptance rate per proposing member (per direction): accepted / verified; None if none verified."""
        return {k: (self.accepted.get(k, 0) / v if v else None) for k, v in self.verified.items()}

    @property
    def tokens_per_call(self) -> float | None:
        """Emitted tokens per member call after prefill; None when no call followed the prefill (a row that
        ended on its first token, which the prefill's output gave)."""
        calls = sum(self.calls.values()) - len(self.calls)
        return self.emitted / calls if calls else None

    @property
    def tokens_per_member_call(self) -> dict:
        """Emitted tokens per call of each member after prefill; None for a member called only to prefill."""
        return {k: (self.emitted / (c - 1) if c > 1 else None) for k, c in self.calls.items()}

    @property
    def tokens_per_second(self) -> float:
        total = self.seconds.get("wall", 0.0)
        return self.emitted / total if total else float("inf")

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("emitted", "prompt_tokens", "calls", "tokens_fed", "proposed",
                                               "verified", "accepted", "seconds", "threads")}
        out.update(cost=str(self.cost), alpha=self.alpha, tokens_per_call=self.tokens_per_call,
                   tokens_per_member_call=self.tokens_per_member_call, tokens_per_second=self.tokens_per_second)
        return out


@dataclass
class Generation:
    """One row's result: tokens (a final EOS included), the prompt's ids as fed (`prompt_ids`: a text
    encoded, chat messages in the chat template), text (with a tokenizer; the tokens decoded without
    the final EOS, whose stop `stop_reason` reports; cut right after a stop string, STOP-3), why it stopped
    ('eos', 'stop_sequence', 'stop_string' or 'max_new_tokens'; METHOD-3, STOP-1..3), statistics, and on
    request the trace (TRACE-1) and the outcome of every choice point in order (`decisions`, for
    coupling checks)."""

    tokens: list
    stats: Statistics
    text: str | None = None
    stop_reason: str = "max_new_tokens"
    trace: list | None = None
    decisions: list | None = None
    uniforms_used: int = 0
    prompt_ids: list | None = None  # the prompt as fed: the tokenizer's ids of a text, a chat put in its template

    @property
    def cost(self) -> Fraction:
        return self.stats.cost

    @property
    def calls(self) -> dict:
        return self.stats.calls


def generate(ensemble: Ensemble, prompts, *, max_new_tokens: int, method=None, seed=None, uniforms=None,
             temperature=None, top_k=None, top_p=None, repetition_penalty=None, presence_penalty=None,
             frequency_penalty=None, no_repeat_ngram_size=None, min_new_tokens=None, logit_bias=None,
             bad_words_ids=None, min_p=None, logits_processor=None, stop_strings=None, streamer=None,
             trace: bool = False, threads=AUTO):
    """Sample from the ensemble with `method`, consuming each row's uniforms in spec order. RNG-1, FAST-4, FAST-5.

    Args:
        prompts: text, a list of token ids, a 1-D integer tensor / NumPy array, or chat messages
            ([{"role": "user", "content": "..."}], put in the tokenizer's chat template with the
            assistant's turn opened, as transformers' text-generation pipeline does) for one row; or a
            list of them / a 2-D tensor (a batch). Ids must be integers in [0, V).
        max_new_tokens: the most tokens a row emits (METHOD-3).
        method: `SpeculativeEnsemble(gammas, default_proposer, confidence_threshold)` (default: gamma 1
            for every member, see `default_method`), `StandardEnsemble()`, `NaiveSE(gamma, proposer,
            confidence_threshold)` (proposer may be the ensemble's outside drafter: plain speculative
            decoding, NAIVE-5), `MixtureEnsemble()` or `SpeculativeMixture(gamma, drafter)` (WE in mode
            'probs' only, SMIX-1). confidence_threshold (METHOD-6) ends a proposal after a token its
            proposer gave less, the gammas becoming upper bounds.
        seed: a non-negative int (row b uses seed + b) or one per row (equal seeds give equal rows),
            required even at temperature 0 (there SE, naive SE and the standard ensemble give the same
            tokens whatever the seed; the mixture ensemble still draws its member); or
        uniforms: floats in [0, 1) or a `UniformStream` (one per row for a batch).
        temperature, top_k, top_p: this call's sampling settings, in place of the ensemble's
            `Sampling` fields (None keeps the ensemble's); same meaning as in `Sampling`.
        repetition_penalty, presence_penalty, frequency_penalty, no_repeat_ngram_size, min_new_tokens,
            logit_bias ({token id: bias}), bad_words_ids ([[ids], ...]), min_p: this call's processor
            settings in place of the ensemble's `Processors` fields (None keeps the ensemble's);
            same meaning as in `Processors` (PROC-1..8). logits_processor: in place of the ensemble's
            (see `Ensemble`). min_new_tokens must not exceed max_new_tokens.
        stop_strings: a string or a list of them (STOP-3): a row stops right after the token whose
            decoding completes one, and its `text` is cut right after it; needs a tokenizer.
        streamer: receives tokens as they are emitted, as `transformers` streamers do
            (`TextStreamer(tokenizer, skip_special_tokens=True)` prints the completion without the
            EOS token's text; `TextIteratorStreamer`): `put(prompt ids (1, L))` once, `put(token (1,))`
            per emitted token, `end()` when the row stops. A single prompt only.
        trace: also return the trace in the reference's shape (TRACE-1) and the decisions.
        threads: torch's thread count during this call, restored afterwards. 'auto' (default, as
            `specens generate`): 1 when every member is on the CPU with under 1B parameters and
            OMP_NUM_THREADS is unset, where more threads only wait on each other; else torch's own.
            An int sets it (at most 4 per CPU core); None leaves torch alone.
    seed, max_new_tokens, top_k, threads and prompt ids may be NumPy integers. Returns: a `Generation` for a single prompt, a list of them
    for a batch. Rows run one after another, each with fresh KV caches and its own stream.
    """
    max_new_tokens = positive_int(max_new_tokens, "max_new_tokens")
    method = default_method(ensemble.names) if method is None else method
    if not isinstance(method, METHODS):
        raise ValueError(f"method: expected SpeculativeEnsemble(...), StandardEnsemble(), NaiveSE(...), "
                         f"MixtureEnsemble() or SpeculativeMixture(...), got {method!r}")
    method = method.check(ensemble)
    top_k = int(top_k) if is_integer(top_k) else top_k
    overrides = {k: v for k, v in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p)) if v is not None}
    settings = dict(repetition_penalty=repetition_penalty, presence_penalty=presence_penalty,
                    frequency_penalty=frequency_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                    min_new_tokens=min_new_tokens, logit_bias=logit_bias, bad_words_ids=bad_words_ids, min_p=min_p)
    processors = replace(ensemble.processors, **{k: v for k, v in settings.items() if v is not None})  # PROC-1
    ensemble = ensemble.with_sampling(replace(ensemble.sampling, **overrides), processors, logits_processor)
    ensemble.processors.check(ensemble.vocab_size, ensemble.eos_token_id, max_new_tokens)
    stops = None if stop_strings is None else StopStrings(stop_strings, ensemble.tokenizer)  # STOP-3
    rows, single = prompt_rows(prompts, tokenizer=ensemble.tokenizer, vocab_size=ensemble.vocab_size)
    streams = uniform_streams(len(rows), single, seed, uniforms)
    if streamer is not None and not (callable(getattr(streamer, "put", None)) and callable(getattr(streamer, "end", None))):
        raise ValueError(f"streamer: needs put(ids) and end() methods, like transformers.TextStreamer; got {streamer!r}")
    if streamer is not None and not single:
        raise ValueError("streamer: streams one prompt at a time; give a single prompt or no streamer")
    for row in rows:
        _check_context(ensemble, row, max_new_tokens, method)
    on_emit = None if streamer is None else (lambda token: streamer.put(torch.tensor([token])))  # (1,) per token
    results = []
    with torch.inference_mode(), torch_threads(thread_count(threads, ensemble.models)):
        for row, stream in zip(rows, streams):
            start = time.perf_counter()
            if streamer is not None:
                streamer.put(torch.tensor([row]))  # (1, L): the prompt first, as transformers' generate does
            run = dispatch(Run(ensemble, row, stream, max_new_tokens, record_trace=trace, on_emit=on_emit,
                               stop_strings=stops), method)
            run.seconds["wall"] = time.perf_counter() - start
            if streamer is not None:
                streamer.end()
            results.append(_result(ensemble, run, trace))
    return results[0] if single else results


def _check_context(ensemble: Ensemble, row: list[int], max_new_tokens: int, method):
    """Refuse, before any call, a row that does not fit every member's context. FAST-5, FAST-3."""
    for m in ensemble.models:
        if m.max_length is not None and len(row) >= m.max_length:
            raise ValueError(f"prompts: a prompt of {len(row)} tokens leaves no room for a new token in the context "
                             f"of member {m.name!r} ({m.max_length} tokens); shorten it to {m.max_length - 1} tokens "
                             "or fewer")
        if m.max_length is not None and len(row) + max_new_tokens > m.max_length:
            raise ValueError(f"max_new_tokens: {max_new_tokens} new tokens after a prompt of {len(row)} tokens exceed "
                             f"the context of member {m.name!r} ({m.max_length} tokens); lower it to "
                             f"{m.max_length - len(row)} or shorten the prompt")
        if isinstance(method, (NaiveSE, SpeculativeEnsemble, SpeculativeMixture)):
            m.check_croppable(len(row) + max_new_tokens)


def stop_reason_of(ensemble: Ensemble, run: Run) -> str:
    """Why a row stopped: 'eos' (METHOD-3), 'stop_sequence' (STOP-2), 'stop_string' (STOP-3) or 'max_new_tokens'.

    An EOS id that also ends a stop sequence reports 'eos'; a stop string completed by the last token
    of a stop sequence reports 'stop_sequence'.
    """
    tokens = run.emitted
    if tokens and tokens[-1] in ensemble.eos_token_id:
        return "eos"
    if run.stopped(tokens):
        return "stop_sequence"
    if run.stopped_by_string:
        return "stop_string"
    return "max_new_tokens"


def _result(ensemble: Ensemble, run: Run, trace: bool) -> Generation:
    names = ensemble.names + tuple(k for k in run.members if k not in ensemble.names and run.calls[k])  # METHOD-5
    stats = Statistics(emitted=len(run.emitted), prompt_tokens=len(run.prompt), cost=run.cost,
                       calls={k: run.calls[k] for k in names}, tokens_fed={k: run.tokens_fed[k] for k in names},
                       proposed={k: run.proposed[k] for k in names}, verified={k: run.verified[k] for k in names},
                       accepted={k: run.accepted[k] for k in names},
                       seconds={k: run.seconds[k] for k in PHASES + ("wall",)}, threads=torch.get_num_threads())
    stop_reason = stop_reason_of(ensemble, run)
    shown = run.emitted[:-1] if stop_reason == "eos" else run.emitted  # .stop_reason says it; tokens keep the EOS
    text = ensemble.tokenizer.decode(shown) if ensemble.tokenizer is not None else None
    if stop_reason == "stop_string":
        text = text[: run.text_end]  # STOP-3: cut right after the stop string (shown is every emitted token)
    return Generation(tokens=list(run.emitted), stats=stats, text=text, stop_reason=stop_reason, trace=run.trace,
                      decisions=list(run.decisions) if trace else None, uniforms_used=len(run.stream.used),
                      prompt_ids=list(run.prompt))
