"""A check that cannot see the target TV bias is INCONCLUSIVE, never "consistent" (ORACLE-3, ORACLE-4,
ORACLE-7, ORACLE-10): its own verdict, exit status 3 on the CLI, an error from assert_sampler_exact
unless allowed, and in every case the number of samples that would do."""

import json
import re
import warnings

import numpy as np
import pytest

from specens.cli import main
from specens.oracle import CASES, MUTANTS, UnderpoweredWarning, assert_sampler_exact, check_samples, sample_size
from specens.oracle import InconclusiveCheck
from specens.oracle.assertion import method_label
from specens.reference import SpeculativeEnsemble

CASE = CASES[0]  # we-se-1-3-m0
BUGGY = next(m for m in MUTANTS if m.name == "bonus-unverified")  # TV 0.21 from the law, on CASE
SUBTLE = next(m for m in MUTANTS if m.name == "verifier-default-temperature")  # TV 0.0165, no impossible tokens


def correct(n, seed):
    return CASE.sampler().sample(n, seed=seed)


def write_samples(path, rows):
    path.write_text("".join(json.dumps([int(t) for t in row if t >= 0]) + "\n" for row in rows))


def test_specens_check_with_50_samples_is_inconclusive_with_exit_status_3(tmp_path, capsys):
    """ORACLE-7, ORACLE-4: 50 exact samples: INCONCLUSIVE (not "consistent"), exit 3, and the sample count
    that ORACLE-4's sample_size gives for the largest family of this check (2 statistics x (1 + L) tests)."""
    (tmp_path / "toy.json").write_text(json.dumps(CASE.toy()))
    write_samples(tmp_path / "few.jsonl", correct(50, 0))
    status = main(["check", "--ensemble", str(tmp_path / "toy.json"), "--samples", str(tmp_path / "few.jsonl")])
    captured = capsys.readouterr()
    assert status == 3
    assert "INCONCLUSIVE" in captured.out.splitlines()[0] and "consistent" not in captured.out
    law = CASE.law()
    needed = sample_size([float(p) for p in law.values()], 0.05, alpha=0.001, tests=2 * (1 + CASE.length))
    assert f"use at least {needed:,} samples" in captured.err
    assert captured.err.startswith("specens check: inconclusive: 50 samples cannot detect a TV bias of any size")
    assert "--length" not in captured.err  # no prefix is checkable with 50 either


def test_an_underpowered_check_names_the_longest_prefix_its_samples_can_check(tmp_path, capsys):
    """ORACLE-4: 3,000 exact samples cannot see any bias in the law of whole sequences (every cell pooled),
    so the hint names the longest --length they have the power for; that shorter check is then decided."""
    (tmp_path / "toy.json").write_text(json.dumps(CASE.toy()))
    write_samples(tmp_path / "s.jsonl", correct(3000, 3))
    args = ["check", "--ensemble", str(tmp_path / "toy.json"), "--samples", str(tmp_path / "s.jsonl"), "--worst", "0"]
    assert main(args) == 3
    err = capsys.readouterr().err
    found = re.search(r"where these samples have the power: --length (\d+)$", err.strip())
    assert found and 1 <= int(found[1]) < CASE.length, err
    assert main(args + ["--length", found[1]]) == 0  # CONSISTENT at that length
    assert main(args + ["--length", str(int(found[1]) + 1)]) == 3  # and the longest such: one more is not
    capsys.readouterr()


def test_the_samples_needed_are_enough():
    """ORACLE-4: a run of samples_needed exact samples can see the target TV bias; the verdict is decided."""
    few = check_samples(correct(300, 1), CASE.law(), length=CASE.length, warn=False, target_tv=0.1)
    assert few.verdict == "INCONCLUSIVE" and few.samples_needed > 300
    enough = check_samples(correct(few.samples_needed, 2), CASE.law(), length=CASE.length, warn=False,
                           target_tv=0.1)
    assert enough.detectable_tv <= 0.1 and enough.samples_needed is None
    assert enough.verdict == "CONSISTENT"


def test_a_law_with_no_test_left_after_pooling_is_inconclusive():
    """ORACLE-3: 6 samples of a two-sequence law pool into one cell: no test, so no verdict of consistency."""
    report = check_samples([[0]] * 3 + [[1]] * 3, {(0,): 0.5, (1,): 0.5}, warn=False)
    assert report.tests == [] and report.verdict == "INCONCLUSIVE"
    assert "no test is left after pooling" in report.format()
    # a law with one possible sequence is tested by impossible samples alone: 1000 samples suffice
    single = check_samples([[0]] * 1000, {(0,): 1.0}, warn=False)
    assert single.verdict == "CONSISTENT"


def test_assert_sampler_exact_with_60_samples_raises_on_a_buggy_sampler():
    """ORACLE-10: the issue's case: 60 samples of a wrong sampler used to pass with a warning."""
    with pytest.raises(AssertionError, match=r"inconclusive: 60 samples .* use at least [\d,]+ samples"):
        assert_sampler_exact(lambda n, seed: SUBTLE.sample(n, seed=seed), SUBTLE.case, samples=60)
    with pytest.raises(AssertionError):  # rejected or inconclusive: either way not a pass
        assert_sampler_exact(lambda n, seed: BUGGY.sample(n, seed=seed), BUGGY.case, samples=60)


def test_allow_underpowered_warns_and_returns_the_inconclusive_report():
    """ORACLE-10: the caller may accept a check too small to see the bias; it still says so."""
    with pytest.warns(UnderpoweredWarning, match=r"inconclusive check: .*: 60 samples .* use at least"):
        report = assert_sampler_exact(lambda n, seed: SUBTLE.sample(n, seed=seed), SUBTLE.case, samples=60,
                                      allow_underpowered=True)
    assert report.verdict == "INCONCLUSIVE" and report.samples_needed > 60


def test_a_powered_check_passes_a_correct_sampler_and_fails_a_buggy_one():
    """ORACLE-10, ORACLE-9: at a budget that sees a TV bias of 0.1 the verdicts are decided (negative control)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a powered check does not warn
        report = assert_sampler_exact(correct, CASE, samples=30_000, target_tv=0.1)
    assert report.verdict == "CONSISTENT" and not report.underpowered
    with pytest.raises(AssertionError, match="REJECTED") as failure:
        assert_sampler_exact(lambda n, seed: BUGGY.sample(n, seed=seed), BUGGY.case, samples=30_000, target_tv=0.1)
    assert not isinstance(failure.value, InconclusiveCheck)


def test_the_label_names_the_toys_method_or_else_the_file(tmp_path, capsys):
    """ORACLE-6: a toy file with a method is labelled by it; one without by its file name."""
    toy = CASE.toy()
    (tmp_path / "with-method.json").write_text(json.dumps(toy))
    del toy["method"]
    (tmp_path / "no-method.json").write_text(json.dumps(toy))
    write_samples(tmp_path / "s.jsonl", correct(30_000, 3))
    labels = {}
    for name in ("with-method.json", "no-method.json"):
        main(["check", "--ensemble", str(tmp_path / name), "--samples", str(tmp_path / "s.jsonl"), "--worst", "1"])
        labels[name] = re.match(r"specens oracle: (.*): ", capsys.readouterr().out).group(1)
    assert labels["with-method.json"] == method_label(CASE.method) == "se (gammas m0=1 m1=3, default_proposer m0)"
    assert labels["no-method.json"] == "no-method.json"
    report = assert_sampler_exact(correct, tmp_path / "no-method.json", samples=30_000, target_tv=0.1)
    assert report.label == "no-method.json"
    assert method_label(SpeculativeEnsemble({"a": 3, "b": 1}, "a")) == "se (gammas a=3 b=1, default_proposer a)"


def test_bad_target_tv_is_refused_naming_it(tmp_path, capsys):
    """ORACLE-4: the target is a total variation in (0, 1]."""
    with pytest.raises(ValueError, match="target_tv"):
        check_samples(correct(100, 0), CASE.law(), target_tv=0)
    (tmp_path / "toy.json").write_text(json.dumps(CASE.toy()))
    write_samples(tmp_path / "s.jsonl", correct(10, 0))
    assert main(["check", "--ensemble", str(tmp_path / "toy.json"), "--samples", str(tmp_path / "s.jsonl"),
                 "--target-tv", "2"]) == 2
    assert "--target-tv" in capsys.readouterr().err


def test_samples_needed_grow_as_the_target_shrinks():
    """ORACLE-4: sanity of the count the messages print: a quarter of the bias needs up to about 16 times the
    samples (fewer when, at the coarse target, much of the law is still pooled and the pooled mass sets the size)."""
    probs = np.array([float(p) for p in CASE.law().values()])
    coarse, fine = (sample_size(probs, tv, alpha=0.001, tests=10) for tv in (0.1, 0.025))
    assert 5 < fine / coarse < 25
