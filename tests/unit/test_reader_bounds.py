"""Inputs that used to hang: huge exponents (NUM-1), tiny temperatures on probability rows (TRANSFORM-2),
laws too large to enumerate and long greedy toys (ENGINE-2). Each is refused at once with one line naming
the argument, or computed; a SIGALRM turns a hang back into a failure."""

import json
import re
import signal
from contextlib import contextmanager
from fractions import Fraction

import pytest

import specens.reference.engine as engine
from specens.cli import main
from specens.reference import Ensemble, Sampling, ToyMember, WeightedEnsemble, exact_ensemble_pmf, load_toy
from specens.reference.numbers import as_float, as_fraction, json_loads, log
from specens.reference.transforms import Scores


@contextmanager
def within(seconds: int):
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def toy(row, *, temperature="1", max_new_tokens=1, order=0, **combination):
    return {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": max_new_tokens,
            "ensemble": {"members": [{"name": "a", "order": order, "probs": {"*": row}}],
                         "combination": combination or {"kind": "we", "weights": {"a": 1}},
                         "sampling": {"temperature": temperature}}}


@pytest.mark.parametrize("text", ["1e999999999", "-1e999999999", "1e-999999999", "0e999999999", "1/1e999999999",
                                  "1" * 1001])
def test_text_numbers_beyond_the_stated_bounds_are_refused_at_once(text):
    """NUM-1: |exponent| > 400 or more than 1000 characters: one line naming the argument, no hang."""
    with within(5), pytest.raises(ValueError, match=r"^weights\['a'\]: .*(out of range|too long)"):
        as_fraction(text, name="weights['a']")
    if "e" in text:  # a JSON decimal is read as a Decimal, and bounded the same way
        with within(5), pytest.raises(ValueError, match="^w: .*out of range"):
            as_fraction(json_loads('{"w": %s}' % text.split("/")[-1])["w"], name="w")


def test_numbers_at_the_bounds_are_read_exactly():
    """NUM-1 (control): 1e400 and 1e-400 are within the bounds and exact."""
    assert as_fraction("1e400", name="w") == 10**400
    assert as_fraction(json_loads('{"w": 1e-400}')["w"], name="w") == Fraction(1, 10**400)


def test_a_huge_exponent_in_a_toy_file_or_on_the_command_line_is_one_line(tmp_path, capsys):
    """NUM-1 through load_toy and the CLI: the error names the JSON path or the flag."""
    (tmp_path / "t.json").write_text(json.dumps(toy(["1/2", "1/2"], temperature="1e999999999")))
    with within(10):
        assert main(["demo", "--toy", str(tmp_path / "t.json")]) == 2
        assert main(["demo", "--temperature", "1e999999999"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("specens demo: error: ensemble.sampling.temperature: '1e999999999' is out of range")
    assert err[1].startswith("specens demo: error: --temperature: '1e999999999' is out of range")


@pytest.mark.parametrize("combination, path", [
    ({"kind": "cd", "expert": "a", "amateur": "b", "mu": "1e400"}, "ensemble.combination.mu"),
    ({"kind": "linear", "coefficients": {"a": "1e400", "b": 1}}, "ensemble.combination.coefficients['a']"),
])
def test_numbers_used_in_float64_must_fit_float64(combination, path):
    """NUM-1, COMBINE-3, COMBINE-4: mu or a coefficient of 1e400 was an OverflowError traceback."""
    obj = toy([0.5, 0, -1], **combination)
    obj["ensemble"]["members"] = [{"name": "a", "logits": {"*": [0.5, 0, -1]}}, {"name": "b", "logits": {"*": [0, 1, 0]}}]
    with pytest.raises(ValueError, match="^" + re.escape(path) + r": 1.00e\+400 is too large for float64"):
        load_toy(obj)
    assert as_float("1e308", name="mu") == 1e308  # control: the largest decimal power that fits


@pytest.mark.parametrize("temperature", ["1e-7", "1e-9", "1e-300"])
def test_a_tiny_temperature_on_probability_rows_goes_through_floats_and_finishes(temperature):
    """TRANSFORM-2: p^(1/T) is exact only for integer 1/T <= 64; T = 1e-7 used to run forever."""
    ensemble, _, length = load_toy(toy(["1/2", "1/4", "1/4"], temperature=temperature))
    with within(10):
        assert exact_ensemble_pmf(ensemble, length) == {(0,): 1}


def test_integer_powers_up_to_64_stay_exact_and_larger_ones_use_logits():
    """TRANSFORM-2: T = 1/2 and 1/64 are exact powers; T = 1/65 goes through float64 logits (NUM-2)."""
    from specens.reference.transforms import apply_temperature
    probs = Scores(probs=(Fraction(1, 3), Fraction(2, 3)))
    assert apply_temperature(probs, Fraction(1, 2)).probs == (Fraction(1, 5), Fraction(4, 5))
    assert apply_temperature(probs, Fraction(1, 64)).probs == (Fraction(1, 2**64 + 1), Fraction(2**64, 2**64 + 1))
    beyond = apply_temperature(probs, Fraction(1, 65))
    assert beyond.probs is None and list(beyond.logits) == list(log(probs.probs) / float(Fraction(1, 65)))


def test_a_temperature_that_underflows_float64_is_refused_naming_it():
    """TRANSFORM-2: T = 1e-400 is 0 in float64; refused with the fix (a larger T, or 0 for greedy)."""
    ensemble, _, length = load_toy(toy(["1/2", "1/4", "1/4"], temperature="1e-400"))
    with pytest.raises(ValueError, match=r"^temperature: 1e-400 divides the logits beyond float64's range; .* 0 for greedy"):
        exact_ensemble_pmf(ensemble, length)


def test_a_law_too_large_to_enumerate_is_refused_naming_max_new_tokens(monkeypatch, tmp_path, capsys):
    """ENGINE-2, ORACLE-7: V = 2 and 40 tokens is 2^40 sequences; the engine stops at its limit, and
    specens check computes the law before it reads the samples."""
    ensemble, _, _ = load_toy(toy(["1/2", "1/2"], max_new_tokens=40))
    with within(10), pytest.raises(ValueError, match=r"^max_new_tokens: the exact law of 40 tokens has more than "
                                                     r"10,000 prefixes .*up to 2\^40 sequences"):
        exact_ensemble_pmf(ensemble, 40, limit=10_000)
    assert len(exact_ensemble_pmf(ensemble, 12, limit=10_000)) == 4096  # control: 8191 prefixes fit
    monkeypatch.setattr(engine, "ENUMERATION_LIMIT", 10_000)
    (tmp_path / "long.json").write_text(json.dumps(toy(["1/2", "1/2"], max_new_tokens=40)))
    (tmp_path / "s.jsonl").write_text("[0]\n")  # a bad line: never read, the law is refused first
    with within(10):
        assert main(["check", "--ensemble", str(tmp_path / "long.json"), "--samples", str(tmp_path / "s.jsonl")]) == 2
    assert "long.json: max_new_tokens: the exact law of 40 tokens" in capsys.readouterr().err


def test_a_greedy_toy_of_1500_tokens_has_one_sequence_without_recursion_errors():
    """ENGINE-2: the enumeration keeps its own stack; a greedy toy is one path of 1,500 prefixes."""
    member = ToyMember("a", {None: Scores(probs=(Fraction(1, 3), Fraction(2, 3)))}, order=0)
    ensemble = Ensemble((member,), WeightedEnsemble({"a": 1}), sampling=Sampling(temperature=0))
    assert exact_ensemble_pmf(ensemble, 1500) == {(1,) * 1500: 1}
