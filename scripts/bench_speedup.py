"""Speed-up of every method over the standard ensemble, on the real pair or the bundled family (the paper's table).

`--models real` (SmolLM2-135M-Instruct as the expert, its 2-layer drafter as the amateur / proposer,
chat prompts held out of the drafter's training): contrastive decoding greedy and sampled, a weighted
ensemble with the mixture ensemble, and the expert alone (WE weights 0 : 1, so r is the expert's
distribution and SE is plain speculative decoding with the drafter) beside transformers'
`generate(assistant_model=drafter)` on the same prompts. `--models family` (the default): the bundled
stdlib family.

Settings mirror the paper's experiments (Fu et al., arXiv 2502.01662) at toy scale: a weighted ensemble of two
same-size members, of three, and contrastive decoding of the small member (amateur) with a large one
(expert), greedy and sampled. For each setting every method decodes the same held-out prompts with
the same seeds; methods are interleaved within each repeat so that they share the machine's load.
Reported per method: median tokens/s over repeats, the ratio of medians to the standard ensemble,
acceptance per proposer, member forwards per token, and the cost-model speed-up (standard cost per
token / method cost per token, with c_k from parameter counts: deterministic, not a timing).

    .venv/bin/python scripts/bench_speedup.py [--tokens 64] [--repeats 3] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                     SpeculativeEnsemble, SpeculativeMixture, StandardEnsemble, WeightedEnsemble, generate)
from specens import bundled_model_path
from specens.members import set_parameter_costs

REAL_PROMPTS = ["Write a Python function that returns the median of a list.",
                "Write a Python function that checks whether a string is a palindrome.",
                "Write a Python function that merges two sorted lists into one sorted list.",
                "Explain what a Python generator is, with a short example.",
                "What is the difference between a list and a tuple in Python?"]
PROMPTS = ["def median(data):\n", "def bisect_left(a, x, lo=0, hi=None):\n", "def heappush(heap, item):\n",
           "def dedent(text):\n", "class Fraction(numbers.Rational):\n"]


def settings():
    """name -> (members, combination, sampling, methods)."""
    we2 = ["pylib", "pytests"]
    we3 = ["pylib", "pytests", "pygui"]
    cd = ["pytiny", "pylib"]
    yield "WE 1/2 pylib+pytests T=1", we2, WeightedEnsemble({k: "1/2" for k in we2}), Sampling(), [
        StandardEnsemble(), NaiveSE(gamma=3, proposer="pylib"), SpeculativeEnsemble({k: 1 for k in we2}),
        SpeculativeEnsemble({"pylib": 3, "pytests": 1}), MixtureEnsemble()]
    yield "WE 1/3 x3 T=1", we3, WeightedEnsemble({k: "1/3" for k in we3}), Sampling(), [
        StandardEnsemble(), NaiveSE(gamma=2, proposer="pylib"), SpeculativeEnsemble({k: 1 for k in we3}),
        MixtureEnsemble()]
    for t in (0, 1):
        yield f"CD mu 0.1 pytiny/pylib T={t}", cd, ContrastiveDecoding(expert="pylib", amateur="pytiny", mu="1/10"), \
            Sampling(temperature=t), [StandardEnsemble(), NaiveSE(gamma=3, proposer="pytiny"),
                                      SpeculativeEnsemble({"pytiny": 1, "pylib": 1}),
                                      SpeculativeEnsemble({"pytiny": 5, "pylib": 1})]


# -- the speculative mixture (SMIX-1): pytiny drafts for WEs of the large members, from outside them ----------
def speculative_mixture_settings():
    """name -> (members, combination, sampling, methods): pytiny as the outside drafter (METHOD-5)."""
    we2 = ["pylib", "pytests"]
    we3 = ["pylib", "pytests", "pygui"]
    for name, chosen in (("SMIX WE 1/2 pylib+pytests, pytiny drafts", we2), ("SMIX WE 1/3 x3, pytiny drafts", we3)):
        yield name, chosen, WeightedEnsemble({k: f"1/{len(chosen)}" for k in chosen}), Sampling(), [
            StandardEnsemble(), MixtureEnsemble(),
            *(SpeculativeMixture(gamma=g, drafter="pytiny") for g in (1, 2, 3, 5))]


def speculative_mixture_real_settings():
    """The real pair: WE 1/2 of SmolLM2's drafter and SmolLM2, the drafter (a member) drafting."""
    d, e = "smollm2-drafter", "smollm2"
    yield "SMIX WE 1/2 drafter+smollm2 T=1", [d, e], WeightedEnsemble({d: "1/2", e: "1/2"}), Sampling(), [
        StandardEnsemble(), MixtureEnsemble(), *(SpeculativeMixture(gamma=g, drafter=d) for g in (1, 3, 5))]


def outside_drafter(methods, names):
    """The drafter a setting's methods name outside its members (METHOD-5), or None."""
    outside = {m.drafter for m in methods if isinstance(m, SpeculativeMixture) and m.drafter not in names}
    return outside.pop() if outside else None


def real_settings():
    """name -> (members, combination, sampling, methods) on SmolLM2 and its drafter."""
    pair = ["smollm2-drafter", "smollm2"]
    d, e = pair
    for t in (0, 1):
        yield f"CD mu 0.1 drafter/smollm2 T={t}", pair, ContrastiveDecoding(expert=e, amateur=d, mu="1/10"), \
            Sampling(temperature=t), [StandardEnsemble(), NaiveSE(gamma=4, proposer=d), SpeculativeEnsemble({d: 1, e: 1}),
                                      SpeculativeEnsemble({d: 3, e: 1}), SpeculativeEnsemble({d: 5, e: 1})]
    yield "WE 1/2 drafter+smollm2 T=1", pair, WeightedEnsemble({d: "1/2", e: "1/2"}), Sampling(), [
        StandardEnsemble(), SpeculativeEnsemble({d: 1, e: 1}), SpeculativeEnsemble({d: 3, e: 1}), MixtureEnsemble()]
    for t in (0, 1):
        yield f"expert alone (WE 0:1) T={t}", pair, WeightedEnsemble({d: 0, e: 1}), Sampling(temperature=t), [
            "expert", NaiveSE(gamma=3, proposer=d), NaiveSE(gamma=5, proposer=d), "assisted"]


def label(method) -> str:
    if method in ("assisted", "expert"):
        return {"assisted": "transformers assisted", "expert": "transformers expert only"}[method]
    if isinstance(method, NaiveSE):
        return f"naive SE g={method.gamma} ({method.proposer})"
    if isinstance(method, SpeculativeEnsemble):
        return "SE g=" + ",".join(str(g) for g in method.gammas.values())
    if isinstance(method, SpeculativeMixture):
        return f"spec. mixture g={method.gamma} ({method.drafter})"
    return {"standard": "standard", "mixture": "mixture"}[method.name]


def hf_generate(members, names, prompts, sampling, tokens, seed, *, assistant: bool):
    """transformers' generate of the expert (the last member), with the drafter as its assistant
    (transformers' speculative decoding) or alone; every row runs to `tokens` new tokens."""
    drafter, expert = (members[n].model for n in names)
    outs = []
    for i, ids in enumerate(prompts):
        torch.manual_seed(seed + i)
        kwargs = dict(do_sample=True, temperature=float(sampling.temperature), top_k=0) if sampling.temperature \
            else dict(do_sample=False)
        extra = {"assistant_model": drafter} if assistant else {}
        seq = expert.generate(torch.tensor([ids]), **extra, max_new_tokens=tokens,
                              min_new_tokens=tokens, eos_token_id=None, pad_token_id=0, **kwargs)
        outs.append(seq.shape[1] - len(ids))
    return outs


def run_setting(members, names, combination, sampling, methods, tokens, repeats, seed, texts=PROMPTS, chat=False):
    chosen = [members[n] for n in names]
    tok = chosen[-1].tokenizer
    drafter = outside_drafter(methods, names)
    ensemble = Ensemble(chosen, combination, sampling=sampling, tokenizer=tok, eos_token_id=None,
                        drafter=members[drafter] if drafter else None)
    if chat:
        from specens._cli_generate import chat_prompt

        prompts = [chat_prompt(tok, p, True) for p in texts]
    else:
        prompts = [tok(p)["input_ids"] for p in texts]
    times = {label(m): [] for m in methods}
    stats = {label(m): None for m in methods}
    for rep in range(repeats):
        for m in methods:  # interleaved: every method sees the same load within a repeat
            start = time.perf_counter()
            if m in ("assisted", "expert"):
                emitted = sum(hf_generate(members, names, prompts, sampling, tokens, seed + 100 * rep,
                                          assistant=m == "assisted"))
            else:
                outs = generate(ensemble, prompts, max_new_tokens=tokens, method=m, seed=seed + 100 * rep)
                emitted = sum(len(o.tokens) for o in outs)
                if rep == 0:
                    stats[label(m)] = outs
            times[label(m)].append(emitted / (time.perf_counter() - start))
    rows, std = [], None
    for m in methods:
        if m in ("assisted", "expert"):
            tps = statistics.median(times[label(m)])
            std = std or (tps, None)
            rows.append({"method": label(m), "tokens_per_s": tps, "speedup": tps / std[0], "cost_speedup": None,
                         "forwards_per_token": None, "alpha": {}, "runs_tokens_per_s": times[label(m)]})
            continue
        outs = stats[label(m)]
        emitted = sum(o.stats.emitted for o in outs)
        cost = sum(o.stats.cost for o in outs) / emitted
        forwards = sum(sum(o.stats.calls.values()) - len(o.stats.calls) for o in outs) / emitted
        proposers = [k for k in outs[0].stats.verified]  # the members, and an outside drafter that ran
        verified = {k: sum(o.stats.verified[k] for o in outs) for k in proposers}
        accepted = {k: sum(o.stats.accepted[k] for o in outs) for k in proposers}
        alpha = {k: round(accepted[k] / verified[k], 3) for k in proposers if verified[k]}
        tps = statistics.median(times[label(m)])
        std = std or (tps, cost)
        rows.append({"method": label(m), "tokens_per_s": tps, "speedup": tps / std[0], "cost_speedup": float(std[1] / cost) if std[1] is not None else None,
                     "forwards_per_token": forwards, "alpha": alpha, "runs_tokens_per_s": times[label(m)]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: steadier timings)")
    parser.add_argument("--models", choices=("family", "real"), default="family",
                        help="family: the bundled stdlib models; real: SmolLM2-135M-Instruct and its drafter")
    parser.add_argument("--prompts", type=int, help="use the first N prompts (default all 5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    names = ("smollm2-drafter", "smollm2") if args.models == "real" else ("pylib", "pytests", "pygui", "pytiny")
    members = {n: Member.from_pretrained(bundled_model_path(n), name=n, device=args.device) for n in names}
    texts = (REAL_PROMPTS if args.models == "real" else PROMPTS)[:args.prompts]
    set_parameter_costs(list(members.values()))
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    results = {"device": device, "tokens": args.tokens, "repeats": args.repeats, "prompts": len(texts),
               "costs": {n: str(m.cost) for n, m in members.items()}, "settings": {}}
    family = list(settings()) + list(speculative_mixture_settings())
    real = list(real_settings()) + list(speculative_mixture_real_settings())
    for name, chosen, combination, sampling, methods in (real if args.models == "real" else family):
        results["settings"][name] = run_setting(members, chosen, combination, sampling, methods, args.tokens,
                                                args.repeats, args.seed, texts=texts, chat=args.models == "real")
        if not args.json:
            print(f"  done: {name}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"device: {device}; {len(texts)} held-out prompts x {args.tokens} tokens, median of {args.repeats} "
          f"interleaved repeats; costs {results['costs']}\n")
    print(f"{'setting':28} {'method':24} {'tok/s':>7} {'speed-up':>8} {'cost model':>10} {'fwd/tok':>7}  alpha")
    for name, rows in results["settings"].items():
        for r in rows:
            cost = f"{r['cost_speedup']:9.2f}x" if r["cost_speedup"] is not None else f"{'-':>10}"
            fwd = f"{r['forwards_per_token']:7.2f}" if r["forwards_per_token"] is not None else f"{'-':>7}"
            print(f"{name:32} {r['method']:24} {r['tokens_per_s']:7.1f} {r['speedup']:7.2f}x {cost} {fwd}  {r['alpha']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
