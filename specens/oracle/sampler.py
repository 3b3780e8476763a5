"""A vectorised reference sampler: many independent chains of every method of spec/05, in NumPy.

The oracle needs hundreds of thousands of exact samples per check; `specens.reference.generate` gives
one sequence at a time in exact rationals. `VectorSampler` runs `B` chains at once with the same
state and the same verbs as `reference/state.py` (emitted and cached tokens, what each member has
fed and holds, propose, forward, verify, reject), in float64 over the lookup tables of `tables.py`.

Chain `b` consumes its own stream of uniforms in the order RNG-1 fixes, so with the same uniforms it
emits exactly the tokens of `reference.generate` (up to float64 rounding at a decision boundary,
probability about 1e-16 per decision) and consumes the same number of uniforms. Each member keeps
its own context states (`kst`), computed only by its own calls; a correct run keeps them equal to
the emitted sequence, which is what lets the wrong samplers of `faults.py` model cache and context bugs by overriding a verb.

Shapes: `B` chains, `N` members, `L` max_new_tokens, `V` vocabulary, `m` a subset of chains.
"""

from __future__ import annotations

import numpy as np

from specens.reference import (Ensemble, MixtureEnsemble, NaiveSE, SpeculativeEnsemble, SpeculativeMixture,
                               StandardEnsemble)

from .tables import Tables

PAD = -1  # fills the positions after the end of a sequence in (B, L) token arrays


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """RNG-2 in float64: the smallest x with u < d(0) + ... + d(x), else the last positive token.

    probs (m, V), u (m,) -> (m,). inverse_cdf([[1/4, 0, 3/4]], [0.25]) == [2].
    """
    c = np.cumsum(probs, axis=1)  # (m, V)
    x = (c <= u[:, None]).sum(axis=1)
    last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.minimum(x, last)


class UniformChooser:
    """Chain b reads row b of a matrix of uniforms, one per choice point, in order. RNG-1, RNG-2, RNG-3.

    Give `uniforms` (B, K) to replay fixed streams (running out is an error), or `rng` and `n` to draw
    them (more columns are drawn when a chain runs out). `used[b]` counts chain b's uniforms.
    """

    def __init__(self, uniforms: np.ndarray | None = None, *, rng: np.random.Generator | None = None,
                 n: int | None = None, columns: int = 16):
        if (uniforms is None) == (rng is None):
            raise ValueError("UniformChooser: give either uniforms= (a (B, K) array) or rng= with n=")
        self.rng = rng
        self.u = np.asarray(uniforms, dtype=np.float64) if uniforms is not None else rng.random((n, columns))
        if self.u.ndim != 2 or ((self.u < 0) | (self.u >= 1)).any():
            raise ValueError("uniforms: must be a 2-D array (chains, uniforms) of numbers in [0, 1)")
        self.used = np.zeros(len(self.u), dtype=np.int64)  # (B,)

    def take(self, idx: np.ndarray) -> np.ndarray:
        ptr = self.used[idx]
        if ptr.size and ptr.max() >= self.u.shape[1]:
            if self.rng is None:
                raise ValueError(f"uniforms: chain {int(idx[np.argmax(ptr)])} ran out after {self.u.shape[1]} "
                                 "uniforms; supply more columns")
            self.u = np.concatenate([self.u, self.rng.random(self.u.shape)], axis=1)
        self.used[idx] = ptr + 1
        return self.u[idx, ptr]

    def draw(self, idx: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """One draw per chain of idx from its row of probs (m, V). RNG-2."""
        return inverse_cdf(probs, self.take(idx))

    def accept(self, idx: np.ndarray, r_x: np.ndarray, q_x: np.ndarray) -> np.ndarray:
        """The accept test u * q(x) < r(x), one uniform per chain. RNG-3."""
        return self.take(idx) * q_x < r_x

    def step(self, idx: np.ndarray):
        """Called when chains idx start a step of their method's loop (mutants reseed here)."""


class VectorRun:
    """The state of B chains and the verbs the methods are written in (mirrors reference/state.py).

    Positions are 0-based indices into the generated tokens. `seq[b, :s[b]]` is chain b's emitted
    tokens (`e[b]` of them) followed by its cached proposals. Member k holds the outputs at positions
    `lo[b, k] .. fed[b, k]` (empty when lo > fed), and `kst[k][b, j]` is its context state before
    position j, for j <= fed[b, k].
    """

    def __init__(self, tables: Tables, length: int, chooser, n: int):
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length: max_new_tokens must be a positive integer, got {length!r}")
        self.t, self.L, self.ch, self.B = tables, length, chooser, n
        self.N, v = len(tables.names), tables.vocab_size  # N members; an outside drafter is model N (METHOD-5)
        self.M = len(tables.members)
        self.eos = np.array(tables.ensemble.eos_token_id, dtype=np.int64)  # (E,) every EOS id; empty: none
        self.seq = np.zeros((n, length), dtype=np.int64)  # (B, L)
        self.e = np.zeros(n, dtype=np.int64)  # (B,) emitted
        self.s = np.zeros(n, dtype=np.int64)  # (B,) emitted + cached
        self.e0 = np.zeros(n, dtype=np.int64)  # (B,) emitted when the current step began
        self.fed = np.zeros((n, self.M), dtype=np.int64)  # (B, M); METHOD-1: prefill holds position 0
        self.lo = np.zeros((n, self.M), dtype=np.int64)  # (B, M)
        self.against = np.full(n, -1, dtype=np.int64)  # (B,) SMIX-3: the member a head is verified against
        self.kst = [np.full((n, length + 1), st.start, dtype=np.int64) for st in tables.states]  # N x (B, L + 1)
        self.prop = np.zeros((n, length), dtype=np.int64)  # (B, L) proposer of each cached token
        self.qv = np.zeros((n, length, v))  # (B, L, V) the q each cached token was drawn from
        self.bonus = np.zeros((n, length), dtype=bool)  # (B, L)

    # -- state ------------------------------------------------------------------------------
    def ends_with_eos(self, idx: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Whether seq[b, :n[b]] ends with an EOS id, for b in idx. METHOD-3. (m,) -> (m,) bool."""
        return (n > 0) & np.isin(self.seq[idx, np.maximum(n - 1, 0)], self.eos)

    def ends_with_stop(self, idx: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Whether seq[b, :n[b]] ends with one of the stop sequences, for b in idx. STOP-2. (m,) -> (m,) bool."""
        out = np.zeros(len(idx), dtype=bool)
        for stop in self.t.ensemble.stop_sequences:
            m = len(stop)
            hit = n >= m
            for j, token in enumerate(stop):  # token j of the stop sits at position n - m + j
                hit &= self.seq[idx, np.maximum(n - m + j, 0)] == token
            out |= hit
        return out

    def done(self, idx: np.ndarray) -> np.ndarray:
        """METHOD-3, STOP-2: max_new_tokens emitted, or the emitted tokens end with an EOS id or a stop
        sequence. (m,) -> (m,) bool."""
        e = self.e[idx]
        return (e >= self.L) | self.ends_with_eos(idx, e) | self.ends_with_stop(idx, e)

    def room(self, idx: np.ndarray) -> np.ndarray:
        """How many more tokens chains idx may cache (0 after a cached EOS or stop sequence). METHOD-3, STOP-2."""
        s = self.s[idx]
        return np.where(self.ends_with_eos(idx, s) | self.ends_with_stop(idx, s), 0, self.L - s)

    def holds(self, idx: np.ndarray, k: int, pos: np.ndarray) -> np.ndarray:
        return (self.lo[idx, k] <= pos) & (pos <= self.fed[idx, k])

    def held(self, idx: np.ndarray) -> np.ndarray:
        """Cached positions each member holds (SE-3's cache length). (m,) -> (m, N)."""
        e, s = self.e[idx, None], self.s[idx, None]
        fed, lo = self.fed[idx, :self.N], self.lo[idx, :self.N]  # an outside drafter never scores
        return np.maximum(0, np.minimum(fed, s - 1) - np.maximum(lo, e) + 1)

    def all_hold(self, idx: np.ndarray, pos: np.ndarray) -> np.ndarray:
        ok = np.ones(len(idx), dtype=bool)
        for k in range(self.N):
            ok &= self.holds(idx, k, pos)
        return ok

    def target(self, idx: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """r at position pos of chains idx, from every member's own context there. COMBINE-7. -> (m, V)."""
        return self.t.r(self.t.codes([self.kst[k][idx, pos] for k in range(self.N)]))

    def proposal(self, idx: np.ndarray, k: int, pos: np.ndarray) -> np.ndarray:
        """p_k of member k at position pos (it must hold it). TRANSFORM-6. -> (m, V)."""
        return self.t.p[k][self.kst[k][idx, pos]]

    # -- member calls (COST-1) ----------------------------------------------------------------
    def forward(self, idx: np.ndarray, k: int):
        """One call of member k over every token of seq it has not processed. COST-1.

        It now holds positions fed+1 .. s (added to what it held) and knows its context state there.
        """
        if not idx.size:
            return
        start, upto = self.fed[idx, k], self.s[idx]
        empty = self.lo[idx, k] > start
        self.lo[idx[empty], k] = start[empty] + 1
        kst, nxt = self.kst[k], self.t.states[k].next
        for j in range(int(start.min()), int(upto.max())):
            live = idx[(start <= j) & (j < upto)]
            kst[live, j + 1] = nxt[kst[live, j], self.seq[live, j]]
        self.fed[idx, k] = upto

    # -- the verbs the methods are written in ------------------------------------------------
    def begin_step(self, idx: np.ndarray):
        self.e0[idx] = self.e[idx]
        self.ch.step(idx)

    def emit_from(self, idx: np.ndarray, probs: np.ndarray):
        """Draw the next token of chains idx (empty cache) from probs (m, V) and emit it. RNG-2."""
        pos = self.e[idx]
        self.seq[idx, pos] = self.ch.draw(idx, probs)
        self.e[idx] = self.s[idx] = pos + 1

    def sample_target(self, idx: np.ndarray):
        """Draw the next token straight from r and emit it. METHOD-2, STD-2."""
        self.emit_from(idx, self.target(idx, self.e[idx]))

    def first_token(self, idx: np.ndarray):
        """METHOD-2: after prefill every member holds position 0; the first token comes from r."""
        self.sample_target(idx)

    def end_round(self, idx: np.ndarray):
        """NAIVE-4: what is left in the cache (past an emitted EOS or max_new_tokens) is dropped."""
        self.s[idx] = self.e[idx]

    def choose_member(self, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """MIX-2: member k ~ Cat(w), one uniform per chain. weights (N,) -> (m,) member indices."""
        return self.ch.draw(idx, np.broadcast_to(weights, (len(idx), len(weights))))

    def draw(self, idx: np.ndarray, k: int, bonus: bool = False):
        """Member k draws at position s from its own p_k and caches the token with q = p_k. SE-3, NAIVE-2."""
        pos = self.s[idx]
        q = self.proposal(idx, k, pos)
        self.seq[idx, pos] = self.ch.draw(idx, q)
        self.prop[idx, pos], self.qv[idx, pos], self.bonus[idx, pos] = k, q, bonus
        self.s[idx] = pos + 1

    def propose(self, idx: np.ndarray, k: int, count, *, bonus: bool = False):
        """Member k draws up to `count` tokens, calling itself before each position it lacks. NAIVE-2, SE-2.

        Stops early where METHOD-3 leaves no room. count: an int or one per chain of idx.
        """
        count = np.broadcast_to(np.asarray(count), idx.shape)
        for t in range(int(count.max()) if idx.size else 0):
            live = idx[(t < count) & (self.room(idx) > 0)]
            if not live.size:
                break
            self.forward(live[~self.holds(live, k, self.s[live])], k)
            self.draw(live, k, bonus=bonus and t == 0)

    def continue_proposal(self, idx: np.ndarray, k: int, count):
        """SE-6: the scorer proposes count more tokens after its bonus, with every emitted token in context."""
        self.propose(idx, k, count)

    def verify_target(self, idx: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The r a head token is verified against: the members' r by name, whoever proposed (COMBINE-1);
        p_k of the chosen member k for chains verifying a speculative mixture's block (SMIX-3)."""
        against = self.against[idx]
        if (against < 0).all():
            return self.target(idx, pos)
        r = np.empty((len(idx), self.t.vocab_size))
        mixture = against >= 0
        if (~mixture).any():
            r[~mixture] = self.target(idx[~mixture], pos[~mixture])
        for k in np.unique(against[mixture]):
            mine = against == k
            r[mine] = self.proposal(idx[mine], int(k), pos[mine])
        return r

    def residual(self, r: np.ndarray, q: np.ndarray) -> np.ndarray:
        """norm(max(0, r - q)) per row; a row of mass <= 0 falls back to r. VERIFY-2, VERIFY-4. (m, V)."""
        excess = np.maximum(0.0, r - q)
        mass = excess.sum(axis=1, keepdims=True)
        ok = mass > 0
        return np.where(ok, excess / np.where(ok, mass, 1.0), r)

    def verify_head(self, idx: np.ndarray) -> np.ndarray:
        """Verify the head of each chain's cache, emit it or its replacement. METHOD-4, VERIFY-3.

        Returns the accepted mask (m,); rejected chains are cropped (reject).
        """
        pos = self.e[idx]
        rows = np.arange(len(idx))
        x, q = self.seq[idx, pos], self.qv[idx, pos]  # (m,), (m, V)
        r = self.verify_target(idx, pos)
        accepted = self.ch.accept(idx, r[rows, x], q[rows, x])
        out, at = idx[~accepted], pos[~accepted]
        if out.size:
            self.seq[out, at] = self.ch.draw(out, self.residual(r[~accepted], q[~accepted]))
        self.e[idx] = pos + 1
        if out.size:
            self.reject(out, at, x[~accepted])
        return accepted

    def reject(self, idx: np.ndarray, pos: np.ndarray, rejected: np.ndarray):
        """Drop the cache and every held output; crop members with fed > pos to pos. METHOD-4, SE-5."""
        self.s[idx] = pos + 1
        for k in range(self.M):  # the members and an outside drafter
            self.fed[idx, k] = np.minimum(self.fed[idx, k], pos)
            self.lo[idx, k] = self.fed[idx, k] + 1

    def verify_while_held(self, idx: np.ndarray, scorer: np.ndarray):
        """SE-4: verify heads while every member holds them; a rejection (SE-5) clears scorer[b]."""
        while idx.size:
            pos = self.e[idx]
            idx = idx[(self.s[idx] > pos) & ~self.done(idx) & self.all_hold(idx, pos)]
            if not idx.size:
                return
            accepted = self.verify_head(idx)
            scorer[idx[~accepted]] = -1
            idx = idx[accepted]

    def naive_bonus(self, idx: np.ndarray):
        """NAIVE-5: after a fully accepted round that every member scored past, the next token comes from r."""
        self.sample_target(idx)

    def free_bonus(self, idx: np.ndarray, k: int):
        """Member k, which ran over the whole block, draws the next token from its p_k. SMIX-5."""
        self.emit_from(idx, self.proposal(idx, k, self.e[idx]))

    def emit_head(self, idx: np.ndarray):
        """Emit the head of each chain's cache as is: its proposer was the chosen member. SMIX-3 step 2."""
        self.e[idx] += 1

    def tokens(self) -> np.ndarray:
        """The emitted tokens, (B, L), PAD after each chain's end."""
        return np.where(np.arange(self.L)[None, :] < self.e[:, None], self.seq, PAD)


# -- the methods, one function each (reference/methods.py) -------------------------------------
def standard_ensemble(run: VectorRun, method: StandardEnsemble):
    """STD-1, STD-2 for every chain: every member processes the last token, the next comes from r."""
    chains = np.arange(run.B)
    run.begin_step(chains)
    run.first_token(chains)  # METHOD-2
    while (live := chains[~run.done(chains)]).size:
        run.begin_step(live)
        for k in range(run.N):  # STD-1
            run.forward(live, k)
        run.sample_target(live)  # STD-2


def naive_se(run: VectorRun, method: NaiveSE):
    """NAIVE-2 .. NAIVE-5 for every chain: a fixed proposer (maybe the outside drafter, then a bonus from r)."""
    chains, proposer = np.arange(run.B), run.t.model_names.index(method.proposer)
    run.begin_step(chains)
    run.first_token(chains)  # METHOD-2
    while (live := chains[~run.done(chains)]).size:
        run.begin_step(live)
        _naive_round(run, live, proposer, method.gamma)


def _naive_round(run: VectorRun, live: np.ndarray, proposer: int, gamma: int):
    """NAIVE-2 .. NAIVE-5 for chains `live` (also SMIX-6's greedy step)."""
    run.propose(live, proposer, gamma)  # NAIVE-2
    for k in range(run.N):  # NAIVE-3
        if k != proposer:
            run.forward(live, k)
    verifying = live
    while verifying.size:  # NAIVE-4: left to right until a rejection, the end of the cache or METHOD-3
        verifying = verifying[(run.s[verifying] > run.e[verifying]) & ~run.done(verifying)]
        if verifying.size:
            verifying = verifying[run.verify_head(verifying)]
    pos = run.e[live]  # NAIVE-5: every member holds the next position only after an outside proposer's
    whole = live[(run.s[live] == pos) & ~run.done(live) & run.all_hold(live, pos)]  # fully accepted round
    if whole.size:
        run.naive_bonus(whole)
    run.end_round(live)


def speculative_ensemble(run: VectorRun, method: SpeculativeEnsemble):
    """SE-2 .. SE-6 for every chain: alternate proposals with bonus tokens, any number of members."""
    chains, names = np.arange(run.B), run.t.names
    gammas = np.array([method.gammas[k] for k in names])
    default = names.index(method.default_proposer)
    scorer = np.full(run.B, -1)
    run.begin_step(chains)
    run.first_token(chains)  # METHOD-2
    while (live := chains[~run.done(chains)]).size:
        run.begin_step(live)
        scorer[live] = -1
        fresh = run.s[live] == run.e[live]
        run.propose(live[fresh], default, gammas[default])  # SE-2: the default proposer drafts
        busy = live[~fresh]
        if busy.size:  # SE-3: the member holding the fewest cached positions scores, then draws a bonus
            chosen = np.argmin(run.held(busy), axis=1)  # ties: lowest index
            for k in range(run.N):
                group = busy[chosen == k]
                run.forward(group, k)
                run.propose(group, k, 1, bonus=True)
                scorer[group] = k
        run.verify_while_held(live, scorer)  # SE-4, SE-5
        going = live[(scorer[live] >= 0) & ~run.done(live)]
        for k in range(run.N):  # SE-6: the scorer continues its own proposal
            run.continue_proposal(going[scorer[going] == k], k, gammas[k] - 1)


def mixture_ensemble(run: VectorRun, method: MixtureEnsemble):
    """MIX-2 (MIX-3 at T = 0) for every chain: pick a member by weight, draw from its p_k."""
    chains, ensemble = np.arange(run.B), run.t.ensemble
    weights = np.array([float(ensemble.combination.weights[k]) for k in run.t.names])
    run.begin_step(chains)
    run.first_token(chains)  # METHOD-2
    while (live := chains[~run.done(chains)]).size:
        run.begin_step(live)
        if ensemble.sampling.greedy:  # MIX-3: at T = 0 r is a one-hot, not a mixture
            for k in range(run.N):
                run.forward(live, k)
            run.sample_target(live)
            continue
        chosen = run.choose_member(live, weights)  # MIX-2
        for k in range(run.N):
            group = live[chosen == k]
            if group.size:
                run.forward(group, k)
                run.emit_from(group, run.proposal(group, k, run.e[group]))


def speculative_mixture(run: VectorRun, method: SpeculativeMixture):
    """SMIX-2..SMIX-5 (SMIX-6 at T = 0) for every chain: the drafter drafts, each position's member is
    chosen by weight and verifies alone; a free bonus after a fully accepted block."""
    chains, ensemble = np.arange(run.B), run.t.ensemble
    d, gamma = run.t.model_names.index(method.drafter), method.gamma
    weights = np.array([float(ensemble.combination.weights[k]) for k in run.t.names])
    carried = np.full(run.B, -1)  # SMIX-5: a choice carried to the next block's first position
    rejected = np.zeros(run.B, dtype=bool)
    run.begin_step(chains)
    run.first_token(chains)  # METHOD-2
    while (live := chains[~run.done(chains)]).size:
        run.begin_step(live)
        if ensemble.sampling.greedy:  # SMIX-6: a naive round with the drafter
            _naive_round(run, live, d, gamma)
            continue
        run.propose(live, d, gamma)  # SMIX-2
        rejected[live] = False
        verifying = live
        while verifying.size:  # SMIX-3, left to right
            verifying = verifying[(run.s[verifying] > run.e[verifying]) & ~run.done(verifying)]
            if not verifying.size:
                break
            chosen = carried[verifying].copy()  # 1. k_i: the carried choice, else a fresh draw
            fresh = chosen < 0
            chosen[fresh] = run.choose_member(verifying[fresh], weights)
            carried[verifying] = -1
            own = verifying[chosen == d]
            run.emit_head(own)  # 2. the drafter chosen: emit its token as is
            kept = [own]
            for k in range(run.N):
                group = verifying[chosen == k] if k != d else verifying[:0]
                if not group.size:
                    continue
                pos = run.e[group]
                run.forward(group[~run.holds(group, k, pos)], k)  # 3. SMIX-4: catch up over the block
                run.against[group] = k
                accepted = run.verify_head(group)  # ... against p_k alone
                run.against[group] = -1
                rejected[group[~accepted]] = True
                kept.append(group[accepted])
            verifying = np.sort(np.concatenate(kept))
        full = live[~rejected[live] & ~run.done(live)]  # SMIX-5: the next position's choice
        if full.size:
            carried[full] = run.choose_member(full, weights)
            for k in range(run.N):
                group = full[carried[full] == k]
                group = group[run.holds(group, k, run.e[group])]
                if group.size:  # k ran over the block: the free bonus, no call
                    run.free_bonus(group, k)
                    carried[group] = -1
        run.end_round(live)


METHODS = {StandardEnsemble: standard_ensemble, NaiveSE: naive_se, SpeculativeEnsemble: speculative_ensemble,
           MixtureEnsemble: mixture_ensemble, SpeculativeMixture: speculative_mixture}


class VectorSampler:
    """Many independent chains of one method on one toy ensemble (NumPy, float64). ORACLE-8.

    Chain b consumes its own uniforms in RNG-1's order, so `replay` couples it token for token with
    `reference.generate`, and `enumerate.exact_law` gives its exact law.

    run_class: the state and verbs (VectorRun, or a mutant's subclass). chooser_wrapper: a function
    applied to each chooser before a run (mutants of the randomness use it).

    >>> from specens.reference import SpeculativeEnsemble
    >>> from specens.reference.zoo import toy_ensemble
    >>> sampler = VectorSampler(toy_ensemble(2, 4), SpeculativeEnsemble({"m0": 1, "m1": 3}), 4)
    >>> sampler.sample(3, seed=0).shape
    (3, 4)
    """

    def __init__(self, ensemble: Ensemble, method, length: int, *, run_class=VectorRun, chooser_wrapper=None,
                 tables: Tables | None = None):
        if type(method) not in METHODS:
            raise ValueError(f"method: must be one of {[m.__name__ for m in METHODS]}, got {method!r}")
        if getattr(method, "confidence_threshold", None) is not None:
            raise ValueError("method: this sampler runs fixed-length proposals; a confidence_threshold changes which "
                             "calls a run spends, never its law (METHOD-6), so give the method without it")
        self.ensemble, self.method, self.length = ensemble, method.check(ensemble), length
        self.tables = tables or Tables(ensemble, length=length)  # only the states a run reaches (kit laws)
        self.run_class, self.chooser_wrapper = run_class, chooser_wrapper

    def run(self, chooser, n: int, *, wrap: bool = True) -> VectorRun:
        """Run n chains whose choice points `chooser` resolves; returns the final state.

        wrap=False skips `chooser_wrapper` (the exact enumeration brings its own chooser).
        """
        if wrap and self.chooser_wrapper is not None:
            chooser = self.chooser_wrapper(chooser)
        run = self.run_class(self.tables, self.length, chooser, n)
        run.method = self.method
        METHODS[type(self.method)](run, self.method)
        return run

    def sample(self, n: int, *, seed: int | None = None, rng: np.random.Generator | None = None,
               chunk: int = 1 << 16) -> np.ndarray:
        """n sequences, (n, L) int64 with PAD after each end; chains independent (RNG-1).

        Give `seed` (NumPy's default generator) or `rng`. Chains run `chunk` at a time; the samples
        are a function of (seed, n, chunk).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: the number of sequences must be a non-negative integer, got {n!r}")
        if (seed is None) == (rng is None):
            raise ValueError("sample: give either seed= or rng=")
        rng = rng or np.random.default_rng(seed)
        parts = [self.run(UniformChooser(rng=rng, n=m), m).tokens()
                 for m in [min(chunk, n - i) for i in range(0, n, chunk)]]
        return np.concatenate(parts) if parts else np.zeros((0, self.length), dtype=np.int64)

    def replay(self, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one chain per row of `uniforms` (B, K): (tokens (B, L) with PAD, uniforms used (B,)). RNG-1."""
        chooser = UniformChooser(uniforms)
        run = self.run(chooser, len(chooser.u))
        return run.tokens(), chooser.used
