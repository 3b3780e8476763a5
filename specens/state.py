"""The fast path's run state: `reference/state.py` in torch, verb for verb (spec/05-methods.md).

The method functions themselves are the reference's (`reference.methods.dispatch` runs them on
this class), so only the verbs differ.

Same bookkeeping (emitted tokens, cached proposals, what each member has processed and which
positions it holds), same choice points in the same order (RNG-1) and the same trace events
(TRACE-1). The differences are the fast path's own rules: members are real causal LMs with KV
caches (FAST-3), their logits are aligned to the shared vocabulary and moved to one device and
dtype (FAST-1, FAST-2), and a member holds its actual output rows rather than a set of positions.

Logits processors (spec/15-processors.md) follow the prefix rule PROC-12: a row held for position i
is processed with the prefix prompt + seq[:i]. In modes 'probs' and 'logits' the processors act on
each member's row (PROC-10), so a call's whole block of rows is processed at once, each row with
its own prefix, and held processed; in mode 'raw-logits' they act on the combined row, so rows are
held raw and processed when r or a member's p_k is formed.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import torch

from specens._inputs import short_number
from specens.distributions import (EmptyDistribution, accept, member_probs, proposal_distribution, residual,
                                   sample, temperature_overflows)
from specens.reference.combine import ContrastiveDecoding
from specens.reference.rng import sample as exact_sample

PHASES = ("prefill", "propose", "score", "verify")


@dataclass
class Proposal:
    token: int
    proposer: str  # the member that drew it
    q: torch.Tensor  # (V,) exactly the distribution it was drawn from (VERIFY-1)


class Run:
    """One row of generation: state plus the verbs the methods are written in. METHOD-1..METHOD-4.

    Positions are 0-based indices into the generated tokens; `held[name][i]` is member `name`'s
    aligned logits row (V,) for position i, present only once a call of that member produced it.
    """

    def __init__(self, ensemble, prompt: list[int], stream, max_new_tokens: int, *, record_trace: bool = False,
                 on_emit=None, stop_strings=None):
        self.ensemble, self.prompt, self.stream, self.limit = ensemble, list(prompt), stream, max_new_tokens
        self.eos = frozenset(ensemble.eos_token_id)  # E of METHOD-3; empty: never stop early
        self.stop_sequences = [list(q) for q in ensemble.stop_sequences]  # STOP-2
        self.longest_stop = max([1] + [len(q) for q in self.stop_sequences])
        self.stop_strings = stop_strings  # a StopStrings (STOP-3) or None
        self.stopped_by_string, self.text_end = False, None  # text_end: where the text is cut (STOP-3)
        self.chain = ensemble.chain if ensemble.chain.active else None  # PROC-9 before temperature, or None
        self.min_p = ensemble.chain.min_p
        self.process_held = self.chain is not None and ensemble.mode != "raw-logits"  # PROC-10
        self.emptied: dict[tuple[str, int], str] = {}  # (member, position) -> the processor that emptied its row
        self.on_emit = on_emit  # called with each emitted token id, in order (a streamer's hook)
        self.names = ensemble.names
        self.members = {m.name: m for m in ensemble.models}  # the members, then an outside drafter (METHOD-5)
        self.ids = torch.arange(ensemble.vocab_size, device=ensemble.device)  # (V,)
        self.emitted: list[int] = []
        self.cache: list[Proposal] = []
        self.fed = {k: 0 for k in self.members}  # generated tokens each member has processed
        self.held: dict[str, dict[int, torch.Tensor]] = {k: {} for k in self.members}
        self.calls, self.tokens_fed = Counter(), Counter()
        self.proposed, self.verified, self.accepted = Counter(), Counter(), Counter()
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.trace: list[dict] | None = [] if record_trace else None
        self.decisions: list[tuple[str, object]] = []  # (kind, outcome) per choice point, in order
        self.step = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def seq(self) -> list[int]:
        return self.emitted + [p.token for p in self.cache]

    def tokens(self, start: int, end: int) -> list[int]:
        """seq[start:end] without copying the whole of seq."""
        n = len(self.emitted)
        if end <= n:
            return self.emitted[start:end]
        return self.emitted[start:] + [p.token for p in self.cache[max(start - n, 0): end - n]]

    def stopped(self, tokens: list[int]) -> bool:
        """Whether generated tokens end with an id in E or a stop sequence. METHOD-3, STOP-1, STOP-2."""
        if not tokens:
            return False
        if tokens[-1] in self.eos:
            return True
        return any(len(q) <= len(tokens) and tokens[-len(q):] == q for q in self.stop_sequences)

    @property
    def done(self) -> bool:
        """METHOD-3, STOP-4: stop at max_new_tokens, or right after an emitted id in E, a stop sequence
        (STOP-2) or the token that completes a stop string (STOP-3); checked after every emitted token."""
        return len(self.emitted) >= self.limit or self.stopped_by_string or self.stopped(self.emitted)

    def room(self) -> int:
        """How many more tokens may be cached (METHOD-3, STOP-2): none once seq ends with an id in E or a
        stop sequence, or at max_new_tokens."""
        end = len(self.emitted) + len(self.cache)
        if self.stopped(self.tokens(max(0, end - self.longest_stop), end)):
            return 0
        return self.limit - len(self.emitted) - len(self.cache)

    def held_count(self, name: str) -> int:
        """How many cached positions member `name` holds an output for (SE-3's scorer choice)."""
        start = len(self.emitted)
        return sum(1 for i in self.held[name] if start <= i < start + len(self.cache))

    def all_hold_head(self) -> bool:
        position = len(self.emitted)
        return bool(self.cache) and all(position in self.held[k] for k in self.names)

    def log(self, event: str, **fields):
        if self.trace is not None:
            self.trace.append({"step": self.step, "event": event, **fields})

    # -- choice points (RNG-1) ---------------------------------------------------------------
    def draw(self, dist: torch.Tensor) -> int:
        """One uniform, one inverse-CDF draw (RNG-2)."""
        x = sample(dist, next(self.stream), self.ids)
        self.decisions.append(("draw", x))
        return x

    # -- member calls (COST-1, FAST-3) ---------------------------------------------------------
    def _align(self, logits: torch.Tensor) -> torch.Tensor:
        """Drop padded logit columns and move to the combination's device and dtype. FAST-1, FAST-2."""
        return logits[..., : self.ensemble.vocab_size].to(device=self.ensemble.device, dtype=self.ensemble.dtype)

    def prefill(self, proposer: str | None = None):
        """Every member processes the prompt in one call and then holds position 0; so does `proposer`
        when it is the outside drafter (METHOD-5). METHOD-1."""
        start = time.perf_counter()
        drafter = getattr(self.ensemble, "drafter", None)
        outside = (drafter.name,) if drafter is not None and proposer == drafter.name else ()
        for name in self.names + outside:
            row = self.members[name].prefill(self.prompt)  # (W,)
            self._charge(name, "prefill", 0, 0)
            self.held[name][0] = self._hold(name, self._align(row).unsqueeze(0), 0)[0]
        self.seconds["prefill"] += time.perf_counter() - start

    def forward(self, name: str, upto: int | None = None, *, phase: str = "score"):
        """One call of `name` over exactly the tokens of seq it has not processed. COST-1, FAST-3."""
        upto = len(self.emitted) + len(self.cache) if upto is None else upto
        start = self.fed[name]
        assert start < upto, f"{name} has nothing new to process"
        begin = time.perf_counter()
        member = self.members[name]
        assert member.length == len(self.prompt) + start, f"{name}: KV cache out of step with fed"
        held, first = self.held[name], len(self.emitted)  # positions before len(emitted) are never read
        skip = max(0, first - start - 1)  # rows of a catch-up that no rule reads: the LM head skips them
        rows = self._align(member.feed(self.tokens(start, upto), keep=upto - start - skip))  # (K - skip, V)
        self._charge(name, "forward", start, upto)
        self.tokens_fed[name] += upto - start
        rows = self._hold(name, rows, start + 1 + skip)  # (K - skip, V): row j is for position start + 1 + skip + j
        for j in range(rows.shape[0]):
            held[start + 1 + skip + j] = rows[j]
        self.fed[name] = upto
        self.seconds[phase] += time.perf_counter() - begin

    # -- processors (spec/15-processors.md) ----------------------------------------------------
    def _history(self, end: int) -> torch.Tensor:
        """prompt + seq[:end] as token ids (P + end,) on the ensemble's device: the prefix of position end."""
        return torch.tensor(self.prompt + self.tokens(0, end), dtype=torch.long, device=self.ensemble.device)

    def _process(self, rows: torch.Tensor, first: int) -> torch.Tensor:
        """PROC-9's chain before temperature on rows (R, V) for positions first .. first + R - 1, each row with
        its own prefix prompt + seq[:position] (PROC-12), all rows in one vectorised call."""
        count = rows.shape[0]
        ends = len(self.prompt) + first + torch.arange(count, device=rows.device)  # (R,)
        return self.chain.process(rows, self._history(first + count - 1), ends, len(self.prompt))

    def _hold(self, name: str, rows: torch.Tensor, first: int) -> torch.Tensor:
        """What member `name` holds for positions first ..: its rows, processed in modes 'probs' and 'logits'
        (PROC-10); a row the processors leave empty is noted, to be named if it is ever drawn from (PROC-11)."""
        if not self.process_held or rows.shape[0] == 0:
            return rows
        out = self._process(rows, first)  # (R, V)
        for j in torch.nonzero(~torch.isfinite(out).any(dim=-1)).flatten().tolist():
            end = len(self.prompt) + first + j
            cause = self.chain.emptied_by(rows[j], self._history(first + j), end, len(self.prompt))
            if cause is not None:
                self.emptied[(name, first + j)] = cause
        return out

    def _charge(self, name: str, kind: str, start: int, end: int):
        self.calls[name] += 1
        if self.trace is not None:
            self.log("call", member=name, kind=kind, fed=[start, end], cost=str(self.members[name].cost))

    @property
    def cost(self) -> Fraction:
        """sum of c_k over all calls, prefill included (COST-2), exact."""
        return sum((self.members[k].cost * n for k, n in self.calls.items()), Fraction(0))

    # -- distributions ----------------------------------------------------------------------
    def proposal(self, name: str, position: int, *, before_greedy: bool = False) -> torch.Tensor:
        """p_k at `position`, from the row member `name` holds there, after its own processors. TRANSFORM-6, PROC-10.
        before_greedy: the transformed distribution whose argmax T = 0 takes (METHOD-6 reads it), (V,)."""
        assert position in self.held[name], f"{name} never computed position {position}"
        row = self.held[name][position]  # (V,)
        if self.chain is not None and not self.process_held:  # raw-logits: p_k is still the member's own chain
            row = self._process(row.unsqueeze(0), position)[0]
        if before_greedy:
            return member_probs(row, self.ensemble.sampling, self.min_p)
        return proposal_distribution(row, self.ensemble.sampling, self.min_p)

    def target(self, position: int) -> torch.Tensor:
        """r at `position` from every member's row there, combined by name; processors per mode. COMBINE-7, PROC-10."""
        rows = []
        for name in self.names:
            assert position in self.held[name], f"{name} never computed position {position}"
            rows.append(self.held[name][position])
        process = None
        if self.chain is not None and not self.process_held:  # raw-logits: once, on the combined row (PROC-10)
            process = lambda combined: self._process(combined, position)  # noqa: E731
        return self.ensemble.combiner.target(torch.stack(rows), process)  # (N, V) -> (V,)

    def explain_empty(self, position: int, names) -> ValueError:
        """Name the cause of a distribution with nothing to sample: a member's row (TRANSFORM-1), a
        combination or a temperature beyond floating point (COMBINE-5, TRANSFORM-2), or COMBINE-6."""
        rows = [self.held[name][position] for name in names if position in self.held[name]]
        cause = self._emptied_by_processor(position, names)
        if cause is not None:
            return ValueError(f"{cause}: rules out every possible token at position {position} (PROC-11); "
                              f"relax {cause}")
        for name in names:
            row = self.held[name].get(position)
            if row is not None and bool(torch.isnan(row).any() or torch.isposinf(row).any()):
                return ValueError(f"member {name!r}: returned NaN or +inf logits at position {position}; "
                                  "check the model and its dtype (use -inf to rule a token out)")
            if row is not None and bool(torch.isneginf(row).all()):
                return ValueError(f"member {name!r}: every logit is -inf at position {position}; at least one token "
                                  "must be possible (TRANSFORM-1)")
        ensemble = self.ensemble
        if ensemble.mode == "raw-logits" and len(rows) == len(self.names) > 1:  # r transforms the combined row
            raw = ensemble.combiner.raw(torch.stack(rows))  # (V,)
            if bool(torch.isnan(raw).any() or torch.isposinf(raw).any()):
                argument, fix = (("mu", "a smaller mu") if isinstance(ensemble.combination, ContrastiveDecoding)
                                 else ("combination", "smaller coefficients"))
                return ValueError(f"{argument}: the combined logits overflow floating point (+inf or NaN) at position "
                                  f"{position}; use {fix}")
            rows = [raw]
        if any(temperature_overflows(row, ensemble.sampling) for row in rows):
            return ValueError(f"temperature: {short_number(ensemble.sampling.temperature)} is so small that logits / "
                              "temperature overflow float64; use temperature 0 (greedy decoding, which is what so "
                              "small a temperature amounts to) or a larger one")
        fixes = ["loosen top_k/top_p"]
        if 0 < ensemble.sampling.temperature < 1:
            fixes.append("raise the temperature (a small one leaves each member few possible tokens)")
        fixes.append("use mode 'raw-logits'" if ensemble.mode != "raw-logits" else "use another combination")
        return ValueError("combination: every token is ruled out (-inf) by some member, so r is empty (COMBINE-6); "
                          + ", ".join(fixes[:-1]) + " or " + fixes[-1])

    def _emptied_by_processor(self, position: int, names) -> str | None:
        """The processor that ruled out the last possible token of a distribution at `position`, if one did."""
        if self.chain is None:
            return None
        for name in names:
            if (name, position) in self.emptied:
                return self.emptied[(name, position)]
        if self.process_held:
            return None
        history, end = self._history(position), len(self.prompt) + position
        if len(names) == len(self.names) > 1:  # r: the combined raw row
            raw = self.ensemble.combiner.raw(torch.stack([self.held[k][position] for k in names]))
            return self.chain.emptied_by(raw, history, end, len(self.prompt))
        return next((c for c in (self.chain.emptied_by(self.held[k][position], history, end, len(self.prompt))
                                 for k in names if position in self.held[k]) if c), None)

    # -- the verbs the methods are written in -----------------------------------------------
    def emit(self, token: int, rule: str):
        position = len(self.emitted)
        self.log("emit", position=position, token=token, rule=rule)
        self.emitted.append(token)
        if self.stop_strings is not None and not self.stopped_by_string:  # STOP-3, after every token (STOP-4)
            self.text_end = self.stop_strings.find(self.emitted)
            self.stopped_by_string = self.text_end is not None
        for held in self.held.values():  # no rule reads a position before len(emitted) again
            held.pop(position, None)
        if self.on_emit is not None:
            self.on_emit(token)

    def sample_target(self, rule: str = "direct"):
        """Draw the next token straight from r and emit it (METHOD-2, STD-2)."""
        begin, position = time.perf_counter(), len(self.emitted)
        try:
            token = self.draw(self.target(position))
        except EmptyDistribution:
            raise self.explain_empty(position, self.names) from None
        self.emit(token, rule)
        self.seconds["verify"] += time.perf_counter() - begin

    def choose_member(self, weights) -> str:
        """Draw a member by its exact weight with the reference's exact sampler (RNG-2). MIX-2."""
        begin = time.perf_counter()
        index = exact_sample(weights, Fraction(next(self.stream)))
        self.decisions.append(("draw", index))
        self.seconds["verify"] += time.perf_counter() - begin
        return self.names[index]

    def sample_member(self, name: str):
        """Draw the next token from member `name`'s own p_k and emit it. MIX-2."""
        begin, position = time.perf_counter(), len(self.emitted)
        try:
            token = self.draw(self.proposal(name, position))
        except EmptyDistribution:
            raise self.explain_empty(position, [name]) from None
        self.emit(token, f"mixture:{name}")
        self.seconds["verify"] += time.perf_counter() - begin

    def confidence(self, name: str, position: int, q: torch.Tensor, token: int) -> float:
        """METHOD-6: the probability member `name` gave its drawn `token` at `position`: q(token) at T > 0; at
        T = 0 its transformed distribution's before greedy's one-hot (as `proposal`, without the argmax)."""
        if not self.ensemble.sampling.greedy:
            return float(q[token])
        return float(self.proposal(name, position, before_greedy=True)[token])

    def propose(self, name: str, count: int, *, bonus: bool = False, stop_below=None) -> bool:
        """`name` draws up to `count` tokens from its own p_k, one call before each draw it lacks. NAIVE-2, SE-2.
        stop_below: METHOD-6's threshold; the proposal ends right after a token whose confidence is below it,
        and then True is returned."""
        for _ in range(min(count, self.room())):
            position = len(self.emitted) + len(self.cache)
            if position not in self.held[name]:
                self.forward(name, phase="propose")
            begin = time.perf_counter()
            q = self.proposal(name, position)
            try:
                token = self.draw(q)
            except EmptyDistribution:
                raise self.explain_empty(position, [name]) from None
            self.cache.append(Proposal(token, name, q))
            self.proposed[name] += 1
            unsure = stop_below is not None and self.confidence(name, position, q, token) < stop_below
            self.log("propose", member=name, position=position, token=token, bonus=bonus,
                     **({"stopped": True} if unsure else {}))
            bonus = False
            self.seconds["propose"] += time.perf_counter() - begin
            if unsure:
                return True
            if self.room() == 0:
                break
        return False

    def verify_head(self, against: str | None = None) -> bool:
        """Verify the oldest cached token against r; emit it or its replacement. METHOD-4, VERIFY-3.

        `against`: a member name to verify against its p_k in the place of r (SMIX-3).
        One uniform for the accept test (RNG-3), one more for the residual draw after a rejection
        (VERIFY-2, VERIFY-4). Returns True when accepted.
        """
        begin = time.perf_counter()
        head, position = self.cache[0], len(self.emitted)
        r = self.target(position) if against is None else self.proposal(against, position)  # (V,)
        r_x, q_x = torch.stack((r[head.token], head.q[head.token])).tolist()
        accepted = accept(next(self.stream), q_x, r_x)  # a NaN r rejects, and its residual draw raises
        self.decisions.append(("accept", accepted))
        try:
            token = head.token if accepted else self.draw(residual(r, head.q))
        except EmptyDistribution:
            raise self.explain_empty(position, self.names if against is None else [against]) from None
        self.verified[head.proposer] += 1
        self.accepted[head.proposer] += accepted
        extra = {} if against is None else {"against": against}  # TRACE-1
        self.log("verify", position=position, token=head.token, proposer=head.proposer, ratio=r_x / q_x,
                 accepted=accepted, emitted=token, **extra)
        self.cache.pop(0)
        self.emit(token, "accepted" if accepted else "residual")
        if not accepted:
            self.reject(position)
        self.seconds["verify"] += time.perf_counter() - begin
        return accepted

    def reject(self, position: int):
        """Drop the cache and all held rows; crop every member that saw `position` back to it. METHOD-4, FAST-3."""
        self.cache.clear()
        self.emptied.clear()  # notes on rows that are dropped with them
        for name in self.members:  # the members and an outside drafter (METHOD-5)
            self.held[name].clear()
            if self.fed[name] > position:
                self.fed[name] = position
                self.members[name].crop(len(self.prompt) + position)
                self.log("crop", member=name, length=position)

    def holds_at(self, name: str, position: int) -> bool:
        """Whether `name` holds its output row at `position` (SMIX-3, SMIX-5)."""
        return position in self.held[name]

    def emit_head(self):
        """Emit the head of the cache as is: its proposer was the chosen member (SMIX-3 step 2)."""
        begin = time.perf_counter()
        head = self.cache.pop(0)
        self.emit(head.token, f"mixture:{head.proposer}")
        self.seconds["verify"] += time.perf_counter() - begin
