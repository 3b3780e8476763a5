"""Every mutant is rejected by the checker with its default budget (ORACLE-9).

One mutant or more per defect of spec/14-defects.md that a sampler can have (DEFECT-1 to DEFECT-9,
DEFECT-11, DEFECT-14, DEFECT-15, DEFECT-16, DEFECT-17, DEFECT-19), and our own. Each runs on the toy case where
its defect matters; the checker gets DEFAULT_SAMPLES samples at alpha = 0.001, on fixed seeds. Their
exact laws (by enumerating their code) give the TV each check is up against, printed by
scripts/bench_oracle.py.
"""

import numpy as np
import pytest

from specens.oracle import DEFAULT_ALPHA, DEFAULT_SAMPLES, MUTANTS, Mutant, ToyCase, check_samples
from specens.oracle.faults import KeptIntervalChooser, NegativeStartWindow

SEEDS = (0, 1)
SLOW_SEEDS = tuple(range(2, 12))


def reject(mutant, seed):
    report = check_samples(mutant.sample(DEFAULT_SAMPLES, seed=seed), mutant.case.law(), length=mutant.case.length,
                           alpha=DEFAULT_ALPHA, warn=False, label=mutant.name)
    assert report.rejected, f"mutant {mutant.name} (seed {seed}) was not caught\n{report.format()}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_rejected_with_the_default_budget(mutant, seed):
    """ORACLE-9, ORACLE-3: DEFAULT_SAMPLES samples, alpha 0.001, seeds 0 and 1."""
    reject(mutant, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_rejected_on_ten_more_seeds(mutant, seed):
    """ORACLE-9 on seeds 2..11 (slow)."""
    reject(mutant, seed)


def test_the_suite_has_a_mutant_for_every_sampler_defect_of_the_catalogue():
    """ORACLE-9: DEFECT-1 to DEFECT-9, DEFECT-11, DEFECT-14, DEFECT-16, DEFECT-17 and DEFECT-19 (the entries
    without a mutant say why in spec/14-defects.md; tests/unit/test_traceability.py checks that they do)."""
    defects = {m.defect for m in MUTANTS}
    assert {"1", "2", "3", "4", "5", "6", "7", "8", "9", "11", "14", "16", "17", "19"} <= defects
    assert len([m for m in MUTANTS if m.defect != "own"]) >= 10 and "own" in defects
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


def test_mutant_laws_differ_from_the_ensemble_law_and_some_only_after_the_first_token():
    """ORACLE-9, ENGINE-1: each mutant's exact law is wrong (TV > 0) except shared seeds, whose rows are
    each exact but not independent; one has TV at most 0.02; most err only at the second token or later."""
    table = {m.name: (m.tv(), m.first_wrong_position()) for m in MUTANTS}
    for m in MUTANTS:
        tv, first = table[m.name]
        if m.dependent_rows:
            assert tv < 1e-12 and first is None, (m.name, tv)
        else:
            assert tv > 1e-3, (m.name, tv)
    assert any(tv <= 0.02 and not m.dependent_rows for m, (tv, _) in zip(MUTANTS, table.values()))
    later = [name for name, (_, first) in table.items() if first is not None and first >= 1]
    assert len(later) >= 10 and any(table[n][1] >= 3 for n in later), table


def by_name(name):
    return next(m for m in MUTANTS if m.name == name)


def test_the_stop_mutants_emit_tokens_after_an_end_of_sequence_id():
    """DEFECT-17, METHOD-3: in the exact law, tokens follow an EOS id (an EOS accepted inside a block; the
    second EOS id of a list) with probability above 0.03; the ensemble law has no such sequence."""
    for name in ("eos-only-at-block-end", "first-eos-only"):
        mutant = by_name(name)
        eos = set(mutant.case.ensemble.eos_token_id)

        def after_a_stop(law):
            return sum(p for seq, p in law.items() if any(t in eos for t in seq[:-1]))

        assert after_a_stop(mutant.case.law()) == 0 and after_a_stop(mutant.law()) > 0.03, name
    first = by_name("first-eos-only")
    smallest = min(first.case.ensemble.eos_token_id)
    assert all(smallest not in seq[:-1] for seq in first.law()), "the first EOS id still stops a row"


ISSUE_TOY = {
    "format": "specens/toy-ensemble", "version": 1,
    "ensemble": {"members": [{"name": "a", "order": 3, "probs": {
        "": ["1/2", "1/2"], "0": ["1/2", "1/2"], "0,1": ["1", "0"], "1": ["0", "1"], "*": ["1/2", "1/2"]}}],
        "combination": {"kind": "we", "weights": {"a": "1"}}},
    "method": {"name": "standard"}, "max_new_tokens": 3,
}


def test_the_negative_start_mutant_gives_the_wrong_law_issue_9_found():
    """DEFECT-19, TOY-2: on the issue's order-3 member the mutant's exact law is the one the reference
    gave before the fix ({000: 1/8, 001: 1/8, 011: 1/4, 111: 1/2}): after (0, 1) it reads row "1"."""
    mutant = Mutant("window-negative-start", "19", "", ToyCase.from_toy("issue-9", ISSUE_TOY), NegativeStartWindow)
    old = {(0, 0, 0): 1 / 8, (0, 0, 1): 1 / 8, (0, 1, 1): 1 / 4, (1, 1, 1): 1 / 2}
    assert mutant.law() == pytest.approx(old, abs=1e-15)
    assert mutant.tv() == pytest.approx(1 / 2, abs=1e-15)


def test_a_reused_uniform_is_drawn_again_within_the_draft_tokens_interval():
    """DEFECT-14, RNG-1: the enumeration of draft-uniform-reused, worked by hand. A draft drawn from
    q = (1/2, 1/2) with u in [1/2, 1) is token 1; the residual (1/4, 3/4) then gets the same u, which
    lies in token 1's interval [1/4, 1): token 1 surely. With u in [0, 1/2) (token 0) the residual's
    token 0 has [0, 1/4): probability 1/2."""
    idx = np.arange(2)
    chooser = KeptIntervalChooser([(), (1,)])  # chain 0 takes the first draft token, chain 1 the second
    x, kept = chooser.draw_kept(idx, np.array([[0.5, 0.5], [0.5, 0.5]]))
    assert x.tolist() == [0, 1] and kept.tolist() == [[0.0, 0.5], [0.5, 1.0]]
    y = chooser.draw_again(idx, np.array([[0.25, 0.75], [0.25, 0.75]]), kept)
    assert y.tolist() == [0, 1] and chooser.prob.tolist() == [0.5 * 0.5, 0.5 * 1.0]
    assert chooser.outcomes[:, 1].tolist() == [2, 1]  # chain 0's second draw can go two ways, chain 1's one


def test_the_processor_mutants_run_on_processor_cases_and_err_inside_blocks():
    """DEFECT-16, PROC-12, STOP-4: each processor mutant runs on a case whose processors (or stop sequence)
    it gets wrong, and the history and stop mutants first go wrong at the second token or later, inside
    blocks verified after the first cycle."""
    names = ("history-per-step", "min-new-tokens-in-steps", "processors-draft-only", "processors-target-only",
             "logit-bias-dropped-when-speculating", "min-p-dropped-when-speculating",
             "stop-sequence-only-at-block-end")
    for name in names:
        mutant = by_name(name)
        ensemble = mutant.case.ensemble
        assert ensemble.processors.active or ensemble.stop_sequences, name
        assert mutant.case.length >= 5 and mutant.tv() > 0.05, name
    for name in ("history-per-step", "min-new-tokens-in-steps", "stop-sequence-only-at-block-end"):
        assert by_name(name).first_wrong_position() >= 2, name
