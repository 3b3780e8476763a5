"""The checker's statistics (spec/13-oracle.md): pooling, Pearson and G, Sidak, power, by hand and
against scipy."""

import numpy as np
import pytest
from scipy import stats

from specens.oracle.stats import (
    detectable_tv,
    g_statistic,
    noncentrality,
    p_value,
    pearson,
    pool_cells,
    power_against,
    sample_size,
    sidak_level,
    sidak_p,
)


def test_pooling_merges_the_smallest_cells_until_every_cell_expects_five():
    """ORACLE-1: the spec's worked example, (1, 2, 10, 7) -> (10, 10), with observed counts following."""
    pooled = pool_cells([1, 2, 10, 7], [0, 3, 12, 5])
    assert pooled.expected.tolist() == [10, 10]
    assert pooled.observed.tolist() == [12, 8]
    assert pooled.cell_of.tolist() == [1, 1, 0, 1]
    assert pooled.other == 1 and pooled.df == 1


def test_pooling_leaves_cells_alone_when_every_cell_expects_five():
    """ORACLE-1: nothing below 5, nothing pooled; cells keep their order."""
    pooled = pool_cells([5, 9, 6])
    assert pooled.expected.tolist() == [5, 9, 6] and pooled.other is None


def test_pooling_breaks_ties_by_canonical_order_and_can_pool_everything():
    """ORACLE-1: equal expected counts pool in input order; if nothing reaches 5 there is one cell, no df."""
    pooled = pool_cells([6, 2, 6, 20])  # cell 1 alone expects 2 < 5; of the tied 6s, cell 0 joins it
    assert pooled.cell_of.tolist() == [2, 2, 0, 1]
    assert pooled.expected.tolist() == [6, 20, 8]
    everything = pool_cells([1, 1, 1])
    assert everything.expected.tolist() == [3] and everything.df == 0


def test_pooling_rejects_bad_input_naming_the_argument():
    """ORACLE-1: errors name the argument."""
    with pytest.raises(ValueError, match="observed"):
        pool_cells([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="expected"):
        pool_cells([-1, 2])


def test_pearson_and_g_statistics_match_scipy_and_the_hand_values():
    """ORACLE-2: X^2 and G as scipy computes them; (3, 7) against (5, 5) gives 1.6 and 2(3 ln .6 + 7 ln 1.4)."""
    assert pearson([3, 7], [5, 5]) == pytest.approx(1.6, rel=1e-15)
    assert g_statistic([3, 7], [5, 5]) == pytest.approx(2 * (3 * np.log(0.6) + 7 * np.log(1.4)), rel=1e-15)
    rng = np.random.default_rng(0)
    expected = rng.uniform(5, 50, 30)
    observed = rng.poisson(expected).astype(float)
    expected *= observed.sum() / expected.sum()
    assert pearson(observed, expected) == pytest.approx(stats.chisquare(observed, expected).statistic, rel=1e-12)
    g = stats.power_divergence(observed, expected, lambda_="log-likelihood").statistic
    assert g_statistic(observed, expected) == pytest.approx(g, rel=1e-12)
    assert g_statistic([0, 10], [5, 5]) == pytest.approx(20 * np.log(2), rel=1e-15)  # 0 ln 0 = 0


def test_p_values_are_chi_square_tails_and_one_without_degrees_of_freedom():
    """ORACLE-2: the upper tail of chi-square(df); a check with df = 0 tests nothing (p = 1)."""
    assert p_value(3.84145882069412, 1) == pytest.approx(0.05, rel=1e-9)
    assert p_value(123.0, 0) == 1.0


def test_sidak_level_and_family_p_value_make_the_same_decision():
    """ORACLE-3: family p < alpha exactly when some test's p < 1 - (1 - alpha)^(1/m)."""
    assert sidak_level(0.001, 10) == pytest.approx(1 - 0.999 ** 0.1, rel=1e-12)
    assert sidak_level(0.05, 1) == pytest.approx(0.05, rel=1e-15)
    level = sidak_level(0.01, 8)
    assert sidak_p([level * 0.999] + [0.5] * 7) < 0.01 < sidak_p([level * 1.001] + [0.5] * 7)
    assert sidak_p([]) == 1.0 and sidak_p([1.0, 1.0]) == 1.0 and sidak_p([0.0, 0.3]) == 0.0


def test_statistics_reject_a_significance_level_outside_zero_one():
    """ORACLE-3, ORACLE-4: alpha, power and tv are validated with errors naming them."""
    with pytest.raises(ValueError, match="alpha"):
        sidak_level(1.5, 3)
    with pytest.raises(ValueError, match="power"):
        noncentrality(3, 0.01, 1.0)
    with pytest.raises(ValueError, match="tv"):
        sample_size([0.5, 0.5], 0.0, alpha=0.01)


def test_detectable_tv_and_sample_size_invert_each_other():
    """ORACLE-4: sample_size(p, d) is the least n (up to the fixed point) with detectable_tv(p, n) <= d."""
    law = np.full(64, 1 / 64)
    n = sample_size(law, 0.03, alpha=0.001, power=0.9, tests=4)
    assert detectable_tv(law, n, alpha=0.001, power=0.9, tests=4) <= 0.03
    assert detectable_tv(law, int(n * 0.97), alpha=0.001, power=0.9, tests=4) > 0.03
    lam = noncentrality(63, sidak_level(0.001, 4), 0.9)
    assert detectable_tv(law, n, alpha=0.001, tests=4) == pytest.approx(np.sqrt(lam / (4 * n)), rel=1e-12)
    assert detectable_tv(law, 100, alpha=0.001) == float("inf")  # everything pooled: nothing to test
    assert detectable_tv([1.0], 1000, alpha=0.001, power=0.9) == pytest.approx(1 - 0.1 ** (1 / 1000), rel=1e-12)


def test_the_least_favourable_alternative_is_detected_with_the_stated_power():
    """ORACLE-4: simulate the least favourable law at TV d and count rejections (binomial bounds).

    Moving mass d from one half of a uniform law to the other proportionally gives noncentrality
    exactly 4 n d^2; at n = sample_size the joint Pearson test must reject with probability 0.9.
    400 repetitions: a 99.9% binomial interval around 0.9 is about [0.85, 0.94].
    """
    k, d, alpha = 20, 0.05, 0.01
    law = np.full(k, 1 / k)
    alternative = law * np.where(np.arange(k) < k // 2, 1 + 2 * d, 1 - 2 * d)
    assert 0.5 * np.abs(alternative - law).sum() == pytest.approx(d)
    n = sample_size(law, d, alpha=alpha, power=0.9)
    counts = np.random.default_rng(7).multinomial(n, alternative, size=400)
    x2 = ((counts - n * law) ** 2 / (n * law)).sum(axis=1)
    rate = (stats.chi2.sf(x2, k - 1) < alpha).mean()
    low, high = stats.binom.ppf([0.0005, 0.9995], 400, 0.9) / 400
    assert low <= rate <= high, (rate, low, high)
    assert power_against(law, alternative, n, alpha=alpha) == pytest.approx(0.9, abs=0.01)


def test_power_against_an_alternative_counts_impossible_sequences():
    """ORACLE-4: mass on sequences the law rules out is seen with probability 1 - (1 - m)^n."""
    law, alternative = np.array([0.5, 0.5, 0.0]), np.array([0.499, 0.5, 0.001])
    assert power_against(law, alternative, 3000, alpha=0.001) == pytest.approx(1 - 0.999 ** 3000, rel=1e-6)
    assert power_against(law, law, 3000, alpha=0.001) == pytest.approx(0.001, rel=1e-6)  # the null: power = alpha
