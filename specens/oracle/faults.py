"""The faults of the mutant suite: the vectorised reference sampler with one verb done wrong (spec/14-defects.md).

Each class overrides one verb of `sampler.VectorRun` (or wraps the chooser of uniforms) the way a
peer implementation, or this one, got it wrong; `mutants.py` pairs each with the toy case where the
fault shows. The sections follow the catalogue's DEFECT ids.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from specens.reference import Ensemble, Sampling, ToyMember, softmax, target, transform
from specens.reference.processors import Processors
from specens.reference.transforms import greedy

from .enumerate import ScriptChooser, _bounds
from .sampler import VectorRun, inverse_cdf
from .tables import Tables


# -- DEFECT-1: WE at T = 0 follows member 0's argmax ------------------------------------------------
class Member0Argmax(VectorRun):
    """r at T = 0 is the one-hot of member 0's argmax, not of the ensemble's (COMBINE-7 broken)."""

    def target(self, idx, pos):
        s = self.t.ensemble.sampling
        p0 = self.t.proposal_table(0, Sampling(1, s.top_k, s.top_p))[self.kst[0][idx, pos]]
        return np.eye(self.t.vocab_size)[np.argmax(p0, axis=1)]


# -- DEFECT-2: the combination keyed by role ---------------------------------------------------------
def _swapped(tables: Tables) -> Tables:
    ensemble, (a, b) = tables.ensemble, tables.names

    def by_role(outputs):
        return target({a: outputs[b], b: outputs[a]}, ensemble.combination, ensemble.mode, ensemble.sampling)

    return Tables(ensemble, target_fn=by_role)


class RoleKeyedCombination(VectorRun):
    """Verification reads the combination as (proposer, scorer) slots: after a role swap the WE
    weights swap and CD becomes draft - mu * target (COMBINE-1 broken)."""

    def verify_target(self, idx, pos):
        r = self.target(idx, pos)
        swap = self.prop[idx, pos] != self.t.names.index(self.method.default_proposer)
        if swap.any():
            other = self.t.variant("swap", lambda: _swapped(self.t))
            r[swap] = other.r(other.codes([self.kst[k][idx[swap], pos[swap]] for k in range(self.N)]))
        return r


# -- DEFECT-3: the bonus token ----------------------------------------------------------------------
class BonusUnverified(VectorRun):
    """Bonus tokens are emitted without an accept test (SE-3 broken: they follow one member, not r)."""

    def verify_head(self, idx):
        bonus = self.bonus[idx, self.e[idx]]
        accepted = np.ones(len(idx), dtype=bool)
        self.e[idx[bonus]] += 1
        if (~bonus).any():
            accepted[~bonus] = super().verify_head(idx[~bonus])
        return accepted


class BonusWrongPosition(VectorRun):
    """The bonus token is drawn at its position but verified against the scorer's output one position
    earlier (an off-by-one in the logits index; VERIFY-1 broken)."""

    def draw(self, idx, k, bonus=False):
        super().draw(idx, k, bonus)
        if bonus:
            pos = self.s[idx] - 1
            self.qv[idx, pos] = self.proposal(idx, k, pos - 1)


# -- DEFECT-4: the continuing proposer loses the verified tokens -------------------------------------
class ContinuationDropsVerified(VectorRun):
    """SE-6 with gamma > 1: the scorer continues from a context without the tokens verified in this
    step, and its cache keeps that shifted context (SE-6 broken; the authors' vLLM code)."""

    def continue_proposal(self, idx, k, count):
        live = idx[self.room(idx) > 0] if count > 0 else idx[:0]
        self.forward(live, k)  # processes the bonus token
        s = self.s[live]
        self.kst[k][live, s] = self.t.states[k].next[self.kst[k][live, self.e0[live]], self.seq[live, s - 1]]
        self.propose(idx, k, count)


# -- DEFECT-5: the accept test divides by another distribution --------------------------------------
class UntransformedProposal(VectorRun):
    """Tokens are drawn from the transformed p_k but verified against the untransformed one (raw
    logits at T = 1, no top-k; TRANSFORM-6 broken)."""

    def draw(self, idx, k, bonus=False):
        super().draw(idx, k, bonus)
        pos = self.s[idx] - 1
        self.qv[idx, pos] = self.t.proposal_table(k, Sampling())[self.kst[k][idx, pos]]


class GreedyDraft(VectorRun):
    """The proposer drafts greedily (its argmax) while the verifier assumes it sampled from p_k: the accept
    test divides by p_k instead of the one-hot the token was drawn from (DEFECT-5, DEFECT-15)."""

    def draw(self, idx, k, bonus=False):
        pos = self.s[idx]
        q = self.proposal(idx, k, pos)
        self.seq[idx, pos] = self.ch.draw(idx, np.eye(self.t.vocab_size)[np.argmax(q, axis=1)])
        self.prop[idx, pos], self.qv[idx, pos], self.bonus[idx, pos] = k, q, bonus
        self.s[idx] = pos + 1


# -- DEFECT-6: the verifier with default sampling parameters ----------------------------------------
def _default_sampling_for_all_but(tables: Tables, proposer: int) -> Tables:
    ensemble, names = tables.ensemble, tables.names
    request, default = ensemble.sampling, Sampling()
    if ensemble.mode not in ("probs", "logits"):
        raise ValueError("mode: this mutant needs per-member transforms (mode probs or logits)")

    def mixed(outputs):
        moved = {k: transform(s, request if k == names[proposer] else default) for k, s in outputs.items()}
        if ensemble.mode == "probs":
            r = ensemble.combination.combine_probs({k: s.to_probs() for k, s in moved.items()})
        else:
            r = softmax(ensemble.combination.combine_logits({k: s.to_logits() for k, s in moved.items()}))
        return greedy(r) if request.greedy else r

    return Tables(ensemble, target_fn=mixed)


class VerifierDefaultSampling(VectorRun):
    """When verifying, every member but the head's proposer is transformed with the default sampling
    (T = 1, no top-k / top-p) instead of the request's (COMBINE-7 broken)."""

    def verify_target(self, idx, pos):
        r = np.empty((len(idx), self.t.vocab_size))
        proposer = self.prop[idx, pos]
        for k in range(self.N):
            mine = proposer == k
            if mine.any():
                t = self.t.variant(("default-sampling", k), lambda k=k: _default_sampling_for_all_but(self.t, k))
                r[mine] = t.r(t.codes([self.kst[j][idx[mine], pos[mine]] for j in range(self.N)]))
        return r


# -- DEFECT-7: the residual -------------------------------------------------------------------------
class ResidualNotNormalised(VectorRun):
    """The residual max(0, r - q) is sampled without dividing by its mass (VERIFY-2 broken): the
    inverse CDF then falls off the end and returns the last possible token."""

    def residual(self, r, q):
        return np.maximum(0.0, r - q)


class ResidualClamped(VectorRun):
    """The residual is clamped to a small constant instead of 0 (max(r - q, 1e-3)), then normalised:
    tokens that r rules out can be emitted (VERIFY-2 broken)."""

    def residual(self, r, q):
        excess = np.maximum(r - q, 1e-3)
        return excess / excess.sum(axis=1, keepdims=True)


class ResidualSignFlipped(VectorRun):
    """The residual is norm(max(0, q - r)): the proposer's excess instead of the target's."""

    def residual(self, r, q):
        return super().residual(q, r)


# -- DEFECT-8: the randomness ----------------------------------------------------------------------
class Reseeded:
    """Every choice point of a step reuses the step's first uniform (an RNG reseeded before each draw)."""

    def __init__(self, base):
        self.base, self.u = base, np.zeros(len(base.u))

    def step(self, idx):
        self.u[idx] = self.base.take(idx)

    def draw(self, idx, probs):
        return inverse_cdf(probs, self.u[idx])

    def accept(self, idx, r_x, q_x):
        return self.u[idx] * q_x < r_x


class SharedRows:
    """Rows in groups of `group` share one stream (one seed for a whole batch)."""

    def __init__(self, base, group: int = 4):
        self.base, self.group = base, group

    def take(self, idx):
        self.base.take(idx)  # advances each row's own count (and draws more columns if needed)
        return self.base.u[idx - idx % self.group, self.base.used[idx] - 1]

    def step(self, idx):
        pass

    def draw(self, idx, probs):
        return inverse_cdf(probs, self.take(idx))

    def accept(self, idx, r_x, q_x):
        return self.take(idx) * q_x < r_x


# -- DEFECT-9: the KV cache after a rejection --------------------------------------------------------
class CacheNotRolledBack(VectorRun):
    """After a rejection the members' caches keep every token they processed (METHOD-4 broken): their
    context for later positions still contains the rejected token and the ones after it."""

    def reject(self, idx, pos, rejected):
        for k in range(self.N):
            stale = self.fed[idx, k] > pos
            rows = idx[stale]
            self.kst[k][rows, pos[stale]] = self.kst[k][rows, self.fed[rows, k]]
        super().reject(idx, pos, rejected)


class CacheRollbackOffByOne(VectorRun):
    """After a rejection the caches are cropped one token too late: they keep the rejected token, so
    the replacement is appended after it (METHOD-4 broken)."""

    def reject(self, idx, pos, rejected):
        for k in range(self.N):
            stale = self.fed[idx, k] > pos
            rows, at = idx[stale], pos[stale]
            self.kst[k][rows, at] = self.t.states[k].next[self.kst[k][rows, at], rejected[stale]]
        super().reject(idx, pos, rejected)


# -- DEFECT-11: errors away from the first position -------------------------------------------------
class LastTokenUnverified(VectorRun):
    """A cached token at the last allowed position (max_new_tokens - 1) is emitted without a test."""

    def verify_head(self, idx):
        last = self.e[idx] == self.L - 1
        accepted = np.ones(len(idx), dtype=bool)
        self.e[idx[last]] += 1
        if (~last).any():
            accepted[~last] = super().verify_head(idx[~last])
        return accepted


class FirstTokenFromProposer(VectorRun):
    """The first token comes from the default proposer's p_k instead of r (METHOD-2 broken)."""

    def first_token(self, idx):
        k = self.t.names.index(getattr(self.method, "default_proposer", None) or self.t.names[0])
        self.emit_from(idx, self.proposal(idx, k, self.e[idx]))


# -- DEFECT-14: one uniform decides two things -------------------------------------------------------
class DraftUniformReused(VectorRun):
    """After a rejection the replacement is drawn from the residual with the uniform that drew the
    rejected draft token, not a fresh one (RNG-1 broken; DEFECT-14). The chooser must offer
    `draw_kept` / `draw_again` (KeepUniforms when sampling, KeptIntervalChooser when enumerating)."""

    def __init__(self, tables, length, chooser, n):
        super().__init__(tables, length, chooser, n)
        self.kept = np.zeros((n, length, 2))  # (B, L, 2) where the uniform that drew each cached token lies

    def draw(self, idx, k, bonus=False):
        pos = self.s[idx]
        q = self.proposal(idx, k, pos)
        self.seq[idx, pos], self.kept[idx, pos] = self.ch.draw_kept(idx, q)
        self.prop[idx, pos], self.qv[idx, pos], self.bonus[idx, pos] = k, q, bonus
        self.s[idx] = pos + 1

    def verify_head(self, idx):
        pos = self.e[idx]
        rows = np.arange(len(idx))
        x, q = self.seq[idx, pos], self.qv[idx, pos]  # (m,), (m, V)
        r = self.verify_target(idx, pos)
        accepted = self.ch.accept(idx, r[rows, x], q[rows, x])
        out, at = idx[~accepted], pos[~accepted]
        if out.size:  # the fault: the draft's uniform again, instead of a fresh one
            self.seq[out, at] = self.ch.draw_again(out, self.residual(r[~accepted], q[~accepted]), self.kept[out, at])
        self.e[idx] = pos + 1
        if out.size:
            self.reject(out, at, x[~accepted])
        return accepted


class KeepUniforms:
    """Sampling side of DraftUniformReused: a draft draw returns its uniform u as the interval [u, u]."""

    def __init__(self, base):
        self.base = base

    def draw(self, idx, probs):
        return self.base.draw(idx, probs)

    def accept(self, idx, r_x, q_x):
        return self.base.accept(idx, r_x, q_x)

    def step(self, idx):
        self.base.step(idx)

    def draw_kept(self, idx, probs):
        u = self.base.take(idx)
        return inverse_cdf(probs, u), np.stack([u, u], axis=1)

    def draw_again(self, idx, probs, kept):
        return inverse_cdf(probs, kept[:, 0])


class KeptIntervalChooser(ScriptChooser):
    """Enumeration side of DraftUniformReused: given the draft token x, its uniform is uniform on x's
    interval [lower_x, upper_x); drawing again with it gives token y with probability
    |[lower_x, upper_x) & [lower_y, upper_y)| / (upper_x - lower_x) under the second distribution."""

    def draw_kept(self, idx, probs):
        x = self.draw(idx, probs)
        lower, upper = _bounds(probs)
        rows = np.arange(len(idx))
        return x, np.stack([lower[rows, x], upper[rows, x]], axis=1)

    def draw_again(self, idx, probs, kept):
        lower, upper = _bounds(probs)
        a, b = kept[:, :1], kept[:, 1:]
        weights = np.maximum(0.0, np.minimum(b, upper) - np.maximum(a, lower)) / (b - a)  # (m, V)
        y = self._pick(idx, weights)
        self.prob[idx] *= weights[np.arange(len(idx)), y]
        return y


# -- DEFECT-17: stops ---------------------------------------------------------------------------------
class EosOnlyAtBlockEnd(VectorRun):
    """The stop test runs once per block instead of once per token (METHOD-3 broken): proposers draft
    past an EOS, and an emitted EOS stops the row only when no cached token follows it, so tokens
    accepted after an EOS inside a block are emitted."""

    def room(self, idx):
        return self.L - self.s[idx]

    def done(self, idx):
        e = self.e[idx]
        last = self.seq[idx, np.maximum(e - 1, 0)]
        return (e >= self.L) | ((e > 0) & (self.s[idx] == e) & np.isin(last, self.eos))


class FirstEosOnly(VectorRun):
    """Of several end-of-sequence ids only the first (the smallest) stops a row (METHOD-3 broken)."""

    def __init__(self, tables, length, chooser, n):
        super().__init__(tables, length, chooser, n)
        self.eos = self.eos[:1]


# -- DEFECT-19: a context window sliced from the end ---------------------------------------------------
class _NegativeStartMember(ToyMember):
    """A toy member that keys its rows by context[len(context) - order:]: for a context shorter than
    its order the start is negative, so it reads only the last order - len(context) tokens (all of
    them when that is len(context) or more). Order 5 after (1, 2, 0): the row of (2, 0)."""

    def scores(self, context):
        return super().scores(tuple(context[len(context) - self.order:]))


def _negative_start_tables(tables: Tables) -> Tables:
    e = tables.ensemble
    members = tuple(_NegativeStartMember(m.name, m.table, m.order, m.cost) for m in e.members)
    return Tables(Ensemble(members, e.combination, mode=e.mode, sampling=e.sampling, eos_token_id=e.eos_token_id,
                           prompt=e.prompt))


class NegativeStartWindow(VectorRun):
    """Every member reads the row of context[len(context) - order:] (TOY-2 broken): an order-5 member
    after (1, 2, 0) reads the row of (2, 0). Contexts and caches stay right; only the rows read change."""

    def __init__(self, tables, length, chooser, n):
        super().__init__(tables.variant("negative-start", lambda: _negative_start_tables(tables)), length, chooser, n)


# -- own mutants --------------------------------------------------------------------------------------
class AcceptAll(VectorRun):
    """Every proposal is accepted (no accept test at all)."""

    def verify_head(self, idx):
        self.e[idx] += 1
        return np.ones(len(idx), dtype=bool)


class NaiveKeepsBonus(VectorRun):
    """Naive SE keeps a Leviathan-style bonus: after a fully accepted round the first scorer draws
    the next token from its own p_k and emits it unverified (NAIVE-4 broken)."""

    def end_round(self, idx):
        super().end_round(idx)
        scorer = next(k for k in range(self.N) if self.t.names[k] != self.method.proposer)
        whole = idx[~self.done(idx) & self.holds(idx, scorer, self.e[idx])]
        self.emit_from(whole, self.proposal(whole, scorer, self.e[whole]))


class PlainBonusFromDrafter(VectorRun):
    """Plain speculative decoding's extra token after a fully accepted draft is the outside drafter's next
    draw (it catches up on its last drafted token), emitted unverified, instead of a draw from r (NAIVE-5
    broken)."""

    def naive_bonus(self, idx):
        d = self.t.model_names.index(self.method.proposer)
        self.forward(idx[~self.holds(idx, d, self.e[idx])], d)
        self.emit_from(idx, self.proposal(idx, d, self.e[idx]))


class MixtureUniformMember(VectorRun):
    """The mixture ensemble picks each member with probability 1/n, ignoring the weights (MIX-2 broken)."""

    def choose_member(self, idx, weights):
        return super().choose_member(idx, np.full(len(weights), 1.0 / len(weights)))


# -- the speculative mixture (SMIX-1) -------------------------------------------------------------------
class SmixChoiceFollowsDraft(VectorRun):
    """The member choice looks at the drafted token: a head the drafter drew with probability at least 1/2
    is given to the drafter (a member), so it is emitted as is (SMIX-3 step 1 broken: k_i must be
    independent of the drafted token). One uniform is still consumed per choice."""

    def choose_member(self, idx, weights):
        chosen = super().choose_member(idx, weights)
        pos = self.e[idx]
        head = self.s[idx] > pos  # the bonus choice (SMIX-5) has no drafted token to look at
        rows = np.flatnonzero(head)
        likely = self.qv[idx[rows], pos[rows], self.seq[idx[rows], pos[rows]]] >= 0.5
        drafter = self.t.model_names.index(self.method.drafter)
        chosen[rows[likely]] = drafter
        return chosen


class SmixDrafterVerified(VectorRun):
    """A position whose chosen member is the drafter is verified anyway, against the next member, instead
    of being emitted as is (SMIX-3 step 2 broken: p_d's own token is an exact p_d draw)."""

    def emit_head(self, idx):
        if not idx.size:
            return
        other = (self.t.model_names.index(self.method.drafter) + 1) % self.N
        pos = self.e[idx]
        self.forward(idx[~self.holds(idx, other, pos)], other)
        self.against[idx] = other
        self.verify_head(idx)
        self.against[idx] = -1


class SmixBlockKeptAfterRejection(VectorRun):
    """After a rejection the rest of the drafted block stays cached and is verified next, although it was
    drafted after the rejected token (SMIX-3 step 3 broken: a rejection drops the rest of the block).
    Note: a kept token verified against a member is still an exact step (it is tested against the q it was
    drawn from); the law goes wrong where the drafter is chosen and a kept token is emitted as is, so the
    mutant needs a case whose drafter is a member."""

    def reject(self, idx, pos, rejected):
        s = self.s[idx].copy()
        super().reject(idx, pos, rejected)
        self.s[idx] = s

    def verify_head(self, idx):
        super().verify_head(idx)
        return np.ones(len(idx), dtype=bool)  # the block goes on after a rejection


class SmixBonusFromDrafter(VectorRun):
    """The free bonus after a fully accepted block is drawn from the drafter (which catches up on the last
    drafted token) instead of the chosen member (SMIX-5 broken)."""

    def free_bonus(self, idx, k):
        d = self.t.model_names.index(self.method.drafter)
        self.forward(idx[~self.holds(idx, d, self.e[idx])], d)
        self.emit_from(idx, self.proposal(idx, d, self.e[idx]))


# == DEFECT-16: logits processors on the speculative path (spec/15-processors.md) ========================
# These mutants run on cases whose processors read the history, so every member state is the whole
# prefix (tables.py); the rows a mutant reads instead are computed from the reference and memoised.
def _memo_rows(memo: dict, first: np.ndarray, second: np.ndarray, make) -> np.ndarray:
    """Rows keyed by pairs of integers, each computed once by make(a, b) (an exact distribution).
    first, second (m,) -> (m, V)."""
    pairs = np.stack([first, second], axis=1).astype(np.int64)  # (m, 2)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    rows = []
    for a, b in unique:
        key = (int(a), int(b))
        if key not in memo:
            memo[key] = np.array([float(p) for p in make(*key)], dtype=np.float64)
        rows.append(memo[key])
    return np.array(rows)[inverse.reshape(-1)]


class _ProcessorRows(VectorRun):
    """Helpers for the processor mutants: r and p_k with other processors or another prefix."""

    def _prefix(self, context, cut):
        """The processors' prefix of `context` with only its first `cut` generated tokens. PROC-12."""
        return self.t.ensemble.prefix(context[:len(self.t.ensemble.prompt) + cut])

    def _r_with(self, idx, pos, processors, cut=None):
        """r at pos from every member's own state, the processors read at the prefix cut to `cut`
        generated tokens (default: the whole prefix). -> (m, V)."""
        e = self.t.ensemble
        codes = self.t.codes([self.kst[k][idx, pos] for k in range(self.N)])

        def make(code, c):
            states = self.t.decode(code)
            prefix = self._prefix(self.t.states[0].context(states[0]), c)
            return target(self.t.outputs(states), e.combination, e.mode, e.sampling, processors, prefix)

        memo = self.t.variant(("r-rows", processors), dict)
        return _memo_rows(memo, codes, np.broadcast_to(pos if cut is None else cut, codes.shape), make)

    def _p_with(self, idx, k, pos, processors, cut=None):
        """p_k at pos with `processors` read at the prefix cut to `cut` generated tokens. -> (m, V)."""
        states = self.kst[k][idx, pos]

        def make(state, c):
            context = self.t.states[k].context(state)
            row = self.t.proposal_row(k, context, processors=processors, prefix=self._prefix(context, c))
            if row is None:
                raise ValueError(f"{type(self).__name__}: the processors rule out every token after {context}")
            return row

        memo = self.t.variant(("p-rows", k, processors), dict)
        return _memo_rows(memo, states, np.broadcast_to(pos if cut is None else cut, states.shape), make)


class HistoryPerStep(_ProcessorRows):
    """The processors' history advances once per decoding step, not once per token (PROC-12 broken;
    SGLang PR 33643): every proposal and every verification inside a step reads the generated tokens
    as they were when the step began, so penalties and min_new_tokens lag inside a block."""

    def target(self, idx, pos):
        return self._r_with(idx, pos, self.t.processors, cut=self.e0[idx])

    def proposal(self, idx, k, pos):
        return self._p_with(idx, k, pos, self.t.processors, cut=self.e0[idx])


class ProcessorsDraftOnly(_ProcessorRows):
    """Drafts are drawn from the processed p_k, but verification forms r with no processors at all
    (PROC-10 broken: processors on the draft side only). The first token, drawn from r outside
    verification, keeps them."""

    dropped = Processors()

    def verify_target(self, idx, pos):
        return self._r_with(idx, pos, self.dropped)


class LogitBiasDroppedWhenSpeculating(ProcessorsDraftOnly):
    """Verification forms r without logit_bias (PROC-6 dropped on the speculative path; SGLang issue 10617)."""

    @property
    def dropped(self):
        return replace(self.t.processors, logit_bias={})


class MinPDroppedWhenSpeculating(ProcessorsDraftOnly):
    """Verification forms r without min_p (PROC-8 dropped on the speculative path; SGLang issue 10617)."""

    @property
    def dropped(self):
        return replace(self.t.processors, min_p=0)


class ProcessorsTargetOnly(_ProcessorRows):
    """Drafts are drawn from the unprocessed p_k while the accept test divides by the processed p_k,
    the distribution the verifier believes they follow (PROC-10 broken: processors on the target
    side only; TensorRT-LLM PR 17701)."""

    def draw(self, idx, k, bonus=False):
        pos = self.s[idx]
        q = self.proposal(idx, k, pos)
        self.seq[idx, pos] = self.ch.draw(idx, self._p_with(idx, k, pos, Processors()))
        self.prop[idx, pos], self.qv[idx, pos], self.bonus[idx, pos] = k, q, bonus
        self.s[idx] = pos + 1


class MinNewTokensInSteps(_ProcessorRows):
    """min_new_tokens compares the number of decoding steps taken, not of tokens generated (PROC-5
    broken; SGLang PR 33643): after a step that emits several tokens the EOS ids stay ruled out too
    long. Needs a case whose only processor is min_new_tokens (it reads only the count)."""

    def __init__(self, tables, length, chooser, n):
        super().__init__(tables, length, chooser, n)
        only = replace(tables.processors, min_new_tokens=0)
        if only.active:
            raise ValueError("case: MinNewTokensInSteps needs min_new_tokens as the only processor")
        self.steps = np.zeros(n, dtype=np.int64)  # (B,) steps begun before the current one
        self.begun = np.zeros(n, dtype=bool)

    def begin_step(self, idx):
        self.steps[idx] += self.begun[idx]
        self.begun[idx] = True
        super().begin_step(idx)

    def _count(self, idx, pos):
        return np.minimum(self.steps[idx], pos)

    def target(self, idx, pos):
        return self._r_with(idx, pos, self.t.processors, cut=self._count(idx, pos))

    def proposal(self, idx, k, pos):
        return self._p_with(idx, k, pos, self.t.processors, cut=self._count(idx, pos))


class StopSequenceOnlyAtBlockEnd(VectorRun):
    """Stop sequences are checked once per block instead of once per token (STOP-4 broken;
    transformers issue 47912 for EOS): proposers draft past a stop sequence, and a stop sequence
    ends a row only when no cached token follows it, so tokens accepted after it are emitted."""

    def room(self, idx):
        s = self.s[idx]
        return np.where(self.ends_with_eos(idx, s), 0, self.L - s)

    def done(self, idx):
        e = self.e[idx]
        stop = self.ends_with_stop(idx, e) & (self.s[idx] == e)
        return (e >= self.L) | self.ends_with_eos(idx, e) | stop
