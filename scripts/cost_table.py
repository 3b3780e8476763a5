"""Exact expected cost per emitted token of every method on a few toy ensembles (COST-2).

Each figure is computed exactly by the exact engine (ENGINE-1) from the sampler code itself and
printed as a decimal; "vs std" is the standard ensemble's cost per token divided by the method's
(a speed-up under the paper's cost model, COST-1). The last column is the paper's one-cycle formula
(THM-3.1 for naive SE, THM-3.6 for two-member SE) at the exact acceptance rate of the default
proposer against r at the first generated position, for comparison.

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
    StandardEnsemble,
    alternate_speedup,
    exact_output_pmf,
    naive_speedup,
    overlap,
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
        print(json.dumps([{k: (str(v) if isinstance(v, Fraction) else v) for k, v in r.items()} for r in rows], indent=1))
        return 0
    print(f"exact expected cost per emitted token, max_new_tokens = {args.length}, member costs 1/4 (m0) and 1\n")
    print(f"{'case':32} {'method':18} {'cost/token':>10} {'vs std':>7} {'formula':>8}", flush=True)
    for r in table(args.length):
        formula = "" if r["formula"] is None else f"{float(r['formula']):.3f}"
        print(f"{r['case']:32} {r['method']:18} {float(r['cost_per_token']):10.4f} {float(r['speedup']):7.3f} "
              f"{formula:>8}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `cost_table.py | head`: the reader went away; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
