"""Draw the figures of docs/ from exact computations (needs the `docs` extra: matplotlib).

    .venv/bin/pip install -e ".[docs]" && .venv/bin/python scripts/make_figures.py

Writes docs/figures/acceptance.png, cost_timeline.png and speedup_vs_theory.png, whose every plotted
number comes from specens.reference (exact rationals), so rerunning gives the same pictures; and
speedup_measured.png from the benchmark's JSON (docs/bench/speedup-family.json, speedup-real.json,
written by `scripts/bench_speedup.py --out`): measured speed-ups against the predicted ones.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction as F
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from specens.reference import (  # noqa: E402
    Ensemble,
    NaiveSE,
    SpeculativeEnsemble,
    StandardEnsemble,
    ToyMember,
    WeightedEnsemble,
    alternate_speedup,
    exact_output_pmf,
    generate,
    naive_speedup,
    overlap,
    total_variation,
)
from specens.reference.transforms import Scores  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"
BENCH = Path(__file__).resolve().parents[1] / "docs" / "bench"


def two_members(q, p, weight_q, cost_q=F(1, 4)):
    a = ToyMember("a", {(): Scores(probs=q)}, order=0, cost=cost_q)
    b = ToyMember("b", {(): Scores(probs=p)}, order=0, cost=1)
    return Ensemble((a, b), WeightedEnsemble({"a": weight_q, "b": 1 - weight_q}))


def acceptance():
    """THM-3.2: alpha = 1 - (1 - lambda) TV(p, q) >= lambda, for pairs at several distances."""
    q = (F(1, 2), F(1, 2), F(0))
    pairs = {"TV 1/4": (F(1, 4), F(1, 2), F(1, 4)), "TV 1/2": (F(0), F(1, 2), F(1, 2)),
             "TV 3/4": (F(0), F(1, 4), F(3, 4)), "TV 1 (disjoint)": (F(0), F(0), F(1))}
    lams = [F(k, 20) for k in range(21)]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for label, p in pairs.items():
        alphas = [overlap(q, two_members(q, p, lam).target(())) for lam in lams]
        assert all(a == 1 - (1 - lam) * total_variation(p, q) for a, lam in zip(alphas, lams))
        ax.plot([float(x) for x in lams], [float(a) for a in alphas], label=label)
    ax.plot([0, 1], [0, 1], "k:", label="bound alpha = lambda")
    ax.set_xlabel("proposer's weight lambda")
    ax.set_ylabel("acceptance rate alpha")
    ax.set_title("Weighted ensemble: alpha >= lambda (THM-3.2)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "acceptance.png", dpi=120)


def cost_timeline():
    """Calls of each member over one run: standard ensemble vs speculative ensemble (tutorial run)."""
    q, p = (F(1, 2), F(1, 2)), (F(1, 4), F(3, 4))
    ensemble = two_members(q, p, F(1, 4))
    uniforms = [0.5, 0.1, 0.9, 0.2, 0.7, 0.0, 0.3, 0.6, 0.5, 0.99]
    runs = {"standard ensemble": generate(ensemble, StandardEnsemble(), 4, uniforms=uniforms),
            "speculative ensemble (gammas 2, 1)": generate(ensemble, SpeculativeEnsemble({"a": 2, "b": 1}), 4,
                                                          uniforms=uniforms)}
    fig, axes = plt.subplots(2, 1, figsize=(7, 3.2), sharex=True)
    for ax, (title, run) in zip(axes, runs.items()):
        clock = 0.0
        for e in run.trace:
            if e["event"] != "call":
                continue
            width = float(F(e["cost"]))
            row = 1 if e["member"] == "a" else 0
            ax.broken_barh([(clock, width)], (row - 0.35, 0.7), color="tab:orange" if row else "tab:blue",
                           edgecolor="white")
            clock += width
        ax.set_yticks([0, 1], ["b (cost 1)", "a (cost 1/4)"])
        ax.set_title(f"{title}: 4 tokens, cost {run.cost}", fontsize=9)
    axes[-1].set_xlabel("cumulative cost (members run one after another)")
    fig.tight_layout()
    fig.savefig(OUT / "cost_timeline.png", dpi=120)


def speedup_vs_theory(length=6):
    """Exact speed-up (standard cost / method cost per token) on constant-rate toys vs the formulas."""
    q = (F(1, 2), F(1, 2), F(0))
    p_far = (F(0), F(1, 4), F(3, 4))
    lams = [F(k, 8) for k in range(1, 8)]
    rows = []
    for lam in lams:
        ensemble = two_members(q, p_far, lam)
        alpha = overlap(q, ensemble.target(()))
        std = exact_output_pmf(ensemble, StandardEnsemble(), length)
        std_cost = std.expected_cost() / std.expected_length()
        se = exact_output_pmf(ensemble, SpeculativeEnsemble({"a": 1, "b": 1}, "a"), length)
        naive = exact_output_pmf(ensemble, NaiveSE(gamma=3, proposer="a"), length)
        rows.append((alpha, std_cost / (se.expected_cost() / se.expected_length()),
                     std_cost / (naive.expected_cost() / naive.expected_length()),
                     alternate_speedup(alpha, F(1, 4), 1, 1), naive_speedup(alpha, F(1, 4), 3)))
    fig, ax = plt.subplots(figsize=(5, 3.6))
    xs = [float(r[0]) for r in rows]
    ax.plot(xs, [float(r[1]) for r in rows], "o-", color="tab:green", label="SE gammas (1, 1), exact")
    ax.plot(xs, [float(r[3]) for r in rows], "--", color="tab:green", label="THM-3.6 / COR-3.7 formula")
    ax.plot(xs, [float(r[2]) for r in rows], "s-", color="tab:purple", label="naive SE gamma 3, exact")
    ax.plot(xs, [float(r[4]) for r in rows], "--", color="tab:purple", label="THM-3.1 formula")
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xlabel("acceptance rate alpha of the cheap member (c = 1/4)")
    ax.set_ylabel("speed-up over the standard ensemble")
    ax.set_title(f"Exact cost model, {length} tokens incl. prefill", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "speedup_vs_theory.png", dpi=120)
    return rows


def speedup_measured(files=("family", "real")):
    """Measured speed-up of every method in every setting (tokens per CPU second, filled; per wall second,
    hollow) against the paper's formula (THM-3.6 / THM-3.1, where one applies) and against COST-5 (calls
    x measured t_k(n)), from the benchmark's JSON."""
    runs = {k: json.loads((BENCH / f"speedup-{k}.json").read_text()) for k in files
            if (BENCH / f"speedup-{k}.json").exists()}
    if not runs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
    styles = {"family": ("o", "tab:blue"), "real": ("s", "tab:red")}
    top = 1.0
    for ax, (key, title) in zip(axes, (("theory_speedup", "paper's formula (THM-3.6, THM-3.1), measured alpha, c"),
                                       ("tabled_speedup", "COST-5: calls x measured t_k(n)"))):
        for kind, run in runs.items():
            marker, color = styles[kind]
            rows = [r for rows in run["settings"].values() for r in rows[1:] if r.get(key) is not None]
            points = [(r[key], r["cpu_speedup"], r["speedup"]) for r in rows]
            top = max([top] + [v for p in points for v in p])
            ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, color=color, alpha=0.8,
                       label=f"{kind}, CPU time ({run['date']}, median of {run['repeats']})")
            ax.scatter([p[0] for p in points], [p[2] for p in points], marker=marker, facecolors="none",
                       edgecolors=color, alpha=0.6, label=f"{kind}, wall time")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("predicted speed-up")
    for ax in axes:
        ax.plot([0, top * 1.05], [0, top * 1.05], "k:", lw=0.8, label="measured = predicted")
        ax.axhline(1, color="k", lw=0.5)
        ax.set_xlim(0, top * 1.05)
        ax.set_ylim(0, top * 1.05)
    axes[0].set_ylabel("measured speed-up (ratio of median tokens/s)")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Every non-baseline method of scripts/bench_speedup.py, CPU, 1 thread", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "speedup_measured.png", dpi=120)
    return runs


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    acceptance()
    cost_timeline()
    for alpha, se, naive, f_se, f_naive in speedup_vs_theory():
        print(f"alpha {float(alpha):.3f}: SE exact {float(se):.3f} (formula {float(f_se):.3f}), "
              f"naive exact {float(naive):.3f} (formula {float(f_naive):.3f})")
    if speedup_measured() is None:
        print(f"no benchmark JSON under {BENCH}: speedup_measured.png not drawn")
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
