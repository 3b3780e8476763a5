"""specens: Speculative Ensemble decoding, exact, fast and checkable.

The public surface is listed in `__all__`. Names are imported on first use, so `import specens`
(and the NumPy-only `specens.reference` and `specens.oracle`) never imports torch.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__ = _metadata.version("specens")
except _metadata.PackageNotFoundError:  # a source tree used without installing it
    __version__ = "0+unknown"

# public name -> module that defines it (one line each; keep sorted by module)
_EXPORTS = {
    "BUNDLED_MODELS": "specens._bundled",
    "bundled_model_path": "specens._bundled",
    "bundled_tokenizer_path": "specens._bundled",
    "REAL_MODELS": "specens._bundled",
    "Ensemble": "specens.api",
    "Generation": "specens.api",
    "Statistics": "specens.api",
    "generate": "specens.api",
    "smollm2_path": "specens.gguf",
    "Member": "specens.members",
    "assert_sampler_exact": "specens.oracle",
    "check_samples": "specens.oracle",
    "ContrastiveDecoding": "specens.reference.combine",
    "CustomCombination": "specens.reference.combine",
    "LinearLogits": "specens.reference.combine",
    "WeightedEnsemble": "specens.reference.combine",
    "MixtureEnsemble": "specens.reference.methods",
    "NaiveSE": "specens.reference.methods",
    "SpeculativeEnsemble": "specens.reference.methods",
    "SpeculativeMixture": "specens.reference.methods",
    "StandardEnsemble": "specens.reference.methods",
    "Processors": "specens.reference.processors",
    "UniformStream": "specens.reference.rng",
    "Sampling": "specens.reference.transforms",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'specens' has no attribute {name!r}")


def __dir__():
    return __all__
