"""`specens generate`: the main job. Sample a completion from an ensemble of real causal LMs.

Defaults: a weighted ensemble (1/2, 1/2) of the bundled members `pylib` and `pytests` with the
speculative ensemble. Members are bundled names or local model directories (safetensors, offline).
torch and transformers are imported only when this command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction

METHODS = ("se", "naive", "standard", "mixture")


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("prompt", help="the text to complete (the members' shared tokenizer encodes it)")
    p.add_argument("--members", default="pylib,pytests",
                   help="comma-separated bundled names (pylib, pytests, pygui, pytiny) or local model directories "
                        "(default pylib,pytests)")
    p.add_argument("--combination", choices=("we", "cd"), default="we",
                   help="we: weighted ensemble; cd: contrastive decoding of two members (default we)")
    p.add_argument("--weights",
                   help="relative WE weights in member order: non-negative numbers with a positive sum, divided by "
                        "their sum, so 1,2 and 0.1,0.2 and 1/3,2/3 are the same weights; decimals are read as "
                        "written (default equal)")
    p.add_argument("--expert", help="CD: the expert member (default: the last member)")
    p.add_argument("--amateur", help="CD: the amateur member (default: the first member)")
    p.add_argument("--mu", default="1/10", help="CD: amateur coefficient mu (default 1/10)")
    p.add_argument("--mode", choices=("probs", "logits", "raw-logits"),
                   help="where the sampling transform applies (default probs for WE, raw-logits for CD)")
    p.add_argument("--method", choices=METHODS, default="se", help="decoding method (default se)")
    p.add_argument("--gammas", help="proposal lengths in member order, e.g. 3,1 (se), or one value (naive); "
                                    "default 1 for every member")
    p.add_argument("--default-proposer", help="member that drafts after a rejection (default: the cheapest)")
    p.add_argument("--costs", help="c_k per member in order (default: parameter count relative to the largest)")
    p.add_argument("--temperature", default="1", help="0 is greedy (default 1)")
    p.add_argument("--top-k", type=int, help="keep the k most likely tokens")
    p.add_argument("--top-p", help="nucleus mass in (0, 1]")
    p.add_argument("--max-new-tokens", type=int, default=64, help="(default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform stream (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the combination and verification (default float32)")
    p.add_argument("--device", help="device for every member, e.g. cpu or cuda:0 (default: cuda if available)")
    p.add_argument("--trace", action="store_true", help="print who proposed and who verified each token")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _split(text: str | None, n: int, what: str) -> list[str] | None:
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != n:
        raise ValueError(f"--{what}: give {n} comma-separated values (one per member), got {text!r}")
    return parts


def parse_weights(text: str | None, names: list[str]) -> dict:
    """--weights as exact weights keyed by member name, normalised by their sum (COMBINE-2); default equal."""
    from specens.reference.combine import relative_weights

    if text is None:
        return {n: Fraction(1, len(names)) for n in names}
    parts = _split(text, len(names), "weights")
    try:
        return relative_weights(dict(zip(names, parts)))
    except ValueError as e:  # name the flag, not the Python argument
        raise ValueError(str(e).replace("weights", "--weights", 1)) from None


def resolve_member_path(spec: str):
    """A bundled member's directory, or a local model directory; anything else is an error."""
    from pathlib import Path

    from specens._bundled import BUNDLED_MODELS, bundled_model_path

    if spec in BUNDLED_MODELS:
        return spec, bundled_model_path(spec)
    path = Path(spec)
    if path.is_dir() and (path / "config.json").exists():
        return path.name, path
    raise ValueError(f"--members: {spec!r} is neither a bundled member ({', '.join(BUNDLED_MODELS)}) "
                     "nor a local model directory with a config.json")


def build(args):
    """(ensemble, method, member names) from the parsed options; every error is a ValueError."""
    import torch
    from transformers.utils import logging as hf_logging

    from specens.members import set_parameter_costs
    from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                         SpeculativeEnsemble, StandardEnsemble, WeightedEnsemble)

    specs = [s.strip() for s in args.members.split(",") if s.strip()]
    if not specs:
        raise ValueError("--members: name at least one member")
    resolved = [resolve_member_path(s) for s in specs]
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"--members: each member may appear once, got {names}")
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens: must be >= 1, got {args.max_new_tokens}")
    weights = parse_weights(args.weights, names) if args.combination == "we" else None  # before loading
    hf_logging.disable_progress_bar()  # loading bars would bury the completion
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    members = [Member.from_pretrained(path, name=name, device=device, dtype=torch.float32) for name, path in resolved]
    costs = _split(args.costs, len(members), "costs")
    if costs is None:
        set_parameter_costs(members)
    for m, c in zip(members, costs or ()):
        m.cost = Fraction(c)
        if m.cost <= 0:
            raise ValueError(f"--costs: costs must be positive, got {c} for {m.name}")

    if args.combination == "we":
        if any(x is not None for x in (args.expert, args.amateur)):
            raise ValueError("--expert/--amateur: only with --combination cd")
        combination = WeightedEnsemble(weights)
    else:
        if args.weights is not None:
            raise ValueError("--weights: only with --combination we")
        if len(names) != 2:
            raise ValueError(f"--combination cd: needs exactly two members, got {len(names)}")
        expert = args.expert or names[-1]
        amateur = args.amateur or next(n for n in names if n != expert)
        combination = ContrastiveDecoding(expert=expert, amateur=amateur, mu=args.mu)
    sampling = Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    tokenizer = members[0].tokenizer
    ensemble = Ensemble(members, combination, mode=args.mode, sampling=sampling, tokenizer=tokenizer,
                        eos_token_id=getattr(tokenizer, "eos_token_id", None), dtype=args.dtype)

    gammas = [int(g) for g in args.gammas.split(",")] if args.gammas else None
    if args.method == "se":
        gammas = gammas or [1] * len(names)
        if len(gammas) != len(names):
            raise ValueError(f"--gammas: give {len(names)} values for --method se (one per member), got {args.gammas}")
        method = SpeculativeEnsemble(dict(zip(names, gammas)), default_proposer=args.default_proposer)
    elif args.method == "naive":
        if gammas is not None and len(gammas) != 1:
            raise ValueError(f"--gammas: --method naive takes one proposal length, got {args.gammas}")
        method = NaiveSE(gamma=gammas[0] if gammas else 1, proposer=args.default_proposer)
    else:
        if gammas is not None or args.default_proposer is not None:
            raise ValueError(f"--gammas/--default-proposer: --method {args.method} has no proposer")
        method = StandardEnsemble() if args.method == "standard" else MixtureEnsemble()
    return ensemble, method


def _trace_lines(trace: list, tokenizer) -> list[str]:
    lines, proposer = [], {}
    for e in trace:
        if e["event"] == "propose":
            proposer[e["position"]] = (e["member"], e["bonus"])
        elif e["event"] == "verify":
            who, bonus = proposer.get(e["position"], (e["proposer"], False))
            verdict = "accepted" if e["accepted"] else f"rejected -> {tokenizer.decode([e['emitted']])!r} from residual"
            lines.append(f"  pos {e['position']:>3}: {tokenizer.decode([e['token']])!r:<14} proposed by {who}"
                         f"{' (bonus)' if bonus else ''}, r/q = {e['ratio']:.3f}, {verdict}")
        elif e["event"] == "emit" and e["rule"] not in ("accepted", "residual"):
            lines.append(f"  pos {e['position']:>3}: {tokenizer.decode([e['token']])!r:<14} drawn {e['rule']}")
    return lines


def run(args) -> int:
    started = time.perf_counter()
    ensemble, method = build(args)
    from specens import generate

    out = generate(ensemble, args.prompt, max_new_tokens=args.max_new_tokens, method=method, seed=args.seed,
                   trace=args.trace)
    stats = out.stats
    forwards = sum(stats.calls.values()) - len(stats.calls)
    summary = {
        "tokens": stats.emitted,
        "tokens_per_second": stats.tokens_per_second,
        "acceptance": {k: v for k, v in stats.alpha.items() if v is not None},
        "member_forwards_per_token": forwards / stats.emitted,
        "calls": stats.calls,
        "cost": str(stats.cost),
        "seconds_total": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps({"prompt": args.prompt, "completion": out.text, "token_ids": out.tokens,
                          "members": list(ensemble.names), "method": method.to_json(), "stats": stats.as_dict(),
                          "summary": summary, "trace": out.trace}, default=str))
        return 0
    print(args.prompt + out.text)
    if args.trace:
        print("\ntrace:")
        print("\n".join(_trace_lines(out.trace, ensemble.tokenizer)))
    acceptance = ", ".join(f"{k} {v:.2f}" for k, v in summary["acceptance"].items()) or "n/a"
    print(f"\n[{stats.emitted} tokens, {summary['tokens_per_second']:.1f} tokens/s, acceptance {acceptance}, "
          f"{summary['member_forwards_per_token']:.2f} member forwards per token; "
          f"{method.name} over {', '.join(ensemble.names)}]", file=sys.stderr)
    return 0
