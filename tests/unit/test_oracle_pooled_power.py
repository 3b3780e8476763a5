"""The power claim accounts for pooled cells (ORACLE-4) and a large estimated TV is never silent (ORACLE-6).

The reviewers' case: one position, the law (1/2, 1/2000 x 1000); with 5,000 samples every rare token
pools into "other", so a sampler that emits token 0 half the time and otherwise only tokens 1..500
(TV 1/4) leaves the pooled counts' law unchanged. It used to be reported CONSISTENT, claiming to
detect a TV bias of 0.035.
"""

import json
import warnings
from fractions import Fraction

import numpy as np
import pytest

from specens.cli import main
from specens.oracle import LargeTVWarning, UnderpoweredWarning, check_samples, detectable_tv, pooled_mass, sample_size
from specens.oracle.stats import pooled_detectable_tv

LAW = {(0,): Fraction(1, 2), **{(t,): Fraction(1, 2000) for t in range(1, 1001)}}
PROBS = np.array([float(p) for p in LAW.values()])


def hidden_bias(n, seed):
    """Token 0 half the time, else uniform over 1..500 only: TV 1/4, invisible once 1..1000 are pooled."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.5, 0, rng.integers(1, 501, n))[:, None]


def exact(n, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.5, 0, rng.integers(1, 1001, n))[:, None]


def test_a_bias_inside_the_pooled_cell_makes_the_check_inconclusive_not_consistent():
    """ORACLE-4, ORACLE-3: 5,000 samples pool half the law; the verdict is INCONCLUSIVE on every seed."""
    for seed in range(5):
        report = check_samples(hidden_bias(5000, seed), LAW, warn=False)
        assert report.verdict == "INCONCLUSIVE", report.format(3)
        assert report.pooled_mass == pytest.approx(0.5) and report.detectable_tv > 0.5
        assert "0.5000 is the law's mass pooled into 'other'" in report.power_line()


def test_the_samples_needed_reject_the_hidden_bias_and_pass_an_exact_sampler():
    """ORACLE-4, ORACLE-9 (with its negative control): at samples_needed nothing is pooled any more."""
    needed = check_samples(hidden_bias(5000, 0), LAW, warn=False).samples_needed
    assert pooled_mass(PROBS, needed) == 0.0
    assert check_samples(hidden_bias(needed, 1), LAW, warn=False).verdict == "REJECTED"
    assert check_samples(exact(needed, 2), LAW, warn=False).verdict == "CONSISTENT"


def test_detectable_tv_is_the_pooled_tests_reach_plus_the_pooled_mass():
    """ORACLE-4: d = d_pooled + m; m is the law's mass in "other" (expected 6, 3, 3 pools the two 3s)."""
    assert pooled_mass([0.5, 0.25, 0.25], 12) == 0.5
    assert pooled_mass([0.5, 0.25, 0.25], 20) == 0.0
    for n in (3000, 12000, 40000):
        d = detectable_tv(PROBS, n, alpha=0.001, tests=4)
        assert d == pytest.approx(pooled_detectable_tv(PROBS, n, alpha=0.001, tests=4) + pooled_mass(PROBS, n))
    n = sample_size(PROBS, 0.05, alpha=0.001, tests=4)
    assert detectable_tv(PROBS, n, alpha=0.001, tests=4) <= 0.05 < detectable_tv(PROBS, n - 1, alpha=0.001, tests=4)


def test_an_estimated_tv_far_above_the_target_is_never_silent(tmp_path, capsys):
    """ORACLE-6, ORACLE-7: a warning line in the report, a LargeTVWarning, and a line on stderr of specens
    check; an exact sampler of the same size (negative control) gets none."""
    with pytest.warns(LargeTVWarning, match="estimated TV 0.2"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UnderpoweredWarning)  # the run is also underpowered; not the point here
        report = check_samples(hidden_bias(5000, 3), LAW)
    assert report.large_tv and "warning: the estimated TV" in report.format()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnderpoweredWarning)  # the run is underpowered; not the point here
        warnings.simplefilter("error", LargeTVWarning)
        quiet = check_samples(exact(5000, 4), LAW)
    assert not quiet.large_tv and "warning: the estimated TV" not in quiet.format()
    toy = {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": 1,
           "ensemble": {"members": [{"name": "a", "order": 0, "probs": {"": ["1/2"] + ["1/2000"] * 1000}}],
                        "combination": {"kind": "we", "weights": {"a": 1}}}}
    (tmp_path / "rare.json").write_text(json.dumps(toy))
    (tmp_path / "s.jsonl").write_text("".join(f"[{int(t)}]\n" for t in hidden_bias(5000, 5)[:, 0]))
    status = main(["check", "--ensemble", str(tmp_path / "rare.json"), "--samples", str(tmp_path / "s.jsonl")])
    err = capsys.readouterr().err
    assert status == 3 and "warning: the estimated TV" in err
