"""Logits processors, one rule at a time, worked by hand in exact rationals (spec/15-processors.md)."""

import math
from fractions import Fraction as F

import numpy as np
import pytest

from specens.reference import (
    Ensemble,
    Sampling,
    Scores,
    StandardEnsemble,
    ToyMember,
    WeightedEnsemble,
    dump_toy,
    exact_ensemble_pmf,
    load_toy,
)
from specens.reference.processors import (
    Prefix,
    Processors,
    apply_bad_words,
    apply_logit_bias,
    apply_min_new_tokens,
    apply_min_p,
    apply_no_repeat_ngram,
    apply_presence_frequency,
    apply_repetition_penalty,
    banned_bad_words,
    banned_ngram_tokens,
    process,
)
from specens.reference.transforms import proposal_distribution, transform


def probs(*ps):
    return Scores(probs=tuple(F(p) for p in ps))


def logits(*ls):
    return Scores(logits=np.array(ls, dtype=np.float64))


# -- PROC-1: the settings ------------------------------------------------------------------------------
def test_default_processors_are_inactive_and_any_setting_activates_them():
    """PROC-1: every setting at its default changes nothing; each one alone makes the set active."""
    assert not Processors().active
    for change in (dict(repetition_penalty=2), dict(presence_penalty=1), dict(frequency_penalty="1/2"),
                   dict(no_repeat_ngram_size=2), dict(min_new_tokens=1), dict(logit_bias={1: 1}),
                   dict(bad_words_ids=[[1]]), dict(min_p="1/10")):
        assert Processors(**change).active, change
    row = probs("1/2", "1/4", "1/4")
    assert process(row, Processors(), Prefix((1,), (2, 2), (0,))) is row


def test_numbers_are_read_exactly_and_the_settings_are_hashable():
    """PROC-1, NUM-1: "3/2" and 1.5 are the same exact penalty; keys of logit_bias may be strings."""
    a = Processors(repetition_penalty="3/2", logit_bias={"2": "0.5"}, bad_words_ids=[[1, 2]])
    b = Processors(repetition_penalty=1.5, logit_bias={2: F(1, 2)}, bad_words_ids=((1, 2),))
    assert a == b and hash(a) == hash(b)
    assert a.repetition_penalty == F(3, 2) and a.logit_bias == {2: F(1, 2)}


@pytest.mark.parametrize("kwargs, name", [
    (dict(repetition_penalty=0), "repetition_penalty"),
    (dict(repetition_penalty=-1), "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
    (dict(min_new_tokens=-2), "min_new_tokens"),
    (dict(min_new_tokens=True), "min_new_tokens"),
    (dict(min_p=F(3, 2)), "min_p"),
    (dict(min_p=-1), "min_p"),
    (dict(bad_words_ids=[[]]), "bad_words_ids"),
    (dict(bad_words_ids=[1, 2]), "bad_words_ids"),
    (dict(logit_bias={-1: 1}), "logit_bias"),
    (dict(logit_bias={1: "1e400"}), "logit_bias[1]"),
    (dict(presence_penalty="x"), "presence_penalty"),
])
def test_bad_settings_are_refused_with_one_line_naming_the_setting(kwargs, name):
    """PROC-1: one-line ValueError that starts with the setting's name."""
    with pytest.raises(ValueError) as e:
        Processors(**kwargs)
    assert str(e.value).startswith(name + ":") and "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs, eos, length, name", [
    (dict(logit_bias={3: 1}), (0,), 4, "logit_bias"),
    (dict(bad_words_ids=[[1, 5]]), (0,), 4, "bad_words_ids"),
    (dict(bad_words_ids=[[0]]), (0,), 4, "bad_words_ids"),
    (dict(min_new_tokens=5), (0,), 4, "min_new_tokens"),
    (dict(min_new_tokens=1), (), 4, "min_new_tokens"),
])
def test_settings_that_do_not_fit_the_vocabulary_eos_or_length_are_refused(kwargs, eos, length, name):
    """PROC-1: a bias or bad word outside the vocabulary, a one-token bad word that is an EOS id,
    min_new_tokens above max_new_tokens or without an EOS id."""
    with pytest.raises(ValueError, match=rf"^{name}:"):
        Processors(**kwargs).check(3, eos, length)
    assert Processors(min_new_tokens=4).check(3, (0,), 4)


# -- PROC-2 .. PROC-8: one function each ------------------------------------------------------------------
def test_repetition_penalty_multiplies_negative_logits_and_divides_positive_ones_once_per_token():
    """PROC-2: transformers' rule; a token seen twice is penalised once; prompt tokens count."""
    out = apply_repetition_penalty(logits(2.0, -1.0, 0.0, 3.0), F(2), (0, 1, 1, 2))
    assert list(out.logits) == [1.0, -2.0, 0.0, 3.0]
    assert list(apply_repetition_penalty(logits(2.0, -np.inf), F(2), (1,)).logits) == [2.0, -np.inf]


def test_repetition_penalty_on_probabilities_is_an_exact_integer_power():
    """PROC-2, PROC-11: log p * theta is p ** theta; (1/2, 1/2) after (0,) with theta 2 -> (1/3, 2/3)."""
    out = apply_repetition_penalty(probs("1/2", "1/2"), F(2), (0,))
    assert out.probs == (F(1, 3), F(2, 3))
    # a non-integer penalty goes through float64 logits (NUM-2)
    out = apply_repetition_penalty(probs("1/2", "1/2"), F(3, 2), (0,))
    assert out.logits is not None and out.logits[0] == pytest.approx(1.5 * math.log(0.5))


def test_presence_and_frequency_penalties_count_generated_tokens_only():
    """PROC-3: vLLM's rule, over the output tokens; the prompt is not counted."""
    out = apply_presence_frequency(logits(0.0, 0.0, 0.0), F(1), F(1, 2), (1, 1))
    assert list(out.logits) == [0.0, -2.0, 0.0]
    row = logits(0.0, 0.0, 0.0)
    assert process(row, Processors(presence_penalty=1), Prefix(prompt=(0, 1, 2), generated=())) is row
    assert list(process(row, Processors(presence_penalty=1), Prefix((0,), (2,))).logits) == [0.0, 0.0, -1.0]


def test_no_repeat_ngram_bans_tokens_completing_an_earlier_ngram_of_prompt_and_output():
    """PROC-4: transformers' NoRepeatNGramLogitsProcessor over the whole history."""
    assert banned_ngram_tokens(2, (1, 2, 1)) == {2}
    assert banned_ngram_tokens(3, (1, 2, 0, 1, 2)) == {0}
    assert banned_ngram_tokens(1, (0, 2)) == {0, 2}
    assert banned_ngram_tokens(3, (1,)) == set()
    assert apply_no_repeat_ngram(probs("1/4", "1/4", "1/2"), 2, (1, 2, 1)).probs == (F(1, 2), F(1, 2), F(0))


def test_min_new_tokens_rules_out_every_eos_id_before_the_position():
    """PROC-5: at positions i < min_new_tokens every EOS id has probability 0; from i on, nothing changes."""
    row = probs("1/4", "1/4", "1/4", "1/4")
    assert apply_min_new_tokens(row, 2, 1, (0, 3)).probs == (0, F(1, 2), F(1, 2), 0)
    assert apply_min_new_tokens(row, 2, 2, (0, 3)) is row
    # the prompt is not counted: a long prompt still bans EOS at the first generated position
    assert process(row, Processors(min_new_tokens=1), Prefix((1, 2, 1, 2), (), (0,))).probs[0] == 0


def test_logit_bias_adds_to_the_logits_and_goes_through_floats_on_probabilities():
    """PROC-6: l + b; on an exact row through float64 (PROC-11); -inf stays -inf."""
    assert list(apply_logit_bias(logits(0.0, 0.0, -np.inf), {1: F(1), 2: F(5)}).logits) == [0.0, 1.0, -np.inf]
    out = apply_logit_bias(probs("1/2", "1/2"), {1: F(1)})
    assert float(out.to_probs()[1]) == pytest.approx(math.e / (1 + math.e), rel=1e-15)
    row = probs("1/2", "1/2")
    assert apply_logit_bias(row, {0: F(0)}) is row


def test_bad_words_rule_out_the_last_token_where_the_history_ends_with_the_rest():
    """PROC-7: transformers' NoBadWordsLogitsProcessor, prompt included."""
    assert banned_bad_words(((3,), (1, 2)), (0, 1)) == {3, 2}
    assert banned_bad_words(((3,), (1, 2)), (0, 2)) == {3}
    assert banned_bad_words(((0, 1, 2),), (0, 1)) == {2}
    assert apply_bad_words(probs("1/2", "1/4", "1/4"), ((1,),), ()).probs == (F(2, 3), 0, F(1, 3))


def test_min_p_keeps_tokens_at_least_min_p_times_the_most_likely_one():
    """PROC-8: strict <, compared exactly; the most likely token is always kept."""
    assert apply_min_p(probs("1/2", "1/4", "1/8", "1/8"), F(1, 3)).probs == (F(2, 3), F(1, 3), 0, 0)
    assert apply_min_p(probs("1/2", "1/4", "1/4"), F(1, 2)).probs == (F(1, 2), F(1, 4), F(1, 4))
    assert apply_min_p(probs("1/2", "1/4", "1/4"), F(1)).probs == (1, 0, 0)


def test_a_chain_that_rules_out_every_token_names_the_processor():
    """PROC-11: the error names the processor that removed the last possible token."""
    with pytest.raises(ValueError, match="^min_new_tokens: rules out every possible token"):
        apply_min_new_tokens(probs(1, 0), 1, 0, (0,))
    with pytest.raises(ValueError, match="^bad_words_ids:"):
        apply_bad_words(logits(0.0, -np.inf), ((0,),), ())


def test_a_bias_or_penalty_beyond_float64_is_an_error_naming_it():
    """PROC-11: a step that makes a logit +inf or NaN names its setting; one that only drives a logit to
    -inf is a mask like any other."""
    with pytest.raises(ValueError, match=r"^logit_bias: makes a logit \+inf or NaN in float64"):
        apply_logit_bias(logits(1e308, 0.0), {0: 1e308})
    with pytest.raises(ValueError, match=r"^repetition_penalty: makes a logit \+inf or NaN"):
        apply_repetition_penalty(logits(2.0, 0.0), F(1e-308), (0,))
    with pytest.raises(ValueError, match=r"^frequency_penalty/presence_penalty: makes a logit \+inf or NaN"):
        apply_presence_frequency(logits(0.0, 0.0), F(0), F(-1e308), (0, 0))
    assert apply_presence_frequency(logits(0.0, 0.0), F(0), F(1e308), (0, 0)).to_probs() == (0, 1)
    with pytest.raises(ValueError, match="^frequency_penalty/presence_penalty: rules out every possible token"):
        apply_presence_frequency(logits(0.0, 0.0), F(1e308), F(1e308), (0, 1))


# -- PROC-9: the order ----------------------------------------------------------------------------------
def test_logit_bias_comes_before_the_repetition_penalty():
    """PROC-9: with l = -1, bias +2 then penalty 2 gives 1 / 2; the other order would give 0."""
    out = process(logits(-1.0, 0.0), Processors(logit_bias={0: 2}, repetition_penalty=2), Prefix((0,), ()))
    assert out.logits[0] == 0.5


def test_min_p_comes_after_top_p():
    """PROC-9: on (4/10, 3/10, 2/10, 1/10) with top_p 3/4 and min_p 1/3, top-p keeps {0, 1, 2}
    (4/10 + 3/10 < 3/4) and then min_p (cut 4/27) keeps all three: (4/9, 3/9, 2/9, 0). vLLM's order
    (min_p first: cut 4/30 drops token 3; then top-p on (4/9, 3/9, 2/9) stops at 7/9) gives (4/7, 3/7, 0, 0)."""
    row = probs("4/10", "3/10", "2/10", "1/10")
    got = transform(row, Sampling(top_p=F(3, 4)), Processors(min_p=F(1, 3)), Prefix()).to_probs()
    assert got == (F(4, 9), F(3, 9), F(2, 9), 0)
    vllm = transform(transform(row, Sampling(), Processors(min_p=F(1, 3)), Prefix()), Sampling(top_p=F(3, 4)))
    assert vllm.to_probs() == (F(4, 7), F(3, 7), 0, 0) != got


def test_processors_come_before_temperature_and_apply_under_greedy():
    """PROC-9: the bias is added before dividing by T; at T = 0 the processors still decide the argmax."""
    row = logits(0.0, 0.0)
    out = transform(row, Sampling(temperature=F(1, 2)), Processors(logit_bias={1: 1}), Prefix())
    assert list(out.logits) == [0.0, 2.0]
    greedy = proposal_distribution(probs("3/5", "2/5"), Sampling(temperature=0), Processors(repetition_penalty=2),
                                   Prefix((0,), ()))
    assert greedy == (0, 1)  # (9/25, 2/5): the penalised token 0 loses the argmax


def test_a_processor_that_reads_the_history_needs_the_prefix():
    """PROC-12: no silent empty history."""
    with pytest.raises(ValueError, match="^prefix:"):
        transform(probs("1/2", "1/2"), Sampling(), Processors(repetition_penalty=2))


# -- PROC-10: where they apply in each mode -------------------------------------------------------------
def _two_members(mode, processors, eos=None):
    a = ToyMember("a", {None: Scores(logits=np.array([1.0, 0.0, 0.0]))}, order=0)
    b = ToyMember("b", {None: Scores(logits=np.array([-1.0, 0.0, 1.0]))}, order=0)
    return Ensemble((a, b), WeightedEnsemble({"a": 1, "b": 1}), mode=mode, processors=processors, eos_token_id=eos)


def test_in_modes_probs_and_logits_processors_act_on_each_member_before_combining():
    """PROC-10: the repetition penalty sees member a's +1 and member b's -1 on token 0 separately."""
    e = _two_members("logits", Processors(repetition_penalty=2))
    # a: (1/2, 0, 0); b: (-2, 0, 1); mean: (-3/4, 0, 1/2)
    expected = transform(Scores(logits=np.array([-0.75, 0.0, 0.5])), Sampling()).to_probs()
    assert e.target((0,)) == expected
    e = _two_members("probs", Processors(repetition_penalty=2))
    pa = transform(Scores(logits=np.array([0.5, 0.0, 0.0])), Sampling()).to_probs()
    pb = transform(Scores(logits=np.array([-2.0, 0.0, 1.0])), Sampling()).to_probs()
    assert e.target((0,)) == tuple((x + y) / 2 for x, y in zip(pa, pb))


def test_in_mode_raw_logits_processors_act_once_on_the_combined_logits():
    """PROC-10: combined raw logits (0, 0, 1/2); penalty 2 on token 0 leaves 0 (not negative) as 0."""
    e = _two_members("raw-logits", Processors(repetition_penalty=2))
    assert e.target((0,)) == transform(Scores(logits=np.array([0.0, 0.0, 0.5])), Sampling()).to_probs()
    assert e.target((0,)) != _two_members("logits", Processors(repetition_penalty=2)).target((0,))


def test_each_member_proposes_from_its_own_processed_distribution_in_every_mode():
    """PROC-10, TRANSFORM-6: p_k is the member's own output after the whole chain, whatever the mode."""
    for mode in ("probs", "logits", "raw-logits"):
        e = _two_members(mode, Processors(repetition_penalty=2, min_p=F(1, 2)))
        expected = transform(Scores(logits=np.array([0.5, 0.0, 0.0])), Sampling(),
                             Processors(min_p=F(1, 2))).to_probs()
        assert e.proposal("a", (0,)) == expected


# -- PROC-12: one prefix per position ---------------------------------------------------------------------
def test_the_ensemble_splits_each_context_into_prompt_and_generated_tokens():
    """PROC-12: presence counts generated tokens, the repetition penalty the prompt too; the split is
    explicit and a context that does not start with the prompt is refused."""
    m = ToyMember("a", {None: Scores(logits=np.array([0.0, 0.0, 0.0]))}, order=0)
    e = Ensemble((m,), WeightedEnsemble({"a": 1}), prompt=(1,), processors=Processors(presence_penalty=1))
    assert e.prefix((1, 2, 0)) == Prefix((1,), (2, 0), ())
    assert e.target((1,)) == (F(1, 3),) * 3  # the prompt's token 1 is not penalised
    assert e.target((1, 2))[2] < e.target((1, 2))[1]
    with pytest.raises(ValueError, match="^context:"):
        e.target((2,))


def test_every_distribution_at_a_position_reads_the_prefix_with_the_cached_proposals():
    """PROC-12: the Run's proposal and target at position i both read prompt + seq[:i], cached tokens included."""
    from specens.reference.rng import StreamChooser, UniformStream
    from specens.reference.state import Run

    m0 = ToyMember("m0", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0, cost=F(1, 4))
    m1 = ToyMember("m1", {None: Scores(probs=(F(1, 4), F(3, 4)))}, order=0)
    e = Ensemble((m0, m1), WeightedEnsemble({"m0": 1, "m1": 2}), prompt=(0,),
                 processors=Processors(frequency_penalty=1))
    run = Run(e, StreamChooser(UniformStream(seed=0)), 4)
    run.prefill()
    run.emit(1, "direct")
    run.propose("m0", 2)
    seq = tuple(run.seq)
    for i in (1, 2):
        run.forward("m1") if i not in run.holds["m1"] else None
        assert run.proposal("m0", i) == e.proposal("m0", (0,) + seq[:i])
        assert run.target(i) == e.target((0,) + seq[:i])
        prefix = e.prefix((0,) + seq[:i])
        assert prefix.generated == seq[:i]  # the cached proposal before i is counted


# -- STOP-1 .. STOP-4 -----------------------------------------------------------------------------------
def test_a_row_stops_after_an_eos_id_or_the_end_of_a_stop_sequence_of_its_generated_tokens():
    """STOP-1, STOP-2: every EOS id and every stop sequence ends a row; the prompt is not read."""
    m = ToyMember("a", {None: Scores(probs=(F(1, 4),) * 4)}, order=0)
    e = Ensemble((m,), WeightedEnsemble({"a": 1}), eos_token_id=[3, 0], stop_sequences=[[2, 1], [1, 1]], prompt=(2,))
    assert e.stop_sequences == ((1, 1), (2, 1))
    assert e.stopped((1, 3)) and e.stopped((0,)) and e.stopped((0, 2, 1)) and e.stopped((1, 1))
    assert not e.stopped((1,)) and not e.stopped(()) and not e.stopped((1, 2))  # (2,) + (1,) straddles the prompt


def test_the_sequence_law_ends_rows_at_stop_sequences():
    """STOP-2, ENGINE-2: with stop sequence (1, 1) and V = 2 uniform, length 3: (1, 1) has 1/4."""
    m = ToyMember("a", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    e = Ensemble((m,), WeightedEnsemble({"a": 1}), stop_sequences=[[1, 1]])
    law = exact_ensemble_pmf(e, 3)
    assert law[(1, 1)] == F(1, 4) and law[(0, 1, 1)] == F(1, 8) and (1, 1, 0) not in law
    assert sum(law.values()) == 1


@pytest.mark.parametrize("bad, message", [
    ([[]], "stop_sequences: a stop sequence is empty"),
    ([[5]], "stop_sequences: every id must be a token id"),
    ("ab", "stop_sequences: must be a list"),
])
def test_bad_stop_sequences_are_refused_naming_the_argument(bad, message):
    """STOP-2: one-line errors naming stop_sequences."""
    m = ToyMember("a", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    with pytest.raises(ValueError, match=f"^{message}"):
        Ensemble((m,), WeightedEnsemble({"a": 1}), stop_sequences=bad)


def test_the_reference_and_the_toy_format_have_no_stop_strings():
    """STOP-3: stop strings are decoded text, fast path only; a toy file naming them is refused."""
    assert not hasattr(Ensemble, "stop_strings")
    m = ToyMember("a", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    toy = dump_toy(Ensemble((m,), WeightedEnsemble({"a": 1})), StandardEnsemble(), 2)
    toy["ensemble"]["processors"] = {"stop_strings": ["\n"]}
    with pytest.raises(ValueError, match=r"^ensemble\.processors\.stop_strings: unknown setting"):
        load_toy(toy)


def test_a_stop_inside_a_block_of_accepted_tokens_ends_the_row_there():
    """STOP-4: a gamma-3 proposer that always proposes (1, 1, 0) with stop sequence (1, 1): every run of
    naive SE and SE emits at most (1, 1) and never what follows inside the block."""
    from specens.reference import NaiveSE, SpeculativeEnsemble, exact_output_pmf

    m0 = ToyMember("m0", {None: Scores(probs=(F(0), F(1)))}, order=0, cost=F(1, 4))
    m1 = ToyMember("m1", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    e = Ensemble((m0, m1), WeightedEnsemble({"m0": 1, "m1": 1}), stop_sequences=[[1, 1]])
    expected = exact_ensemble_pmf(e, 5)
    for method in (NaiveSE(3, "m0"), SpeculativeEnsemble({"m0": 3, "m1": 1}, "m0")):
        got = exact_output_pmf(e, method, 5)
        assert got.pmf == expected
        assert all(s[-2:] == (1, 1) or len(s) == 5 for s in got.pmf)


def test_min_new_tokens_above_the_length_is_refused_by_every_entry_point():
    """PROC-1: a Run (so generate and the exact engine) and ENGINE-2's law refuse min_new_tokens above
    max_new_tokens, naming min_new_tokens."""
    from specens.reference import exact_output_pmf, generate

    m = ToyMember("a", {None: Scores(probs=(F(1, 2), F(1, 2)))}, order=0)
    e = Ensemble((m,), WeightedEnsemble({"a": 1}), eos_token_id=0, processors=Processors(min_new_tokens=3))
    for call in (lambda: generate(e, StandardEnsemble(), 2, seed=0), lambda: exact_output_pmf(e, StandardEnsemble(), 2),
                 lambda: exact_ensemble_pmf(e, 2)):
        with pytest.raises(ValueError, match="^min_new_tokens: 3 is above max_new_tokens=2"):
            call()
    assert sum(exact_ensemble_pmf(e, 3).values()) == 1
