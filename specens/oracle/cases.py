"""A matrix of toy cases that reaches every part of every method (spec/14-defects.md, DEFECT-13).

A check that stops at the first proposal never verifies a bonus token and never lets a member continue
its own proposal. These cases use lengths beyond the first cycles, gammas of 1 (many role swaps) and
above 1 (continuations), each member as the default proposer, unequal WE weights, WE and CD, every
mode, greedy and sampled, top-k / top-p, EOS (one id or a list), two and three members, and members
of orders 0 to 5 after a prompt, one of them reading the whole history. Each is a toy file
(spec/09-toy-format.md) that another implementation can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from specens.reference import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    StandardEnsemble,
    dump_toy,
    exact_ensemble_pmf,
    load_toy,
)
from specens.reference.processors import Processors
from specens.reference.zoo import toy_ensemble


@dataclass(frozen=True, eq=False)
class ToyCase:
    """A toy ensemble, a method and a length: one setting to check a sampler on. TOY-1."""

    name: str
    ensemble: object
    method: object
    length: int
    description: str = ""
    _law: dict = field(default_factory=dict, compare=False, repr=False)

    def toy(self) -> dict:
        """The toy-file JSON object (spec/09-toy-format.md) of this case."""
        return dump_toy(self.ensemble, self.method, self.length)

    def law(self) -> dict:
        """{sequence: probability} the reference's ENGINE-2 gives for this case (floats, computed once)."""
        if not self._law:
            self._law.update({s: float(p) for s, p in exact_ensemble_pmf(self.ensemble, self.length).items()})
        return self._law

    def sampler(self, **kwargs):
        """The vectorised reference sampler for this case (see sampler.VectorSampler)."""
        from .sampler import VectorSampler

        return VectorSampler(self.ensemble, self.method, self.length, **kwargs)

    @classmethod
    def from_toy(cls, name: str, toy) -> "ToyCase":
        """A case from a toy file (path or parsed dict). TOY-1."""
        ensemble, method, length = load_toy(toy)
        return cls(name, ensemble, method, length)


def _we(n=2, v=4, seed=3, **kw):
    return toy_ensemble(n, v, seed=seed, **kw)


def _cd(v=4, seed=5, **kw):
    return toy_ensemble(2, v, combination="cd", kind="logits", sparsity=0, seed=seed, **kw)


def _outside(v, seed=7):
    """An outside drafter of order 2 sharing a vocabulary of `v` tokens (METHOD-5)."""
    from specens.reference.zoo import random_member

    return random_member("t", v, order=2, cost=Fraction(1, 10), seed=seed)


def _se(*gammas, default):
    return SpeculativeEnsemble({f"m{k}": g for k, g in enumerate(gammas)}, default)


def make_cases() -> list:
    """The oracle's case matrix (fresh objects each call)."""
    half, three_halves = Fraction(1, 2), Fraction(3, 2)
    return [
        ToyCase("we-se-1-3-m0", _we(), _se(1, 3, default="m0"), 5,
                "WE 1/3, 2/3; the cheap member drafts one token, the order-2 member continues with 3"),
        ToyCase("we-se-3-1-m1", _we(), _se(3, 1, default="m1"), 5,
                "WE; the expensive member is the default proposer, the cheap one continues with 3"),
        ToyCase("we-se-2-2-eos", _we(eos_token_id=2), _se(2, 2, default="m0"), 5,
                "WE with an end-of-sequence token"),
        ToyCase("we-logits-se-2-1", _we(mode="logits", kind="logits", sparsity=0, seed=4), _se(2, 1, default="m0"), 5,
                "WE in mode logits, logit members"),
        ToyCase("we-T3/2-topk3-se-2-1", _we(temperature=three_halves, top_k=3), _se(2, 1, default="m0"), 5,
                "WE in mode probs with temperature 3/2 and top-k 3 (transformed proposals)"),
        ToyCase("cd-se-1-1", _cd(), _se(1, 1, default="m0"), 5,
                "CD (expert m1, amateur m0, mu 1/10) in mode raw-logits, gammas 1: a role swap every token"),
        ToyCase("cd-T1/2-topk3-se-3-2-m1", _cd(temperature=half, top_k=3), _se(3, 2, default="m1"), 5,
                "CD at temperature 1/2 with top-k 3, the expert drafts"),
        ToyCase("we3-se-1-2-1-eos", _we(n=3, v=3, seed=2, eos_token_id=2), _se(1, 2, 1, default="m0"), 5,
                "three members, WE 1/6, 2/6, 3/6, EOS"),
        ToyCase("we-naive-3-m0", _we(), NaiveSE(3, "m0"), 5, "naive SE, the cheap member drafts 3"),
        ToyCase("we-naive-2-outside", _we().with_(drafter=_outside(4)), NaiveSE(2, "t"), 5,
                "plain speculative decoding: an outside drafter of order 2 drafts 2, both members score, and a "
                "fully accepted draft ends with a draw from r (NAIVE-5)"),
        ToyCase("we-mixture", _we(), MixtureEnsemble(), 5, "mixture ensemble"),
        ToyCase("we-topp-standard", _we(top_p=Fraction(3, 4), eos_token_id=3), StandardEnsemble(), 5,
                "standard ensemble with top-p 3/4 and EOS"),
        ToyCase("we-greedy-se-1-3", _we(temperature=0), _se(1, 3, default="m0"), 5,
                "greedy (T = 0): one possible sequence"),
        ToyCase("we-orders-3-5-prompt-se-2-1-eos-list", _we(v=3, orders=(3, 5), prompt=(1,), eos_token_id=(0, 2)),
                _se(2, 1, default="m0"), 5,
                "members of order 3 and 5 after a one-token prompt: m1 reads the whole history at every "
                "position (TOY-2); two EOS ids (METHOD-3)"),
        ToyCase("cd-orders-4-0-se-1-2-m1", _cd(orders=(4, 0), prompt=(3, 1)), _se(1, 2, default="m1"), 5,
                "CD with an order-4 amateur whose window slides past the two-token prompt, and an order-0 expert"),
    ] + speculative_mixture_cases()


def speculative_mixture_cases() -> list:
    """The speculative mixture (SMIX-1): the cheap member drafting blocks of 3 (its own choice emits as is,
    free bonuses and carried choices occur), and three members with an outside drafter (METHOD-5) and EOS."""
    from specens.reference import SpeculativeMixture

    outside = _outside(3)
    return [
        ToyCase("we-smix-3-m0", _we(), SpeculativeMixture(3, "m0"), 5,
                "speculative mixture, WE 1/3, 2/3; the cheap member drafts 3 and is chosen with weight 1/3"),
        ToyCase("we3-smix-2-outside-eos", _we(n=3, v=3, seed=2, eos_token_id=2).with_(drafter=outside),
                SpeculativeMixture(2, "t"), 5,
                "speculative mixture of three members, an outside drafter of order 2 drafting 2, EOS"),
    ]


# == logits processors and stop sequences (spec/15-processors.md) =====================================
def make_processor_cases() -> list:
    """Cases with logits processors and stop sequences, long enough that blocks of several tokens are
    verified after the first cycle (DEFECT-13, DEFECT-16): dense members over V = 3, so no chain
    of processors empties a row."""
    def we(processors, **kw):
        return _we(v=3, sparsity=0, **kw).with_(processors=processors)

    return [
        ToyCase("we-repetition-2-frequency-se-3-2-m0-eos", we(Processors(repetition_penalty=2, frequency_penalty="1/2"),
                                                               eos_token_id=2), _se(3, 2, default="m0"), 6,
                "WE with repetition penalty 2 and frequency penalty 1/2 (PROC-2, PROC-3), gammas 3 and 2, EOS"),
        ToyCase("we-logit-bias-se-2-2", we(Processors(logit_bias={1: "3/2"})), _se(2, 2, default="m0"), 5,
                "WE with a logit bias of 3/2 on token 1 (PROC-6)"),
        ToyCase("we-T3/2-min-p-se-2-2", we(Processors(min_p="1/2"), temperature=Fraction(3, 2)),
                _se(2, 2, default="m0"), 5, "WE at temperature 3/2 with min_p 1/2 (PROC-8)"),
        ToyCase("we-min-new-tokens-3-se-3-1-eos-list", we(Processors(min_new_tokens=3), eos_token_id=(0, 2)),
                _se(3, 1, default="m0"), 6, "WE with min_new_tokens 3 and two EOS ids (PROC-5)"),
        ToyCase("cd-ngram-2-presence-naive-3-prompt", _cd(v=3, prompt=(1,)).with_(
                    processors=Processors(no_repeat_ngram_size=2, presence_penalty="1/2")), NaiveSE(3, "m0"), 5,
                "CD in mode raw-logits with no_repeat_ngram_size 2 and presence penalty 1/2 after a prompt "
                "(PROC-4, PROC-3, PROC-10)"),
        ToyCase("we-stop-sequence-se-3-1-m0", _we(v=3, sparsity=0).with_(stop_sequences=((1, 0),)),
                _se(3, 1, default="m0"), 5, "WE with the stop sequence (1, 0) (STOP-2)"),
    ]


CASES = make_cases() + make_processor_cases()
