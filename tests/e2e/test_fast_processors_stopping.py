"""Stopping rules, transformers' own processors and bad input on the fast path, with tiny transformers models.

EOS ids, stop sequences and stop strings end a row right after the token that completes them, also
inside a block of accepted tokens (STOP-4); a `transformers.LogitsProcessorList` runs with each row's
prefix; bad settings are refused in one line naming the argument (PROC-1, STOP-3).
"""

import json

import pytest
import torch
from transformers import LogitsProcessorList, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

from specens.api import Ensemble, generate
from specens.cli import main
from specens.coupling import tiny_causal_lm, tiny_tokenizer
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.methods import MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble
from specens.reference.processors import Processors
from specens.reference.transforms import Sampling

torch.set_num_threads(1)
VOCAB = 12


def members(tokenizer=None):
    return [Member(tiny_causal_lm("llama", VOCAB, seed=21), name="a", cost="1/4", tokenizer=tokenizer),
            Member(tiny_causal_lm("gpt2", VOCAB, seed=22), name="b", tokenizer=tokenizer)]


def methods():
    return [StandardEnsemble(), NaiveSE(gamma=4), SpeculativeEnsemble({"a": 4, "b": 3}),
            SpeculativeEnsemble({"a": 1, "b": 1}, "b"), MixtureEnsemble()]


def last_step_emitted(out) -> int:
    """How many tokens the row's last step emitted, per the trace (TRACE-1): 2 or more is a block."""
    emits = [e["step"] for e in out.trace if e["event"] == "emit"]
    return emits.count(emits[-1])


def test_an_eos_inside_an_accepted_block_ends_the_row_and_nothing_follows_it():
    """STOP-1, STOP-4, METHOD-3: with several EOS ids, every one stops, also mid-block; no token after it."""
    ensemble = Ensemble(members(), WeightedEnsemble({"a": "1/2", "b": "1/2"}), eos_token_id=[4, 7])
    seen = set()
    mid_block = 0
    for seed in range(20):
        for method in methods():
            out = generate(ensemble, [1, 2], max_new_tokens=20, method=method, seed=seed, trace=True)
            assert all(t not in (4, 7) for t in out.tokens[:-1]), out.tokens
            if out.tokens[-1] in (4, 7):
                assert out.stop_reason == "eos"
                seen.add(out.tokens[-1])
                mid_block += last_step_emitted(out) >= 2
    assert seen == {4, 7}  # both ids stopped some row (not only the first of the list)
    assert mid_block > 0  # and some EOS came inside a block of several emitted tokens


def test_a_stop_sequence_ends_the_row_right_after_it_even_inside_a_block():
    """STOP-2, STOP-4: the row ends with the stop sequence; its tokens are kept, nothing after them."""
    stop = (2, 3)
    ensemble = Ensemble(members(), ContrastiveDecoding(expert="b", amateur="a", mu="1/10"), stop_sequences=[stop, [9]])
    hits = mid_block = 0
    for seed in range(15):
        for method in methods()[:4]:
            out = generate(ensemble, [1], max_new_tokens=16, method=method, seed=seed, trace=True)
            tokens = out.tokens
            ends = [i + 1 for i in range(len(tokens)) if tuple(tokens[max(0, i - 1): i + 1]) == stop or tokens[i] == 9]
            if ends:
                hits += 1
                assert ends[0] == len(tokens) and out.stop_reason == "stop_sequence", (tokens, ends)
                mid_block += last_step_emitted(out) >= 2
            else:
                assert out.stop_reason == "max_new_tokens" and len(tokens) == 16
    assert hits > 5 and mid_block > 0


def test_a_stop_string_cuts_the_text_right_after_it_and_the_tokens_after_the_completing_token():
    """STOP-3: checked on decoded text after every token; distributions unchanged, so the tokens before the
    stop equal the same seed's run without stop strings."""
    tokenizer = tiny_tokenizer(VOCAB)
    ensemble = Ensemble(members(tokenizer), WeightedEnsemble({"a": "1/3", "b": "2/3"}), eos_token_id=None)
    stopped = 0
    for seed in range(20):
        for method in methods():
            free = generate(ensemble, "t1 t2", max_new_tokens=12, method=method, seed=seed)
            out = generate(ensemble, "t1 t2", max_new_tokens=12, method=method, seed=seed, stop_strings=["5 t", "t9"])
            assert free.tokens[: len(out.tokens)] == out.tokens
            if out.stop_reason == "stop_string":
                stopped += 1
                full = tokenizer.decode(out.tokens)
                assert out.text.endswith(("5 t", "t9")) and full.startswith(out.text)
                assert "5 t" not in out.text[:-1] and "t9" not in out.text[:-1]
                assert "5 t" not in tokenizer.decode(out.tokens[:-1]) and "t9" not in tokenizer.decode(out.tokens[:-1])
            else:
                assert out.tokens == free.tokens
    assert stopped > 10


def test_a_stop_string_that_begins_in_the_prompt_does_not_stop_the_row():
    """STOP-3: only the completion's text is read, so a stop string spanning the end of the prompt and
    the first token is not a stop (transformers' StopStringCriteria, which reads the prompt's tokens,
    would stop there)."""
    tokenizer = tiny_tokenizer(VOCAB)
    ensemble = Ensemble(members(tokenizer), eos_token_id=None)
    free = generate(ensemble, "t1 t2", max_new_tokens=4, seed=0)
    spanning = f"t2 t{free.tokens[0]}"  # the prompt's last word and the first generated one
    assert spanning not in free.text  # so only the prompt could complete it
    out = generate(ensemble, "t1 t2", max_new_tokens=4, seed=0, stop_strings=[spanning])
    assert out.stop_reason == "max_new_tokens" and out.tokens == free.tokens


@pytest.mark.parametrize("mode", ["probs", "raw-logits"])
def test_transformers_processors_given_as_a_list_equal_the_built_in_ones(mode):
    """PROC-2, PROC-4, PROC-10, PROC-12: a LogitsProcessorList of transformers' repetition penalty and
    no-repeat-ngram, called per row with that row's prefix, gives the same tokens and trace as specens'
    built-in settings, for every method (both are equal bit for bit, test_fast_processors.py)."""
    ensemble = Ensemble(members(), WeightedEnsemble({"a": "1/4", "b": "3/4"}), mode=mode)
    theirs = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(1.5), NoRepeatNGramLogitsProcessor(2)])
    changed = 0
    for method in methods()[: 5 if mode == "probs" else 4]:
        for seed in range(3):
            ours = generate(ensemble, [3, 1, 3], max_new_tokens=10, method=method, seed=seed, trace=True,
                            repetition_penalty="3/2", no_repeat_ngram_size=2)
            other = generate(ensemble, [3, 1, 3], max_new_tokens=10, method=method, seed=seed, trace=True,
                             logits_processor=theirs)
            plain = generate(ensemble, [3, 1, 3], max_new_tokens=10, method=method, seed=seed)
            assert ours.tokens == other.tokens and ours.trace == other.trace
            history = [3, 1, 3] + ours.tokens
            bigrams = list(zip(history, history[1:]))
            assert len(set(bigrams)) == len(bigrams)  # PROC-4 over prompt + generated tokens
            changed += ours.tokens != plain.tokens
    assert changed > 0  # the settings are in force


@pytest.mark.parametrize("kwargs, message", [
    (dict(repetition_penalty=0), "repetition_penalty: must be > 0"),
    (dict(repetition_penalty=-1.5), "repetition_penalty: must be > 0"),
    (dict(min_new_tokens=9), "min_new_tokens: 9 is above max_new_tokens=8"),
    (dict(logit_bias={VOCAB: 1.0}), f"logit_bias: token {VOCAB} is outside the vocabulary [0, {VOCAB})"),
    (dict(bad_words_ids=[[1, 99]]), "bad_words_ids: [1, 99] has a token outside the vocabulary"),
    (dict(min_p=1.5), "min_p: must lie in [0, 1]"),
    (dict(stop_strings=["t1", "xyz"]), "stop_strings: the tokenizer cannot produce 'xyz'"),
    (dict(stop_strings=[""]), "stop_strings: give non-empty strings"),
    (dict(logits_processor=[3]), "logits_processor: a transformers.LogitsProcessorList"),
])
def test_bad_processor_settings_are_refused_in_one_line_naming_the_argument(kwargs, message):
    """PROC-1, STOP-3: one-line ValueErrors naming the argument and the fix."""
    ensemble = Ensemble(members(tiny_tokenizer(VOCAB)), eos_token_id=0)
    with pytest.raises(ValueError) as error:
        generate(ensemble, "t1", max_new_tokens=8, seed=0, **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_stop_strings_without_a_tokenizer_and_min_new_tokens_without_eos_are_refused():
    """STOP-3, PROC-1: stop strings need decoded text; min_new_tokens needs an EOS id to rule out."""
    ensemble = Ensemble(members(), eos_token_id=None)
    with pytest.raises(ValueError, match="stop_strings: stop strings are matched on decoded text and need a tokenizer"):
        generate(ensemble, [1], max_new_tokens=4, seed=0, stop_strings="t1")
    with pytest.raises(ValueError, match="min_new_tokens: 2 rules out EOS ids, but the ensemble has none"):
        generate(ensemble, [1], max_new_tokens=4, seed=0, min_new_tokens=2)
    with pytest.raises(ValueError, match="processors: must be a specens Processors"):
        Ensemble(members(), processors={"repetition_penalty": 2})


def test_min_new_tokens_holds_back_every_eos_id_until_enough_tokens_are_generated():
    """PROC-5 through generate: with every id but two an EOS, rows still run to min_new_tokens."""
    ensemble = Ensemble(members(), eos_token_id=list(range(2, VOCAB)))
    for seed in range(10):
        for method in methods():
            out = generate(ensemble, [1], max_new_tokens=8, method=method, seed=seed, min_new_tokens=5)
            assert len(out.tokens) >= 6 or out.stop_reason == "max_new_tokens", out.tokens
            assert all(t in (0, 1) for t in out.tokens[:5])


def test_an_ensemble_that_a_processor_empties_names_that_processor():
    """PROC-11: a chain that rules out every token is an error naming the processor."""
    everything = Processors(bad_words_ids=[[t] for t in range(VOCAB)])
    for combination in (WeightedEnsemble({"a": "1/2", "b": "1/2"}), ContrastiveDecoding(expert="b", amateur="a", mu=0)):
        for temperature in (1, 0):  # greedy too: an emptied row is refused, never read as a one-hot at token 0
            ensemble = Ensemble(members(), combination, processors=everything,  # modes probs and raw-logits
                                sampling=Sampling(temperature=temperature))
            for method in methods()[:3]:
                with pytest.raises(ValueError, match="bad_words_ids: rules out every possible token at position 0"):
                    generate(ensemble, [1], max_new_tokens=3, method=method, seed=0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(logit_bias={5: 1e308}), "logit_bias"),
    (dict(repetition_penalty=1e-300), "repetition_penalty"),
    (dict(presence_penalty=-1e39), "frequency_penalty/presence_penalty"),
])
def test_a_bias_or_penalty_beyond_the_dtype_is_an_error_naming_it(kwargs, name):
    """PROC-11: a step that makes a logit +inf or NaN in the rows' dtype is named, not blamed on a member
    or the combination, in modes probs and raw-logits."""
    for combination in (WeightedEnsemble({"a": "1/2", "b": "1/2"}), ContrastiveDecoding(expert="b", amateur="a")):
        ensemble = Ensemble(members(), combination, eos_token_id=0)
        with pytest.raises(ValueError) as error:
            generate(ensemble, [1, 2], max_new_tokens=3, seed=0, **kwargs)
        assert str(error.value).startswith(f"{name}: makes a logit +inf or NaN in float32"), str(error.value)


def test_a_penalty_beyond_float32_on_unseen_tokens_changes_nothing():
    """PROC-3: a presence or frequency penalty beyond float32 rules out the tokens generated before
    (-inf), and leaves the others alone (no 0 * inf), as the reference does in float64."""
    ensemble = Ensemble(members(), eos_token_id=None)
    plain = generate(ensemble, [1], max_new_tokens=6, seed=3, no_repeat_ngram_size=1)
    huge = generate(ensemble, [1], max_new_tokens=6, seed=3, presence_penalty=1e39, frequency_penalty=1e39,
                    bad_words_ids=[[1]])
    assert len(set(huge.tokens)) == 6 and 1 not in huge.tokens
    assert plain.tokens == huge.tokens  # the same bans: every token seen before (the prompt's 1 by bad_words_ids)


def run_cli(capsys, *args):
    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    tiny_causal_lm("llama", VOCAB, seed=0).save_pretrained(path / "m")
    tiny_tokenizer(VOCAB).save_pretrained(path / "m")
    return str(path / "m")


def test_cli_processor_flags_reach_generate_and_stop_strings_cut_the_completion(capsys, model_dir):
    """PROC-1, STOP-2, STOP-3 through `specens generate`: the flags' settings change the completion, a stop
    string cuts it, and --json reports the stop reason."""
    base = ("t1 t2", "--members", model_dir, "--no-chat", "--max-new-tokens", "12", "--json")
    code, out, err = run_cli(capsys, *base)
    plain = json.loads(out)
    assert code == 0 and len(plain["token_ids"]) >= 3, err
    code, out, err = run_cli(capsys, *base, "--repetition-penalty", "4",
                             "--no-repeat-ngram-size", "1", "--logit-bias", "3=-1e9,5=2.5", "--min-p", "0.01",
                             "--presence-penalty", "0.5", "--frequency-penalty", "0.25", "--bad-words", "t4",
                             "--max-new-tokens", "6")  # 12 - 4 banned ids - 1 per token: room for 8
    shaped = json.loads(out)
    assert code == 0, err
    ids = shaped["token_ids"]
    assert len(set(ids)) == len(ids) and 3 not in ids and 4 not in ids and 1 not in ids and 2 not in ids
    assert ids != plain["token_ids"]
    word = f"t{plain['token_ids'][2]}"
    code, out, err = run_cli(capsys, *base, "--stop", word)
    data = json.loads(out)
    assert code == 0 and data["stop_reason"] == "stop_string" and data["completion"].endswith(word)
    assert len(data["token_ids"]) <= 3
    code, out, err = run_cli(capsys, *base, "--stop-sequence",
                             ",".join(map(str, plain["token_ids"][1:3])))
    data = json.loads(out)
    assert code == 0 and data["stop_reason"] == "stop_sequence" and data["token_ids"] == plain["token_ids"][:3]


def test_cli_summary_and_json_report_the_processors_and_stopping_rules_in_force(capsys, model_dir):
    """PROC-1, STOP-1..3: the settings a run used are in --json's summary (active settings only, as the toy
    format writes them) and in the summary's last line (before any [note: ...]), absent when none is given."""
    base = ("t1 t2", "--members", model_dir, "--no-chat", "--max-new-tokens", "4")
    code, out, err = run_cli(capsys, *base, "--json", "--repetition-penalty", "1.5", "--logit-bias", "3=-2",
                             "--stop", "t9", "--stop-sequence", "4,5", "--stop-token-ids", "7")
    summary = json.loads(out)["summary"]
    assert code == 0 and summary["processors"] == {"repetition_penalty": "3/2", "logit_bias": {"3": "-2"}}
    assert summary["stop"]["stop_strings"] == ["t9"] and summary["stop"]["stop_sequences"] == [[4, 5]]
    assert 7 in summary["stop"]["eos_token_id"]
    code, out, err = run_cli(capsys, *base, "--no-stream", "--min-p", "0.25", "--stop", "t9")
    summary_lines = [line for line in err.strip().splitlines() if not line.startswith("[note: ")]  # notes follow
    assert code == 0 and summary_lines[-1] == "[processors and stopping: min_p 1/4; stop string 't9']"
    code, out, err = run_cli(capsys, *base, "--no-stream")
    assert code == 0 and "processors and stopping" not in err


@pytest.mark.parametrize("args, message", [
    (["--repetition-penalty", "0"], "--repetition-penalty: must be > 0"),
    (["--repetition-penalty", "-2"], "--repetition-penalty: must be > 0"),
    (["--min-new-tokens", "20", "--max-new-tokens", "10"], "--min-new-tokens: 20 is above --max-new-tokens 10"),
    (["--logit-bias", f"{VOCAB}=1"], f"--logit-bias: token {VOCAB} is outside the vocabulary"),
    (["--logit-bias", "3:1"], "--logit-bias: give ID=BIAS pairs"),
    (["--logit-bias", "3=1,3=-1"], "--logit-bias: token 3 is given twice"),
    (["--logit-bias", "3=1e308", "--max-new-tokens", "4"],
     "--logit-bias: makes a logit +inf or NaN in float32 (PROC-11); use a less extreme --logit-bias or --dtype float64"),
    (["--stop", "xyz"], "--stop: the tokenizer cannot produce 'xyz'"),
    (["--stop-token-ids", "99"], "--stop-token-ids: 99 is not a token id"),
    (["--stop-sequence", "1,x"], "--stop-sequence: give token ids separated by commas"),
    (["--min-p", "2"], "--min-p: must lie in [0, 1]"),
    (["--no-repeat-ngram-size", "-1"], "--no-repeat-ngram-size: must be a non-negative integer"),
])
def test_cli_refuses_bad_processor_flags_in_one_line_naming_the_flag(capsys, model_dir, args, message):
    """Bad input through the CLI: exit code 2, one line naming the flag, no traceback."""
    code, out, err = run_cli(capsys, "t1", "--members", model_dir, "--no-chat", *args)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
