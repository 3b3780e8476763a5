"""The bookkeeping every method shares: emitted tokens, cached proposals, what each member has seen,
what each call cost, and the trace (spec/05-methods.md METHOD rules, spec/07-cost.md).

Positions are 0-based indices into the generated tokens: position i is predicted from
prompt + seq[:i], where seq is the emitted tokens followed by the cached unverified ones.
A member "holds" position i once a call of its has produced its output there (COST-1); the
methods may only read outputs that the member holds, which this class checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from .numbers import Dist
from .rng import Chooser
from .toy import Ensemble
from .verify import verify


@dataclass
class Proposal:
    token: int
    proposer: str  # the member that drew it
    q: Dist  # exactly the distribution it was drawn from (VERIFY-1)


class Run:
    """One generation: state plus the helpers the methods are written in (METHOD-1..METHOD-4)."""

    def __init__(self, ensemble: Ensemble, chooser: Chooser, max_new_tokens: int):
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: must be a positive integer, got {max_new_tokens!r}")
        self.ensemble, self.chooser, self.limit = ensemble, chooser, max_new_tokens
        ensemble.processors.check(ensemble.vocab_size, ensemble.eos_token_id, max_new_tokens)  # PROC-1
        self.names = ensemble.names
        self.emitted: list[int] = []
        self.cache: list[Proposal] = []
        models = [m.name for m in ensemble.models]  # the members, then an outside drafter (METHOD-5)
        self.fed = {k: 0 for k in models}  # generated tokens each member has processed
        self.holds: dict[str, set[int]] = {k: set() for k in models}
        self.cost = Fraction(0)
        self.calls: Counter = Counter()
        self.trace: list[dict] = []
        self.step = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def seq(self) -> list[int]:
        return self.emitted + [p.token for p in self.cache]

    def context(self, position: int) -> tuple:
        return self.ensemble.prompt + tuple(self.seq[:position])

    @property
    def done(self) -> bool:
        """METHOD-3, STOP-4: stop at max_new_tokens, or right after an emitted EOS (any of the EOS ids)
        or the emitted end of a stop sequence (STOP-2); checked after every emitted token."""
        return len(self.emitted) >= self.limit or self.ensemble.stopped(self.emitted)

    def room(self) -> int:
        """How many more tokens may be cached: proposals never pass max_new_tokens, an EOS or the end
        of a stop sequence. METHOD-3, STOP-2."""
        seq = self.seq
        if self.ensemble.stopped(seq):
            return 0
        return self.limit - len(seq)

    def held_count(self, name: str) -> int:
        """How many cached positions member `name` holds an output for (SE-3's "cache length")."""
        start = len(self.emitted)
        return sum(1 for i in self.holds[name] if start <= i < start + len(self.cache))

    def _require_held(self, name: str, position: int):
        if position not in self.holds[name]:  # a method reading an output its member never computed
            raise RuntimeError(f"reference bug: {name} never computed position {position}")

    def proposal(self, name: str, position: int) -> Dist:
        self._require_held(name, position)
        return self.ensemble.proposal(name, self.context(position))

    def target(self, position: int) -> Dist:
        for name in self.ensemble.names:
            self._require_held(name, position)
        return self.ensemble.target(self.context(position))

    def log(self, event: str, **fields):
        self.trace.append({"step": self.step, "event": event, **fields})

    # -- member calls (COST-1) --------------------------------------------------------------
    def prefill(self, proposer: str | None = None):
        """Every member processes the prompt once and then holds position 0; so does `proposer`
        when it is the outside drafter (METHOD-5). METHOD-1."""
        for m in self.ensemble.members + self._outside(proposer):
            self._charge(m, "prefill", 0, 0)
            self.holds[m.name].add(0)

    def _outside(self, proposer: str | None) -> tuple:
        drafter = self.ensemble.drafter
        return (drafter,) if drafter is not None and proposer == drafter.name else ()

    def forward(self, name: str, upto: int | None = None):
        """One call of `name` over every token of seq it has not processed (through `upto`). COST-1, COST-2."""
        upto = len(self.seq) if upto is None else upto
        start = self.fed[name]
        if start >= upto:
            raise RuntimeError(f"reference bug: a call of {name} with nothing new to process")
        self._charge(self.ensemble.member(name), "forward", start, upto)
        self.holds[name].update(range(start + 1, upto + 1))
        self.fed[name] = upto

    def _charge(self, member, kind, start, end):
        self.cost += member.cost
        self.calls[member.name] += 1
        self.log("call", member=member.name, kind=kind, fed=[start, end], cost=str(member.cost))

    # -- the verbs the methods are written in -----------------------------------------------
    def emit(self, token: int, rule: str):
        self.log("emit", position=len(self.emitted), token=token, rule=rule)
        self.emitted.append(token)

    def sample_target(self, rule: str = "direct"):
        """Draw the next token straight from r and emit it (METHOD-2, STD-1)."""
        position = len(self.emitted)
        self.emit(self.chooser.draw(self.target(position), f"r@{position}"), rule)

    def choose_member(self, weights) -> str:
        """Draw a member by weight (one uniform, RNG-2). MIX-2."""
        return self.names[self.chooser.draw(weights, "member")]

    def sample_member(self, name: str):
        """Draw the next token from member `name`'s own p_k and emit it. MIX-2."""
        position = len(self.emitted)
        self.emit(self.chooser.draw(self.proposal(name, position), f"{name}@{position}"), f"mixture:{name}")

    def propose(self, name: str, count: int, *, bonus: bool = False, stop_below=None) -> bool:
        """`name` draws up to `count` tokens from its own p_k, one call before each draw it lacks. NAIVE-2, SE-2.

        The first draw uses the output the member already holds at the end of seq, if any
        (a bonus token, SE-3); every later draw needs a call over the previous token.
        stop_below: METHOD-6's threshold; the proposal ends right after a token whose confidence is below it,
        and then True is returned.
        """
        for _ in range(min(count, self.room())):
            position = len(self.seq)
            if position not in self.holds[name]:
                self.forward(name)
            q = self.proposal(name, position)
            token = self.chooser.draw(q, f"{name}@{position}")
            self.cache.append(Proposal(token, name, q))
            stop = stop_below is not None and self.ensemble.confidence(name, self.context(position))[token] < stop_below
            self.log("propose", member=name, position=position, token=token, bonus=bonus,
                     **({"stopped": True} if stop else {}))  # TRACE-1: present only when METHOD-6 ends it here
            bonus = False
            if stop:
                return True
            if self.room() == 0:
                break
        return False

    def verify_head(self, against: str | None = None) -> bool:
        """Verify the oldest cached token against r; emit it or its replacement. METHOD-4, VERIFY-3.

        `against`: a member name to verify against its p_k in the place of r (SMIX-3).
        Returns True when accepted. On rejection every cached token and every cached output is
        dropped and each member's processed tokens are cropped to the emitted prefix (SE-5).
        """
        head, position = self.cache[0], len(self.emitted)
        r = self.target(position) if against is None else self.proposal(against, position)
        accepted, token = verify(head.token, head.q, r, self.chooser, f"verify@{position}")
        extra = {} if against is None else {"against": against}  # TRACE-1
        self.log("verify", position=position, token=head.token, proposer=head.proposer,
                 ratio=float(r[head.token] / head.q[head.token]), accepted=accepted, emitted=token, **extra)
        self.cache.pop(0)
        self.emit(token, "accepted" if accepted else "residual")
        if not accepted:
            self.reject(position)
        return accepted

    def reject(self, position: int):
        """Drop the cache and all held outputs; crop members to the tokens before `position`. METHOD-4, SE-5."""
        self.cache.clear()
        for name in self.fed:  # the members and an outside drafter (METHOD-5)
            self.holds[name].clear()
            if self.fed[name] > position:
                self.fed[name] = position
                self.log("crop", member=name, length=position)

    def all_hold_head(self) -> bool:
        position = len(self.emitted)
        return bool(self.cache) and all(position in self.holds[k] for k in self.ensemble.names)

    def holds_at(self, name: str, position: int) -> bool:
        """Whether `name` has computed its output at `position` (SMIX-3, SMIX-5)."""
        return position in self.holds[name]

    def emit_head(self):
        """Emit the head of the cache as is: its proposer was the chosen member (SMIX-3 step 2)."""
        head = self.cache.pop(0)
        self.emit(head.token, f"mixture:{head.proposer}")
