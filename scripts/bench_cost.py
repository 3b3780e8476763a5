"""Measured cost of one member call: time of `Member.feed` of k tokens (k = 1..8) with a KV cache.

Times are CPU time of the calling thread by default (`--clock wall` for elapsed time): with one
torch thread a call's work is all on that thread, and on a machine shared with other work its wall
time also counts the time the core served others.

The paper's cost model (COST-1) charges member k a constant c_k per call however many tokens the call
processes. This script measures what a call costs on this machine: for each member, a prompt is
prefilled once, then `feed(k tokens)` is timed and the cache cropped back after each call (the crop
is not timed), so every call sees the same context length. Calls are interleaved: each repeat times
every (member, k) pair once in a shuffled order, `--calls` calls each, and the figure reported is the
median over repeats of the median time per call. Reported per member:

- `ms[k]`: milliseconds per call of k tokens;
- `c[k]`: that time over the expert's one-token call (the measured c of COST-1 when k = 1);
- `per_token_growth`: (t(8) / t(1) - 1) / 7, the extra cost of each further token in a call, as a
  fraction of a one-token call (0: the paper's assumption holds; 1: a call of k tokens costs k calls).

    .venv/bin/python scripts/bench_cost.py [--models real|family|both] [--repeats 7] [--calls 10] [--linear specens|torch|both] [--matmul] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import torch

from specens import Member, bundled_model_path
from specens.linear import few_row_linear_forward

# members measured, expert (the reference of c) last
PAIRS = {"real": ("smollm2-drafter", "smollm2"), "family": ("pytiny", "pylib")}
CONTEXT = "def median(data):\n    values = sorted(data)\n    n = len(values)\n"


def time_calls(member: Member, tokens: list[int], base: int, calls: int, clock=time.thread_time) -> float:
    """Median seconds of `member.feed(tokens)` from a cache of `base` tokens over `calls` calls (crops untimed);
    the median, not the mean, so a call the shared machine preempted does not count."""
    seconds = []
    for _ in range(calls):
        start = clock()
        member.feed(tokens)
        seconds.append(clock() - start)
        member.crop(base)
    return statistics.median(seconds)


def measure(members: dict[str, Member], prompt: list[int], *, ks, repeats: int, calls: int, seed: int,
            clock=time.thread_time) -> dict:
    """{name: {k: [median seconds per call, one per repeat]}} for every k in `ks`; members prefilled with `prompt`."""
    rng = random.Random(seed)
    extra = [int(t) for t in rng.sample(range(100, 1000), max(ks))]  # the fed tokens, the same for every member
    times = {n: {k: [] for k in ks} for n in members}
    with torch.inference_mode():
        for m in members.values():
            m.prefill(prompt)
            time_calls(m, extra, len(prompt), 2)  # warm-up: first calls allocate
        pairs = [(n, k) for n in members for k in ks]
        for _ in range(repeats):
            rng.shuffle(pairs)  # interleaved: every pair sees the machine's load of this repeat
            for n, k in pairs:
                times[n][k].append(time_calls(members[n], extra[:k], len(prompt), calls, clock))
    return times


def summarise(times: dict, expert: str) -> dict:
    """Medians in ms, c[k] relative to the expert's one-token call, and the spread (min, max over repeats)."""
    unit = statistics.median(times[expert][1])
    out = {}
    for n, by_k in times.items():
        ms = {k: 1000 * statistics.median(v) for k, v in by_k.items()}
        last = max(by_k)
        out[n] = {"ms": ms, "ms_range": {k: [1000 * min(v), 1000 * max(v)] for k, v in by_k.items()},
                  "c": {k: statistics.median(v) / unit for k, v in by_k.items()},
                  "per_token_growth": (ms[last] / ms[1] - 1) / (last - 1) if last > 1 else 0.0}
    return out


TORCH_LINEAR = " (F.linear)"  # suffix of a member measured with torch's own linear layers


def measure_pair(kind: str, *, device: str, max_k: int, repeats: int, calls: int, seed: int, clock,
                 linear: str = "specens") -> dict:
    """Load the pair of `kind` and measure it; returns the JSON section for it.

    linear: "specens" (FAST-7's few-row kernel, what `Member` uses by default), "torch" (`F.linear`
    throughout) or "both" (each model measured both ways, interleaved; the F.linear figures are
    under the member's name plus " (F.linear)", with c relative to the expert's F.linear call).
    """
    names = PAIRS[kind]
    loaded = {n: Member.from_pretrained(bundled_model_path(n), name=n, device=device) for n in names}
    members = {}
    if linear in ("specens", "both"):
        members.update(loaded)
    if linear in ("torch", "both"):
        members.update({n + TORCH_LINEAR: Member(m.model, name=n + TORCH_LINEAR, tokenizer=m.tokenizer,
                                                 few_row_linear=False) for n, m in loaded.items()})
    tokenizer = loaded[names[-1]].tokenizer
    prompt = tokenizer(CONTEXT)["input_ids"]
    times = measure(members, prompt, ks=range(1, max_k + 1), repeats=repeats, calls=calls, seed=seed, clock=clock)
    params = {n: sum(p.numel() for p in m.model.parameters()) for n, m in loaded.items()}
    measured = {}
    for suffix in ("", TORCH_LINEAR):
        group = {n: t for n, t in times.items() if (n.endswith(TORCH_LINEAR) == bool(suffix))}
        if group:
            measured.update(summarise(group, names[-1] + suffix))
    return {"members": list(names), "expert": names[-1], "context_tokens": len(prompt), "parameters": params,
            "parameter_ratio": params[names[0]] / params[names[-1]], "linear": linear, "members_measured": measured}


def matmul(*, max_k: int, repeats: int, calls: int, clock) -> dict:
    """ms of a linear layer of k rows against a matrix of SmolLM2's LM-head size (49,152 x 576, float32)
    and of its MLP size (1,536 x 576), with torch's `F.linear` and with FAST-7's few-row kernel: the
    kernels behind a call of k tokens, without the model."""
    generator = torch.Generator().manual_seed(0)
    kernels = {"F.linear": torch.nn.functional.linear, "few-row": few_row_linear_forward}
    out = {}
    for name, rows in (("head 49152x576", 49_152), ("mlp 1536x576", 1_536)):
        weight = torch.randn(rows, 576, generator=generator)
        inputs = {k: torch.randn(k, 576, generator=generator) for k in range(1, max_k + 1)}
        times = {(kernel, k): [] for kernel in kernels for k in inputs}
        for _ in range(repeats):
            for (kernel, k) in times:
                seconds = []
                for _ in range(calls):
                    start = clock()
                    kernels[kernel](inputs[k], weight)
                    seconds.append(clock() - start)
                times[(kernel, k)].append(statistics.median(seconds))
        for kernel in kernels:
            out[f"{name}, {kernel}"] = {k: 1000 * statistics.median(times[(kernel, k)]) for k in inputs}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", choices=("family", "real", "both"), default="both",
                        help="family: pytiny and pylib; real: SmolLM2's drafter and SmolLM2; both (default)")
    parser.add_argument("--max-k", type=int, default=8, help="largest number of tokens per call (default 8)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats; medians are over them (default 7)")
    parser.add_argument("--calls", type=int, default=10, help="calls timed per (member, k) per repeat")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fed tokens and the order of calls (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device of the members (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: steadier timings)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu (default): CPU time of the calling thread, which other processes on a shared "
                             "machine do not inflate; wall: elapsed time")
    parser.add_argument("--linear", choices=("specens", "torch", "both"), default="specens",
                        help="linear layers: specens (FAST-7's few-row kernel, Member's default), torch (F.linear), "
                             "or both, interleaved")
    parser.add_argument("--matmul", action="store_true",
                        help="also time one linear layer of k rows at SmolLM2's sizes, F.linear and FAST-7's kernel")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    for name in ("max_k", "repeats", "calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be at least 1")
    torch.set_num_threads(args.threads)
    kinds = ("family", "real") if args.models == "both" else (args.models,)
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    results = {"device": device, "clock": args.clock, "repeats": args.repeats, "calls": args.calls, "date": time.strftime("%Y-%m-%d"),
               "torch": torch.__version__, "pairs": {}}
    for kind in kinds:
        results["pairs"][kind] = measure_pair(kind, device=args.device, max_k=args.max_k, repeats=args.repeats,
                                              calls=args.calls, seed=args.seed, clock=clock, linear=args.linear)
    if args.matmul:
        results["matmul_ms"] = matmul(max_k=args.max_k, repeats=args.repeats, calls=args.calls, clock=clock)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"device: {device}; {args.clock} time, median over {args.repeats} interleaved repeats of the median of {args.calls} calls; "
          "c = time / the expert's one-token call\n")
    for kind, pair in results["pairs"].items():
        print(f"{kind}: context {pair['context_tokens']} tokens, parameter ratio {pair['parameter_ratio']:.3f}")
        ks = sorted(next(iter(pair["members_measured"].values()))["ms"])
        print(f"  {'member':26} {'':4} " + " ".join(f"{'k=' + str(k):>6}" for k in ks) + "  growth/token")
        for n, s in pair["members_measured"].items():
            print(f"  {n:26} {'ms':4} " + " ".join(f"{s['ms'][k]:6.2f}" for k in ks) + f"  {s['per_token_growth']:.3f}")
            print(f"  {'':26} {'c':4} " + " ".join(f"{s['c'][k]:6.3f}" for k in ks))
    for name, ms in results.get("matmul_ms", {}).items():
        print(f"linear layer, {name}: " + " ".join(f"k={k} {v:.2f}" for k, v in ms.items()) + " ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
