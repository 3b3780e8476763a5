"""Sample vLLM's (or SGLang's) speculative decoding on the conformance kit and judge it (ORACLE-11).

For each speculative-decoding setting of the kit (sd-t1, sd-t0.7, sd-top-k, sd-top-p, sd-eos) the
engine serves `models/llama-target` with `models/llama-draft` as its draft model, samples the
setting's prompt `--samples` times (one request per sequence, each with its own seed), writes the
generated ids to OUT/<setting>.jsonl (one JSON array per line, the form `specens check` reads) and
prints specens' verdict per setting.

Needs a GPU and an importable vLLM (or SGLang, with --engine sglang). Elsewhere it prints why it
cannot run and exits with status 4, without sampling. It has not been run on this project's CPU
machines; see docs/howto-vllm.md.

    specens kit --out kit
    python scripts/audit_vllm.py --kit kit --out vllm-samples --samples 20000
    python scripts/audit_vllm.py --kit kit --out sglang-samples --engine sglang --samples 20000

Exit status: 0 every setting consistent, 1 a setting rejected, 3 a setting inconclusive, 4 the
engine is not importable here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

NOT_AVAILABLE = 4
SD_SETTINGS = ("sd-t1", "sd-t0.7", "sd-top-k", "sd-top-p", "sd-eos")
ENGINES = {"vllm": "vLLM", "sglang": "SGLang"}


def engine_module(engine: str):
    """The engine's module, or None with the reason it does not import."""
    try:
        return importlib.import_module(engine), ""
    except Exception as e:  # ImportError, or a CUDA/driver error raised while importing
        return None, f"{type(e).__name__}: {e}"


def completed(token_ids, *, eos: int, max_new_tokens: int) -> list:
    """Generated ids as the kit's laws count them: cut after the first EOS, an EOS appended to an early stop.

    Engines differ in whether a sequence stopped by EOS lists the EOS id. A sequence shorter than
    max_new_tokens stopped at EOS (the kit sets no other stop), so the law expects it to end with one.
    completed([5, 2], eos=1, max_new_tokens=4) == [5, 2, 1]; completed([5, 1, 3], eos=1, max_new_tokens=4) == [5, 1].
    """
    ids = [int(t) for t in token_ids][:max_new_tokens]
    if eos in ids:
        return ids[:ids.index(eos) + 1]
    return ids if len(ids) == max_new_tokens else ids + [eos]


def _sampling(setting) -> dict:
    s = setting.sampling or {}
    return {"temperature": float(s.get("temperature", 1)), "top_k": int(s.get("top_k") or 0),
            "top_p": float(s.get("top_p", 1)), "max_new_tokens": setting.max_new_tokens}


def sample_vllm(vllm, kit: Path, settings: list, samples: int, seed: int, gamma: int, dtype: str) -> dict:
    """{setting: n generated sequences} from vLLM's offline LLM with the kit's draft as speculative model."""
    llm = vllm.LLM(model=str(kit / "models" / "llama-target"), dtype=dtype, seed=seed, enforce_eager=True,
                   max_model_len=32, gpu_memory_utilization=0.3,
                   speculative_config={"method": "draft_model", "model": str(kit / "models" / "llama-draft"),
                                       "num_speculative_tokens": gamma})
    out = {}
    for setting in settings:
        s = _sampling(setting)
        params = [vllm.SamplingParams(temperature=s["temperature"], top_k=s["top_k"], top_p=s["top_p"],
                                      max_tokens=s["max_new_tokens"], stop_token_ids=[1], ignore_eos=False,
                                      seed=seed + i) for i in range(samples)]
        prompts = [{"prompt_token_ids": list(setting.prompt)}] * samples
        results = llm.generate(prompts, params, use_tqdm=False)
        out[setting.name] = [completed(r.outputs[0].token_ids, eos=1, max_new_tokens=s["max_new_tokens"])
                             for r in results]
    return out


def sample_sglang(sglang, kit: Path, settings: list, samples: int, seed: int, gamma: int, dtype: str) -> dict:
    """{setting: n generated sequences} from SGLang's offline Engine with STANDALONE speculative decoding."""
    engine = sglang.Engine(model_path=str(kit / "models" / "llama-target"), dtype=dtype, random_seed=seed,
                           speculative_algorithm="STANDALONE",
                           speculative_draft_model_path=str(kit / "models" / "llama-draft"),
                           speculative_num_steps=gamma, speculative_eagle_topk=1,
                           speculative_num_draft_tokens=gamma + 1, mem_fraction_static=0.3)
    out = {}
    try:
        for setting in settings:
            s = _sampling(setting)
            params = {"temperature": s["temperature"], "top_k": s["top_k"] or -1, "top_p": s["top_p"],
                      "max_new_tokens": s["max_new_tokens"], "stop_token_ids": [1]}
            results = engine.generate(input_ids=[list(setting.prompt)] * samples, sampling_params=params)
            out[setting.name] = [completed(r["output_ids"], eos=1, max_new_tokens=s["max_new_tokens"])
                                 for r in results]
    finally:
        engine.shutdown()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, required=True, help="a kit folder written by `specens kit --out DIR`")
    parser.add_argument("--out", type=Path, required=True, help="folder for <setting>.jsonl samples")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="vllm")
    parser.add_argument("--settings", nargs="*", default=list(SD_SETTINGS), help=f"default: {' '.join(SD_SETTINGS)}")
    parser.add_argument("--samples", type=int, default=20_000, help="sequences per setting (the kit's README says how many)")
    parser.add_argument("--gamma", type=int, default=3, help="draft tokens per step (num_speculative_tokens)")
    parser.add_argument("--dtype", default="float32", help="float32 (the kit's laws see bfloat16 rounding)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.settings) - set(SD_SETTINGS))
    if unknown:
        parser.error(f"--settings: {unknown} are not speculative-decoding settings; choose from {list(SD_SETTINGS)}")
    if args.samples < 1 or args.gamma < 1:
        parser.error("--samples and --gamma: positive integers")
    module, why = engine_module(args.engine)
    if module is None:
        print(f"audit_vllm: {ENGINES[args.engine]} is not importable here ({why}); nothing was sampled. "
              f"Run this script on a machine with a GPU and `pip install {args.engine}`; "
              "see docs/howto-vllm.md.", file=sys.stderr)
        return NOT_AVAILABLE
    if not (args.kit / "laws").is_dir():
        parser.error(f"--kit: no laws/ under {args.kit}; write a kit with `specens kit --out {args.kit}`")

    from specens.oracle import check_samples
    from specens.oracle.kit import SETTINGS, verify_kit
    from specens.reference import exact_ensemble_pmf, load_toy
    from specens.reference.toy_json import read_toy_file

    verify_kit(args.kit)
    settings = [s for s in SETTINGS if s.name in args.settings]
    sample = sample_vllm if args.engine == "vllm" else sample_sglang
    drawn = sample(module, args.kit, settings, args.samples, args.seed, args.gamma, args.dtype)
    args.out.mkdir(parents=True, exist_ok=True)
    verdicts = []
    print(f"| setting | {ENGINES[args.engine]} | samples | p-value | est. TV | detectable TV | verdict |")
    print("|---|---|---|---|---|---|---|")
    for setting in settings:
        (args.out / f"{setting.name}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in drawn[setting.name]))
        ensemble, _, length = load_toy(read_toy_file(args.kit / "laws" / f"{setting.name}.json"))
        report = check_samples(drawn[setting.name], exact_ensemble_pmf(ensemble, length), length=length, warn=False)
        verdicts.append(report.verdict)
        print(f"| {setting.name} | {getattr(module, '__version__', '?')} | {report.n:,} | {report.family_p:.3g} | "
              f"{report.tv:.4f} | {report.detectable_tv:.3f} | {report.verdict} |")
    return 1 if "REJECTED" in verdicts else 3 if "INCONCLUSIVE" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
