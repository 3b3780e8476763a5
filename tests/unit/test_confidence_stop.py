"""The confidence stop (METHOD-6): proposals end after a token the proposer doubts; the law never moves.

Exactly, with the exact engine (ENGINE-1 == ENGINE-2) on the exact-engine matrix, for naive SE (a
member or an outside drafter proposing) and SE, at thresholds that stop often. Step rules are read
off traces. Negative control: a proposer that draws again when it doubts its token, and still verifies
against q, caches tokens that no longer follow q; the law moves.
"""

import json
from decimal import Decimal
from fractions import Fraction as F

import numpy as np
import pytest

from specens.oracle.sampler import VectorSampler
from specens.reference import (NaiveSE, SpeculativeEnsemble, dump_toy, exact_ensemble_pmf, exact_output_pmf, generate,
                               load_toy)
from specens.reference.engine import enumerate_runs
from specens.reference.state import Proposal, Run
from specens.reference.zoo import toy_ensemble

from tests.unit.test_exact_engine import SETTINGS, make
from tests.unit.test_speculative_mixture import outside_drafter


def methods(names, threshold):
    yield NaiveSE(gamma=3, proposer=names[0], confidence_threshold=threshold)
    yield NaiveSE(gamma=2, proposer=names[-1], confidence_threshold=threshold)
    yield SpeculativeEnsemble({k: 3 for k in names}, confidence_threshold=threshold)
    yield SpeculativeEnsemble({k: 1 + i % 2 * 2 for i, k in enumerate(names)}, names[-1], confidence_threshold=threshold)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(map(str, s)))
def test_a_confidence_stop_leaves_the_law_of_every_method_exact(setting):
    """METHOD-6, THM-SE-ALT: the number of proposals is a function of the prefix, so ENGINE-1 == ENGINE-2."""
    ensemble = make(setting)
    expected = exact_ensemble_pmf(ensemble, 4)
    for threshold in (F(1, 2), 0.9):
        for method in methods(ensemble.names, threshold):
            assert exact_output_pmf(ensemble, method, 4).pmf == expected, (method, threshold)


def test_an_outside_drafter_with_a_confidence_stop_and_the_bonus_stays_exact():
    """METHOD-5, METHOD-6, NAIVE-5 together."""
    for setting in SETTINGS[1:6]:
        ensemble = make(setting)
        ens = ensemble.with_(drafter=outside_drafter(ensemble))
        for threshold in (F(1, 3), F(2, 3)):
            got = exact_output_pmf(ens, NaiveSE(gamma=3, proposer="t", confidence_threshold=threshold), 4)
            assert got.pmf == exact_ensemble_pmf(ensemble, 4)


def proposals(result):
    """[(step, member, position, token)] of every propose event."""
    return [(e["step"], e["member"], e["position"], e["token"]) for e in result.trace if e["event"] == "propose"]


def test_a_proposal_ends_right_after_the_first_doubted_token_and_keeps_it():
    """METHOD-6 at T > 0: the confidence of a drawn token is q(token); a proposal below gamma ends on the only
    token under the threshold, and that token is still verified; TRACE-1's `stopped` marks it."""
    ensemble = toy_ensemble(2, 3, seed=2)
    threshold = F(2, 5)
    seen = 0
    for result, _ in enumerate_runs(ensemble, NaiveSE(gamma=3, proposer="m0", confidence_threshold=threshold), 5):
        for step in {s for s, *_ in proposals(result)}:
            drawn = [(pos, tok) for s, _, pos, tok in proposals(result) if s == step]
            run_seq = _seq_at(result, step)
            conf = [ensemble.confidence("m0", ensemble.prompt + tuple(run_seq[:pos]))[tok] for pos, tok in drawn]
            assert all(c >= threshold for c in conf[:-1])  # only the last may be doubted
            flags = [bool(e.get("stopped")) for e in result.trace if e["event"] == "propose" and e["step"] == step]
            assert flags == [c < threshold for c in conf]  # TRACE-1: `stopped` marks exactly the doubted token
            if len(drawn) < 3 and drawn[-1][0] < 4:  # ended early, not by the length limit
                assert conf[-1] < threshold
                seen += 1
    assert seen > 0


def _seq_at(result, step):
    """seq as the proposer saw it at the end of `step`'s proposals: tokens emitted before the step and every
    token proposed up to it, by position, later events overwriting earlier ones (read only below a position
    proposed in `step`)."""
    seq = {}
    for e in result.trace:
        if e["step"] > step:
            break
        if e["event"] == "propose" or (e["event"] == "emit" and e["step"] < step):
            seq[e["position"]] = e["token"]
    return [seq[i] for i in range(max(seq) + 1)]


def test_threshold_zero_is_the_fixed_length_and_one_goes_on_only_past_sure_tokens():
    """METHOD-6: t = 0 never stops (no confidence is below 0), so the runs equal those without a threshold."""
    ensemble = toy_ensemble(2, 3, seed=2)
    for seed in range(20):
        for plain, stopped in ((NaiveSE(gamma=3), NaiveSE(gamma=3, confidence_threshold=0)),
                               (SpeculativeEnsemble({"m0": 3, "m1": 2}),
                                SpeculativeEnsemble({"m0": 3, "m1": 2}, confidence_threshold=0.0))):
            a, b = generate(ensemble, plain, 6, seed=seed), generate(ensemble, stopped, 6, seed=seed)
            assert (a.tokens, a.trace) == (b.tokens, b.trace)
    result = generate(ensemble, NaiveSE(gamma=3, confidence_threshold=1), 8, seed=1)
    lengths = []
    for step in {s for s, *_ in proposals(result)}:  # t = 1: a proposal goes on only past a sure token
        drawn = [(pos, tok) for s, _, pos, tok in proposals(result) if s == step]
        seq = _seq_at(result, step)
        assert all(ensemble.confidence("m0", ensemble.prompt + tuple(seq[:pos]))[tok] == 1 for pos, tok in drawn[:-1])
        lengths.append(len(drawn))
    assert 1 in lengths


def test_a_doubted_bonus_token_ends_the_scorers_turn():
    """METHOD-6, SE-3, SE-6: when the scorer's bonus token is below the threshold it proposes nothing more."""
    ensemble = toy_ensemble(2, 3, seed=2)
    method = SpeculativeEnsemble({"m0": 1, "m1": 3}, "m0", confidence_threshold=F(1, 2))
    doubted = 0
    for result, _ in enumerate_runs(ensemble, method, 5):
        by_step = {}
        for e in result.trace:
            if e["event"] == "propose":
                by_step.setdefault(e["step"], []).append(e)
        for step, events in by_step.items():
            if events[0]["bonus"]:
                seq = _seq_at(result, step)
                c = ensemble.confidence("m1", ensemble.prompt + tuple(seq[:events[0]["position"]]))[events[0]["token"]]
                if c < F(1, 2):
                    assert len(events) == 1
                    doubted += 1
    assert doubted > 0


def test_at_temperature_zero_the_confidence_is_read_before_the_argmax():
    """METHOD-6 at T = 0: q is a one-hot, so the stop reads the transformed distribution whose argmax greedy takes."""
    ensemble = toy_ensemble(2, 3, seed=2, temperature=0)
    context = ensemble.prompt
    conf = ensemble.confidence("m0", context)
    assert max(conf) < 1 and sum(conf) == 1 and ensemble.proposal("m0", context)[conf.index(max(conf))] == 1
    full = generate(ensemble, NaiveSE(gamma=3), 6, seed=0)
    stopped = generate(ensemble, NaiveSE(gamma=3, confidence_threshold=1), 6, seed=0)
    assert full.tokens == stopped.tokens  # greedy: the same tokens, fewer proposals per round
    assert len(proposals(stopped)) < len(proposals(full)) or full.calls != stopped.calls


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.4x", float("nan"), float("inf"), [0.5], "3/2"])
def test_a_threshold_that_is_not_a_probability_is_refused(value):
    for make_method in (lambda: NaiveSE(confidence_threshold=value),
                        lambda: SpeculativeEnsemble({"m0": 1, "m1": 1}, confidence_threshold=value)):
        with pytest.raises(ValueError, match="confidence_threshold: must be a probability in .0, 1.* leave it out"):
            make_method()


def test_a_threshold_is_read_exactly_and_survives_a_toy_file():
    """METHOD-6, NUM-1, TOY-4: text and decimals as written, NumPy numbers too, a float at its binary value;
    written as a string, read back equal, so a toy file the project writes is one it reads."""
    assert {NaiveSE(confidence_threshold=v).confidence_threshold
            for v in ("0.4", "2/5", Decimal("0.4"), F(2, 5))} == {F(2, 5)}
    assert NaiveSE(confidence_threshold=np.float32(0.5)).confidence_threshold == F(1, 2)
    assert NaiveSE(confidence_threshold=np.int64(1)).confidence_threshold == 1
    assert NaiveSE(confidence_threshold=0.4).confidence_threshold == F(0.4) > F(2, 5)  # binary value (NUM-1)
    ensemble = toy_ensemble(2, 3, seed=2)
    for method in (NaiveSE(gamma=2, confidence_threshold="2/5"),
                   SpeculativeEnsemble({"m0": 3, "m1": 1}, confidence_threshold=F(7, 12))):
        text = json.dumps(dump_toy(ensemble, method, 4))
        _, read, _ = load_toy(json.loads(text, parse_float=Decimal))
        assert read == method.check(ensemble) and read.to_json()["confidence_threshold"] in ("2/5", "7/12")


def test_the_vectorised_sampler_refuses_a_threshold_it_does_not_run():
    with pytest.raises(ValueError, match="confidence_threshold changes which calls"):
        VectorSampler(toy_ensemble(2, 3), NaiveSE(gamma=2, confidence_threshold=0.5), 4)


def test_negative_control_redrawing_a_doubted_token_moves_the_law(monkeypatch):
    """A proposer that draws again when its token is below the threshold, keeping q as the distribution
    to verify against: the cached token then follows a law other than q, so the accept test divides by the
    wrong distribution. ENGINE-1 must see the law move."""
    ensemble = make(SETTINGS[2])
    method = NaiveSE(gamma=2, proposer=ensemble.names[0], confidence_threshold=F(1, 2))
    expected = exact_ensemble_pmf(ensemble, 3)
    assert exact_output_pmf(ensemble, method, 3).pmf == expected
    correct = Run.propose

    def redraws_a_doubted_token(self, name, count, *, bonus=False, stop_below=None):
        unsure = correct(self, name, count, bonus=bonus, stop_below=stop_below)
        if unsure:  # the bug: the doubted token is replaced by a second draw from the same q
            doubted = self.cache.pop()
            token = self.chooser.draw(doubted.q, "redraw")
            self.cache.append(Proposal(token, doubted.proposer, doubted.q))
        return unsure

    monkeypatch.setattr(Run, "propose", redraws_a_doubted_token)
    assert exact_output_pmf(ensemble, method, 3).pmf != expected
