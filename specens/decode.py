"""The methods of spec/05-methods.md on real models: `reference/methods.py` in torch, step by step.

Each function has the reference function's name, its phases in the same order and the same choice
points (RNG-1), so with the same uniform stream both emit the same tokens and the same trace
(TRACE-1). The method objects themselves are the reference's frozen dataclasses
(`StandardEnsemble`, `NaiveSE`, `SpeculativeEnsemble`, `MixtureEnsemble`): one definition of each
parameter and its defaults.
"""

from __future__ import annotations

import time
from fractions import Fraction

from specens.distributions import EmptyDistribution
from specens.reference.methods import MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble
from specens.reference.rng import sample as exact_sample
from specens.state import Run


def standard_ensemble(run: Run):
    """The standard ensemble: METHOD-1, METHOD-2, then STD-1 and STD-2 until METHOD-3."""
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2: the first token comes straight from r
    while not run.done:
        run.step += 1
        for name in run.names:  # STD-1: every member processes the last emitted token
            run.forward(name)
        run.sample_target()  # STD-2


def naive_se(run: Run, method: NaiveSE):
    """Naive SE: METHOD-1, METHOD-2, then NAIVE-2, NAIVE-3, NAIVE-4 until METHOD-3."""
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        run.propose(method.proposer, method.gamma)  # NAIVE-2: catch up, then draw gamma tokens
        for name in run.names:  # NAIVE-3: every other member scores them in one call
            if name != method.proposer:
                run.forward(name)
        while run.cache and not run.done:  # NAIVE-4: left to right, stop at the first rejection
            if not run.verify_head():
                break
        run.cache.clear()  # tokens after an emitted EOS or past max_new_tokens are never emitted


def speculative_ensemble(run: Run, method: SpeculativeEnsemble):
    """Speculative ensemble (SE-1): METHOD-1, METHOD-2, then SE-2 or SE-3, SE-4, SE-5, SE-6 until METHOD-3."""
    names, gammas = run.names, method.gammas
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        scorer = None
        if not run.cache:  # SE-2: nothing cached, the default proposer drafts
            run.propose(method.default_proposer, gammas[method.default_proposer])
        else:  # SE-3: the member holding the fewest cached positions scores them all ...
            scorer = min(names, key=lambda k: (run.held_count(k), names.index(k)))
            run.forward(scorer)
            run.propose(scorer, 1, bonus=True)  # ... and its next token joins the cache as a bonus
        while run.all_hold_head() and not run.done:  # SE-4: verify while every member holds the head
            if not run.verify_head():
                scorer = None  # SE-5: rejected; cache dropped, the default proposer restarts
                break
        if scorer is not None and not run.done:  # SE-6: the scorer continues its own proposal
            run.propose(scorer, gammas[scorer] - 1)
    run.cache.clear()


def mixture_ensemble(run: Run):
    """Mixture ensemble (MIX-1): METHOD-1, METHOD-2, then MIX-2 (MIX-3 at T = 0) until METHOD-3.

    The member draw uses the exact weights and the reference's exact sampler (RNG-2), so it agrees
    with the reference for every uniform.
    """
    ensemble = run.ensemble
    weights = [ensemble.combination.weights[k] for k in run.names]
    run.prefill()  # METHOD-1
    run.sample_target()  # METHOD-2
    while not run.done:
        run.step += 1
        if ensemble.sampling.greedy:  # MIX-3: at T = 0 r is not a mixture; run the standard step
            for name in run.names:
                run.forward(name)
            run.sample_target()
            continue
        begin = time.perf_counter()
        index = exact_sample(weights, Fraction(next(run.stream)))  # MIX-2: member k ~ Cat(w)
        run.decisions.append(("draw", index))
        name = run.names[index]
        run.seconds["verify"] += time.perf_counter() - begin
        run.forward(name)  # it processes every emitted token it missed
        begin, position = time.perf_counter(), len(run.emitted)
        try:
            token = run.draw(run.proposal(name, position))
        except EmptyDistribution:
            raise run.explain_empty(position, [name]) from None
        run.emit(token, f"mixture:{name}")
        run.seconds["verify"] += time.perf_counter() - begin


def run_method(run: Run, method) -> Run:
    """Dispatch a checked method object to its function; returns the finished run."""
    if isinstance(method, StandardEnsemble):
        standard_ensemble(run)
    elif isinstance(method, NaiveSE):
        naive_se(run, method)
    elif isinstance(method, SpeculativeEnsemble):
        speculative_ensemble(run, method)
    elif isinstance(method, MixtureEnsemble):
        mixture_ensemble(run)
    else:
        raise ValueError(f"method: expected StandardEnsemble, NaiveSE, SpeculativeEnsemble or MixtureEnsemble, "
                         f"got {type(method).__name__}")
    return run
