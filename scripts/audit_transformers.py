"""Audit transformers' speculative sampling on the conformance kit (ORACLE-11): sample, then judge.

Each row of the matrix samples `generate(..., do_sample=True)` of the kit's `llama-target` with
one speculative option (an `assistant_model` with a draft length, schedule and confidence
threshold; prompt lookup; or `assistant_ensemble_weight`), one call per sequence (assisted
generation runs batch 1 only), seeds fixed per call, and checks the samples against the kit law
the option claims to sample: the target's own law for every lossless mode, the weighted ensemble
(WE) of target and draft for `assistant_ensemble_weight` (transformers' "static ensemble").

transformers reads `num_assistant_tokens`, `num_assistant_tokens_schedule` and
`assistant_confidence_threshold` from the ASSISTANT's generation config: passed to `generate` they
are ignored (the same seeds give the same tokens). The audit sets them there.

`transformers_law` is the exact law of the code path transformers runs (`_speculative_sampling`
with a constant draft length and a confidence threshold), computed from the kit's float64 tables:
with `assistant_ensemble_weight` it differs from the WE law, and its TV to it is the bias.

Run time: about 10 ms per sampled sequence on one CPU core (tiny models, generate's overhead), so
20,000 samples per row take about 3.5 minutes; `--workers` spreads rows over processes.

    python scripts/audit_transformers.py --samples 6000 --workers 2 --json audit.json
    python scripts/audit_transformers.py --rows sd-t1/gamma3 we-llama/w0.5 --samples 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TARGET, DRAFT = "llama-target", "llama-draft"
CONSTANT = {"num_assistant_tokens_schedule": "constant", "assistant_confidence_threshold": 0.0}


@dataclass(frozen=True)
class Row:
    """One audited setting: the kit law it must sample, and what transformers is asked to do.

    generate: keyword arguments of `generate` (sampling settings, prompt lookup, ensemble weight);
    assistant: settings written to the assistant's generation config (None: no assistant model).
    """

    name: str
    law: str
    generate: dict = field(default_factory=dict)
    assistant: dict | None = None
    claim: str = "lossless"


def _sd(law, gamma, sampling=None, **assistant):
    return Row(f"{law}/gamma{gamma}" + "".join(f"-{k.split('_')[-1]}{v}" for k, v in assistant.items()), law,
               dict(sampling or {}), {**CONSTANT, "num_assistant_tokens": gamma, **assistant})


ROWS = (
    _sd("sd-t1", 1), _sd("sd-t1", 3), _sd("sd-t1", 5),
    Row("sd-t1/heuristic", "sd-t1", {}, {"num_assistant_tokens": 5, "num_assistant_tokens_schedule": "heuristic",
                                         "assistant_confidence_threshold": 0.0}),
    Row("sd-t1/defaults", "sd-t1", {}, {}),  # transformers' own defaults: 20 tokens, constant, confidence 0.4
    _sd("sd-t1", 5, assistant_confidence_threshold=0.8),
    _sd("sd-t0.7", 3, {"temperature": 0.7}),
    _sd("sd-top-k", 3, {"top_k": 3}),
    _sd("sd-top-p", 3, {"top_p": 0.9, "top_k": 0}),
    _sd("sd-eos", 3),
    Row("sd-t1/prompt-lookup3", "sd-t1", {"prompt_lookup_num_tokens": 3}, None),
    Row("we-llama/w0.5-gamma3", "we-llama", {"assistant_ensemble_weight": 0.5}, {**CONSTANT, "num_assistant_tokens": 3},
        claim="WE of target and draft"),
    Row("we-llama/w0.5-gamma1", "we-llama", {"assistant_ensemble_weight": 0.5}, {**CONSTANT, "num_assistant_tokens": 1},
        claim="WE of target and draft"),
)


# -- sampling transformers ------------------------------------------------------------------------
def load_models(kit: Path) -> dict:
    """The kit's target and draft as transformers loads them (float32, eval mode)."""
    from transformers import AutoModelForCausalLM

    from specens.members import quiet_transformers

    with quiet_transformers():
        return {name: AutoModelForCausalLM.from_pretrained(kit / "models" / name).eval() for name in (TARGET, DRAFT)}


def law_setting(kit: Path, law: str) -> tuple:
    """(prompt ids, max_new_tokens, law file) of a kit setting."""
    from specens.oracle.kit import SETTINGS

    setting = next(s for s in SETTINGS if s.name == law)
    return list(setting.prompt), setting.max_new_tokens, kit / "laws" / f"{law}.json"


def sample_row(models: dict, row: Row, prompt: list, max_new_tokens: int, n: int, seed: int) -> list:
    """n sequences of transformers' generate for `row`: one call per sequence, torch seed `seed + i`."""
    import torch

    from specens.members import quiet_transformers

    target, draft = models[TARGET], models[DRAFT]
    defaults = {"num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant",
                "assistant_confidence_threshold": 0.4}  # transformers 5's global defaults, restated per row
    for key, value in {**defaults, **(row.assistant or {})}.items():
        setattr(draft.generation_config, key, value)
    ids = torch.tensor([prompt])
    kwargs = {"attention_mask": torch.ones_like(ids), "do_sample": True, "max_new_tokens": max_new_tokens,
              "top_k": 0, **row.generate}
    if row.assistant is not None:
        kwargs["assistant_model"] = draft
    out = []
    with quiet_transformers(), torch.no_grad():
        for i in range(n):
            torch.manual_seed(seed + i)
            out.append(target.generate(ids, **kwargs)[0, len(prompt):].tolist())
    return out


# -- the exact law of transformers' code path -----------------------------------------------------
def transformers_law(law_file, *, gamma: int, weight: float | None = None, threshold: float = 0.0,
                     defect: str | None = None) -> dict:
    """The exact law of transformers' assisted sampling with a constant draft length, from a kit law's tables.

    Follows `_assisted_decoding` and `_speculative_sampling` (transformers/generation/utils.py):
    a round after y drafts g = min(gamma, L - |y| - 1) tokens from q (stopping early after a
    drafted EOS, or after a drafted x with q(x) < threshold: `ConfidenceCriteria`); the drafted x
    is kept with probability min(1, v(x)/q(x)), v = w p + (1 - w) q (v = p without a weight); the
    first rejected position draws from [p - q]+ normalised; when all are kept the next token is
    drawn from p (the "bonus" token). With g = 0 the token is drawn from p. p, q are the target's
    and the draft's transformed distributions (TRANSFORM-6). defect (planted, for negative
    controls): "accept-all" keeps every drafted token; "resample-target" draws a rejected position
    from p instead of the residual. Returns {sequence: probability} in float64.
    """
    from specens.reference import load_toy
    from specens.reference.toy_json import read_toy_file
    from specens.reference.transforms import proposal_distribution

    if defect not in (None, "accept-all", "resample-target"):
        raise ValueError(f"defect: None, 'accept-all' or 'resample-target', got {defect!r}")
    ensemble, _, length = load_toy(read_toy_file(law_file))
    members = {m.name: m for m in ensemble.members}
    eos = set(ensemble.eos_token_id)
    prompt = ensemble.prompt
    cache = {}

    def dists(y):
        if y not in cache:
            cache[y] = tuple(np.array([float(x) for x in proposal_distribution(members[name].scores(prompt + y),
                                                                               ensemble.sampling)])
                             for name in (TARGET, DRAFT))
        return cache[y]

    law: dict = {}

    def emit(y, x, mass, then):
        y = y + (x,)
        if x in eos or len(y) == length:
            law[y] = law.get(y, 0.0) + mass
        else:
            then(y, mass)

    def round_start(y, mass):
        g = min(gamma, length - len(y) - 1)
        (bonus if g == 0 else drafted)(y, mass, g)

    def bonus(y, mass, _=0):
        p, _q = dists(y)
        for x in np.flatnonzero(p):
            emit(y, int(x), mass * p[x], round_start)

    def drafted(y, mass, left):
        p, q = dists(y)
        v = p if weight is None else weight * p + (1 - weight) * q
        keep = q if defect == "accept-all" else np.minimum(q, v)
        residual = p if defect == "resample-target" else np.maximum(p - q, 0.0)
        reject = (1 - keep.sum()) * residual / residual.sum() if residual.sum() > 0 else 0 * p
        for x in range(len(p)):
            if keep[x] > 0:
                stop = left == 1 or q[x] < threshold
                emit(y, x, mass * keep[x], bonus if stop else (lambda z, m: drafted(z, m, left - 1)))
            if reject[x] > 0:
                emit(y, x, mass * reject[x], round_start)

    round_start((), 1.0)
    return law


# -- the audit ------------------------------------------------------------------------------------
def judge(samples: list, law_file: Path, *, target_tv: float, law: dict | None = None):
    """specens' check of `samples` against the kit law (or against `law`, a {sequence: p})."""
    from specens.oracle import check_samples
    from specens.reference import exact_ensemble_pmf, load_toy
    from specens.reference.toy_json import read_toy_file

    ensemble, _, length = load_toy(read_toy_file(law_file))
    law = law if law is not None else exact_ensemble_pmf(ensemble, length)
    return check_samples(samples, law, length=length, target_tv=target_tv, warn=False)


def law_tv(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(float(a.get(s, 0)) - float(b.get(s, 0))) for s in set(a) | set(b))


def audit_row(kit: Path, row: Row, samples: int, seed: int, target_tv: float, models: dict | None = None) -> dict:
    """Sample one row and judge it; returns the table row as a dict."""
    import transformers

    from specens.reference import exact_ensemble_pmf, load_toy
    from specens.reference.toy_json import read_toy_file

    models = models or load_models(kit)
    prompt, length, law_file = law_setting(kit, row.law)
    start = time.perf_counter()
    drawn = sample_row(models, row, prompt, length, samples, seed)
    seconds = time.perf_counter() - start
    report = judge(drawn, law_file, target_tv=target_tv)
    result = {"row": row.name, "law": row.law, "claim": row.claim, "generate": row.generate,
              "assistant": row.assistant, "transformers": transformers.__version__, "samples": samples,
              "p_value": report.family_p, "tv": report.tv, "tv_noise": report.tv_noise,
              "detectable_tv": report.detectable_tv, "verdict": report.verdict, "seconds": seconds}
    weight = row.generate.get("assistant_ensemble_weight")
    if weight is not None:  # the law transformers' code samples, and its exact distance from the claim
        ensemble, _, _ = load_toy(read_toy_file(law_file))
        claimed = exact_ensemble_pmf(ensemble, length)
        own = transformers_law(law_file, gamma=row.assistant["num_assistant_tokens"], weight=weight,
                               threshold=row.assistant["assistant_confidence_threshold"])
        against_own = judge(drawn, law_file, target_tv=target_tv, law=own)
        target_alone = transformers_law(law_file, gamma=1)  # lossless speculative sampling: the target's law
        result.update(exact_tv=law_tv(own, claimed), exact_tv_to_target=law_tv(own, target_alone),
                      own_law_verdict=against_own.verdict,
                      own_law_p_value=against_own.family_p)
    return result


def one_token_reproduction(kit: Path, samples: int, *, weight: float = 0.5, seed: int = 0, models=None) -> dict:
    """The smallest reproduction of the static-ensemble bias: `max_new_tokens=1` never drafts, so the token is p's.

    Samples one token after the we-llama prompt with `assistant_ensemble_weight=weight` and returns
    the observed frequencies, the target's p, the claimed v = w p + (1 - w) q, and specens' check of
    the tokens against each (as laws over one-token sequences).
    """
    from specens.oracle import check_samples
    from specens.reference import load_toy
    from specens.reference.toy_json import read_toy_file
    from specens.reference.transforms import proposal_distribution

    models = models or load_models(kit)
    prompt, _, law_file = law_setting(kit, "we-llama")
    row = Row("one-token", "we-llama", {"assistant_ensemble_weight": weight}, {**CONSTANT, "num_assistant_tokens": 3})
    drawn = sample_row(models, row, prompt, 1, samples, seed)
    ensemble, _, _ = load_toy(read_toy_file(law_file))
    members = {m.name: m for m in ensemble.members}
    p, q = (np.array([float(x) for x in proposal_distribution(members[n].scores(ensemble.prompt), ensemble.sampling)])
            for n in (TARGET, DRAFT))
    v = weight * p + (1 - weight) * q
    counts = np.bincount([s[0] for s in drawn], minlength=len(p))
    found = {"samples": samples, "observed": (counts / samples).round(4).tolist(), "p": p.round(4).tolist(),
             "v": v.round(4).tolist()}
    for name, dist in (("p", p), ("v", v)):
        report = check_samples(drawn, {(x,): float(dist[x]) for x in range(len(dist))}, length=1, warn=False)
        found[f"vs {name}"] = f"{report.verdict}, p-value {report.family_p:.3g}, estimated TV {report.tv:.3f}"
    return found


_MODELS: dict = {}


def _worker(args):
    import torch

    torch.set_num_threads(1)
    kit, row, samples, seed, target_tv = args
    if not _MODELS:
        _MODELS.update(load_models(kit))
    return audit_row(kit, row, samples, seed, target_tv, models=_MODELS)


def table(results: list) -> str:
    """The audit as a markdown table."""
    lines = ["| row | law | transformers | samples | p-value | est. TV | detectable TV | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        extra = f" (exact TV {r['exact_tv']:.3f}; own law: {r['own_law_verdict']})" if "exact_tv" in r else ""
        lines.append(f"| {r['row']} | {r['law']} | {r['transformers']} | {r['samples']:,} | {r['p_value']:.3g} | "
                     f"{r['tv']:.4f} | {r['detectable_tv']:.3f} | {r['verdict']}{extra} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, help="a kit folder (default: write one to a temporary folder)")
    parser.add_argument("--samples", type=int, default=20_000, help="sequences per row (default 20,000)")
    parser.add_argument("--rows", nargs="*", help="row names to run (default: all); --list shows them")
    parser.add_argument("--list", action="store_true", help="print the row names and exit")
    parser.add_argument("--seed", type=int, default=0, help="row i, call j uses torch seed seed + 10**7 i + j")
    parser.add_argument("--target-tv", type=float, default=0.1, help="the TV bias a row must be able to see")
    parser.add_argument("--workers", type=int, default=1, help="processes, one torch thread each")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--repro", type=int, metavar="N", help="run only the one-token reproduction with N samples")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(f"{r.name}  (law {r.law})" for r in ROWS))
        return 0
    if args.samples < 1:
        parser.error(f"--samples: a positive number of sequences, got {args.samples}")
    if args.workers < 1:
        parser.error(f"--workers: at least 1, got {args.workers}")
    names = {r.name for r in ROWS}
    unknown = sorted(set(args.rows or []) - names)
    if unknown:
        parser.error(f"--rows: unknown {unknown}; choose from {sorted(names)}")
    rows = [(i, r) for i, r in enumerate(ROWS) if not args.rows or r.name in args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        kit = args.kit
        if kit is None:
            from specens.oracle.kit import write_kit

            kit = Path(tmp) / "kit"
            write_kit(kit, precision=False)
        if args.repro:
            found = one_token_reproduction(kit, args.repro, seed=args.seed)
            print(json.dumps(found, indent=2))
            return 0
        jobs = [(kit, r, args.samples, args.seed + 10**7 * i, args.target_tv) for i, r in rows]
        results = []
        if args.workers == 1:
            done = map(_worker, jobs)
        else:
            import multiprocessing

            pool = multiprocessing.get_context("spawn").Pool(args.workers)
            done = pool.imap(_worker, jobs, chunksize=1)
        for result in done:  # each row as it completes, so a long run shows what it has found
            results.append(result)
            print(table([result]).splitlines()[-1], file=sys.stderr, flush=True)
        if args.workers > 1:
            pool.close()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
