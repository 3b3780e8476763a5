#!/usr/bin/env python3
"""Benchmark the oracle: sampler throughput, the power of 60 s of samples, false rejections, mutants.

    .venv/bin/python scripts/bench_oracle.py            # everything (a few minutes)
    .venv/bin/python scripts/bench_oracle.py --quick    # throughput and power only

Runs on one core (thread pools limited to one thread, process pinned to one CPU where the OS
allows). Prints:
1. sequences per second of the vectorised reference sampler for n = 2, V = 4, L = 4, gammas (1, 3)
   (the issue's goal: 100,000 per second), and of every method on the same ensemble;
2. the smallest TV bias that the checker detects with power 0.9 at significance 0.001 from the
   samples of 60 s of that core (ORACLE-4, least favourable alternative);
3. the false-rejection rate of exact samples over many runs, with 99.9% binomial intervals (ORACLE-9);
4. every mutant: its defect, its exact TV and first wrong position, the predicted power of the
   default budget against its law, and whether the checker rejected it on seeds 0 and 1.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from specens.oracle import DEFAULT_ALPHA, DEFAULT_SAMPLES, MUTANTS, VectorSampler, check_samples  # noqa: E402
from specens.oracle.calibration import false_rejections  # noqa: E402
from specens.oracle.cases import CASES  # noqa: E402
from specens.oracle.stats import detectable_tv, power_against  # noqa: E402
from specens.reference import (  # noqa: E402
    MixtureEnsemble,
    NaiveSE,
    SpeculativeEnsemble,
    StandardEnsemble,
    exact_ensemble_pmf,
)
from specens.reference.zoo import toy_ensemble  # noqa: E402


def pin_one_core():
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        except OSError:
            pass


def rate(sampler: VectorSampler, total: int, repeats: int) -> float:
    sampler.sample(10_000, seed=0)  # warm the tables
    best = 0.0
    for r in range(repeats):
        start = time.perf_counter()
        sampler.sample(total, seed=r + 1)
        best = max(best, total / (time.perf_counter() - start))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="throughput and power only")
    parser.add_argument("--total", type=int, default=1_000_000, help="sequences per timing (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=2000, help="runs per false-rejection measurement (default 2000)")
    args = parser.parse_args()
    pin_one_core()

    ensemble, length = toy_ensemble(2, 4, seed=3), 4
    target = SpeculativeEnsemble({"m0": 1, "m1": 3}, "m0")
    print(f"1. throughput on one core (n = 2, V = 4, L = {length}, WE 1/3 2/3, best of 3 x {args.total:,} sequences)")
    se_rate = rate(VectorSampler(ensemble, target, length), args.total, 3)
    print(f"   SE gammas (1, 3), default m0: {se_rate:,.0f} sequences/s (goal 100,000)")
    for method in (StandardEnsemble(), NaiveSE(3, "m0"), SpeculativeEnsemble({"m0": 3, "m1": 1}, "m1"),
                   MixtureEnsemble()):
        r = rate(VectorSampler(ensemble, method, length), args.total // 2, 2)
        print(f"   {str(method.to_json()):<68} {r:>12,.0f} sequences/s")

    law = exact_ensemble_pmf(ensemble, length)
    probs = np.array([float(p) for p in law.values()])
    n60 = int(60 * se_rate)
    family = 2 * (length + 1)
    print(f"\n2. power of 60 s of samples ({n60:,} sequences, {len(probs)} possible sequences)")
    print(f"   joint Pearson test alone, alpha 0.001: TV bias {detectable_tv(probs, n60, alpha=0.001):.5f} "
          "detected with power 0.9")
    print(f"   whole Sidak family ({family} tests), alpha 0.001: TV bias "
          f"{detectable_tv(probs, n60, alpha=0.001, tests=family):.5f} detected with power 0.9")
    print(f"   (default budget {DEFAULT_SAMPLES:,}: {detectable_tv(probs, DEFAULT_SAMPLES, alpha=0.001, tests=family):.4f})")
    if args.quick:
        return

    case = next(c for c in CASES if c.name == "we3-se-1-2-1-eos")
    print(f"\n3. false rejections of exact samples ({case.name}, {args.runs} runs of 2,000 samples each)")
    for alpha in (0.05, 0.01, 0.001):
        for fam in (False, True):
            start = time.perf_counter()
            result = false_rejections(case, runs=args.runs, samples=2000, alpha=alpha, seed=int(alpha * 1e4) + fam,
                                      family=fam)
            what = "Sidak family " if fam else "joint Pearson"
            print(f"   {what}: {result}  [{time.perf_counter() - start:.0f} s]")

    print(f"\n4. mutants (default budget {DEFAULT_SAMPLES:,} samples, alpha {DEFAULT_ALPHA}, seeds 0 and 1)")
    print(f"   {'mutant':<30} {'defect':>6} {'TV':>8} {'first wrong':>11} {'power':>6}  rejected   family p (seed 0, 1)")
    for m in MUTANTS:
        exact, mine = m.case.law(), m.law()
        keys = sorted(set(exact) | set(mine))
        power = power_against([exact.get(k, 0.0) for k in keys], [mine.get(k, 0.0) for k in keys], DEFAULT_SAMPLES,
                              alpha=DEFAULT_ALPHA, tests=2 * (m.case.length + 1))
        ps = [check_samples(m.sample(DEFAULT_SAMPLES, seed=s), exact, length=m.case.length, alpha=DEFAULT_ALPHA,
                            warn=False).family_p for s in (0, 1)]
        first = m.first_wrong_position()
        print(f"   {m.name:<30} {m.defect:>6} {m.tv():>8.4f} {('-' if first is None else first):>11} "
              f"{('rows' if m.dependent_rows else f'{power:.3f}'):>6}  "
              f"{'yes' if all(p < DEFAULT_ALPHA for p in ps) else 'NO':>8}   {ps[0]:.2g}, {ps[1]:.2g}")


if __name__ == "__main__":
    main()
