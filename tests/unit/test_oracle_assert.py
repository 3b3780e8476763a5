"""`assert_sampler_exact` and the pytest fixtures: what another project writes in its CI."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from specens.oracle import CASES, MUTANTS, UnderpoweredWarning, assert_sampler_exact
from specens.oracle.assertion import InconclusiveCheck

CASE = CASES[0]


def reference(n, seed):
    return CASE.sampler().sample(n, seed=seed)


def test_the_reference_sampler_passes_from_an_ensemble_a_case_or_a_toy_file(tmp_path):
    """ORACLE-3: the same check whether the setting comes as a ToyCase, a toy file path or an Ensemble."""
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(CASE.toy()))
    for setting in (CASE, path, CASE.toy()):
        report = assert_sampler_exact(reference, setting, samples=30_000, target_tv=1)
        assert not report.rejected
    assert_sampler_exact(reference, CASE.ensemble, CASE.method, CASE.length, samples=30_000, target_tv=1)


def test_a_wrong_sampler_fails_with_the_expected_versus_observed_table():
    """ORACLE-6, ORACLE-9: the assertion message is the report, worst cells included (negative control)."""
    mutant = next(m for m in MUTANTS if m.name == "bonus-unverified")
    with pytest.raises(AssertionError) as failure:
        assert_sampler_exact(lambda n, seed: mutant.sample(n, seed=seed), mutant.case, samples=30_000, target_tv=1)
    message = str(failure.value)
    assert "REJECTED" in message and "largest discrepancies (expected vs observed)" in message


def test_the_helper_raises_when_its_budget_is_too_small_unless_allowed():
    """ORACLE-10, ORACLE-4: too few samples for the target TV bias is inconclusive: it raises, naming the
    samples needed; with allow_underpowered=True it warns and returns the INCONCLUSIVE report."""
    with pytest.raises(InconclusiveCheck, match=r"inconclusive: 2000 samples .* use at least [\d,]+ samples"):
        assert_sampler_exact(reference, CASE, samples=2_000)
    with pytest.warns(UnderpoweredWarning, match="use at least"):
        report = assert_sampler_exact(reference, CASE, samples=2_000, allow_underpowered=True)
    assert report.verdict == "INCONCLUSIVE" and report.samples_needed > 2_000


def test_the_helper_rejects_bad_arguments_naming_them():
    """ORACLE-3: the callable, the budget, the setting and what the callable returns are checked."""
    with pytest.raises(ValueError, match="sample_fn"):
        assert_sampler_exact("not callable", CASE)
    with pytest.raises(ValueError, match="samples"):
        assert_sampler_exact(reference, CASE, samples=0)
    with pytest.raises(ValueError, match="length"):
        assert_sampler_exact(reference, CASE.ensemble)
    with pytest.raises(ValueError, match="ensemble"):
        assert_sampler_exact(reference, 42, length=3)
    with pytest.raises(ValueError, match="returned 10"):
        assert_sampler_exact(lambda n, seed: np.zeros((10, 5), dtype=int), CASE, samples=100)


def test_the_pytest_fixtures_check_a_sampler_in_a_few_lines(tmp_path):
    """ORACLE-9: a project enabling specens.oracle.fixtures gets one test per case of the matrix."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["specens.oracle.fixtures"]\n')
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""
        import json
        from specens.oracle import assert_sampler_exact

        def test_my_sampler(oracle_case, oracle_toy_file, reference_sampler, oracle_alpha):
            assert json.loads(oracle_toy_file.read_text())["format"] == "specens/toy-ensemble"
            assert_sampler_exact(lambda n, seed: reference_sampler(oracle_case, n, seed), oracle_case,
                                 samples=3000, alpha=oracle_alpha, target_tv=1)
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "we-se or mixture",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout
