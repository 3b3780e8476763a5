"""specens.oracle: is another sampler exact? Statistical checks, conformance vectors, mutants.

NumPy and SciPy only (never torch). The pieces:

- `check_samples(samples, law)`: goodness of fit of sampled sequences against an exact law over
  sequences: joint and per-position conditional checks, Pearson and G over pooled cells, Sidak
  across the family, a report with the worst cells and an estimated TV (spec/13-oracle.md).
- `assert_sampler_exact(sample_fn, ensemble, method, length)`: the one-line CI helper; it raises
  `InconclusiveCheck` when its budget cannot see the target TV bias.
- `detectable_tv`, `pooled_mass`, `sample_size`, `power_against`: how many samples a check needs.
- `VectorSampler`: the vectorised reference sampler (many chains at once) for every method, and
  `exact_law` (its own code's exact law, by enumeration).
- `CASES` / `ToyCase`: a matrix of toy settings; `MUTANTS`: deliberately wrong samplers.
- `build_vectors` / `write_vectors` / `replay_vector`: golden conformance vectors (spec/12-vectors.md).

>>> from specens.oracle import CASES, assert_sampler_exact
>>> case = CASES[0]
>>> report = assert_sampler_exact(lambda n, seed: case.sampler().sample(n, seed=seed), case, samples=20_000,
...                               target_tv=1)
>>> report.rejected
False
"""

from .assertion import DEFAULT_SAMPLES, InconclusiveCheck, assert_sampler_exact
from .cases import CASES, ToyCase, make_cases
from .check import (DEFAULT_ALPHA, DEFAULT_TARGET_TV, LargeTVWarning, Report, UnderpoweredWarning, as_token_array,
                    check_samples)
from .enumerate import exact_law
from .mutants import MUTANTS, Mutant, make_mutants
from .sampler import PAD, VectorSampler
from .stats import detectable_tv, pool_cells, pooled_mass, power_against, sample_size, sidak_level, sidak_p
from .vectors import build_vectors, compare_vectors, replay_vector, write_vectors

__all__ = [
    "CASES", "DEFAULT_ALPHA", "DEFAULT_SAMPLES", "DEFAULT_TARGET_TV", "InconclusiveCheck", "LargeTVWarning", "MUTANTS", "Mutant", "PAD",
    "Report", "ToyCase",
    "UnderpoweredWarning", "VectorSampler", "as_token_array", "assert_sampler_exact", "build_vectors",
    "check_samples", "compare_vectors", "detectable_tv", "exact_law", "make_cases", "make_mutants", "pool_cells", "pooled_mass",
    "power_against", "replay_vector", "sample_size", "sidak_level", "sidak_p", "write_vectors",
]
