"""The methods of spec/05-methods.md on real models.

The standard ensemble, naive SE and SE are the reference's own functions (`reference/methods.py`)
run on the torch `Run` of `specens/state.py`, which implements the same verbs with KV caches and
tensors: one control flow, so with the same uniform stream both emit the same tokens and the same
trace (RNG-1, TRACE-1). The mixture has its own function here only to time its phases. The method
objects are the reference's frozen dataclasses: one definition of each parameter and its defaults.
"""

from __future__ import annotations

import time
from fractions import Fraction

from specens.distributions import EmptyDistribution
from specens.reference.methods import (MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble, naive_se,
                                      speculative_ensemble, standard_ensemble)
from specens.reference.rng import sample as exact_sample
from specens.state import Run


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
