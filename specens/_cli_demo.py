"""`specens demo`: one speculative-ensemble run on a built-in toy ensemble, with its trace.

NumPy reference only (no torch): it shows what every method does, step by step, on an ensemble
small enough that the exact law of the output is also printed.
"""

from __future__ import annotations

import argparse
import json

from specens.reference import (
    NaiveSE,
    MixtureEnsemble,
    SpeculativeEnsemble,
    SpeculativeMixture,
    StandardEnsemble,
    exact_ensemble_pmf,
    exact_output_pmf,
    generate,
    load_toy,
    standard_cost,
)
from specens.reference.numbers import as_fraction
from specens.reference.zoo import toy_ensemble


BUILT_IN = ("--combination", "--members", "--method", "--gammas", "--length", "--temperature")  # refused with --toy


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--toy", metavar="FILE",
                   help="a toy-ensemble JSON file (spec/09-toy-format.md) giving the ensemble, method and length; "
                        "the built-in ensemble's options (--combination, --members, --method, --gammas, --length, "
                        "--temperature) are refused with it: edit the file instead")
    p.add_argument("--combination", choices=["we", "cd"], help="built-in ensemble: WE or CD (default we; cd: 2 members)")
    p.add_argument("--members", type=int, help="built-in ensemble: number of members (default 2)")
    p.add_argument("--method", choices=["standard", "naive", "se", "mixture", "speculative-mixture"],
                   help="default se (speculative-mixture: the cheapest member drafts, SMIX-1)")
    p.add_argument("--gammas", help="proposal lengths, comma-separated: one per member for se, one for naive and "
                                    "speculative-mixture (default 3 for the first member, 1 for the others)")
    p.add_argument("--length", type=int, help="max_new_tokens (default 8)")
    p.add_argument("--temperature", help="0 for greedy, e.g. 1/2 or 0.7 (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform stream (default 0)")
    p.add_argument("--exact", action="store_true", help="also print the exact law of the first 3 tokens (slower)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")


def _gammas(text: str | None, count: int, method: str) -> list:
    """--gammas as positive integers: one per member for se, one for naive and speculative-mixture, none
    for the others."""
    if text is None:
        return [3] + [1] * (count - 1)
    try:
        gammas = [int(g) for g in text.split(",")]
    except ValueError:
        raise ValueError(f"--gammas: comma-separated positive integers, e.g. 3,1; got {text!r}") from None
    if any(g < 1 for g in gammas):
        raise ValueError(f"--gammas: every proposal length must be >= 1, got {text}")
    want = {"se": count, "naive": 1, "speculative-mixture": 1}.get(method, 0)
    if len(gammas) != want:
        need = f"{want} (one per member)" if method == "se" else "1" if want == 1 else "none"
        raise ValueError(f"--gammas: the {method} method takes {need}, got {len(gammas)} ({text})")
    return gammas


def _built_in(args):
    """The built-in ensemble, method and length from the command-line options."""
    members = 2 if args.members is None else args.members
    combination = args.combination or "we"
    if members < 1:
        raise ValueError(f"--members: at least 1, got {members}")
    if combination == "cd" and members != 2:
        raise ValueError(f"--members: --combination cd needs exactly 2 members (expert and amateur), got {members}")
    length = 8 if args.length is None else args.length
    if length < 1:
        raise ValueError(f"--length: max_new_tokens must be a positive integer, got {length}")
    temperature = as_fraction("1" if args.temperature is None else args.temperature, name="--temperature")
    if temperature < 0:
        raise ValueError(f"--temperature: must be >= 0 (0 is greedy), got {args.temperature}")
    ensemble = toy_ensemble(members, 4, combination=combination, temperature=temperature, eos_token_id=None, seed=7,
                            sparsity=0.25 if combination == "we" else 0)
    name = args.method or "se"
    gammas = _gammas(args.gammas, members, name)
    method = {"standard": StandardEnsemble, "mixture": MixtureEnsemble}.get(name)
    if method is not None:
        return ensemble, method(), length
    if name == "naive":
        return ensemble, NaiveSE(gamma=gammas[0]), length
    if name == "speculative-mixture":
        return ensemble, SpeculativeMixture(gamma=gammas[0]), length
    return ensemble, SpeculativeEnsemble(dict(zip(ensemble.names, gammas))), length


def _describe(event: dict) -> str:
    e = event["event"]
    if e == "call":
        span = "prompt" if event["kind"] == "prefill" else f"positions {event['fed'][0]}..{event['fed'][1] - 1}"
        return f"call     {event['member']:>4} processes {span} (cost {event['cost']})"
    if e == "propose":
        return f"propose  {event['member']:>4} draws token {event['token']} at position {event['position']}" + (
            " (bonus)" if event["bonus"] else "") + (" (below the confidence threshold: proposal ends)"
                                                     if event.get("stopped") else "")
    if e == "verify":
        verdict = "accepted" if event["accepted"] else f"rejected -> residual draws {event['emitted']}"
        against = event.get("against")  # SMIX-3: verified against the chosen member's p_k alone (TRACE-1)
        ratio = f"against {against}, p_{against}/q" if against else "r/q"
        return (f"verify   position {event['position']}: token {event['token']} from {event['proposer']}, "
                f"{ratio} = {event['ratio']:.3f}, {verdict}")
    if e == "emit":
        return f"emit     position {event['position']}: {event['token']} ({event['rule']})"
    return f"crop     {event['member']:>4} back to {event['length']} generated tokens"


def run(args) -> int:
    if args.toy:
        given = [flag for flag in BUILT_IN if getattr(args, flag[2:]) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: the toy file sets the ensemble, method and length; "
                             f"leave {'these' if len(given) > 1 else 'it'} out with --toy (edit the file instead)")
        ensemble, method, length = load_toy(args.toy)
    else:
        ensemble, method, length = _built_in(args)
    result = generate(ensemble, method, length, seed=args.seed)
    if args.json:
        print(json.dumps({"tokens": result.tokens, "cost": str(result.cost), "calls": result.calls,
                          "uniforms_used": result.uniforms_used, "trace": result.trace}, indent=1))
        return 0
    names = ", ".join(f"{m.name} (cost {m.cost})" for m in ensemble.members)
    if ensemble.drafter is not None:  # METHOD-5, TOY-7
        names += f"; outside drafter {ensemble.drafter.name} (cost {ensemble.drafter.cost})"
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
