"""`assert_sampler_exact`: one call that checks another implementation's sampler in its own CI."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from specens.reference import Ensemble, exact_ensemble_pmf, load_toy

from .cases import ToyCase
from .check import DEFAULT_ALPHA, DEFAULT_TARGET_TV, Report, check_samples

DEFAULT_SAMPLES = 100_000  # every mutant of mutants.py is rejected at this budget (tests/distribution)


def _setting(ensemble, method, length):
    """(ensemble, method, length, label) from an Ensemble, a ToyCase, or a toy file (path or dict)."""
    label = ""
    if isinstance(ensemble, ToyCase):
        label = ensemble.name
        ensemble, method, length = ensemble.ensemble, method or ensemble.method, length or ensemble.length
    elif isinstance(ensemble, (str, Path, dict)):
        label = str(ensemble) if not isinstance(ensemble, dict) else ""
        ensemble, file_method, file_length = load_toy(ensemble)
        method, length = method or file_method, length or file_length
    elif not isinstance(ensemble, Ensemble):
        raise ValueError(f"ensemble: give a reference Ensemble, a ToyCase or a toy file (path or dict), "
                         f"got {type(ensemble).__name__}")
    if length is None:
        raise ValueError("length: give the number of tokens to check (max_new_tokens of the runs sampled)")
    if method is not None:
        method = method.check(ensemble)
        label = label or method.to_json()["name"]
    return ensemble, method, length, label


def assert_sampler_exact(sample_fn: Callable, ensemble, method=None, length: int | None = None, *,
                         samples: int = DEFAULT_SAMPLES, alpha: float = DEFAULT_ALPHA, seed: int = 0,
                         law: dict | None = None, target_tv: float = DEFAULT_TARGET_TV) -> Report:
    """Sample with `sample_fn(n, seed)` and fail unless the samples fit the ensemble's exact law. ORACLE-3.

    sample_fn: returns n sequences of token ids (an (n, L) integer array with -1 after an end, or a
    list of lists), sampled with max_new_tokens >= `length`, independently of each other.
    ensemble: a reference `Ensemble`, a `ToyCase`, or a toy file (path or parsed dict); `method` and
    `length` default to the file's. `method` (if given) is validated against the ensemble and names
    the report; every exact method has the same law (ENGINE-2), so it does not change the check.
    law: the exact law to test against (default `exact_ensemble_pmf(ensemble, length)`).

    Returns the Report when consistent; raises AssertionError with the report (verdict, p-value,
    estimated TV, expected-vs-observed table) when rejected. Warns when underpowered (ORACLE-4).
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
    report = check_samples(drawn, law, length=length, alpha=alpha, target_tv=target_tv, label=label)
    if report.rejected:
        raise AssertionError("the sampler is not exact\n" + report.format())
    return report
