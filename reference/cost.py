"""Cost accounting helpers and the paper's speed-up formulas (spec/07-cost.md, spec/08-theorems.md).

The formulas are exact functions of rationals so tests can compare them with the exact engine.
"""

from __future__ import annotations

from fractions import Fraction

from collections.abc import Mapping

from .numbers import as_fraction
from .toy import Ensemble
from .verify import overlap


def standard_cost(ensemble: Ensemble, tokens: int) -> Fraction:
    """Cost of a standard-ensemble run emitting `tokens` tokens: sum_k c_k per token. COST-2, COST-3.

    Prefill pays for token 0 (METHOD-2), and STD-1 calls every member once per later token.
    Two members of costs 1/4 and 1 emitting 3 tokens: 3 * 5/4 = 15/4.
    """
    return tokens * sum((m.cost for m in ensemble.members), Fraction(0))


def naive_expected_tokens(alpha: Fraction, gamma: int) -> Fraction:
    """(1 - alpha^gamma) / (1 - alpha), gamma at alpha = 1: tokens per naive round. THM-3.1."""
    alpha = Fraction(alpha)
    return Fraction(gamma) if alpha == 1 else (1 - alpha**gamma) / (1 - alpha)


def naive_speedup(alpha: Fraction, c: Fraction, gamma: int) -> Fraction:
    """S = (1 - alpha^gamma)(1 + c) / ((1 - alpha)(1 + c gamma)). THM-3.1."""
    return naive_expected_tokens(alpha, gamma) * (1 + Fraction(c)) / (1 + Fraction(c) * gamma)


def plain_speedup(alpha: Fraction, c: Fraction, gamma: int) -> Fraction:
    """(1 - alpha^(gamma+1)) / ((1 - alpha)(1 + c gamma)): naive SE with an outside drafter of cost c
    (members together cost 1) over the members alone, NAIVE-5's bonus included. THM-3.1.

    alpha: the acceptance rate in [0, 1]; c >= 0; gamma an integer >= 1 (NUM-1 numbers). Raises
    ValueError naming the argument otherwise."""
    alpha, c = as_fraction(alpha, name="alpha"), as_fraction(c, name="c")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha: an acceptance rate must lie in [0, 1], got {alpha}")
    if c < 0:
        raise ValueError(f"c: a drafter's cost must be >= 0, got {c}")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 1:
        raise ValueError(f"gamma: a proposal length must be an integer >= 1, got {gamma!r}")
    return naive_expected_tokens(alpha, gamma + 1) / (1 + c * gamma)


def never_slower_proposer(weights: tuple[Fraction, Fraction], costs: tuple[Fraction, Fraction]) -> int:
    """Index of a WE member whose naive rounds of gamma = 2 are never slower than the ensemble. COR-3.5.

    The member qualifies when its weight is at least its share of the cost, w_i >= c_i / (c_0 + c_1):
    its acceptance is at least its weight (THM-3.2) and naive_speedup(alpha, c_i / c_j, 2) >= 1 iff
    alpha >= c_i / (c_i + c_j) (COR-3.4's threshold). Weights and shares both sum to one, so one of
    the two members always qualifies; the one with the larger margin w_i - share_i is returned (the
    first on a tie). Needs no alpha: weights and costs decide.

    Args:
        weights: the two WE weights, non-negative, summing to one.
        costs: the two members' costs per call, positive.
    Returns:
        0 or 1, the member to propose.

    Weights (1/2, 1/2), costs (1/4, 1): shares (1/5, 4/5), margins (3/10, -3/10), so member 0; its
    alpha >= 1/2 gives naive_speedup(1/2, 1/4, 2) = (3/2)(5/4)/(3/2) = 5/4 >= 1.
    """
    w = [Fraction(x) for x in weights]
    c = [Fraction(x) for x in costs]
    if len(w) != 2 or len(c) != 2:
        raise ValueError(f"weights, costs: pass two of each (COR-3.5 covers two members); got {len(w)} and {len(c)}")
    if min(w) < 0 or sum(w) != 1:
        raise ValueError(f"weights: need two non-negative weights summing to 1, got {weights}")
    if min(c) <= 0:
        raise ValueError(f"costs: need two positive costs per call, got {costs}")
    margins = [w[i] - c[i] / (c[0] + c[1]) for i in (0, 1)]
    return 0 if margins[0] >= margins[1] else 1


def alternate_speedup(alpha: Fraction, c: Fraction, gamma_q: int, gamma_p: int) -> Fraction:
    """One-cycle approximation S = (1 - a^gq)(1 + c) / ((1 - a)(1 + c gq - a^gp c)). THM-3.6, COR-3.7.

    With gq = gp = 1 it is (1 + c) / (1 + c - alpha c): alpha = 1/2, c = 1 gives 4/3.
    """
    alpha, c = Fraction(alpha), Fraction(c)
    return naive_expected_tokens(alpha, gamma_q) * (1 + c) / (1 + c * gamma_q - alpha**gamma_p * c)


# -- the speculative mixture (COST-4) ------------------------------------------------------------
def _rationals(values, *, name: str, low=0) -> dict:
    """{member: exact value} of a COST-4 argument: a mapping by member name of numbers >= `low` (NUM-1)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{name}: give a dict keyed by member name, e.g. {{'a': '1/2', 'b': '1/2'}}; got "
                         f"{type(values).__name__}")
    out = {k: as_fraction(v, name=f"{name}[{k!r}]") for k, v in values.items()}
    bad = {k: str(v) for k, v in out.items() if v < low}
    if bad:
        raise ValueError(f"{name}: must be >= {low}, got {bad}")
    return out


def _mixture_weights(weights) -> dict:
    """COST-4's w_k: non-negative, summing to exactly 1 (the normalised weights of COMBINE-2)."""
    weights = _rationals(weights, name="weights")
    if sum(weights.values()) != 1:
        raise ValueError(f"weights: must sum to exactly 1, got sum {sum(weights.values())}; divide relative weights "
                         "by their sum (COMBINE-2), or write them as rational strings such as '3/10' (a float 0.3 "
                         "is not 3/10, NUM-1)")
    return weights


def mixture_cost_per_token(weights: Mapping, costs: Mapping) -> Fraction:
    """The mixture ensemble's cost per token, sum_k w_k c_k: one call of the chosen member (MIX-2). COST-4.

    weights: {member: w_k}, non-negative and summing to 1; costs: {member: c_k >= 0}, the same keys.
    Raises ValueError otherwise, naming the argument.

    Weights {a: 1/3, b: 2/3}, costs {a: 1/4, b: 1}: 1/12 + 2/3 = 3/4.
    """
    weights, costs = _mixture_weights(weights), _rationals(costs, name="costs")
    if set(costs) != set(weights):
        raise ValueError(f"weights, costs: key both by the same member names, got {sorted(weights)} and {sorted(costs)}")
    return sum((weights[k] * costs[k] for k in weights), Fraction(0))


def _smix_block(weights, costs, alphas, drafter, drafter_cost, m, start, bonus) -> dict:
    """Outcomes of one block of SMIX-2..SMIX-5 under COST-4's model: {(tokens, cost, next start): probability}.

    m: tokens drafted (gamma, fewer at the end). start: the choice carried into the block (None: a
    fresh draw). bonus: whether SMIX-5 may run after the block (False when it reaches the length).
    Walks the choices position by position; what is left of a block depends only on the position and
    the set of members already called in it, so each (position, set) is walked once: gamma * 2^n
    states, not n^gamma choice sequences.
    """
    memo: dict = {}

    def walk(j, called) -> dict:  # outcomes from position j on: {(tokens, cost from here, next start): p}
        if (j, called) in memo:
            return memo[j, called]
        out: dict = {}

        def add(key, p):
            out[key] = out.get(key, Fraction(0)) + p

        if j == m:  # SMIX-5
            if not bonus:
                add((m, Fraction(0), None), Fraction(1))
            for k, w in weights.items():
                if bonus and w:
                    add((m + 1, Fraction(0), None) if k != drafter and k in called else (m, Fraction(0), k), w)
            memo[j, called] = out
            return out
        choices = {start: Fraction(1)} if j == 0 and start is not None else weights
        for k, w in choices.items():
            if not w:
                continue
            if k == drafter:  # SMIX-3 step 2: kept as is
                for key, p in walk(j + 1, called).items():
                    add(key, w * p)
                continue
            c = Fraction(0) if k in called else costs[k]  # SMIX-4: one call per block
            a = alphas[k]
            if a:
                for (t, rest, nxt), p in walk(j + 1, called | {k}).items():
                    add((t, c + rest, nxt), w * a * p)
            if a != 1:
                add((j + 1, c, None), w * (1 - a))
        memo[j, called] = out
        return out

    # SMIX-2: d never holds a block's first position, so the block pays m calls of d
    return {(t, m * drafter_cost + c, nxt): p for (t, c, nxt), p in walk(0, frozenset()).items()}


def _smix_model(weights, costs, alphas, drafter, drafter_cost, gamma):
    """COST-4's inputs, checked and exact; every bad one is refused in one line naming it."""
    weights, costs, alphas = _mixture_weights(weights), _rationals(costs, name="costs"), _rationals(alphas, name="alphas")
    if set(costs) != set(weights) or any(k not in alphas for k in weights if k != drafter):
        raise ValueError("weights, costs, alphas: key all three by the members' names (alphas may omit the drafter)")
    if any(a > 1 for a in alphas.values()):
        raise ValueError(f"alphas: acceptance rates lie in [0, 1], got {({k: str(a) for k, a in alphas.items()})}")
    if drafter is not None and drafter not in weights:
        raise ValueError(f"drafter: {drafter!r} is not a member {sorted(weights)}; pass None for a drafter outside "
                         "the ensemble (w_d = 0)")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 1:
        raise ValueError(f"gamma: a block length must be an integer >= 1, got {gamma!r}")
    c_d = as_fraction(drafter_cost, name="drafter_cost")
    if c_d < 0:
        raise ValueError(f"drafter_cost: must be >= 0, got {c_d}")
    return weights, costs, alphas, c_d


def speculative_mixture_cost_per_token(weights: dict, costs: dict, alphas: dict, drafter_cost, gamma: int, *,
                                       drafter: str | None = None) -> Fraction:
    """Long-run expected cost per emitted token of the speculative mixture, exactly, under COST-4's model.

    Raises ValueError for weights that are negative or do not sum to 1, alphas outside [0, 1],
    negative costs or drafter_cost, mismatched keys, a `drafter` that is not a member, gamma < 1, or
    anything that is not a number (NUM-1).

    Args:
        weights: {member: w_k}, summing to 1. costs: {member: c_k}. alphas: {member: 1 - TV(p_d, p_k)}
            (the drafter's own entry, if a member, is ignored). drafter_cost: c_d. gamma: block length.
        drafter: the drafter's member name, or None for a drafter outside the ensemble.
    Returns:
        E[cost per block] / E[tokens per block] in the stationary regime of the carried choice
        (SMIX-5): blocks form a Markov chain whose state is the choice carried into them.

    A perfect outside drafter (every alpha 1) with gamma 1, weights {a: 1/2, b: 1/2}, costs 1 and
    c_d = 0: a block costs the chosen member's call (1) and emits 1 token, plus a free bonus when
    the bonus choice repeats it (1/2); a carried choice costs 1 and emits 1 + its own bonus chance.
    So every block costs 1 and emits 3/2 tokens: 2/3 per token, against the mixture ensemble's 1.
    """
    weights, costs, alphas, c_d = _smix_model(weights, costs, alphas, drafter, drafter_cost, gamma)
    states = [None] + [k for k, w in weights.items() if w]
    blocks = {s: _smix_block(weights, costs, alphas, drafter, c_d, gamma, s, True) for s in states}
    # stationary law pi of the carried state: pi = pi P, sum pi = 1 (Gaussian elimination in rationals)
    n = len(states)
    P = [[sum((p for (t, c, nxt), p in blocks[s].items() if nxt == s2), Fraction(0)) for s2 in states]
         for s in states]
    rows = [[P[j][i] - (1 if i == j else 0) for j in range(n)] + [Fraction(0)] for i in range(n - 1)]
    rows.append([Fraction(1)] * n + [Fraction(1)])
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [x / rows[col][col] for x in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                rows[r] = [a - rows[r][col] * b for a, b in zip(rows[r], rows[col])]
    pi = {s: rows[i][n] for i, s in enumerate(states)}
    tokens = sum((pi[s] * p * t for s in states for (t, c, _), p in blocks[s].items()), Fraction(0))
    cost = sum((pi[s] * p * c for s in states for (t, c, _), p in blocks[s].items()), Fraction(0))
    return cost / tokens


def speculative_mixture_expected_cost(ensemble, method, length: int) -> Fraction:
    """Exact expected total cost (prefill included, COST-2) of `length` tokens of the speculative mixture
    on a toy ensemble whose members and drafter do not read their context (order 0), with no EOS and T > 0.

    There the positions are independent with acceptance alpha_k = overlap(p_d, p_k) (THM-ACCEPT), so
    COST-4's model is exact and this must equal the exact engine's expected cost (ENGINE-1).
    Raises ValueError for another method, or a `length` that is not an integer >= 1.
    """
    from .methods import SpeculativeMixture

    if not isinstance(method, SpeculativeMixture):
        raise ValueError(f"method: COST-4 prices the speculative mixture; give a SpeculativeMixture, got "
                         f"{type(method).__name__}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length: the number of tokens must be an integer >= 1 (max_new_tokens), got {length!r}")
    method = method.check(ensemble)
    models = ensemble.models
    if any(m.order != 0 for m in models) or ensemble.eos_token_id or ensemble.sampling.greedy:
        raise ValueError("ensemble: COST-4's exact finite-length cost needs order-0 members and drafter, no EOS "
                         "and T > 0; use the exact engine (exact_output_pmf) otherwise")
    d = method.drafter
    p_d = ensemble.proposal(d, ensemble.prompt)
    weights = {k: Fraction(ensemble.combination.weights[k]) for k in ensemble.names}
    costs = {m.name: m.cost for m in ensemble.members}
    alphas = {k: overlap(p_d, ensemble.proposal(k, ensemble.prompt)) for k in ensemble.names if k != d}
    drafter = d if d in weights else None  # None: the outside drafter (w_d = 0)
    weights, costs, alphas, c_d = _smix_model(weights, costs, alphas, drafter, ensemble.member(d).cost, method.gamma)
    prefill = sum(costs.values(), Fraction(0)) + (c_d if drafter is None else 0)  # METHOD-1
    memo: dict = {}

    def rest(n, start):  # expected cost of the blocks after n emitted tokens
        if n >= length:
            return Fraction(0)
        if (n, start) not in memo:
            m = min(method.gamma, length - n)
            block = _smix_block(weights, costs, alphas, drafter, c_d, m, start, n + m < length)
            memo[n, start] = sum((p * (c + rest(n + t, nxt)) for (t, c, nxt), p in block.items()), Fraction(0))
        return memo[n, start]

    return prefill + rest(1, None)  # METHOD-2: the first token is drawn from r, no call


def tabled_cost(trace, table) -> Fraction:
    """Sum of t_k(n) over a run's forward calls, n the tokens each processed. COST-5.

    Args:
        trace: a run's trace (TRACE-1): events with `event`, and for `call` events `member`, `kind`
            and `fed` = [start, end]. Prefill calls are left out.
        table: {member name: {n: t_k(n)}}, costs as numbers or rational strings.
    Returns:
        The tabled cost, exact (Fraction; a float cost enters as its exact binary value).
    Raises:
        ValueError: a call's member or token count is not in the table.

    Calls (a, 1 token), (b, 2 tokens), (a, 1 token) with t_a = {1: 1/4}, t_b = {2: 3/2}: 1/4 + 3/2 + 1/4 = 2.
    """
    total = Fraction(0)
    for e in trace:
        if e["event"] != "call" or e["kind"] != "forward":
            continue
        start, end = e["fed"]
        costs = table.get(e["member"])
        if costs is None or (end - start) not in costs:
            raise ValueError(f"table: no cost for a call of member {e['member']!r} over {end - start} token(s); "
                             "measure t_k(n) for every n the runs use (scripts/bench_cost.py)")
        total += Fraction(costs[end - start])
    return total


# -- SE with proposal lengths 1, 1 (COST-6) ------------------------------------------------------------------
def _alternate_model(alphas, table, proposer):
    """COST-6's inputs, checked and exact: (alpha_d, alpha_o, t_d, t_o), each t a {1: ., 2: .} of Fractions."""
    alphas = _rationals(alphas, name="alphas")
    if len(alphas) != 2:
        raise ValueError(f"alphas: COST-6 prices SE of two members; give their two acceptance rates by name, got "
                         f"{sorted(alphas)}")
    if any(a > 1 for a in alphas.values()):
        raise ValueError(f"alphas: acceptance rates lie in [0, 1], got {({k: str(a) for k, a in alphas.items()})}")
    if proposer not in alphas:
        raise ValueError(f"proposer: {proposer!r} is not one of the members {sorted(alphas)}; name the default "
                         "proposer (SE-2), the member that drafts when nothing is cached")
    if not isinstance(table, Mapping):
        raise ValueError(f"table: give {{member: {{1: t_k(1), 2: t_k(2)}}}} (COST-5), got {type(table).__name__}")
    (other,) = (k for k in alphas if k != proposer)
    costs = {}
    for k in (proposer, other):
        row = table.get(k)
        if not isinstance(row, Mapping):
            raise ValueError(f"table: no row for member {k!r}; give {{member: {{1: t_k(1), 2: t_k(2)}}}} for both "
                             "members (COST-5, scripts/bench_cost.py measures them)")
        row = {int(n): v for n, v in row.items()}  # JSON keys are strings
        if 1 not in row or 2 not in row:
            raise ValueError(f"table: member {k!r} needs t(1) and t(2), the costs of its calls of one and two "
                             f"tokens, got n in {sorted(row)}")
        costs[k] = _rationals({n: row[n] for n in (1, 2)}, name=f"table[{k!r}]")
    return alphas[proposer], alphas[other], costs[proposer], costs[other]


def alternate_cost_per_token(alphas: Mapping, table: Mapping, *, proposer: str) -> Fraction:
    """Long-run expected cost per emitted token of SE with two members and gammas 1, 1, exactly, under
    COST-6's model (spec/07-cost.md).

    Args:
        alphas: {member: alpha_k}, the rate at which verification accepts member k's proposals
            (1 - TV(q_k, r), THM-ACCEPT), for both members.
        table: {member: {1: t_k(1), 2: t_k(2)}}, the cost of a call of one and of two tokens (COST-5;
            keys may be JSON strings).
        proposer: the default proposer d (SE-2), the member that drafts after a rejection.
    Returns:
        E[cost of a cycle] / E[tokens of a cycle], a cycle running from one cached proposal of d to the
        next: `(t_o(2) + (1 - a_d) t_d(1) + a_d (t_d(2) + (1 - a_o) t_d(1))) / (1 + a_d)`.
    Raises:
        ValueError: not exactly two members, a rate outside [0, 1], a negative cost, a missing t(1) or
        t(2), an unknown proposer, or anything that is not a number (NUM-1).

    With COST-1's costs (t_k(n) = c_k: d costs c, o costs 1) and one rate alpha for both the
    speed-up over the standard ensemble is (1 + c)(1 + alpha) / (1 + c + alpha (1 - alpha) c): 1 at
    alpha = 0, 2 at alpha = 1, and THM-3.6's (1 + c)/(1 + c - alpha c) when c = 1. With
    c = 1/5, alpha = 1/2: 6/5 x 3/2 / (6/5 + 1/20) = 36/25.
    """
    a_d, a_o, t_d, t_o = _alternate_model(alphas, table, proposer)
    cycle = t_o[2] + (1 - a_d) * t_d[1] + a_d * (t_d[2] + (1 - a_o) * t_d[1])
    return cycle / (1 + a_d)


def alternate_acceptance_needed(speedup, alphas: Mapping, table: Mapping, *, proposer: str) -> Fraction:
    """The default proposer's acceptance rate at which COST-6's speed-up over the standard ensemble
    (cost `t_d(1) + t_o(1)` per token) equals `speedup`, the other member's rate held at `alphas[o]`.

    The speed-up is linear-fractional in a_d, so this is one division, exact. A result above 1 means no
    proposer reaches `speedup` at these costs; below 0, that any does. `alphas[proposer]` is not read
    (give any rate in [0, 1]). Raises ValueError as `alternate_cost_per_token`, and for a speed-up
    that is not a positive number.

    With COST-1's costs c = 1/5 and 1 and the other member's rate 1/2: 36/25 needs a_d = 1/2 (COST-6's note).
    """
    s = as_fraction(speedup, name="speedup")
    if s <= 0:
        raise ValueError(f"speedup: a positive ratio over the standard ensemble, got {s}")
    _, a_o, t_d, t_o = _alternate_model(alphas, table, proposer)
    rate = (t_d[1] + t_o[1]) / s  # the cost per token that speed-up means
    # rate (1 + a) = A + B a with A = t_o(2) + t_d(1), B = t_d(2) - a_o t_d(1)
    a, b = t_o[2] + t_d[1], t_d[2] - a_o * t_d[1]
    if rate == b:
        raise ValueError(f"speedup: {s} is the ceiling these costs approach only in the limit; no finite rate "
                         "reaches it")
    return (a - rate) / (rate - b)


def alternate_expected_cost(ensemble, method, length: int, table: Mapping | None = None) -> Fraction:
    """Exact expected tabled cost (COST-5: prefill left out) of `length` tokens of SE with gammas 1, 1 on a
    toy ensemble of two members that do not read their context (order 0), with no EOS, stop sequence
    or logits processor that reads the history.

    There every proposal of member k is accepted with probability alpha_k = overlap(q_k, r)
    (THM-ACCEPT), independently of the others, so COST-6's chain is exact: this must equal the
    expectation over the exact engine's runs (ENGINE-1) of `tabled_cost` of their traces. `table`
    defaults to COST-1's costs (t_k(1) = t_k(2) = c_k). Raises ValueError for another method, gammas
    other than 1, 1, a confidence threshold, an ensemble outside these conditions, or a bad `length`.
    """
    from .methods import SpeculativeEnsemble

    if not isinstance(method, SpeculativeEnsemble):
        raise ValueError(f"method: COST-6 prices SE; give a SpeculativeEnsemble, got {type(method).__name__}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length: the number of tokens must be an integer >= 1 (max_new_tokens), got {length!r}")
    method = method.check(ensemble)
    if set(method.gammas.values()) != {1} or method.confidence_threshold is not None or len(ensemble.names) != 2:
        raise ValueError("method: COST-6 prices SE of two members with gammas 1, 1 and no confidence threshold; "
                         "use the exact engine (exact_output_pmf) otherwise")
    if (any(m.order != 0 for m in ensemble.members) or ensemble.eos_token_id or ensemble.stop_sequences
            or ensemble.processors.reads_history):
        raise ValueError("ensemble: COST-6's exact finite-length cost needs order-0 members, no EOS, no stop "
                         "sequence and no logits processor that reads the history (PROC-12); use the exact "
                         "engine (exact_output_pmf) otherwise")
    d = method.default_proposer
    (o,) = (k for k in ensemble.names if k != d)
    r = ensemble.target(ensemble.prompt)
    alphas = {k: overlap(ensemble.proposal(k, ensemble.prompt), r) for k in (d, o)}
    if table is None:
        table = {m.name: {1: m.cost, 2: m.cost} for m in ensemble.members}
    a_d, a_o, t_d, t_o = _alternate_model(alphas, table, d)
    # states: S nothing cached (d drafts: a call of 1 token), D d's token cached (o scores 2 tokens and adds
    # its bonus), O o's bonus cached (d scores 2 tokens); a verification emits one token, an acceptance in D
    # leads to O and in O to D, a rejection to S. v[state] is the expected cost still to pay with n emitted.
    v = {"S": Fraction(0), "D": Fraction(0), "O": Fraction(0)}  # n = length: nothing left
    for _ in range(length - 1):  # n = length - 1 down to 1
        v = {"D": t_o[2] + a_d * v["O"] + (1 - a_d) * v["S"], "O": t_d[2] + a_o * v["D"] + (1 - a_o) * v["S"]}
        v["S"] = t_d[1] + v["D"]
    return v["S"]  # METHOD-2: the first token is drawn from r after the prefill, nothing is cached
