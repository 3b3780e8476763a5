"""Exact expected cost per emitted token of every method on a few toy ensembles (COST-2).

Each figure is computed exactly by the exact engine (ENGINE-1) from the sampler code itself and
printed as a decimal; "vs std" is the standard ensemble's cost per token divided by the method's
(a speed-up under the paper's cost model, COST-1). The last column is the paper's one-cycle formula
(THM-3.1 for naive SE, THM-3.6 for two-member SE) at the exact acceptance rate of the default
proposer against r at the first generated position, for comparison.

A second table gives the speculative mixture's long-run cost per token under COST-4's model (exact
rationals, `speculative_mixture_cost_per_token`) against the mixture ensemble's (sum_k w_k c_k) on
members of cost 1 and equal weights, for drafter costs c_d, acceptances alpha (every member alike)
and the best block length gamma in 1..7: where it wins, and where it cannot.

    .venv/bin/python scripts/cost_table.py [--length 5] [--json]

Run time grows quickly with the length (the engine enumerates every run): on one core of this
project's CI machine, --length 5 (the default) takes about 75 s, --length 4 about 3 s and
--length 3 under 1 s. Rows are printed as they are computed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from fractions import Fraction

from specens.reference import (
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
    alternate_speedup,
    mixture_cost_per_token,
    exact_output_pmf,
    naive_speedup,
    overlap,
    speculative_mixture_cost_per_token,
)
from specens.reference.zoo import toy_ensemble

CASES = {
    "WE n=2 (weights 1/3, 2/3)": dict(n=2, vocab_size=3, combination="we", seed=5),
    "WE n=2 greedy": dict(n=2, vocab_size=3, combination="we", temperature=0, seed=5),
    "CD n=2 (mu 1/10)": dict(n=2, vocab_size=3, combination="cd", sparsity=0, seed=5),
    "WE n=3 (weights 1/6, 1/3, 1/2)": dict(n=3, vocab_size=3, combination="we", seed=5),
}


def methods(names):
    cheap, big = names[0], names[-1]
    yield "standard", StandardEnsemble()
    yield "naive g=1", NaiveSE(gamma=1, proposer=cheap)
    yield "naive g=3", NaiveSE(gamma=3, proposer=cheap)
    yield "SE g=1", SpeculativeEnsemble({k: 1 for k in names}, cheap)
    yield "SE g=3,1", SpeculativeEnsemble({k: (3 if k == cheap else 1) for k in names}, cheap)
    yield "SE g=1 big first", SpeculativeEnsemble({k: 1 for k in names}, big)
    yield "mixture", MixtureEnsemble()
    yield "spec. mixture g=2", SpeculativeMixture(gamma=2, drafter=cheap)
    yield "spec. mixture g=3", SpeculativeMixture(gamma=3, drafter=cheap)


def smix_grid(members=(2, 3), drafter_costs=("1/20", "1/10", "1/5", "19/50"), alphas=("1/2", "7/10", "9/10"),
              gammas=range(1, 8)):
    """Yield COST-4 rows: n members of cost 1 with equal weights, an outside drafter of cost c_d, one
    alpha for every member; the best gamma and the speed-ups over the mixture and standard ensembles."""
    for n in members:
        weights = {f"m{k}": Fraction(1, n) for k in range(n)}
        costs = dict.fromkeys(weights, Fraction(1))
        mixture = mixture_cost_per_token(weights, costs)
        for c_d in drafter_costs:
            for alpha in alphas:
                per_token, gamma = min((speculative_mixture_cost_per_token(
                    weights, costs, dict.fromkeys(weights, Fraction(alpha)), Fraction(c_d), g), g) for g in gammas)
                yield {"members": n, "c_d": Fraction(c_d), "alpha": Fraction(alpha), "gamma": gamma,
                       "cost_per_token": per_token, "vs_mixture": mixture / per_token, "vs_standard": n / per_token}


def table(length: int):
    """Yield one row per (case, method), as soon as it is computed."""
    for case, kwargs in CASES.items():
        ensemble = toy_ensemble(**kwargs)
        c = ensemble.members[0].cost / ensemble.members[-1].cost
        context = ensemble.prompt
        alpha = overlap(ensemble.proposal(ensemble.names[0], context), ensemble.target(context))
        std = None
        for label, method in methods(ensemble.names):
            try:
                exact = exact_output_pmf(ensemble, method, length)
            except ValueError:
                continue  # mixture is only defined for WE in mode probs (MIX-1)
            per_token = exact.expected_cost() / exact.expected_length()
            std = std or per_token
            formula = None
            if label.startswith("naive") and len(ensemble.names) == 2:
                formula = naive_speedup(alpha, c, method.gamma)
            elif label.startswith("SE g=") and len(ensemble.names) == 2 and "big" not in label:
                g = method.gammas
                formula = alternate_speedup(alpha, c, g[ensemble.names[0]], g[ensemble.names[1]])
            yield {"case": case, "method": label, "cost_per_token": per_token, "speedup": std / per_token,
                   "formula": formula, "alpha": alpha, "c": c}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Run time: --length 5 about 75 s, 4 about 3 s, 3 under 1 s (one core).")
    parser.add_argument("--length", type=int, default=5, help="max_new_tokens (default 5, about 75 s)")
    parser.add_argument("--json", action="store_true", help="print all rows as one JSON list at the end")
    args = parser.parse_args(argv)
    if args.length < 1:
        parser.error(f"--length: max_new_tokens must be a positive integer, got {args.length}")
    if args.json:
        rows = list(table(args.length))
        grid = list(smix_grid())
        print(json.dumps([{k: (str(v) if isinstance(v, Fraction) else v) for k, v in r.items()} for r in rows + grid],
                         indent=1))
        return 0
    print(f"exact expected cost per emitted token, max_new_tokens = {args.length}, member costs 1/4 (m0) and 1\n")
    print(f"{'case':32} {'method':18} {'cost/token':>10} {'vs std':>7} {'formula':>8}", flush=True)
    for r in table(args.length):
        formula = "" if r["formula"] is None else f"{float(r['formula']):.3f}"
        print(f"{r['case']:32} {r['method']:18} {float(r['cost_per_token']):10.4f} {float(r['speedup']):7.3f} "
              f"{formula:>8}", flush=True)
    print("\nspeculative mixture, long-run cost per token (COST-4), members of cost 1, equal weights, outside drafter\n")
    print(f"{'members':>7} {'c_d':>6} {'alpha':>6} {'best gamma':>10} {'cost/token':>10} {'vs mixture':>10} "
          f"{'vs std':>7}")
    for r in smix_grid():
        print(f"{r['members']:7} {float(r['c_d']):6.3f} {float(r['alpha']):6.2f} {r['gamma']:10} "
              f"{float(r['cost_per_token']):10.4f} {float(r['vs_mixture']):10.3f} {float(r['vs_standard']):7.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `cost_table.py | head`: the reader went away; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
