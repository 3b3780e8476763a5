"""`specens demo`: one speculative-ensemble run on a built-in toy ensemble, with its trace.

NumPy reference only (no torch): it shows what every method does, step by step, on an ensemble
small enough that the exact law of the output is also printed.
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction

from specens.reference import (
    NaiveSE,
    MixtureEnsemble,
    SpeculativeEnsemble,
    StandardEnsemble,
    exact_ensemble_pmf,
    exact_output_pmf,
    generate,
    load_toy,
    standard_cost,
)
from specens.reference.zoo import toy_ensemble


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--toy", metavar="FILE", help="a toy-ensemble JSON file (spec/09-toy-format.md); default: built-in")
    p.add_argument("--combination", choices=["we", "cd"], default="we", help="built-in ensemble: WE or CD (default we)")
    p.add_argument("--members", type=int, default=2, help="built-in ensemble: number of members (default 2)")
    p.add_argument("--method", choices=["standard", "naive", "se", "mixture"], default="se")
    p.add_argument("--gammas", default="3,1", help="proposal lengths per member, comma-separated (default 3,1)")
    p.add_argument("--length", type=int, default=8, help="max_new_tokens (default 8)")
    p.add_argument("--temperature", default="1", help="0 for greedy (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform stream (default 0)")
    p.add_argument("--exact", action="store_true", help="also print the exact law of the first 3 tokens (slower)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")


def _method(args, ensemble):
    gammas = [int(g) for g in args.gammas.split(",")]
    if any(g < 1 for g in gammas):
        raise ValueError(f"--gammas: every proposal length must be >= 1, got {args.gammas}")
    if args.method == "standard":
        return StandardEnsemble()
    if args.method == "naive":
        return NaiveSE(gamma=gammas[0])
    if args.method == "mixture":
        return MixtureEnsemble()
    return SpeculativeEnsemble({k: gammas[i % len(gammas)] for i, k in enumerate(ensemble.names)})


def _describe(event: dict) -> str:
    e = event["event"]
    if e == "call":
        span = "prompt" if event["kind"] == "prefill" else f"positions {event['fed'][0]}..{event['fed'][1] - 1}"
        return f"call     {event['member']:>4} processes {span} (cost {event['cost']})"
    if e == "propose":
        return f"propose  {event['member']:>4} draws token {event['token']} at position {event['position']}" + (
            " (bonus)" if event["bonus"] else "")
    if e == "verify":
        verdict = "accepted" if event["accepted"] else f"rejected -> residual draws {event['emitted']}"
        return (f"verify   position {event['position']}: token {event['token']} from {event['proposer']}, "
                f"r/q = {event['ratio']:.3f}, {verdict}")
    if e == "emit":
        return f"emit     position {event['position']}: {event['token']} ({event['rule']})"
    return f"crop     {event['member']:>4} back to {event['length']} generated tokens"


def run(args) -> int:
    if args.toy:
        ensemble, method, length = load_toy(args.toy)
    else:
        ensemble = toy_ensemble(args.members, 4, combination=args.combination, temperature=Fraction(args.temperature),
                                eos_token_id=None, seed=7, sparsity=0.25 if args.combination == "we" else 0)
        method, length = _method(args, ensemble), args.length
    result = generate(ensemble, method, length, seed=args.seed)
    if args.json:
        print(json.dumps({"tokens": result.tokens, "cost": str(result.cost), "calls": result.calls,
                          "uniforms_used": result.uniforms_used, "trace": result.trace}, indent=1))
        return 0
    names = ", ".join(f"{m.name} (cost {m.cost})" for m in ensemble.members)
    print(f"ensemble: {names}; combination {ensemble.combination.to_json()}; mode {ensemble.mode}")
    print(f"method:   {method.to_json()}; max_new_tokens {length}; seed {args.seed}\n")
    step = None
    for event in result.trace:
        if event["step"] != step:
            step = event["step"]
            print(f"step {step}")
        print("  " + _describe(event))
    std = standard_cost(ensemble, len(result.tokens))
    print(f"\ntokens {result.tokens}; cost {result.cost} = {float(result.cost):.3f} "
          f"(standard ensemble: {float(std):.3f}); calls {result.calls}; uniforms used {result.uniforms_used}")
    if args.exact:
        short = min(length, 3)
        got = exact_output_pmf(ensemble, method, short)
        want = exact_ensemble_pmf(ensemble, short)
        print(f"exact law of the first {short} tokens equals the standard ensemble's: {got.pmf == want} "
              f"({len(want)} sequences, {len(got.runs)} runs enumerated)")
    return 0
