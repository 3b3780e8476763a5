"""Deliberately wrong samplers: the proof that the checker catches real bugs (spec/14-defects.md).

Each mutant is the vectorised reference sampler (sampler.py) with one verb overridden the way a peer
implementation got it wrong (the faults are in faults.py), plus the toy case on which the bug is
visible (a bug in the bonus token needs a length beyond the first cycle; a bug in the temperature
needs T != 1; ...). A mutant samples as fast as the correct sampler, and `exact_law` enumerates its
own code, so its distance from the ensemble law is known exactly (`Mutant.tv()`). The test suite
requires the checker to reject every mutant with its default sample budget, and to pass every
correct sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from specens.reference.zoo import toy_ensemble

from .cases import CASES, ToyCase
from .check import prefix_law
from .enumerate import IntervalChooser, ScriptChooser, exact_law
from .faults import (
    AcceptAll,
    BonusUnverified,
    BonusWrongPosition,
    CacheNotRolledBack,
    CacheRollbackOffByOne,
    ContinuationDropsVerified,
    DraftUniformReused,
    EosOnlyAtBlockEnd,
    FirstEosOnly,
    FirstTokenFromProposer,
    GreedyDraft,
    KeepUniforms,
    KeptIntervalChooser,
    LastTokenUnverified,
    Member0Argmax,
    MixtureUniformMember,
    NaiveKeepsBonus,
    PlainBonusFromDrafter,
    NegativeStartWindow,
    Reseeded,
    ResidualClamped,
    ResidualNotNormalised,
    ResidualSignFlipped,
    RoleKeyedCombination,
    SharedRows,
    UntransformedProposal,
    VerifierDefaultSampling,
)
from .sampler import VectorRun, VectorSampler

_CASES = {c.name: c for c in CASES}


# -- the suite ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Mutant:
    """A wrong sampler and the case that exposes it. ORACLE-9.

    defect: the number N of the entry DEFECT-N of spec/14-defects.md it reproduces ("own" if none;
    a run class whose docstring cites another DEFECT id reproduces that one too). run_class /
    chooser_wrapper: how it differs from the correct sampler. enumeration: the chooser that
    enumerates its law (IntervalChooser or KeptIntervalChooser when it reuses uniforms).
    dependent_rows: its rows are not independent (the law of each row is exact; only the checker's
    independence assumption breaks).
    """

    name: str
    defect: str
    description: str
    case: ToyCase
    run_class: type = VectorRun
    chooser_wrapper: Callable | None = None
    enumeration: type = ScriptChooser
    dependent_rows: bool = False
    _law: dict = field(default_factory=dict, compare=False, repr=False)

    def sampler(self) -> VectorSampler:
        c = self.case
        return VectorSampler(c.ensemble, c.method, c.length, run_class=self.run_class,
                             chooser_wrapper=self.chooser_wrapper)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return self.sampler().sample(n, seed=seed)

    def law(self) -> dict:
        """The exact law of one row of this mutant, by enumerating its code (ENGINE-1)."""
        if not self._law:
            self._law.update(exact_law(self.sampler(), chooser_class=self.enumeration))
        return self._law

    def tv(self) -> float:
        """TV(law of one row, ensemble law); 0 for a mutant whose only fault is dependent rows."""
        mine, exact = self.law(), self.case.law()
        return _tv(mine, exact)

    def first_wrong_position(self, tol: float = 1e-12) -> int | None:
        """The first i at which the law of the first i + 1 tokens differs from the ensemble's (None: never)."""
        mine, exact = self.law(), self.case.law()
        for i in range(self.case.length):
            if _tv(prefix_law(mine, i + 1), prefix_law(exact, i + 1)) > tol:
                return i
        return None


def _tv(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(s, 0.0) - b.get(s, 0.0)) for s in set(a) | set(b))


def _case(name: str, length: int | None = None) -> ToyCase:
    c = _CASES[name]
    return c if length is None else ToyCase(f"{c.name}-L{length}", c.ensemble, c.method, length, c.description)


def _greedy_case() -> ToyCase:
    from specens.reference import SpeculativeEnsemble

    ensemble = toy_ensemble(2, 4, seed=8, temperature=0)
    return ToyCase("we-greedy-seed8-se-1-3", ensemble, SpeculativeEnsemble({"m0": 1, "m1": 3}, "m0"), 5,
                   "greedy WE where member 0's argmax differs from the ensemble's")


def _small_tv_case() -> ToyCase:
    from specens.reference import SpeculativeEnsemble

    ensemble = toy_ensemble(2, 4, seed=3, temperature=Fraction(9, 10), sparsity=0)
    return ToyCase("we-T9/10-se-2-2-m0", ensemble, SpeculativeEnsemble({"m0": 2, "m1": 2}, "m0"), 4,
                   "WE at temperature 9/10 (close to the default 1), dense members")


def make_mutants() -> list:
    """The mutant suite (fresh objects each call)."""
    se13, cd11 = _case("we-se-1-3-m0"), _case("cd-se-1-1", 4)
    eos_list = _case("we-orders-3-5-prompt-se-2-1-eos-list")
    return [
        Mutant("member0-argmax", "1", "WE at T = 0 follows member 0's argmax", _greedy_case(), Member0Argmax),
        Mutant("role-keyed-we", "2", "WE weights keyed by role: they swap with the roles", se13, RoleKeyedCombination),
        Mutant("role-keyed-cd", "2", "CD keyed by role: draft - mu * target after a swap", cd11, RoleKeyedCombination),
        Mutant("bonus-unverified", "3", "the bonus token is emitted without verification", se13, BonusUnverified),
        Mutant("bonus-wrong-position", "3", "the bonus token is verified against the previous position's q",
               se13, BonusWrongPosition),
        Mutant("continuation-drops-verified", "4", "the continuing proposer's context lacks the verified tokens",
               se13, ContinuationDropsVerified),
        Mutant("untransformed-q", "5", "accept test divides by the untransformed (T = 1, no top-k) p_k",
               _case("cd-T1/2-topk3-se-3-2-m1", 4), UntransformedProposal),
        Mutant("greedy-draft", "5", "greedy draft verified as if sampled", se13, GreedyDraft),
        Mutant("verifier-default-sampling", "6", "verifiers use T = 1, no top-k instead of the request's",
               _case("we-T3/2-topk3-se-2-1", 4), VerifierDefaultSampling),
        Mutant("verifier-default-temperature", "6", "verifiers ignore T = 9/10 (TV at most 0.02)",
               _small_tv_case(), VerifierDefaultSampling),
        Mutant("residual-not-normalised", "7", "residual max(0, r - q) sampled unnormalised", se13,
               ResidualNotNormalised),
        Mutant("residual-clamped", "7", "residual clamped to 1e-3 instead of 0", _case("we-se-1-3-m0", 4),
               ResidualClamped),
        Mutant("rng-reseeded", "8", "one uniform reused for every choice point of a step", se13,
               chooser_wrapper=Reseeded, enumeration=IntervalChooser),
        Mutant("rng-shared-rows", "8", "groups of 4 rows share one seed", se13, chooser_wrapper=SharedRows,
               dependent_rows=True),
        Mutant("cache-not-rolled-back", "9", "caches keep rejected tokens", se13, CacheNotRolledBack),
        Mutant("cache-off-by-one", "9", "caches cropped one token too late", se13, CacheRollbackOffByOne),
        Mutant("last-token-unverified", "11", "the token at max_new_tokens - 1 is emitted unverified",
               _case("we-se-3-1-m1"), LastTokenUnverified),
        Mutant("first-token-from-proposer", "11", "the first token comes from the default proposer",
               se13, FirstTokenFromProposer),
        Mutant("accept-all", "own", "every proposal accepted", se13, AcceptAll),
        Mutant("residual-sign-flipped", "own", "residual norm(max(0, q - r))", se13, ResidualSignFlipped),
        Mutant("naive-keeps-bonus", "3", "naive SE emits an unverified bonus after a full round",
               _case("we-naive-3-m0"), NaiveKeepsBonus),
        Mutant("plain-bonus-from-drafter", "3", "plain SD's extra token is the outside drafter's, unverified",
               _case("we-naive-2-outside"), PlainBonusFromDrafter),
        Mutant("mixture-uniform-member", "own", "mixture picks members uniformly, ignoring the weights",
               _case("we-mixture"), MixtureUniformMember),
        Mutant("draft-uniform-reused", "14", "the residual is drawn with the rejected draft's own uniform", se13,
               DraftUniformReused, chooser_wrapper=KeepUniforms, enumeration=KeptIntervalChooser),
        Mutant("eos-only-at-block-end", "17", "EOS checked once per block: tokens accepted after it are emitted",
               _case("we-se-2-2-eos"), EosOnlyAtBlockEnd),
        Mutant("first-eos-only", "17", "of the EOS ids (0, 2) only the first stops a row", eos_list, FirstEosOnly),
        Mutant("window-negative-start", "19", "members of order 3 and 5 read context[len(context) - order:]",
               eos_list, NegativeStartWindow),
    ] + speculative_mixture_mutants()


def speculative_mixture_mutants() -> list:
    """Wrong speculative mixtures (SMIX-1), each on the case where it shows."""
    from .faults import SmixBlockKeptAfterRejection, SmixBonusFromDrafter, SmixChoiceFollowsDraft, SmixDrafterVerified

    member = _case("we-smix-3-m0")
    return [
        Mutant("smix-choice-follows-draft", "own", "a drafted token of probability >= 1/2 is given to the drafter",
               member, SmixChoiceFollowsDraft),
        Mutant("smix-drafter-verified", "own", "a position chosen for the drafter is verified against another member",
               _case("we-smix-3-m0", 4), SmixDrafterVerified),
        Mutant("smix-block-kept", "own", "the rest of the block is kept after a rejection", member,
               SmixBlockKeptAfterRejection),
        Mutant("smix-bonus-from-drafter", "own", "the free bonus is drawn from the drafter", member,
               SmixBonusFromDrafter),
    ]


# == logits processors and stop sequences (DEFECT-16, DEFECT-17; spec/15-processors.md) ================
def make_processor_mutants() -> list:
    """The mutants of the processor defects, each on a processor case of the matrix."""
    from .faults import (
        HistoryPerStep,
        LogitBiasDroppedWhenSpeculating,
        MinNewTokensInSteps,
        MinPDroppedWhenSpeculating,
        ProcessorsDraftOnly,
        ProcessorsTargetOnly,
        StopSequenceOnlyAtBlockEnd,
    )

    penalties = _case("we-repetition-2-frequency-se-3-2-m0-eos")
    min_new = _case("we-min-new-tokens-3-se-3-1-eos-list")
    return [
        Mutant("history-per-step", "16", "penalties read the history as of the step's start inside a block",
               penalties, HistoryPerStep),
        Mutant("min-new-tokens-in-steps", "16", "min_new_tokens counts decoding steps, not tokens", min_new,
               MinNewTokensInSteps),
        Mutant("processors-draft-only", "16", "verification forms r without the processors", penalties,
               ProcessorsDraftOnly),
        Mutant("processors-target-only", "16", "drafts drawn unprocessed, tested against the processed p_k",
               penalties, ProcessorsTargetOnly),
        Mutant("logit-bias-dropped-when-speculating", "16", "verification forms r without logit_bias",
               _case("we-logit-bias-se-2-2"), LogitBiasDroppedWhenSpeculating),
        Mutant("min-p-dropped-when-speculating", "16", "verification forms r without min_p",
               _case("we-T3/2-min-p-se-2-2"), MinPDroppedWhenSpeculating),
        Mutant("stop-sequence-only-at-block-end", "17", "stop sequences checked once per block",
               _case("we-stop-sequence-se-3-1-m0"), StopSequenceOnlyAtBlockEnd),
    ]


MUTANTS = make_mutants() + make_processor_mutants()
