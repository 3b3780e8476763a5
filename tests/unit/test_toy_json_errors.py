"""Malformed toy files are refused with one line naming the JSON path (TOY-1 .. TOY-4), through load_toy,
`specens check` and `specens demo --toy`; never a KeyError, AttributeError, TypeError or OverflowError,
and never accepted silently."""

import copy
import json

import pytest

from specens.cli import main
from specens.reference import load_toy

BASE = {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": 2,
        "ensemble": {"members": [{"name": "a", "order": 1, "probs": {"*": ["1/2", "1/4", "1/4"]}},
                                 {"name": "b", "order": 2, "probs": {"*": ["1/4", "1/2", "1/4"]}}],
                     "combination": {"kind": "we", "weights": {"a": 1, "b": 1}}}}


def edit(path, value):
    """BASE with the JSON path (a list of keys) set to value, or deleted when value is DELETE."""
    obj = copy.deepcopy(BASE)
    *head, last = path
    node = obj
    for key in head:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return obj


DELETE = object()
M1 = ["ensemble", "members", 1]
CASES = [
    (["ensemble", "combination", "weights"], DELETE, r"^ensemble\.combination\.weights: missing"),
    (["ensemble"], DELETE, r"^ensemble: missing"),
    (["ensemble", "combination"], None, r"^ensemble\.combination: expected a JSON object"),
    (["ensemble", "sampling"], None, r"^ensemble\.sampling: expected a JSON object"),
    (["method"], None, r"^method: expected a JSON object"),
    (["ensemble", "members"], {"a": 1}, r"^ensemble\.members: expected a non-empty JSON array"),
    (["ensemble", "members"], [1, 2], r"^ensemble\.members\[0\]: expected a JSON object"),
    (M1 + ["probs"], [["1", "0", "0"]], r"^ensemble\.members\[1\]\.probs: expected a JSON object"),
    (M1 + ["probs"], {}, r"^ensemble\.members\[1\]\.probs: member 'b' has no rows"),
    (M1 + ["probs", "0"], "1", r"^ensemble\.members\[1\]\.probs\[\"0\"\]: a row is a non-empty JSON array"),
    (M1 + ["probs", "x"], ["1", "0", "0"], r"^ensemble\.members\[1\]\.probs\[\"x\"\] of member 'b': row key 'x' is not a context"),
    (M1 + ["probs", "-1"], ["1", "0", "0"], r"\[\"-1\"\] of member 'b': row key '-1' is not a context"),
    (M1 + ["probs", "7"], ["1", "0", "0"], r"^ensemble\.members\[1\]\.probs\[\"7\"\]: token ids of member 'b' lie in 0\.\.2"),
    (M1 + ["probs", "0,0,0"], ["1", "0", "0"], r"\[\"0,0,0\"\]: the key has 3 token ids but member 'b' has order 2"),
    (M1 + ["order"], True, r"^ensemble\.members\[1\]\.order: must be a non-negative integer, got true"),
    (["ensemble", "prompt"], None, r"^ensemble\.prompt: expected a JSON array of integer token ids"),
    (["ensemble", "prompt"], 1, r"^ensemble\.prompt: expected a JSON array"),
    (["ensemble", "prompt"], [True], r"^ensemble\.prompt: expected a JSON array of integer token ids .* got \[true\]"),
    (["max_new_tokens"], True, r"^max_new_tokens: must be a positive integer, got true"),
    (["ensemble", "combination"], {"kind": "linear", "coefficients": {"a": 0, "b": 0}},
     r"^ensemble\.combination\.coefficients: at least one must be non-zero"),
    (["ensemble", "combination"], {"kind": "cd", "expert": "a", "amateur": "b", "mu": "1e400"},
     r"^ensemble\.combination\.mu: 1\.00e\+400 is too large for float64"),
    (M1, {"name": "b", "logits": {"*": ["1e400", 0, 0]}}, r"^ensemble\.members\[1\]\.logits\[\"\*\"\]: 1\.00e\+400 is too large"),
]


@pytest.mark.parametrize("path, value, message", CASES, ids=[f"{'.'.join(map(str, p))}={v!r}"[:40] for p, v, _ in CASES])
def test_a_malformed_toy_is_refused_naming_its_json_path(path, value, message):
    """TOY-1, TOY-2, TOY-3, NUM-1: one ValueError whose message starts with the JSON path."""
    with pytest.raises(ValueError, match=message):
        load_toy(edit(path, value))


def test_the_base_toy_and_well_formed_variants_are_accepted():
    """TOY-2 (control): keys within the order, a short key and the empty context are all fine."""
    obj = edit(M1 + ["probs"], {"*": ["1/4", "1/2", "1/4"], "": ["1", "0", "0"], "0": ["0", "1", "0"],
                                "0,2": ["0", "0", "1"]})
    ensemble, _, length = load_toy(obj)
    assert ensemble.member("b").table[(0, 2)].probs[2] == 1 and length == 2


def test_load_toy_names_an_unreadable_or_non_utf8_file(tmp_path):
    """TOY-1: a missing file and a UTF-16 file are one-line errors naming the path."""
    with pytest.raises(ValueError, match=r"nonexistent\.json: cannot read the toy file"):
        load_toy(tmp_path / "nonexistent.json")
    (tmp_path / "utf16.json").write_bytes(json.dumps(BASE).encode("utf-16"))
    with pytest.raises(ValueError, match=r"utf16\.json: not UTF-8 text"):
        load_toy(tmp_path / "utf16.json")


@pytest.mark.parametrize("command", ["check", "demo"])
def test_the_cli_reports_a_malformed_toy_in_one_line_with_exit_status_2(command, tmp_path, capsys):
    """TOY-1, ORACLE-7: `specens check` and `specens demo --toy` print the path, never a traceback."""
    (tmp_path / "toy.json").write_text(json.dumps(edit(["ensemble", "combination", "weights"], DELETE)))
    (tmp_path / "s.jsonl").write_text("[0, 1]\n")
    argv = (["check", "--ensemble", str(tmp_path / "toy.json"), "--samples", str(tmp_path / "s.jsonl")]
            if command == "check" else ["demo", "--toy", str(tmp_path / "toy.json")])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ensemble.combination.weights: missing" in err


def test_a_conformance_vector_given_as_a_toy_file_says_where_its_toy_is():
    """TOY-1, VECTOR-1: a vector file is refused as a toy file, naming its "toy" key."""
    vector = {"format": "specens/conformance-vector", "version": 1, "toy": BASE, "runs": []}
    with pytest.raises(ValueError, match=r'^format: .*conformance vector holds its toy file under its "toy" key'):
        load_toy(vector)
    assert load_toy(vector["toy"])  # that part alone loads
