"""Speed-up of every method over the standard ensemble, on the real pair or the bundled family (the paper's table).

`--models real` (SmolLM2-135M-Instruct as the expert, its 2-layer drafter as the amateur / proposer,
chat prompts held out of the drafter's training): contrastive decoding greedy and sampled, a weighted
ensemble with the mixture ensemble, and the expert alone (a one-member ensemble with the drafter outside
it, so naive SE is plain speculative decoding with its bonus token, NAIVE-5; fixed proposal lengths, and
up to 20 with the confidence stop at 0.4, METHOD-6, as transformers' defaults) beside transformers'
`generate(assistant_model=drafter)` on the same prompts. `--models family` (the default): the bundled
stdlib family.

Settings mirror the paper's experiments (Fu et al., arXiv 2502.01662) at toy scale: a weighted ensemble of two
same-size members, of three, and contrastive decoding of the small member (amateur) with a large one
(expert), greedy and sampled. For each setting every method decodes the same held-out prompts with
the same seeds; methods are interleaved within each repeat so that they share the machine's load.
Reported per method: median tokens/s over repeats, the ratio of medians to the standard ensemble
(to transformers' expert alone in the expert-alone settings), acceptance per proposer, member
forwards per token, and three predictions of that ratio (all from quantities measured in the same
run, none a timing of the method itself):

- THM: the paper's formula, THM-3.6 for SE of two members and THM-3.1 for naive SE, from the
  acceptance of the cheaper member's proposals and the measured c = t_q(1) / t_p(1);
- COST-1: the method's calls (prefill left out) weighted by the measured c_k = t_k(1) / the
  expert's t(1), however many tokens each call processes (the paper's cost model);
- COST-5: the method's calls weighted by t_k(n), the median CPU time of member k's calls of n
  tokens, timed around `Member.feed` in every run of the benchmark (so under the same load; CPU time
  of the calling thread, as the wall time of a call on a shared machine counts other processes too).

Tokens per CPU second of this process are reported beside tokens per wall second: with one torch
thread they agree on an idle machine, and the CPU figure is the steadier one on a shared machine.

Efficiency is measured / THM (and measured / COST-5). `--out FILE` also writes the JSON.

    .venv/bin/python scripts/bench_speedup.py [--models real] [--tokens 64] [--repeats 3] [--json] [--out F]
    .venv/bin/python scripts/bench_speedup.py --models real --setting "CD mu 0.1" --tokens 128   # CD only, longer
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import torch

from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                     SpeculativeEnsemble, SpeculativeMixture, StandardEnsemble, WeightedEnsemble, generate)
from specens import bundled_model_path
from specens.reference.cost import alternate_speedup, naive_speedup, plain_speedup, tabled_cost
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
                                      SpeculativeEnsemble({"pytiny": 5, "pylib": 1}),
                                      SpeculativeEnsemble({"pytiny": 5, "pylib": 1}, confidence_threshold="0.4")]


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
        StandardEnsemble(), MixtureEnsemble(), *(SpeculativeMixture(gamma=g, drafter=d) for g in (1, 2, 3))]


def outside_drafter(methods, names):
    """The drafter a setting's methods name outside its members (METHOD-5), or None."""
    outside = {m.drafter for m in methods if isinstance(m, SpeculativeMixture) and m.drafter not in names}
    outside |= {m.proposer for m in methods if isinstance(m, NaiveSE) and m.proposer not in names}
    return outside.pop() if outside else None


def real_settings():
    """name -> (members, combination, sampling, methods) on SmolLM2 and its drafter."""
    pair = ["smollm2-drafter", "smollm2"]
    d, e = pair
    for t in (0, 1):
        yield f"CD mu 0.1 drafter/smollm2 T={t}", pair, ContrastiveDecoding(expert=e, amateur=d, mu="1/10"), \
            Sampling(temperature=t), [StandardEnsemble(), NaiveSE(gamma=4, proposer=d), SpeculativeEnsemble({d: 1, e: 1}),
                                      SpeculativeEnsemble({d: 2, e: 1}), SpeculativeEnsemble({d: 3, e: 1}),
                                      SpeculativeEnsemble({d: 4, e: 1}, confidence_threshold="0.4")]
    yield "WE 1/2 drafter+smollm2 T=1", pair, WeightedEnsemble({d: "1/2", e: "1/2"}), Sampling(), [
        StandardEnsemble(), SpeculativeEnsemble({d: 1, e: 1}), SpeculativeEnsemble({d: 3, e: 1}), MixtureEnsemble()]
    for t in (0, 1):  # the expert as a one-member ensemble, the drafter outside it (METHOD-5): plain SD
        yield f"expert alone T={t}", [e], WeightedEnsemble({e: 1}), Sampling(temperature=t), [
            "expert", *(NaiveSE(gamma=g, proposer=d) for g in (1, 2, 3, 4)),
            NaiveSE(gamma=20, proposer=d, confidence_threshold="0.4"), "assisted", "expert+", "assisted+"]


# transformers' own generate: stock, and inside the members' FAST-7 context (the same linear kernels as specens)
HF_METHODS = {"expert": "transformers expert only", "assisted": "transformers assisted",
              "expert+": "transformers expert, FAST-7", "assisted+": "transformers assisted, FAST-7"}


def label(method) -> str:
    if isinstance(method, str) and method in HF_METHODS:
        return HF_METHODS[method]
    threshold = getattr(method, "confidence_threshold", None)  # "0.4" is read as 2/5 exactly (NUM-1); shown 0.4
    stop = "" if threshold is None else f" stop<{float(threshold):g}"
    if isinstance(method, NaiveSE):
        return f"naive SE g={method.gamma}{stop} ({method.proposer})"
    if isinstance(method, SpeculativeEnsemble):
        return "SE g=" + ",".join(str(g) for g in method.gammas.values()) + stop
    if isinstance(method, SpeculativeMixture):
        return f"spec. mixture g={method.gamma} ({method.drafter})"
    return {"standard": "standard", "mixture": "mixture"}[method.name]


def hf_generate(members, names, prompts, sampling, tokens, seed, *, assistant: bool, fast_linear: bool = False):
    """transformers' generate of the expert (names: [drafter, expert]), with the drafter as its assistant
    (transformers' speculative decoding, its defaults: up to 20 draft tokens, a confidence stop at 0.4) or
    alone; every row runs to `tokens` new tokens.
    fast_linear: run it inside both models' FAST-7 context, so it uses specens' linear kernels."""
    drafter, expert = (members[n] for n in names)
    outs = []
    for i, ids in enumerate(prompts):
        torch.manual_seed(seed + i)
        kwargs = dict(do_sample=True, temperature=float(sampling.temperature), top_k=0) if sampling.temperature \
            else dict(do_sample=False)
        extra = {"assistant_model": drafter.model} if assistant else {}
        with contextlib.ExitStack() as stack:
            if fast_linear:
                stack.enter_context(drafter.fast_linear())
                stack.enter_context(expert.fast_linear())
            seq = expert.model.generate(torch.tensor([ids]), **extra, max_new_tokens=tokens,
                                        min_new_tokens=tokens, eos_token_id=None, pad_token_id=0, **kwargs)
        outs.append(seq.shape[1] - len(ids))
    return outs


def record_calls(members: dict, log: dict):
    """Wrap each member's `feed` so that every call appends (wall seconds, CPU seconds of this thread) to
    log[(name, tokens)]: the measured t_k(n) of COST-5, under the very load the methods ran in."""
    for name, member in members.items():
        def feed(tokens, _feed=member.feed, _name=name, **kwargs):
            start, cpu = time.perf_counter(), time.thread_time()
            out = _feed(tokens, **kwargs)
            log.setdefault((_name, len(tokens)), []).append((time.perf_counter() - start, time.thread_time() - cpu))
            return out
        member.feed = feed


def run_setting(members, names, combination, sampling, methods, tokens, repeats, seed, texts=PROMPTS, chat=False):
    """Tokens/s of every method (median of interleaved repeats) and the first repeat's statistics and traces."""
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
    cpu_times = {label(m): [] for m in methods}
    stats = {label(m): None for m in methods}
    for rep in range(repeats):
        for m in methods:  # interleaved: every method sees the same load within a repeat
            start, cpu = time.perf_counter(), time.process_time()
            if isinstance(m, str) and m in HF_METHODS:
                emitted = sum(hf_generate(members, [drafter, names[-1]], prompts, sampling, tokens, seed + 100 * rep,
                                          assistant=m.startswith("assisted"), fast_linear=m.endswith("+")))
            else:  # traced in every repeat, so every method pays the same small bookkeeping
                outs = generate(ensemble, prompts, max_new_tokens=tokens, method=m, seed=seed + 100 * rep, trace=True)
                emitted = sum(len(o.tokens) for o in outs)
                if rep == 0:
                    stats[label(m)] = outs
            times[label(m)].append(emitted / (time.perf_counter() - start))
            cpu_times[label(m)].append(emitted / (time.process_time() - cpu))
    rows = []
    for m in methods:
        row = {"method": label(m), "tokens_per_s": statistics.median(times[label(m)]),
               "runs_tokens_per_s": times[label(m)], "tokens_per_cpu_s": statistics.median(cpu_times[label(m)]),
               "runs_tokens_per_cpu_s": cpu_times[label(m)], "forwards_per_token": None, "alpha": {}}
        outs = stats[label(m)]
        if outs is not None:
            emitted = sum(o.stats.emitted for o in outs)
            models = list(outs[0].stats.verified)  # the members, and an outside drafter that ran (METHOD-5)
            verified = {k: sum(o.stats.verified[k] for o in outs) for k in models}
            accepted = {k: sum(o.stats.accepted[k] for o in outs) for k in models}
            row.update(emitted=emitted, alpha={k: round(accepted[k] / verified[k], 3) for k in models if verified[k]},
                       forwards_per_token=sum(sum(o.stats.calls.values()) - len(o.stats.calls) for o in outs) / emitted,
                       tokens_fed={k: sum(o.stats.tokens_fed[k] for o in outs) for k in models},
                       calls={k: sum(o.stats.calls[k] - 1 for o in outs) for k in models},
                       ms_per_token={ph: 1000 * sum(o.stats.seconds[ph] for o in outs) / emitted
                                     for ph in outs[0].stats.seconds})  # first repeat, by phase (Statistics)
        rows.append((m, row, outs))
    return rows


def predict(members, names, rows, table: dict, unit: float) -> list[dict]:
    """Fill in, per method, the measured speed-up over the first method (the standard ensemble, or the
    expert alone) and what the cost models predict from the measured per-call times `table`
    ({name: {n: seconds}}; `unit`: the expert's one-token call):
    COST-1 (calls x measured c_k = t_k(1) / unit, prefill left out), COST-5 (calls x t_k(n)), and the
    paper's formula (THM-3.6 / THM-3.1) from the measured acceptance and c; efficiency = measured / formula."""
    c = {n: Fraction(t[1] / unit).limit_denominator(100_000) for n, t in table.items() if 1 in t}  # members and an outside drafter
    out, base = [], None
    for m, row, outs in rows:
        if outs is None:  # transformers' generate: the expert alone costs one one-token call per token
            cost1, cost4 = (Fraction(1), Fraction(table[names[-1]][1])) if m in ("expert", "expert+") else (None, None)
        else:
            cost1 = sum(c[k] * (n - 1) for o in outs for k, n in o.stats.calls.items()) / row["emitted"]
            cost4 = sum(tabled_cost(o.trace, table) for o in outs) / row["emitted"]  # COST-5
        base = base or (row["tokens_per_s"], cost1, cost4, row["tokens_per_cpu_s"])
        row["speedup"] = row["tokens_per_s"] / base[0]
        row["cpu_speedup"] = row["tokens_per_cpu_s"] / base[3]
        row["cost_speedup"] = float(base[1] / cost1) if cost1 else None
        row["tabled_speedup"] = float(base[2] / cost4) if cost4 else None
        row["theory_speedup"] = 1.0 if m in ("expert", "expert+", rows[0][0]) else theory_speedup(
            m, c, names, row["alpha"], alone=rows[0][0] == "expert")
        row["efficiency"] = row["speedup"] / row["theory_speedup"] if row["theory_speedup"] else None
        row["efficiency_tabled"] = row["speedup"] / row["tabled_speedup"] if row["tabled_speedup"] else None
        row["cpu_efficiency_tabled"] = row["cpu_speedup"] / row["tabled_speedup"] if row["tabled_speedup"] else None
        out.append(row)
    return out


def theory_speedup(method, c, names, alpha, *, alone: bool) -> float | None:
    """The paper's formula for `method` from measured acceptance and measured c (`c[name]`): THM-3.6 for
    SE of two members (alpha: the acceptance of the cheaper member q's proposals, c = c_q / c_p), THM-3.1
    for naive SE; over the expert alone (`alone`) a naive round costs 1 + c gamma for THM-3.1's tokens
    at cost 1 each, so THM-3.1's S is divided by 1 + c; with the drafter outside a one-member ensemble,
    plain speculative decoding's formula with NAIVE-5's bonus. None where no formula applies (METHOD-6's
    stopped proposals have no closed form here)."""
    if isinstance(method, StandardEnsemble):
        return 1.0
    if getattr(method, "confidence_threshold", None) is not None:
        return None
    if isinstance(method, NaiveSE) and len(names) == 1:
        d = method.proposer
        return float(plain_speedup(Fraction(alpha[d]), c[d] / c[names[0]], method.gamma)) if d in alpha else None
    if len(names) != 2:
        return None
    if isinstance(method, NaiveSE):
        q = method.proposer
        p = next(n for n in names if n != q)
        if q not in alpha:
            return None
        ratio = c[q] / c[p]
        s = naive_speedup(Fraction(alpha[q]), ratio, method.gamma)
        return float(s / (1 + ratio)) if alone else float(s)
    if isinstance(method, SpeculativeEnsemble):
        q, p = sorted(names, key=lambda n: (c[n], names.index(n)))
        if q not in alpha:
            return None
        return float(alternate_speedup(Fraction(alpha[q]), c[q] / c[p], method.gammas[q], method.gammas[p]))
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per prompt (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are over them (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat; repeat r uses seed + 100 r")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device of the members (default cuda when available, else cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: steadier timings)")
    parser.add_argument("--models", choices=("family", "real"), default="family",
                        help="family: the bundled stdlib models; real: SmolLM2-135M-Instruct and its drafter")
    parser.add_argument("--prompts", type=int, help="use the first N prompts (default all 5)")
    parser.add_argument("--linear", choices=("specens", "torch"), default="specens",
                        help="the members' linear layers: specens (FAST-7's few-row kernel, the default) or torch "
                             "(F.linear throughout, as before FAST-7); transformers' generate is timed both ways in "
                             "the expert-alone settings either way")
    parser.add_argument("--setting", action="append", metavar="TEXT",
                        help="run only the settings whose name holds TEXT (repeatable; e.g. 'CD mu 0.1')")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    names = ("smollm2-drafter", "smollm2") if args.models == "real" else ("pylib", "pytests", "pygui", "pytiny")
    members = {n: Member.from_pretrained(bundled_model_path(n), name=n, device=args.device,
                                         few_row_linear=args.linear == "specens") for n in names}
    texts = (REAL_PROMPTS if args.models == "real" else PROMPTS)[:args.prompts]
    log: dict = {}
    record_calls(members, log)
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    results = {"device": device, "threads": args.threads, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
               "models": args.models, "linear": args.linear, "tokens": args.tokens, "repeats": args.repeats, "prompts": len(texts),
               "parameters": {n: sum(p.numel() for p in m.model.parameters()) for n, m in members.items()},
               "settings": {}}
    raw = {}
    family = list(settings()) + list(speculative_mixture_settings())
    real = list(real_settings()) + list(speculative_mixture_real_settings())
    chosen_settings = [x for x in (real if args.models == "real" else family)
                       if not args.setting or any(t in x[0] for t in args.setting)]
    if not chosen_settings:
        parser.error(f"--setting: no setting's name holds {args.setting}; the names: "
                     + "; ".join(x[0] for x in (real if args.models == "real" else family)))
    for name, chosen, combination, sampling, methods in chosen_settings:
        raw[name] = chosen, run_setting(members, chosen, combination, sampling, methods, args.tokens, args.repeats,
                                        args.seed, texts=texts, chat=args.models == "real")
        if not args.json:
            print(f"  done: {name}", file=sys.stderr, flush=True)
    # t_k(n): the median CPU time of the calls of n tokens of member k, over every method's runs (in situ);
    # CPU time, not wall time: on a shared machine a call's wall time includes the time other processes
    # held the core, which is no cost of the call (with one torch thread all its work is on this thread)
    table = {n: {k: statistics.median(c for _, c in v) for (m, k), v in sorted(log.items()) if m == n} for n in names}
    unit = table[names[0] if args.models == "family" else names[-1]][1]  # pylib / SmolLM2: the expert
    results["call_ms"] = {n: {str(k): 1000 * v for k, v in t.items()} for n, t in table.items()}
    results["call_wall_ms"] = {n: {str(k): 1000 * statistics.median(w for w, _ in v) for (m, k), v in sorted(log.items())
                                   if m == n} for n in names}
    results["calls_timed"] = {f"{n} x{k}": len(v) for (n, k), v in sorted(log.items())}
    results["c"] = {n: t[1] / unit for n, t in table.items()}
    for name, (chosen, rows) in raw.items():
        results["settings"][name] = predict(members, chosen, rows, table, unit)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"device: {device}; {len(texts)} held-out prompts x {args.tokens} tokens, median of {args.repeats} "
          f"interleaved repeats; measured c = t_k(1) / the expert's: "
          + ", ".join(f"{n} {v:.3f}" for n, v in results["c"].items()))
    for n, t in results["call_ms"].items():
        print(f"  median CPU ms per call of n tokens (in the runs), {n}: "
              + ", ".join(f"{k}: {v:.2f}" for k, v in list(t.items())[:10]))
    print("\nmeasured: ratio of median tokens per wall second; CPU: per CPU second of this process. predicted: "
          "THM-3.6 / THM-3.1 from alpha and measured c; COST-1: calls x measured c; COST-5: calls x measured "
          "t_k(n) (CPU time); eff = measured / THM, eff4 = measured / COST-5\n")
    print(f"{'setting':32} {'method':30} {'tok/s':>7} {'measured':>8} {'CPU':>6} {'THM':>6} {'COST-1':>6} "
          f"{'COST-5':>6} {'eff':>5} {'eff4':>5} {'fwd/tok':>7}  alpha")

    def x(v, width=6):
        return f"{v:{width - 1}.2f}x" if v is not None else f"{'-':>{width}}"

    for name, rows in results["settings"].items():
        for r in rows:
            fwd = f"{r['forwards_per_token']:7.2f}" if r["forwards_per_token"] is not None else f"{'-':>7}"
            eff = f"{r['efficiency']:5.2f}" if r["efficiency"] is not None else f"{'-':>5}"
            eff4 = f"{r['efficiency_tabled']:5.2f}" if r["efficiency_tabled"] is not None else f"{'-':>5}"
            print(f"{name:32} {r['method']:30} {r['tokens_per_s']:7.1f} {x(r['speedup'], 8)} {x(r['cpu_speedup'])} {x(r['theory_speedup'])} "
                  f"{x(r['cost_speedup'])} {x(r['tabled_speedup'])} {eff} {eff4} {fwd}  {r['alpha']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
