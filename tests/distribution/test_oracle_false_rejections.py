"""The checker's false-rejection rate on exact samplers matches its significance level (ORACLE-9).

Exact samples from the vectorised reference sampler, split into independent runs. A single test
(joint Pearson) must reject at rate alpha within a 99.9% binomial interval; the Sidak family of
ORACLE-3 must reject at most at rate alpha (its tests are positively dependent, so it is
conservative). Significance 0.05 so that rejections happen often enough to count; the slow
variants repeat this at 0.01 with ten times the runs.
"""

import pytest

from specens.oracle import CASES
from specens.oracle.calibration import false_rejections

CASE = next(c for c in CASES if c.name == "we3-se-1-2-1-eos")  # 63 sequences: cheap checks


def test_a_single_joint_test_rejects_exact_samples_at_the_stated_rate():
    """ORACLE-9, ORACLE-2: 400 runs of 2,000 samples at alpha = 0.05, joint Pearson only."""
    result = false_rejections(CASE, runs=400, samples=2000, alpha=0.05, seed=101, family=False)
    assert result.low <= result.rejections <= result.high, str(result)


def test_the_sidak_family_rejects_exact_samples_at_most_at_the_stated_rate():
    """ORACLE-9, ORACLE-3: the whole family (joint and per-position checks, Pearson and G) at alpha = 0.05."""
    result = false_rejections(CASE, runs=400, samples=2000, alpha=0.05, seed=102, family=True)
    assert result.rejections <= result.high, str(result)


@pytest.mark.slow
@pytest.mark.parametrize("family", [False, True])
def test_false_rejections_over_four_thousand_runs(family):
    """ORACLE-9: 4,000 runs at alpha = 0.01 (slow)."""
    result = false_rejections(CASE, runs=4000, samples=2000, alpha=0.01, seed=103, family=family)
    assert result.rejections <= result.high and (family or result.low <= result.rejections), str(result)


def test_pooled_statistics_reject_exact_counts_at_the_stated_rate_with_the_default_budget():
    """ORACLE-1, ORACLE-2, ORACLE-9: 20,000 multinomial draws of DEFAULT_SAMPLES from a case's exact law,
    pooled and tested at alpha = 0.01; each statistic's rejection count within a 99.9% binomial
    interval of 200 (the sampler is not involved: this calibrates the statistics alone)."""
    import numpy as np
    from scipy import stats

    from specens.oracle import DEFAULT_SAMPLES, pool_cells
    from specens.oracle.calibration import binomial_interval
    from specens.oracle.stats import g_statistic, p_value, pearson

    law = np.array(sorted(CASE.law().values()))
    template = pool_cells(DEFAULT_SAMPLES * law)
    counts = np.random.default_rng(104).multinomial(DEFAULT_SAMPLES, law, size=20_000)
    for row in counts[:20]:  # pooling reads expected counts only, so every run pools like the template
        assert np.array_equal(pool_cells(DEFAULT_SAMPLES * law, row).cell_of, template.cell_of)
    pooled_counts = np.zeros((len(counts), len(template.expected)))
    np.add.at(pooled_counts, (slice(None), template.cell_of), counts)
    low, high = binomial_interval(20_000, 0.01)
    critical = stats.chi2.isf(0.01, template.df)  # p_value(x, df) < 0.01 exactly when x > critical
    assert p_value(critical * 1.0001, template.df) < 0.01 < p_value(critical * 0.9999, template.df)
    for statistic in (pearson, g_statistic):
        rejected = sum(statistic(row, template.expected) > critical for row in pooled_counts)
        assert low <= rejected <= high, (statistic.__name__, rejected, low, high)
