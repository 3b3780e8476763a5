"""`assert_sampler_exact`: one call that checks another implementation's sampler in its own CI."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

from specens.reference import Ensemble, exact_ensemble_pmf, load_toy
from specens.reference.toy_json import read_toy_file

from .cases import ToyCase
from .check import DEFAULT_ALPHA, DEFAULT_TARGET_TV, Report, UnderpoweredWarning, check_samples

DEFAULT_SAMPLES = 100_000  # every mutant of mutants.py is rejected at this budget (tests/distribution)


class InconclusiveCheck(AssertionError):
    """assert_sampler_exact drew too few samples to detect the target TV bias (ORACLE-10)."""


def method_label(method) -> str:
    """A method as a report label: its name, then its settings.

    method_label(SpeculativeEnsemble({"a": 3, "b": 1}, "a")) == "se (gammas a=3 b=1, default_proposer a)".
    """
    settings = []
    for key, value in method.to_json().items():
        if key != "name" and value is not None:
            shown = " ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
            settings.append(f"{key} {shown}")
    name = method.to_json()["name"]
    return f"{name} ({', '.join(settings)})" if settings else name


def read_toy_setting(toy) -> tuple:
    """(ensemble, method, length, label) of a toy file (path or parsed dict). ORACLE-6.

    The label names the file's `method` (method_label); a file without one is named by its file
    name, since the default method says nothing about the sampler checked.
    """
    obj = read_toy_file(toy) if isinstance(toy, (str, Path)) else toy  # decimals as written (NUM-1)
    ensemble, method, length = load_toy(obj)
    if isinstance(obj, dict) and "method" in obj:
        label = method_label(method)
    else:
        label = Path(toy).name if isinstance(toy, (str, Path)) else ""
    return ensemble, method, length, label


def _setting(ensemble, method, length):
    """(ensemble, method, length, label) from an Ensemble, a ToyCase, or a toy file (path or dict)."""
    label = ""
    if isinstance(ensemble, ToyCase):
        label = ensemble.name
        ensemble, method, length = ensemble.ensemble, method or ensemble.method, length or ensemble.length
    elif isinstance(ensemble, (str, Path, dict)):
        given = method
        ensemble, method, file_length, label = read_toy_setting(ensemble)
        if given is not None:
            method, label = given, method_label(given.check(ensemble))
        length = length or file_length
    elif not isinstance(ensemble, Ensemble):
        raise ValueError(f"ensemble: give a reference Ensemble, a ToyCase or a toy file (path or dict), "
                         f"got {type(ensemble).__name__}")
    if length is None:
        raise ValueError("length: give the number of tokens to check (max_new_tokens of the runs sampled)")
    if method is not None:
        method = method.check(ensemble)
        label = label or method_label(method)
    return ensemble, method, length, label


def assert_sampler_exact(sample_fn: Callable, ensemble, method=None, length: int | None = None, *,
                         samples: int = DEFAULT_SAMPLES, alpha: float = DEFAULT_ALPHA, seed: int = 0,
                         law: dict | None = None, target_tv: float = DEFAULT_TARGET_TV,
                         allow_underpowered: bool = False) -> Report:
    """Sample with `sample_fn(n, seed)` and fail unless the samples fit the ensemble's exact law. ORACLE-10.

    sample_fn: returns n sequences of token ids (an (n, L) integer array with -1 after an end, or a
    list of lists), sampled with max_new_tokens >= `length`, independently of each other.
    ensemble: a reference `Ensemble`, a `ToyCase`, or a toy file (path or parsed dict); `method` and
    `length` default to the file's. `method` (if given) is validated against the ensemble and names
    the report; every exact method has the same law (ENGINE-2), so it does not change the check.
    law: the exact law to test against (default `exact_ensemble_pmf(ensemble, length)`).

    Returns the Report when consistent; raises AssertionError with the report (verdict, p-value,
    estimated TV, expected-vs-observed table) when rejected. When `samples` cannot detect a TV bias
    of `target_tv` (ORACLE-4) the check is inconclusive: it raises InconclusiveCheck (an
    AssertionError) naming the number of samples needed, unless `allow_underpowered=True`, which
    warns (UnderpoweredWarning) and returns the INCONCLUSIVE report.
    """
    if not callable(sample_fn):
        raise ValueError("sample_fn: must be a callable sample_fn(n, seed) returning n token sequences")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: must be a positive integer, got {samples!r}")
    ensemble, method, length, label = _setting(ensemble, method, length)
    law = law if law is not None else exact_ensemble_pmf(ensemble, length)
    drawn = sample_fn(samples, seed)
    if len(drawn) != samples:
        raise ValueError(f"sample_fn: asked for {samples} sequences, it returned {len(drawn)}")
    report = check_samples(drawn, law, length=length, alpha=alpha, target_tv=target_tv, label=label, warn=False)
    if report.rejected:
        raise AssertionError("the sampler is not exact\n" + report.format())
    if report.inconclusive:
        if not allow_underpowered:
            raise InconclusiveCheck(f"inconclusive: {report.power_line()} (pass samples={report.samples_needed}, "
                                    "or allow_underpowered=True to accept a check that cannot see such a bias)\n"
                                    + report.format())
        warnings.warn(f"inconclusive check{': ' + label if label else ''}: {report.power_line()}",
                      UnderpoweredWarning, stacklevel=2)
    return report
