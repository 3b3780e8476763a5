"""Per-token overhead of specens' standard ensemble over the members' own single-token forwards.

Same members, same tokens, measured side by side in one process: for each repeat, (1) the ensemble
generates `--tokens` tokens with a fixed seed (`specens.generate`, standard method: every member one
forward per token, then the combination and the draw), and (2) a bare loop feeds exactly those
tokens to each member's model, one forward per member per token, with its own KV cache and nothing
else. Prefill is excluded from both. Overhead = median(ensemble) / median(bare) - 1 per token; the
target is under 10%. Also printed, for information: tokens/s of every method on the same members.

    python scripts/bench_overhead.py                      # tiny, small and bundled presets on CPU
    python scripts/bench_overhead.py --preset small --device cuda --json
    python scripts/bench_overhead.py --profile            # where the time of CD T = 0 goes, per verb

`--profile` runs the bundled family's contrastive decoding at T = 0 (pytiny / pylib, mu 0.1; the
setting where the cost model and the measurement disagree most), standard ensemble and SE gammas 1,
under cProfile, and prints per emitted token the cumulative milliseconds of the models' own forwards
(transformers), of each verb of the run (`Run.forward`, `propose`, `verify_head`, `sample_target`)
and of the arithmetic under them (forming r, p_k, the inverse-CDF draw), with the number of calls
of each. cProfile slows Python code more than the models' C kernels, so read it for proportions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from specens.api import Ensemble, generate
from specens.coupling import tiny_causal_lm
from specens.members import Member, set_parameter_costs
from specens.reference.combine import WeightedEnsemble
from specens.reference.methods import MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble

# preset -> (vocabulary, [(architecture, hidden, layers, cost)]) ; costs are relative forward times, roughly
PRESETS = {
    "tiny": (16, [("llama", 16, 1, "1/2"), ("gpt2", 32, 2, "1")]),
    "small": (32000, [("llama", 128, 2, "1/4"), ("qwen2", 256, 6, "1")]),
    "medium": (32000, [("llama", 256, 4, "1/4"), ("qwen2", 1024, 12, "1")]),
    "bundled": None,  # specens/models: pytiny + pylib, trained, V = 4096 (costs from parameter counts)
}


def build(preset: str, device: str) -> tuple[Ensemble, list[int]]:
    """The preset's ensemble (WE, equal weights) and a prompt."""
    if preset == "bundled":  # the trained stdlib family: the cheap proposer and one large member
        from specens import bundled_model_path

        members = [Member.from_pretrained(bundled_model_path(k), device=device) for k in ("pytiny", "pylib")]
        set_parameter_costs(members)
        ensemble = Ensemble(members, WeightedEnsemble({m.name: "1/2" for m in members}), eos_token_id=None)
        return ensemble, ensemble.tokenizer("def mean(data):\n    total = 0\n")["input_ids"]
    vocab, specs = PRESETS[preset]
    members = []
    for i, (arch, hidden, layers, cost) in enumerate(specs):
        model = tiny_causal_lm(arch, vocab, seed=100 + i, hidden=hidden, layers=layers, init_range=0.02, context=4096)
        members.append(Member(model.to(device), name=f"{arch}-{hidden}x{layers}", cost=cost))
    names = [m.name for m in members]
    return Ensemble(members, WeightedEnsemble({k: f"1/{len(names)}" for k in names})), list(range(1, 9))


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_loop(ensemble: Ensemble, prompt: list[int], tokens: list[int], device: str) -> float:
    """Seconds for the members' own forwards over `tokens[:-1]`, one token at a time, prefill excluded."""
    feeds = [torch.tensor([[t]], device=m.input_device) for m in ensemble.members for t in tokens[:-1]]
    with torch.inference_mode():
        for m in ensemble.members:
            m.prefill(prompt)
        calls = [(m.model, m.cache, m._cache_keyword) for m in ensemble.members]
        n = len(tokens) - 1
        sync(device)
        start = time.perf_counter()
        for i in range(n):
            for k, (model, cache, keyword) in enumerate(calls):
                model(input_ids=feeds[k * n + i], **{keyword: cache}, use_cache=True)
        sync(device)
        return time.perf_counter() - start


class ForwardClock:
    """Times every member forward inside an ensemble run (wrapping `model.forward`, after the Member
    has read its signature), so one run splits into time in the members and time in specens."""

    def __init__(self, ensemble: Ensemble, device: str):
        self.seconds = 0.0
        for m in ensemble.members:
            inner = m.model.forward

            def timed(*args, _inner=inner, **kwargs):
                start = time.perf_counter()
                out = _inner(*args, **kwargs)
                sync(device)
                self.seconds += time.perf_counter() - start
                return out

            m.model.forward = timed


def ensemble_run(ensemble: Ensemble, prompt, length: int, seed: int, method=None):
    out = generate(ensemble, prompt, max_new_tokens=length, seed=seed, method=method or StandardEnsemble())
    sync(str(ensemble.device))
    return out, out.stats.seconds["wall"] - out.stats.seconds["prefill"]


def bench(preset: str, device: str, length: int, repeats: int, seed: int) -> dict:
    ensemble, prompt = build(preset, device)
    clock = ForwardClock(ensemble, device)
    ensemble_run(ensemble, prompt, 8, seed)  # warm up kernels and caches
    bare_loop(ensemble, prompt, list(range(8)), device)
    tokens = ensemble_run(ensemble, prompt, length, seed)[0].tokens
    ours, bare, outside = [], [], []
    for i in range(repeats):  # side by side, the order alternating so that drift hits both alike
        pair = {}
        for which in (("ours", "bare") if i % 2 == 0 else ("bare", "ours")):
            if which == "ours":
                clock.seconds = 0.0
                out, seconds = ensemble_run(ensemble, prompt, length, seed)
                assert out.tokens == tokens, "the seeded run must repeat itself"
                pair["ours"] = seconds / (length - 1)
                inside = clock.seconds - out.stats.seconds["prefill"]  # prefill calls are all model time
                outside.append((seconds - inside) / inside)
            else:
                pair["bare"] = bare_loop(ensemble, prompt, tokens, device) / (length - 1)
        ours.append(pair["ours"])
        bare.append(pair["bare"])
    row = {"preset": preset, "device": device, "vocab": ensemble.vocab_size, "members": list(ensemble.names),
           "tokens": length, "repeats": repeats, "bare_ms_per_token": 1e3 * statistics.median(bare),
           "ensemble_ms_per_token": 1e3 * statistics.median(ours)}
    row["overhead"] = row["ensemble_ms_per_token"] / row["bare_ms_per_token"] - 1
    row["overhead_paired"] = statistics.median(o / b - 1 for o, b in zip(ours, bare))
    row["overhead_min"] = min(ours) / min(bare) - 1
    row["outside_over_inside"] = statistics.median(outside)
    names = ensemble.names
    methods = {"standard": StandardEnsemble(), "naive(g=3)": NaiveSE(gamma=3),
               "se(3,1)": SpeculativeEnsemble({names[0]: 3, names[1]: 1}),
               "se(1,1)": SpeculativeEnsemble({names[0]: 1, names[1]: 1}), "mixture": MixtureEnsemble()}
    row["methods"] = {}
    for label, method in methods.items():
        rates, alphas = [], []
        for r in range(max(repeats // 2, 1)):
            out, seconds = ensemble_run(ensemble, prompt, length, seed + r, method)
            rates.append((len(out.tokens) - 1) / seconds)
            alphas.append(out.stats.alpha)
        row["methods"][label] = {"tokens_per_second": statistics.median(rates),
                                 "alpha": {k: v for k, v in alphas[-1].items() if v is not None}}
    return row


PROFILED = {  # label -> (file suffix, function name); cumulative time per emitted token
    "models' forwards (transformers)": ("modeling_llama.py", "forward", "LlamaForCausalLM"),
    "Member._call (forward + input tensor, cache check)": ("specens/members.py", "_call", None),
    "Run.forward (+ align, hold rows)": ("specens/state.py", "forward", None),
    "Run.propose (+ its member calls)": ("specens/state.py", "propose", None),
    "Run.verify_head (+ crops after rejections)": ("specens/state.py", "verify_head", None),
    "Run.sample_target": ("specens/state.py", "sample_target", None),
    "Combiner.target (r)": ("specens/distributions.py", "target", None),
    "proposal_distribution (p_k)": ("specens/distributions.py", "proposal_distribution", None),
    "sample (inverse CDF)": ("specens/distributions.py", "sample", None),
    "Member.crop": ("specens/members.py", "crop", None),
}


def profile(tokens: int, seed: int) -> dict:
    """cProfile of the bundled CD T = 0, standard ensemble and SE gammas 1: ms per emitted token by function."""
    import cProfile
    import pstats

    from specens import bundled_model_path
    from specens.reference.combine import ContrastiveDecoding
    from specens.reference.transforms import Sampling

    members = [Member.from_pretrained(bundled_model_path(k)) for k in ("pytiny", "pylib")]
    ensemble = Ensemble(members, ContrastiveDecoding(expert="pylib", amateur="pytiny", mu="1/10"),
                        sampling=Sampling(temperature=0), eos_token_id=None)
    prompts = [ensemble.tokenizer(p)["input_ids"] for p in ("def median(data):\n", "def dedent(text):\n",
                                                            "def heappush(heap, item):\n")]
    out = {}
    for label, method in (("standard", StandardEnsemble()), ("SE g=1,1", SpeculativeEnsemble({"pytiny": 1, "pylib": 1}))):
        generate(ensemble, prompts, max_new_tokens=8, seed=seed, method=method)  # warm up
        profiler = cProfile.Profile()
        profiler.enable()
        runs = generate(ensemble, prompts, max_new_tokens=tokens, seed=seed, method=method)
        profiler.disable()
        emitted = sum(len(r.tokens) for r in runs)
        stats = pstats.Stats(profiler).stats  # {(file, line, name): (primitive calls, calls, tottime, cumtime, callers)}
        total = sum(r.stats.seconds["wall"] for r in runs)
        rows = {"wall (profiled)": (1000 * total / emitted, len(runs))}
        for name, (suffix, function, owner) in PROFILED.items():
            found = [(v[0], v[3]) for (f, _, fn), v in stats.items() if f.endswith(suffix) and fn == function
                     and (owner is None or _owner(f, _, owner))]
            rows[name] = (1000 * sum(c for _, c in found) / emitted, sum(n for n, _ in found))
        out[label] = {"ms_per_token": {k: v[0] for k, v in rows.items()}, "calls": {k: v[1] for k, v in rows.items()},
                      "emitted": emitted}
    return out


def _owner(path: str, line: int, cls: str) -> bool:
    """Whether `def forward` at `line` of `path` belongs to class `cls` (the top-level model's forward)."""
    lines = open(path).read().splitlines()[:line]
    owners = [s for s in lines if s.startswith("class ")]
    return bool(owners) and owners[-1].startswith(f"class {cls}(")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", action="append", choices=sorted(PRESETS), help="default: tiny, small, bundled")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: steadier timings)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--profile", action="store_true", help="profile the bundled CD T = 0 per verb instead")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.profile:
        result = profile(args.tokens, args.seed)
        if args.json:
            print(json.dumps({"torch": torch.__version__, "profile": result}, indent=2))
            return 0
        print(f"bundled CD mu 0.1 pytiny / pylib, T = 0, 3 prompts x {args.tokens} tokens, under cProfile; "
              "ms per emitted token (calls)")
        labels = list(next(iter(result.values()))["ms_per_token"])
        print(f"{'':52}" + "".join(f"{k:>22}" for k in result))
        for name in labels:
            print(f"{name:52}" + "".join(f"{r['ms_per_token'][name]:>14.3f} ({r['calls'][name]:>5})"
                                         for r in result.values()))
        return 0
    rows = [bench(p, args.device, args.tokens, args.repeats, args.seed) for p in args.preset or ["tiny", "small", "bundled"]]
    if args.json:
        print(json.dumps({"torch": torch.__version__, "results": rows}, indent=2))
        return 0
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({args.threads} thread)"
    print(f"standard ensemble vs the members' own forwards, {args.tokens} tokens, median of {args.repeats}, {device}")
    print(f"{'preset':<8}{'V':>7}  {'members':<28}{'bare ms/tok':>12}{'ensemble ms/tok':>17}{'overhead':>10}"
          f"{'paired':>9}{'of mins':>9}{'in-run':>9}")
    for r in rows:
        print(f"{r['preset']:<8}{r['vocab']:>7}  {', '.join(r['members']):<28}{r['bare_ms_per_token']:>12.3f}"
              f"{r['ensemble_ms_per_token']:>17.3f}{100 * r['overhead']:>9.1f}%{100 * r['overhead_paired']:>8.1f}%"
              f"{100 * r['overhead_min']:>8.1f}%{100 * r['outside_over_inside']:>8.1f}%")
    print("overhead: ratio of medians; paired: median of per-repeat ratios; of mins: ratio of the fastest runs;\n"
          "in-run: within each ensemble run, time outside the members' forwards over time inside them (median)")
    print("\ntokens/s by method (for information only; tiny and small have random weights with near-uniform laws,\n"
          "so their acceptance is high and says nothing about trained members; bundled members are trained)")
    for r in rows:
        cells = ", ".join(f"{k} {v['tokens_per_second']:.0f}" for k, v in r["methods"].items())
        print(f"{r['preset']:<8}{cells}")
        for k, v in r["methods"].items():
            if v["alpha"]:
                print(f"{'':<8}  alpha {k}: " + ", ".join(f"{m} {a:.2f}" for m, a in v["alpha"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
