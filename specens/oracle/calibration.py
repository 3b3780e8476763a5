"""How often does the checker reject an exact sampler? (ORACLE-9)

A checker at significance alpha must reject exact samples in at most a fraction alpha of runs (the
Sidak family, conservative) and, for a single test, in about that fraction. `false_rejections`
splits one large batch of the vectorised reference sampler's samples into independent runs and
checks each; `binomial_interval` says which counts are consistent with a rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

from .cases import ToyCase
from .check import check_samples


@dataclass(frozen=True)
class Calibration:
    """`rejections` of `runs` checks of exact samples at level `alpha`, and the 99.9% binomial
    interval of the count if the true rate were exactly alpha."""

    rejections: int
    runs: int
    alpha: float
    low: int
    high: int

    @property
    def rate(self) -> float:
        return self.rejections / self.runs

    def __str__(self) -> str:
        return (f"{self.rejections} of {self.runs} runs rejected (rate {self.rate:.4f}) at alpha = {self.alpha:g}; "
                f"a rate of exactly alpha gives {self.low}..{self.high} (99.9% binomial interval)")


def binomial_interval(runs: int, rate: float, confidence: float = 0.999) -> tuple[int, int]:
    """Central interval of Binomial(runs, rate) holding `confidence` of its mass. ORACLE-9."""
    tail = (1 - confidence) / 2
    return int(stats.binom.ppf(tail, runs, rate)), int(stats.binom.isf(tail, runs, rate))


def false_rejections(case: ToyCase, *, runs: int, samples: int, alpha: float, seed: int = 0,
                     family: bool = True) -> Calibration:
    """Check `runs` independent batches of `samples` exact samples of `case`; count rejections. ORACLE-9.

    family=True runs the whole family (ORACLE-3: joint and conditional checks, Pearson and G, Sidak);
    family=False the joint Pearson test alone, whose rejection rate should be alpha itself.
    """
    tokens = case.sampler().sample(runs * samples, seed=seed)
    law = case.law()
    options = {} if family else {"statistics": ("pearson",), "conditionals": False}
    rejected = sum(check_samples(tokens[i * samples:(i + 1) * samples], law, alpha=alpha, warn=False,
                                 length=case.length, **options).rejected for i in range(runs))
    low, high = binomial_interval(runs, alpha)
    return Calibration(int(rejected), runs, alpha, low, high)
