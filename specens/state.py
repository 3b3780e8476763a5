"""The fast path's run state: `reference/state.py` in torch, verb for verb (spec/05-methods.md).

The method functions themselves are the reference's (`reference.methods.dispatch` runs them on
this class), so only the verbs differ.

Same bookkeeping (emitted tokens, cached proposals, what each member has processed and which
positions it holds), same choice points in the same order (RNG-1) and the same trace events
(TRACE-1). The differences are the fast path's own rules: members are real causal LMs with KV
caches (FAST-3), their logits are aligned to the shared vocabulary and moved to one device and
dtype (FAST-1, FAST-2), and a member holds its actual output rows rather than a set of positions.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import torch

from specens._inputs import short_number
from specens.distributions import (EmptyDistribution, accept, proposal_distribution, residual, sample,
                                   temperature_overflows)
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
                 on_emit=None):
        self.ensemble, self.prompt, self.stream, self.limit = ensemble, list(prompt), stream, max_new_tokens
        self.eos = frozenset(ensemble.eos_token_id)  # E of METHOD-3; empty: never stop early
        self.on_emit = on_emit  # called with each emitted token id, in order (a streamer's hook)
        self.names = ensemble.names
        self.members = {m.name: m for m in ensemble.members}
        self.ids = torch.arange(ensemble.vocab_size, device=ensemble.device)  # (V,)
        self.emitted: list[int] = []
        self.cache: list[Proposal] = []
        self.fed = {k: 0 for k in self.names}  # generated tokens each member has processed
        self.held: dict[str, dict[int, torch.Tensor]] = {k: {} for k in self.names}
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

    @property
    def done(self) -> bool:
        """METHOD-3: stop at max_new_tokens, or right after an emitted id in E."""
        return len(self.emitted) >= self.limit or (bool(self.emitted) and self.emitted[-1] in self.eos)

    def room(self) -> int:
        """How many more tokens may be cached (METHOD-3): none after a cached id in E or at max_new_tokens."""
        last = self.cache[-1].token if self.cache else (self.emitted[-1] if self.emitted else None)
        if last in self.eos:
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

    def prefill(self):
        """Every member processes the prompt in one call and then holds position 0. METHOD-1."""
        start = time.perf_counter()
        for name in self.names:
            row = self.members[name].prefill(self.prompt)  # (W,)
            self._charge(name, "prefill", 0, 0)
            self.held[name][0] = self._align(row)
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
        for j in range(skip, upto - start):
            held[start + 1 + j] = rows[j - skip]
        self.fed[name] = upto
        self.seconds[phase] += time.perf_counter() - begin

    def _charge(self, name: str, kind: str, start: int, end: int):
        self.calls[name] += 1
        if self.trace is not None:
            self.log("call", member=name, kind=kind, fed=[start, end], cost=str(self.members[name].cost))

    @property
    def cost(self) -> Fraction:
        """sum of c_k over all calls, prefill included (COST-2), exact."""
        return sum((self.members[k].cost * n for k, n in self.calls.items()), Fraction(0))

    # -- distributions ----------------------------------------------------------------------
    def proposal(self, name: str, position: int) -> torch.Tensor:
        """p_k at `position`, from the row member `name` holds there. TRANSFORM-6."""
        assert position in self.held[name], f"{name} never computed position {position}"
        return proposal_distribution(self.held[name][position], self.ensemble.sampling)

    def target(self, position: int) -> torch.Tensor:
        """r at `position` from every member's row there, combined by name. COMBINE-7."""
        rows = []
        for name in self.names:
            assert position in self.held[name], f"{name} never computed position {position}"
            rows.append(self.held[name][position])
        return self.ensemble.combiner.target(torch.stack(rows))  # (N, V) -> (V,)

    def explain_empty(self, position: int, names) -> ValueError:
        """Name the cause of a distribution with nothing to sample: a member's row (TRANSFORM-1), a
        combination or a temperature beyond floating point (COMBINE-5, TRANSFORM-2), or COMBINE-6."""
        rows = [self.held[name][position] for name in names if position in self.held[name]]
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

    # -- the verbs the methods are written in -----------------------------------------------
    def emit(self, token: int, rule: str):
        position = len(self.emitted)
        self.log("emit", position=position, token=token, rule=rule)
        self.emitted.append(token)
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

    def propose(self, name: str, count: int, *, bonus: bool = False):
        """`name` draws up to `count` tokens from its own p_k, one call before each draw it lacks. NAIVE-2, SE-2."""
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
            self.log("propose", member=name, position=position, token=token, bonus=bonus)
            bonus = False
            self.seconds["propose"] += time.perf_counter() - begin
            if self.room() == 0:
                break

    def verify_head(self) -> bool:
        """Verify the oldest cached token against r; emit it or its replacement. METHOD-4, VERIFY-3.

        One uniform for the accept test (RNG-3), one more for the residual draw after a rejection
        (VERIFY-2, VERIFY-4). Returns True when accepted.
        """
        begin = time.perf_counter()
        head, position = self.cache[0], len(self.emitted)
        r = self.target(position)  # (V,)
        r_x, q_x = torch.stack((r[head.token], head.q[head.token])).tolist()
        accepted = accept(next(self.stream), q_x, r_x)  # a NaN r rejects, and its residual draw raises
        self.decisions.append(("accept", accepted))
        try:
            token = head.token if accepted else self.draw(residual(r, head.q))
        except EmptyDistribution:
            raise self.explain_empty(position, self.names) from None
        self.verified[head.proposer] += 1
        self.accepted[head.proposer] += accepted
        self.log("verify", position=position, token=head.token, proposer=head.proposer, ratio=r_x / q_x,
                 accepted=accepted, emitted=token)
        self.cache.pop(0)
        self.emit(token, "accepted" if accepted else "residual")
        if not accepted:
            self.reject(position)
        self.seconds["verify"] += time.perf_counter() - begin
        return accepted

    def reject(self, position: int):
        """Drop the cache and all held rows; crop every member that saw `position` back to it. METHOD-4, FAST-3."""
        self.cache.clear()
        for name in self.names:
            self.held[name].clear()
            if self.fed[name] > position:
                self.fed[name] = position
                self.members[name].crop(len(self.prompt) + position)
                self.log("crop", member=name, length=position)
