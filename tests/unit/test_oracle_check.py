"""The sequence checker on hand-counted samples (spec/13-oracle.md): joint and conditional checks,
impossible samples, the report, input handling, the INCONCLUSIVE verdict of a run too small."""

import numpy as np
import pytest

from specens.oracle import UnderpoweredWarning, as_token_array, check_samples

LAW = {(0, 0): 0.2, (0, 1): 0.2, (1, 0): 0.3, (1, 1): 0.3}
COUNTS = {(0, 0): 25, (0, 1): 15, (1, 0): 30, (1, 1): 30}


def samples(counts):
    return [list(seq) for seq, k in counts.items() for _ in range(k)]


def by_check(report):
    return {(t.check, t.statistic): t for t in report.tests}


def test_joint_and_conditional_statistics_match_a_hand_count():
    """ORACLE-5, ORACLE-2: joint X^2 = 25/20 + 25/20 = 2.5 on 3 df; position 1 given (0): 2.5 on 1 df,
    given (1): 0; position 0 fits exactly (40, 60 against 40, 60) and so has X^2 = 0."""
    report = check_samples(samples(COUNTS), LAW, warn=False)
    tests = by_check(report)
    joint = tests[("joint (2 tokens)", "pearson")]
    assert joint.value == pytest.approx(2.5, rel=1e-12) and joint.df == 3
    assert tests[("position 0 | prefix", "pearson")].value == pytest.approx(0.0, abs=1e-12)
    second = tests[("position 1 | prefix", "pearson")]
    assert second.value == pytest.approx(2.5, rel=1e-12) and second.df == 2
    g = tests[("joint (2 tokens)", "g")].value
    assert g == pytest.approx(2 * (25 * np.log(25 / 20) + 15 * np.log(15 / 20)), rel=1e-12)
    assert not report.rejected and len(report.tests) == 6


def test_conditional_checks_only_count_samples_that_reach_the_position():
    """ORACLE-5: with EOS = 1, (1,) ends early; position 1 is tested on the samples starting with 0."""
    law = {(1,): 0.5, (0, 0): 0.25, (0, 1): 0.25}
    report = check_samples([[1]] * 50 + [[0, 0]] * 30 + [[0, 1]] * 20, law, warn=False)
    second = by_check(report)[("position 1 | prefix", "pearson")]
    assert second.df == 1 and second.value == pytest.approx((30 - 25) ** 2 / 25 + (20 - 25) ** 2 / 25, rel=1e-12)


def test_a_sample_the_law_rules_out_rejects_at_once_and_is_listed_first():
    """ORACLE-5, ORACLE-3, ORACLE-6: a sequence of probability 0 makes the family p-value 0."""
    report = check_samples(samples(COUNTS) + [[0, 2]], LAW, warn=False)
    assert report.rejected and report.family_p == 0.0
    worst = report.worst(3)
    assert (worst[0].label, worst[0].expected, worst[0].observed) == ("(0, 2)", 0.0, 1.0)
    assert "samples the law rules out" in report.format()


def test_with_impossible_samples_the_tests_are_taken_over_the_possible_ones():
    """ORACLE-5: impossible samples reject apart; every test's statistic is then computed over the possible
    samples, so it stays a finite non-negative statistic with a p-value in [0, 1] (before, the expected
    counts summed to n and the observed ones to fewer: G came out negative, its p-value nan). The possible
    samples here are COUNTS, so the tests equal the clean run's."""
    clean = check_samples(samples(COUNTS), LAW, warn=False)
    report = check_samples(samples(COUNTS) + [[0, 2]] * 30 + [[2, 2]] * 10, LAW, warn=False)
    assert report.rejected and report.family_p == 0.0
    assert [(t.check, t.statistic, t.df) for t in report.tests] == [(t.check, t.statistic, t.df) for t in clean.tests]
    for dirty, t in zip(report.tests, clean.tests):
        assert dirty.value == pytest.approx(t.value, rel=1e-12, abs=1e-12) and 0 <= dirty.p_value <= 1
    assert "nan" not in report.format() and "over the possible samples" in report.format()


def test_impossible_samples_are_sorted_by_kind_with_the_fix():
    """ORACLE-5, ORACLE-6: the report says why samples are impossible: an engine that strips its EOS token
    (rows shorter than the length that do not end with an id the law's short sequences end with), tokens
    after an end-of-sequence id, ids the law never holds, empty rows; a clean run has no such line."""
    law = {(0, 1, 2): 0.25, (0, 3): 0.25, (1, 1, 1): 0.3, (3,): 0.2}
    rng = np.random.default_rng(0)
    keys = list(law)
    clean = [list(keys[i]) for i in rng.choice(len(keys), 4000, p=list(law.values()))]
    assert not any("impossible samples" in note for note in check_samples(clean, law, warn=False).notes)
    stripped = [seq[:-1] if seq[-1] == 3 else seq for seq in clean]  # vLLM-style output without the EOS token
    note = next(n for n in check_samples(stripped, law, warn=False).notes if n.startswith("impossible samples"))
    assert "end before 3 tokens without an end-of-sequence id (the law's shorter sequences end with 3: keep the " \
        "EOS token in each sample" in note and "are empty (no token; if your engine strips the EOS token" in note
    odd = clean + [[0, 3, 1]] * 5 + [[7, 1, 1]] * 3 + [[1, 2, 1]] * 4
    note = next(n for n in check_samples(odd, law, warn=False).notes if n.startswith("impossible samples"))
    assert "5 have a token after an end-of-sequence id (3)" in note
    assert "3 hold an id no sequence of the law holds (7;" in note and "4 are other sequences the law rules out" in note
    no_short = check_samples([[0]] * 50, LAW, warn=False).notes[0]
    assert "the law has no sequence shorter than 2: check fewer tokens" in no_short


def test_the_report_prints_the_verdict_p_value_estimated_tv_and_worst_cells():
    """ORACLE-6: estimated TV = 1/2 (|0.25 - 0.2| + |0.15 - 0.2|) = 0.05, and the expected-vs-observed table.
    (100 samples detect a TV bias of 0.28, so the target is set above it.)"""
    report = check_samples(samples(COUNTS), LAW, warn=False, target_tv=0.5)
    assert report.tv == pytest.approx(0.05, rel=1e-12)
    text = report.format(4)
    assert "consistent with the exact law at alpha = 0.001" in text
    assert "Sidak-adjusted p =" in text and "estimated TV 0.0500" in text
    assert "expected" in text and "observed" in text
    top = report.worst(1)[0]
    assert top.residual == pytest.approx(5 / np.sqrt(20), rel=1e-12)  # (25 - 20) / sqrt(20) or (15 - 20) / sqrt(20)


def test_samples_are_read_from_arrays_or_lists_and_cut_to_the_length():
    """ORACLE-5: only the first L tokens count; -1 (PAD) ends a row of an array or a list."""
    arr = as_token_array(np.array([[0, 1, 3], [1, -1, -1]]), 2)
    assert arr.tolist() == [[0, 1], [1, -1]]
    assert as_token_array([[0, 1, 3], (1,)], 2).tolist() == [[0, 1], [1, -1]]
    assert as_token_array([[0, 1, 3], [1, -1, -1]], 3).tolist() == [[0, 1, 3], [1, -1, -1]]  # lists pad as arrays do
    with pytest.raises(ValueError, match=r"samples: sequence 0 has a token after its end \(a negative id, PAD\)"):
        as_token_array([[0, -1, 1]], 3)
    with pytest.raises(ValueError, match="after its end"):
        as_token_array(np.array([[0, -1, 1]]), 3)
    with pytest.raises(ValueError, match="integer"):
        as_token_array(np.array([[0.5, 1.0]]), 2)


def test_exact_samples_pass_and_a_biased_negative_control_is_rejected():
    """ORACLE-3: multinomial samples from the law pass; samples with 5% of mass moved are rejected."""
    rng = np.random.default_rng(3)
    keys = list(LAW)
    exact = rng.choice(len(keys), size=20_000, p=list(LAW.values()))
    assert not check_samples([keys[i] for i in exact], LAW, warn=False).rejected
    biased = rng.choice(len(keys), size=20_000, p=[0.25, 0.15, 0.3, 0.3])
    report = check_samples([keys[i] for i in biased], LAW, warn=False)
    assert report.rejected and report.family_p < 1e-10


def test_a_small_run_is_inconclusive_and_says_how_many_samples_it_needs():
    """ORACLE-3, ORACLE-4: 100 samples cannot detect a TV bias of 0.05 with power 0.9: INCONCLUSIVE, not
    consistent, with the sample count that would detect it."""
    with pytest.warns(UnderpoweredWarning, match="use at least 3,088 samples"):
        report = check_samples(samples(COUNTS), LAW)
    assert report.underpowered and report.inconclusive and not report.rejected
    assert report.verdict == "INCONCLUSIVE" and report.samples_needed == 3088
    text = report.format()
    assert "INCONCLUSIVE" in text and "consistent" not in text and "use at least 3,088 samples" in text


def test_bad_arguments_raise_errors_naming_them():
    """ORACLE-3: alpha, statistics and an empty sample set are refused with the fix."""
    with pytest.raises(ValueError, match="alpha"):
        check_samples(samples(COUNTS), LAW, alpha=0)
    with pytest.raises(ValueError, match="statistics"):
        check_samples(samples(COUNTS), LAW, statistics=("chi",))
    with pytest.raises(ValueError, match="samples"):
        check_samples([], LAW)
    with pytest.raises(ValueError, match="law"):
        check_samples(samples(COUNTS), {(0, 0): 0.5, (1, 1): 0.4}, warn=False)
