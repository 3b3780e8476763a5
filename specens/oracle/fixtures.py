"""pytest fixtures for checking a sampler against specens (a pytest plugin).

Enable them in your `conftest.py` with `pytest_plugins = ["specens.oracle.fixtures"]`:

- `oracle_case`: parametrised over the case matrix (`specens.oracle.cases.CASES`), one test per
  case; a `ToyCase` with `.ensemble`, `.method`, `.length`, `.toy()` and `.law()`.
- `oracle_toy_file`: the case written as a toy file (spec/09-toy-format.md) in a temporary folder,
  for a sampler that reads the JSON itself.
- `oracle_samples`: the sample budget (`--oracle-samples`, default DEFAULT_SAMPLES).
- `oracle_alpha`: the significance level (`--oracle-alpha`, default DEFAULT_ALPHA).
- `reference_sampler`: `reference_sampler(case, n, seed)`, the vectorised reference sampler's samples.
"""

from __future__ import annotations

import json

import pytest

from .assertion import DEFAULT_SAMPLES
from .cases import make_cases, make_processor_cases
from .check import DEFAULT_ALPHA


def pytest_addoption(parser):
    group = parser.getgroup("specens oracle")
    group.addoption("--oracle-samples", type=int, default=DEFAULT_SAMPLES,
                    help=f"samples per oracle check (default {DEFAULT_SAMPLES})")
    group.addoption("--oracle-alpha", type=float, default=DEFAULT_ALPHA,
                    help=f"significance level of each oracle check (default {DEFAULT_ALPHA})")


@pytest.fixture(params=make_cases() + make_processor_cases(), ids=lambda case: case.name)
def oracle_case(request):
    return request.param


@pytest.fixture
def oracle_toy_file(oracle_case, tmp_path):
    path = tmp_path / f"{oracle_case.name.replace('/', '_')}.json"
    path.write_text(json.dumps(oracle_case.toy(), indent=1))
    return path


@pytest.fixture
def oracle_samples(request) -> int:
    return request.config.getoption("--oracle-samples")


@pytest.fixture
def oracle_alpha(request) -> float:
    return request.config.getoption("--oracle-alpha")


@pytest.fixture
def reference_sampler():
    def sample(case, n: int, seed: int):
        return case.sampler().sample(n, seed=seed)

    return sample
