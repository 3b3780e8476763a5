"""The vectorised reference sampler passes the checker on every case, Sidak-corrected across the matrix,
and the same procedure rejects a matrix with one wrong sampler in it (negative control).

Significance 0.001 for the whole matrix; DEFAULT_SAMPLES samples per case; fixed seeds.
"""

import pytest

from specens.oracle import CASES, DEFAULT_SAMPLES, MUTANTS, check_samples, sidak_p

ALPHA = 0.001


def matrix_verdict(reports):
    """ORACLE-3 across a matrix: one Sidak family over every test of every report."""
    if any(r.impossible for r in reports):
        return 0.0
    return sidak_p(t.p_value for r in reports for t in r.tests)


def run_matrix(sample):
    reports = [check_samples(sample(case), case.law(), alpha=ALPHA, label=case.name, warn=False) for case in CASES]
    return matrix_verdict(reports), reports


def test_every_case_of_the_matrix_passes_with_the_default_budget():
    """ORACLE-8, ORACLE-3, ORACLE-1: DEFAULT_SAMPLES per case, Sidak over all tests of every case."""
    p, reports = run_matrix(lambda case: case.sampler().sample(DEFAULT_SAMPLES, seed=2024))
    assert p >= ALPHA, "\n\n".join(r.format() for r in sorted(reports, key=lambda r: r.family_p)[:2])


def test_the_same_matrix_rejects_when_one_sampler_is_wrong():
    """ORACLE-3, ORACLE-9 (negative control): swap one case's sampler for a mutant of it."""
    mutant = next(m for m in MUTANTS if m.name == "cache-off-by-one")
    p, _ = run_matrix(lambda case: (mutant.sample(DEFAULT_SAMPLES, seed=2024) if case is mutant.case
                                    else case.sampler().sample(DEFAULT_SAMPLES, seed=2024)))
    assert p < ALPHA


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if not m.dependent_rows], ids=lambda m: m.name)
def test_each_mutant_samples_its_own_enumerated_law(mutant):
    """ORACLE-9, ENGINE-1: the exact law that `Mutant.tv()` uses is the law the mutant samples (20,000
    samples, alpha 0.001); so the TVs reported for the mutants are those of the code that runs."""
    report = check_samples(mutant.sample(20_000, seed=7), mutant.law(), length=mutant.case.length, alpha=ALPHA,
                           warn=False, label=mutant.name)
    assert not report.rejected, report.format()
