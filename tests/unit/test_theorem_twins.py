"""Exact-arithmetic twins of the machine-checked theorems in proofs/.

Each test restates one Coq theorem on small enumerated cases with `fractions.Fraction`, so a reader
can see the statement hold on numbers, and so a mistake in transcribing a theorem into the spec is
caught without running Coq. The twins are self-contained (Fractions and itertools only) and do not
import the project's reference package. Every group also has a negative check: a deliberately wrong
variant that the same comparison must reject.
"""

from fractions import Fraction as F
from functools import cache
from itertools import product

import pytest

ZERO, ONE, HALF = F(0), F(1), F(1, 2)


# ---------------------------------------------------------------------------------------------
# Small exact distributions.


def compositions(total, parts):
    """All tuples of `parts` non-negative integers summing to `total`."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in compositions(total - first, parts - 1):
            yield (first,) + rest


def all_dists(v, max_den=4):
    """Every distribution on v tokens whose probabilities have denominator at most max_den."""
    seen = set()
    for den in range(1, max_den + 1):
        for comp in compositions(den, v):
            d = tuple(F(k, den) for k in comp)
            if d not in seen:
                seen.add(d)
                yield d


DISTS = {v: list(all_dists(v)) for v in (2, 3)}
PAIRS = [(q, r) for v in (2, 3) for q in DISTS[v] for r in DISTS[v]]
LAMBDAS = [F(0), F(1, 4), F(1, 3), F(1, 2), F(2, 3), F(3, 4), F(1)]
GRID = [F(k, 8) for k in range(9)]  # alphas and costs in [0, 1]


def accept_prob(q, r, x):
    """min(1, r x / q x); 1 where q x = 0 (never drawn there), as in Verify.v's accept_prob."""
    return ONE if q[x] == 0 else min(ONE, r[x] / q[x])


def excess(q, r):
    return tuple(max(ZERO, ri - qi) for qi, ri in zip(q, r))


def residual(q, r):
    """norm(max(0, r - q)), or None when the residual mass is zero."""
    ex = excess(q, r)
    mass = sum(ex)
    return None if mass == 0 else tuple(e / mass for e in ex)


def overlap(q, r):
    return sum(min(qi, ri) for qi, ri in zip(q, r))


def tv(a, b):
    return HALF * sum(abs(ai - bi) for ai, bi in zip(a, b))


def step_law(q, r, res_rule=residual):
    """Law of the emitted token of one verification step, by enumerating draw, accept, replace."""
    law = [ZERO] * len(q)
    for x, qx in enumerate(q):
        a = accept_prob(q, r, x)
        law[x] += qx * a
        reject = qx * (1 - a)
        if reject:
            res = res_rule(q, r)
            assert res is not None, "a rejection with positive probability found a zero residual"
            for y, ry in enumerate(res):
                law[y] += reject * ry
    return tuple(law)


# ---------------------------------------------------------------------------------------------
# THM-VERIFY and THM-ACCEPT (proofs/Verify.v).


def test_one_verification_step_emits_exactly_r():
    """THM-VERIFY, Coq `verify_step_emits_r`: accept-or-resample emits r for every pair q, r."""
    for q, r in PAIRS:
        assert step_law(q, r) == r, (q, r)


def test_residual_mass_is_zero_exactly_when_q_equals_r():
    """THM-VERIFY, Coq `zero_residual_mass_iff_eq` and `reject_prob_zero_iff_eq`."""
    for q, r in PAIRS:
        mass = sum(excess(q, r))
        reject = sum(qx * (1 - accept_prob(q, r, x)) for x, qx in enumerate(q))
        assert reject == mass
        assert (mass == 0) == (q == r), (q, r)


def test_any_replacement_rule_is_harmless_when_the_residual_mass_is_zero():
    """THM-VERIFY, Coq `verify_step_emits_r` (residual_rule only constrains positive mass)."""
    arbitrary = [lambda q, r: (ONE,) + (ZERO,) * (len(q) - 1), lambda q, r: tuple(reversed(q))]
    for v in (2, 3):
        for q in DISTS[v]:
            for rule in arbitrary:
                assert step_law(q, q, rule) == q


def test_rejection_probability_equals_the_residual_mass():
    """THM-VERIFY, Coq `reject_prob_is_excess_mass`."""
    for q, r in PAIRS:
        reject = sum(qx * (1 - accept_prob(q, r, x)) for x, qx in enumerate(q))
        assert reject == sum(excess(q, r))


def test_acceptance_probability_is_the_overlap_and_one_minus_tv():
    """THM-ACCEPT, Coq `acceptance_is_overlap` and `overlap_is_one_minus_tv`."""
    for q, r in PAIRS:
        accept = sum(qx * accept_prob(q, r, x) for x, qx in enumerate(q))
        assert accept == overlap(q, r) == 1 - tv(q, r)


def test_an_unnormalised_residual_does_not_emit_r():
    """Negative control for THM-VERIFY: drawing from max(0, r - q) without normalising is wrong."""
    wrong = [p for p in PAIRS if step_law(p[0], p[1], excess) != p[1]]
    assert wrong, "the unnormalised residual should break exactness for some pair"
    # It only agrees where no rejection can happen or the residual mass is already one.
    for q, r in wrong:
        assert 0 < sum(excess(q, r)) < 1


def test_tv_without_the_half_does_not_give_the_acceptance():
    """Negative control for THM-ACCEPT: 1 - L1 distance is not the acceptance probability."""
    assert any(overlap(q, r) != 1 - 2 * tv(q, r) for q, r in PAIRS)


# ---------------------------------------------------------------------------------------------
# THM-3.2, COR-3.3, THM-WE-RESIDUAL (proofs/WeightedEnsemble.v).


def we_mix(lam, q, p):
    return tuple(lam * qi + (1 - lam) * pi for qi, pi in zip(q, p))


def we_cases():
    for v in (2, 3):
        for q in DISTS[v]:
            for p in DISTS[v]:
                for lam in LAMBDAS:
                    yield lam, q, p, we_mix(lam, q, p)


def test_weighted_ensemble_acceptance_is_at_least_the_proposer_weight():
    """THM-3.2, Coq `we_acceptance_ge_lambda`."""
    for lam, q, _p, r in we_cases():
        assert overlap(q, r) >= lam


def test_weighted_ensemble_acceptance_equals_the_weight_iff_supports_are_disjoint():
    """THM-3.2, Coq `we_acceptance_eq_lambda_iff_disjoint` (for lambda < 1)."""
    hits = 0
    for lam, q, p, r in we_cases():
        if lam == 1:
            continue
        disjoint = all(qi == 0 or pi == 0 for qi, pi in zip(q, p))
        assert (overlap(q, r) == lam) == disjoint, (lam, q, p)
        hits += disjoint
    assert hits > 0, "the enumeration must contain disjoint supports"


def test_weighted_ensemble_acceptance_has_the_closed_form():
    """THM-3.2 and THM-WE-RESIDUAL, Coq `we_acceptance_closed_form`."""
    for lam, q, p, r in we_cases():
        assert overlap(q, r) == 1 - (1 - lam) * tv(p, q)


def test_weighted_ensemble_residual_is_the_scaled_speculative_decoding_residual():
    """THM-WE-RESIDUAL, Coq `we_residual_is_sd_residual` and `we_residual_normalised_eq`."""
    for lam, q, p, r in we_cases():
        assert excess(q, r) == tuple((1 - lam) * e for e in excess(q, p))
        if lam < 1:
            assert residual(q, r) == residual(q, p)


def test_the_better_proposer_gets_acceptance_at_least_one_half():
    """COR-3.3, Coq `we_best_proposer_acceptance_ge_half`."""
    for lam, q, p, r in we_cases():
        best = max(overlap(q, r), overlap(p, r))
        assert best >= max(lam, 1 - lam) >= HALF


def test_acceptance_is_not_bounded_by_the_other_member_weight():
    """Negative control for THM-3.2: alpha_q >= 1 - lambda is false in general."""
    assert any(overlap(q, r) < 1 - lam for lam, q, _p, r in we_cases())


# ---------------------------------------------------------------------------------------------
# THM-3.1, COR-3.4, COR-3.7 (proofs/Cost.v, section Cost).


def tokens_law(alpha, gamma):
    """Cost.v's tokens_law: P(N = i) for i = 0 .. gamma."""
    law = [ZERO] * (gamma + 1)
    for i in range(1, gamma + 1):
        law[i] = alpha ** (i - 1) * (1 - alpha) if i < gamma else alpha ** (gamma - 1)
    return law


def tokens_law_by_enumeration(alpha, gamma):
    """Law of N from all accept/reject patterns of gamma independent proposals."""
    law = [ZERO] * (gamma + 1)
    for pattern in product((True, False), repeat=gamma):
        prob = ONE
        for accepted in pattern:
            prob *= alpha if accepted else 1 - alpha
        n = pattern.index(False) + 1 if False in pattern else gamma
        law[n] += prob
    return law


def test_tokens_per_naive_round_follow_the_truncated_geometric_law():
    """THM-3.1, Coq `tokens_law_sum1` and `tokens_tail`: P(N = i) and P(N >= k) = alpha^(k-1)."""
    for alpha, gamma in product(GRID, range(1, 5)):
        law = tokens_law(alpha, gamma)
        assert law == tokens_law_by_enumeration(alpha, gamma)
        assert sum(law) == 1
        for k in range(1, gamma + 1):
            assert sum(law[k:]) == alpha ** (k - 1)


def test_expected_tokens_per_naive_round_is_the_truncated_geometric_sum():
    """THM-3.1, Coq `expected_tokens_truncated_geometric`, `expected_tokens_sum_pow`,
    `expected_tokens_alpha_one` and `expectation_is_tail_sum`."""
    for alpha, gamma in product(GRID, range(1, 5)):
        law = tokens_law(alpha, gamma)
        mean = sum(i * pi for i, pi in enumerate(law))
        assert mean == sum(sum(law[k:]) for k in range(1, gamma + 1))
        assert mean == sum(alpha**i for i in range(gamma))
        if alpha != 1:
            assert mean == (1 - alpha**gamma) / (1 - alpha)
        else:
            assert mean == gamma


def test_a_bonus_token_exponent_does_not_match_the_naive_round():
    """Negative control for THM-3.1: (1 - alpha^(gamma+1)) / (1 - alpha) counts a bonus token."""
    for alpha, gamma in product(GRID[1:-1], range(1, 5)):
        mean = sum(i * pi for i, pi in enumerate(tokens_law(alpha, gamma)))
        assert mean != (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speedup_naive(alpha, c, gamma):
    return (1 - alpha**gamma) * (1 + c) / ((1 - alpha) * (1 + c * gamma))


def speedup_alt(alpha, c, gq, gp):
    return (1 - alpha**gq) * (1 + c) / ((1 - alpha) * (1 + c * gq - alpha**gp * c))


def test_alternate_proposals_with_gamma_one_are_never_slower():
    """COR-3.7, Coq `alt_speedup_gamma_one`, `never_slower_gamma_one` and `never_slower_eq_iff`."""
    for alpha, c in product(GRID, GRID):
        s = (1 + c) / (1 + c - alpha * c)
        if alpha != 1:
            assert speedup_alt(alpha, c, 1, 1) == s
        assert s >= 1
        assert (s == 1) == (alpha * c == 0)


def test_gamma_two_speeds_up_exactly_when_alpha_exceeds_c_over_one_plus_c():
    """COR-3.4, Coq `speedup_gamma_two_gt1_iff`."""
    for alpha, c in product(GRID[:-1], GRID):
        assert (speedup_naive(alpha, c, 2) > 1) == (alpha > c / (1 + c)), (alpha, c)


def test_gamma_two_threshold_is_not_alpha_greater_than_c():
    """Negative control for COR-3.4: the threshold c alone is wrong."""
    assert any((speedup_naive(a, c, 2) > 1) != (a > c) for a, c in product(GRID[:-1], GRID))


# ---------------------------------------------------------------------------------------------
# COR-3.5 (proofs/Cost.v, section WeCost): some proposer of a two-member WE is never slower.

COSTS = [F(1, 4), F(1), F(2), F(3)]  # per-call costs: cheaper, equal and costlier proposers


def speedup_from_law(alpha, c, gamma):
    """Cost.v's speedup_naive_law: E[N] (1 + c) / (1 + c gamma), E[N] from the law (defined at alpha = 1)."""
    mean = sum(i * pi for i, pi in enumerate(tokens_law(alpha, gamma)))
    return mean * (1 + c) / (1 + c * gamma)


@cache
def we_cost_cases():
    """(lam, tq, tp, S with q proposing at gamma = 2, S with p proposing at gamma = 2), for every WE case.

    S depends on the case only through (lam, alpha_q, alpha_p), so each distinct triple is kept once.
    """
    triples = {(lam, overlap(q, r), overlap(p, r)) for lam, q, p, r in we_cases()}
    return [(lam, tq, tp, speedup_from_law(alpha_q, tq / tp, 2), speedup_from_law(alpha_p, tp / tq, 2))
            for lam, alpha_q, alpha_p in sorted(triples) for tq, tp in product(COSTS, COSTS)]


def test_gamma_one_and_gamma_two_speed_ups_from_the_law_of_n():
    """COR-3.5, Coq `speedup_naive_law_eq`, `speedup_gamma_one_is_one` and `speedup_gamma_two_ge1_iff`."""
    for alpha, c in product(GRID, GRID + [F(2), F(4)]):
        assert speedup_from_law(alpha, c, 1) == 1
        assert (speedup_from_law(alpha, c, 2) >= 1) == (alpha >= c / (1 + c)), (alpha, c)
        if alpha != 1:
            for gamma in range(1, 5):
                assert speedup_from_law(alpha, c, gamma) == speedup_naive(alpha, c, gamma)


def test_a_proposer_whose_weight_covers_its_cost_share_is_never_slower_at_gamma_two():
    """COR-3.5, Coq `we_paying_proposer_never_slower`: lam >= tq / (tq + tp) gives S >= 1, S > 1 if >."""
    strict = 0
    for lam, tq, tp, s_q, _s_p in we_cost_cases():
        share = tq / (tq + tp)
        if lam >= share:
            assert s_q >= 1, (lam, tq, tp)
        if lam > share:
            assert s_q > 1, (lam, tq, tp)
            strict += 1
    assert strict > 0


def test_some_proposer_is_never_slower_at_gamma_two():
    """COR-3.5, Coq `we_some_proposer_never_slower`: q proposing or p proposing gives S >= 1."""
    for lam, tq, tp, s_q, s_p in we_cost_cases():
        assert s_q >= 1 or s_p >= 1, (lam, tq, tp)


def test_the_heavier_member_that_costs_no_more_is_never_slower_at_gamma_two():
    """COR-3.5, Coq `we_heavier_cheaper_proposer_never_slower`: lam >= 1/2 and tq <= tp give S >= 1."""
    for lam, tq, tp, s_q, _s_p in we_cost_cases():
        if lam >= HALF and tq <= tp:
            assert s_q >= 1, (lam, tq, tp)


def test_the_heavier_member_can_be_slower_when_it_costs_more():
    """Negative control for COR-3.5: weight alone does not choose the proposer; nor does either fixed role."""
    cases = we_cost_cases()
    assert any(lam >= HALF and tq > tp and s_q < 1 for lam, tq, tp, s_q, _ in cases)
    assert any(s_q < 1 for _, _, _, s_q, _ in cases) and any(s_p < 1 for *_, s_p in cases)


# ---------------------------------------------------------------------------------------------
# THM-SEQ-ROUND and THM-SE-ALT (proofs/Sequence.v): toy autoregressive models.

V = 3


def _toy(seed):
    """A distribution family over V tokens indexed by the prefix, with some zero probabilities."""

    def model(prefix):
        h = seed + 7 * len(prefix) + sum((i + 2) * (t + 1) for i, t in enumerate(prefix))
        weights = [(h * (x + 1) + x * x) % 4 for x in range(V)]
        if sum(weights) == 0:
            weights = [1] * V
        total = sum(weights)
        return tuple(F(w, total) for w in weights)

    return model


Q_TOY, P_TOY = _toy(1), _toy(2)


def R_TOY(prefix):
    """The ensemble: WE with unequal weights, except that it equals q after the prefix (0,)."""
    if tuple(prefix) == (0,):
        return Q_TOY(prefix)  # a zero-residual position
    return we_mix(F(1, 3), Q_TOY(prefix), P_TOY(prefix))


def add(law, key, prob):
    if prob:
        law[key] = law.get(key, ZERO) + prob


def r_law(r, n, s):
    """Law of n sequential draws from r at prefix s: a dict from n-tuples to probabilities."""
    if n == 0:
        return {(): ONE}
    law = {}
    for y, ry in enumerate(r(s)):
        for t, pt in r_law(r, n - 1, s + (y,)).items():
            add(law, (y,) + t, ry * pt)
    return law


def round_law(r, prop, n, j, s, accept=None):
    """Law of the tokens a lazy round of up to n proposals emits (Sequence.v round_expect)."""
    if n == 0:
        return {(): ONE}
    q = prop(j, s)
    acc = accept or (lambda j, s, x: accept_prob(q, r(s), x))
    law = {}
    for x, qx in enumerate(q):
        a = acc(j, s, x)
        for t, pt in round_law(r, prop, n - 1, j + 1, s + (x,), accept).items():
            add(law, (x,) + t, qx * a * pt)
        reject = qx * (1 - a)
        if reject:
            for y, ry in enumerate(residual(q, r(s))):
                add(law, (y,), reject * ry)
    return law


def eager_round_law(r, prop, n, j, s):
    """Draft all n proposals first, then verify them left to right (Sequence.v eager_round)."""
    law = {}
    for xs in product(range(V), repeat=n):
        prob, prefix = ONE, s
        for i, x in enumerate(xs):
            prob *= prop(j + i, prefix)[x]
            prefix = prefix + (x,)
        if not prob:
            continue
        branch, prefix, emitted = prob, s, ()
        for i, x in enumerate(xs):
            q, rr = prop(j + i, prefix), r(prefix)
            a = accept_prob(q, rr, x)
            reject = branch * (1 - a)
            if reject:
                for y, ry in enumerate(residual(q, rr)):
                    add(law, emitted + (y,), reject * ry)
            branch *= a
            prefix, emitted = prefix + (x,), emitted + (x,)
        add(law, emitted, branch)
    return law


def decode_law(r, prop, n, j, s, accept=None, bonus_unverified_at=None):
    """Law of n tokens decoded by rounds that restart the schedule at 0 after each rejection
    (Sequence.v decode_expect). The two keyword arguments inject known defects for negative
    controls: a wrong acceptance ratio, or a step whose proposal is emitted without verification."""
    if n == 0:
        return {(): ONE}
    q = prop(j, s)
    law = {}
    if bonus_unverified_at is not None and j == bonus_unverified_at:
        for x, qx in enumerate(q):
            for t, pt in decode_law(r, prop, n - 1, j + 1, s + (x,), accept, bonus_unverified_at).items():
                add(law, (x,) + t, qx * pt)
        return law
    for x, qx in enumerate(q):
        a = accept(j, s, x) if accept else accept_prob(q, r(s), x)
        for t, pt in decode_law(r, prop, n - 1, j + 1, s + (x,), accept, bonus_unverified_at).items():
            add(law, (x,) + t, qx * a * pt)
        reject = qx * (1 - a)
        if reject:
            for y, ry in enumerate(residual(q, r(s))):
                for t, pt in decode_law(r, prop, n - 1, 0, s + (y,), accept, bonus_unverified_at).items():
                    add(law, (y,) + t, reject * ry * pt)
    return law


def rounds_law(r, round_fn, n, s):
    """Decode n tokens by chaining rounds: each round gets the remaining budget and the prefix
    emitted so far, and restarts the schedule (Sequence.v rounds_expect)."""
    if n == 0:
        return {(): ONE}
    law = {}
    for emitted, pe in round_fn(n, s).items():
        for t, pt in rounds_law(r, round_fn, n - len(emitted), s + emitted).items():
            add(law, emitted + t, pe * pt)
    return law


def completed(r, law, n, s):
    """Complete each emitted sequence with fresh draws from r up to n tokens (Sequence.v complete)."""
    out = {}
    for emitted, pe in law.items():
        for t, pt in r_law(r, n - len(emitted), s + emitted).items():
            add(out, emitted + t, pe * pt)
    return out


def naive(j, s):
    return Q_TOY(s)


def alt_schedule(gq, gp):
    def prop(j, s):
        return Q_TOY(s) if j % (gq + gp) < gq else P_TOY(s)

    return prop


PROMPTS = [(), (0,), (2, 1)]


def test_toy_models_exercise_zero_probabilities_and_a_zero_residual():
    """Sanity check of the toy models the sequence twins use (THM-SEQ-ROUND)."""
    assert sum(excess(Q_TOY((0,)), R_TOY((0,)))) == 0
    assert any(0 in Q_TOY(s) for s in product(range(V), repeat=2))
    assert any(Q_TOY(s) != P_TOY(s) for s in product(range(V), repeat=2))


@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_a_naive_round_completed_by_r_has_the_ensemble_sequence_law(gamma):
    """THM-SEQ-ROUND, Coq `round_emits_ensemble_sequence` and
    `naive_round_emits_ensemble_sequence`."""
    for s in PROMPTS:
        law = round_law(R_TOY, naive, gamma, 0, s)
        assert sum(law.values()) == 1
        assert all(1 <= len(out) <= gamma for out in law)
        assert completed(R_TOY, law, gamma, s) == r_law(R_TOY, gamma, s)


@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_every_emitted_prefix_has_the_product_of_r_conditionals(gamma):
    """THM-SEQ-ROUND, Coq `round_emits_ensemble_sequence` read position by position: for each
    k and y_1..y_k, P(the round emits at least k tokens starting y_1..y_k) plus the shorter
    emitted prefixes of y continued by r equals prod_i r(y_i | y_<i)."""
    for s in PROMPTS:
        law = round_law(R_TOY, naive, gamma, 0, s)
        for k in range(1, gamma + 1):
            for ys in product(range(V), repeat=k):
                direct = sum(p for out, p in law.items() if out[:k] == ys)
                continued = ZERO
                for out, p in law.items():
                    if len(out) < k and ys[: len(out)] == out:
                        continued += p * r_law(R_TOY, k - len(out), s + out).get(ys[len(out) :], ZERO)
                target = r_law(R_TOY, k, s).get(ys, ZERO)
                assert direct + continued == target


def test_the_first_token_of_a_round_follows_r():
    """THM-SEQ-ROUND, Coq `round_first_token_is_r`."""
    for gamma, s in product([1, 2, 3], PROMPTS):
        law = round_law(R_TOY, alt_schedule(2, 1), gamma, 0, s)
        first = [sum(p for out, p in law.items() if out[0] == y) for y in range(V)]
        assert tuple(first) == R_TOY(s)


@pytest.mark.parametrize("schedule", [naive, alt_schedule(2, 1), alt_schedule(1, 2)])
def test_drafting_eagerly_and_verifying_afterwards_has_the_lazy_law(schedule):
    """THM-SEQ-ROUND, Coq `eager_round_eq_lazy_round`."""
    for gamma, s in product([1, 2, 3], PROMPTS):
        assert eager_round_law(R_TOY, schedule, gamma, 0, s) == round_law(R_TOY, schedule, gamma, 0, s)


@pytest.mark.parametrize("gq,gp", [(1, 1), (2, 1), (1, 2), (3, 1)])
def test_alternate_proposal_decoding_emits_the_ensemble_sequence_law(gq, gp):
    """THM-SE-ALT, Coq `alternate_decode_emits_ensemble_sequence` and
    `decode_emits_ensemble_sequence`: rounds with restarts after each rejection."""
    for n, s in product([1, 2, 3], PROMPTS):
        assert decode_law(R_TOY, alt_schedule(gq, gp), n, 0, s) == r_law(R_TOY, n, s)


@pytest.mark.parametrize("gq,gp", [(1, 1), (2, 1), (1, 2)])
def test_decoding_by_eagerly_drafted_rounds_emits_the_ensemble_sequence_law(gq, gp):
    """THM-SE-ALT, Coq `eager_rounds_emit_ensemble_sequence`,
    `alternate_eager_rounds_emit_ensemble_sequence` and `rounds_emit_ensemble_sequence`."""
    prop = alt_schedule(gq, gp)
    for n, s in product([1, 2, 3], PROMPTS):
        law = rounds_law(R_TOY, lambda m, prefix: eager_round_law(R_TOY, prop, m, 0, prefix), n, s)
        assert law == r_law(R_TOY, n, s)
        assert law == decode_law(R_TOY, prop, n, 0, s)


def test_naive_decoding_with_restarts_emits_the_ensemble_sequence_law():
    """THM-SEQ-ROUND, Coq `naive_decode_emits_ensemble_sequence`."""
    for n, s in product([1, 2, 3], PROMPTS):
        assert decode_law(R_TOY, naive, n, 0, s) == r_law(R_TOY, n, s)


def test_verifying_a_bonus_token_against_the_wrong_member_breaks_the_law():
    """Negative control for THM-SE-ALT: dividing by q for a token drawn from p is wrong."""
    prop = alt_schedule(1, 1)

    def wrong_accept(j, s, x):
        return accept_prob(Q_TOY(s), R_TOY(s), x)

    assert decode_law(R_TOY, prop, 3, 0, (), accept=wrong_accept) != r_law(R_TOY, 3, ())


def test_emitting_the_bonus_token_unverified_breaks_the_law():
    """Negative control for THM-SE-ALT: the scorer's bonus token follows p, not r."""
    prop = alt_schedule(1, 1)
    assert decode_law(R_TOY, prop, 2, 0, (), bonus_unverified_at=1) != r_law(R_TOY, 2, ())


def test_chaining_rounds_that_resample_from_the_proposer_breaks_the_law():
    """Negative control for THM-SE-ALT: rounds whose replacement is drawn from the proposer q
    instead of the residual are not exact, and chaining them does not repair it."""

    def resample_from_q_round(m, prefix):
        law = {}
        for xs in product(range(V), repeat=m):
            prob, pre = ONE, prefix
            for x in xs:
                prob *= Q_TOY(pre)[x]
                pre = pre + (x,)
            if not prob:
                continue
            branch, pre, emitted = prob, prefix, ()
            for x in xs:
                q, rr = Q_TOY(pre), R_TOY(pre)
                a = accept_prob(q, rr, x)
                for y, qy in enumerate(q):
                    add(law, emitted + (y,), branch * (1 - a) * qy)
                branch *= a
                pre, emitted = pre + (x,), emitted + (x,)
            add(law, emitted, branch)
        return law

    assert sum(resample_from_q_round(2, ()).values()) == 1
    assert rounds_law(R_TOY, resample_from_q_round, 3, ()) != r_law(R_TOY, 3, ())
