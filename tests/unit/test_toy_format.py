"""The toy-ensemble format (TOY-1..TOY-4) and toy members."""

import json
from fractions import Fraction as F

import pytest

from specens.reference import dump_toy, exact_ensemble_pmf, load_toy
from specens.reference.methods import SpeculativeEnsemble
from specens.reference.zoo import toy_ensemble

EXAMPLE = {
    "format": "specens/toy-ensemble",
    "version": 1,
    "ensemble": {
        "members": [
            {"name": "a", "order": 1, "cost": "1/4", "probs": {"": ["1/2", "1/2", "0"], "*": ["1/3", "1/3", "1/3"]}},
            {"name": "b", "order": 0, "logits": {"": [0, "-inf", 1.5]}},
        ],
        "combination": {"kind": "cd", "expert": "b", "amateur": "a", "mu": "1/10"},
        "sampling": {"temperature": "1/2", "top_k": 2, "top_p": None},
        "eos_token_id": 2,
        "prompt": [0],
    },
    "method": {"name": "se", "gammas": {"a": 3, "b": 1}, "default_proposer": None},
    "max_new_tokens": 3,
}


def test_a_toy_file_loads_with_defaults_filled_in():
    """TOY-1, TOY-2, TOY-3, TOY-4: CD defaults to raw-logits; default proposer is the cheapest."""
    ensemble, method, length = load_toy(EXAMPLE)
    assert ensemble.mode == "raw-logits" and length == 3
    assert method.default_proposer == "a"
    assert ensemble.member("a").scores((0, 1)).probs == (F(1, 3), F(1, 3), F(1, 3))  # default row
    assert ensemble.member("a").scores(()).probs == (F(1, 2), F(1, 2), F(0))


def test_a_toy_file_round_trips_through_json(tmp_path):
    """TOY-1: dump then load gives the same ensemble law."""
    ensemble, method, length = load_toy(EXAMPLE)
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(dump_toy(ensemble, method, length)))
    again, method2, length2 = load_toy(path)
    assert exact_ensemble_pmf(again, length2) == exact_ensemble_pmf(ensemble, length)
    assert method2 == method


def test_zoo_ensembles_round_trip_through_json():
    """TOY-2: rational tables survive the format exactly."""
    ensemble = toy_ensemble(3, 3, seed=4)
    method = SpeculativeEnsemble({k: 2 for k in ensemble.names}).check(ensemble)
    again, _, _ = load_toy(json.loads(json.dumps(dump_toy(ensemble, method, 3))))
    assert exact_ensemble_pmf(again, 3) == exact_ensemble_pmf(ensemble, 3)


@pytest.mark.parametrize("patch, word", [
    ({"format": "other"}, "format"),
    ({"version": 2}, "version"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"method": {"name": "beam"}}, "method.name"),
    ({"method": {"name": "se", "gammas": {"a": 0, "b": 1}}}, "gammas"),
    ({"method": {"name": "se", "gammas": {"a": 1}}}, "gammas"),
    ({"method": {"name": "naive", "gamma": 2, "proposer": "zz"}}, "member"),
])
def test_bad_toy_files_raise_errors_naming_the_field(patch, word):
    """TOY-1, TOY-4: unknown format/version, bad length, unknown method, gamma < 1, unknown member."""
    with pytest.raises(ValueError, match=word):
        load_toy({**EXAMPLE, **patch})


def test_probability_rows_must_sum_to_one():
    """TOY-2: a row of probabilities that does not sum to 1 is an error naming the row."""
    bad = json.loads(json.dumps(EXAMPLE))
    bad["ensemble"]["members"][0]["probs"][""] = ["1/2", "1/3", "0"]
    with pytest.raises(ValueError, match="row"):
        load_toy(bad)
