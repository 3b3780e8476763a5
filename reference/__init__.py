"""specens.reference: the NumPy reference of the specens specification (../spec).

Plain NumPy and `fractions`, never torch. One function per rule, each citing its rule id. Use it
as an oracle: `exact_output_pmf` gives the exact law of a method on a toy ensemble,
`exact_ensemble_pmf` the law every exact sampler must reproduce.

>>> from specens.reference import load_toy, generate, exact_ensemble_pmf  # doctest: +SKIP
"""

from .combine import ContrastiveDecoding, CustomCombination, LinearLogits, WeightedEnsemble, target
from .cost import (alternate_acceptance_needed, alternate_cost_per_token, alternate_expected_cost,
                   alternate_speedup, mixture_cost_per_token, naive_expected_tokens, naive_speedup, plain_speedup,
                   speculative_mixture_cost_per_token, speculative_mixture_expected_cost, standard_cost)
from .engine import (ExactResult, enumerate_choices, enumerate_runs, exact_ensemble_pmf, exact_output_pmf,
                     exact_sampler_pmf)
from .methods import (
    MixtureEnsemble,
    NaiveSE,
    Result,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
    generate,
    method_from_json,
    run_method,
)
from .numbers import lift, softmax
from .processors import Processors
from .rng import StreamChooser, UniformStream, sample
from .toy import Ensemble, ToyMember, dump_toy, load_toy
from .transforms import Sampling, Scores, proposal_distribution, transform
from .verify import acceptance_probability, overlap, residual, total_variation, verify

__all__ = [
    "ContrastiveDecoding", "CustomCombination", "Ensemble", "ExactResult", "LinearLogits", "MixtureEnsemble",
    "NaiveSE", "Processors", "Result", "Sampling", "Scores", "SpeculativeEnsemble", "SpeculativeMixture",
    "StandardEnsemble", "StreamChooser",
    "ToyMember", "UniformStream", "WeightedEnsemble", "acceptance_probability", "alternate_acceptance_needed",
    "alternate_cost_per_token", "alternate_expected_cost", "alternate_speedup",
    "dump_toy", "enumerate_choices", "enumerate_runs", "exact_ensemble_pmf", "exact_output_pmf",
    "exact_sampler_pmf", "generate", "lift", "load_toy",
    "method_from_json", "mixture_cost_per_token", "naive_expected_tokens", "naive_speedup", "overlap", "plain_speedup",
    "proposal_distribution",
    "residual", "run_method", "sample", "softmax", "speculative_mixture_cost_per_token",
    "speculative_mixture_expected_cost", "standard_cost", "target", "total_variation", "transform",
    "verify",
]
