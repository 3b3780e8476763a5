"""The toy format's `processors` object and `stop_sequences` (TOY-6): round trips and JSON-path errors."""

import copy
import json
from fractions import Fraction as F

import pytest

from specens.reference import StandardEnsemble, dump_toy, load_toy
from specens.reference.numbers import json_loads
from specens.reference.processors import Processors
from specens.reference.zoo import toy_ensemble

SETTINGS = Processors(repetition_penalty="3/2", presence_penalty="1/4", frequency_penalty="1/2",
                      no_repeat_ngram_size=2, min_new_tokens=2, logit_bias={3: "-1"}, bad_words_ids=[[1, 2]],
                      min_p="1/10")


def toy():
    ensemble = toy_ensemble(2, 4, eos_token_id=0).with_(processors=SETTINGS, stop_sequences=[[2, 1]])
    return dump_toy(ensemble, StandardEnsemble(), 4)


def test_processors_and_stop_sequences_round_trip_through_json_text():
    """TOY-6: a writer writes the active settings as rational strings; a reader gets the same settings."""
    obj = toy()
    assert obj["ensemble"]["processors"] == {
        "repetition_penalty": "3/2", "presence_penalty": "1/4", "frequency_penalty": "1/2",
        "no_repeat_ngram_size": 2, "min_new_tokens": 2, "logit_bias": {"3": "-1"}, "bad_words_ids": [[1, 2]],
        "min_p": "1/10"}
    assert obj["ensemble"]["stop_sequences"] == [[2, 1]]
    ensemble, _, _ = load_toy(json_loads(json.dumps(obj)))
    assert ensemble.processors == SETTINGS and ensemble.stop_sequences == ((2, 1),)


def test_json_decimals_are_read_as_written():
    """TOY-6, NUM-1: "min_p": 0.1 in a file is 1/10."""
    obj = json_loads(json.dumps(toy()).replace('"min_p": "1/10"', '"min_p": 0.1'))
    assert load_toy(obj)[0].processors.min_p == F(1, 10)


def test_files_without_processors_are_written_unchanged():
    """TOY-6: no `processors` or `stop_sequences` key when none is set, so older files keep their bytes."""
    ensemble = toy_ensemble(2, 4, eos_token_id=0)
    assert set(ensemble.to_json()) == {"members", "combination", "mode", "sampling", "eos_token_id", "prompt"}


@pytest.mark.parametrize("edit, message", [
    (lambda o: o["ensemble"].update(processors=[]), "ensemble.processors: expected a JSON object"),
    (lambda o: o["ensemble"]["processors"].update(top_a=1), "ensemble.processors.top_a: unknown setting"),
    (lambda o: o["ensemble"]["processors"].update(min_p=2), "ensemble.processors.min_p: must lie in [0, 1]"),
    (lambda o: o["ensemble"]["processors"].update(repetition_penalty=0), "ensemble.processors.repetition_penalty:"),
    (lambda o: o["ensemble"]["processors"].update(no_repeat_ngram_size=1.5),
     "ensemble.processors.no_repeat_ngram_size: expected a non-negative JSON integer"),
    (lambda o: o["ensemble"]["processors"].update(min_new_tokens=True),
     "ensemble.processors.min_new_tokens: expected a non-negative JSON integer"),
    (lambda o: o["ensemble"]["processors"].update(logit_bias={"x": 1}), 'ensemble.processors.logit_bias["x"]:'),
    (lambda o: o["ensemble"]["processors"].update(logit_bias={"9": 1}),
     "ensemble.processors.logit_bias: token 9 is outside the vocabulary"),
    (lambda o: o["ensemble"]["processors"].update(bad_words_ids=[1]), "ensemble.processors.bad_words_ids: expected"),
    (lambda o: o["ensemble"]["processors"].update(bad_words_ids=[[0]]), "ensemble.processors.bad_words_ids: [0] is an EOS id"),
    (lambda o: o.update(max_new_tokens=1), "ensemble.processors.min_new_tokens: 2 is above max_new_tokens=1"),
    (lambda o: o["ensemble"].update(stop_sequences={}), "ensemble.stop_sequences: expected an array"),
    (lambda o: o["ensemble"].update(stop_sequences=[[1], []]), "ensemble.stop_sequences[1]: expected a non-empty"),
    (lambda o: o["ensemble"].update(stop_sequences=[[4]]), "ensemble.stop_sequences: every id must be a token id"),
])
def test_a_malformed_processors_object_is_refused_with_its_json_path(edit, message):
    """TOY-6: one line starting with the JSON path of the offending part."""
    obj = copy.deepcopy(toy())
    edit(obj)
    with pytest.raises(ValueError) as e:
        load_toy(obj)
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)
