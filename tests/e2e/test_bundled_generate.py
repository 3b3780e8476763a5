"""The bundled model family end to end: greedy agreement, the exact law of the first two tokens, the CLI.

Members are the trained models shipped in specens/models (loaded offline). Prompts are the openings of
held-out standard-library modules (never seen in training; specens/models/family.json lists them).
"""

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

import specens.state
from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                     SpeculativeEnsemble, StandardEnsemble, WeightedEnsemble, generate)
from specens import bundled_model_path
from specens.cli import main
from specens.coupling import reference_ensemble
from specens.oracle.stats import p_value, pearson, pool_cells

torch.set_num_threads(1)
PROMPTS = ["def median(data):\n", "def bisect_left(a, x, lo=0, hi=None):\n", "def heappush(heap, item):\n",
           "def dedent(text):\n", "class Fraction(numbers.Rational):\n"]
LEVEL = 1 - (1 - 0.001) ** (1 / 2)  # each chi-square test at 0.001, Sidak over the WE and CD cases


@pytest.fixture(scope="module")
def members():
    costs = {"pylib": 1, "pytests": 1, "pytiny": "2/5"}  # pytiny's measured forward cost (its model card)
    return {name: Member.from_pretrained(bundled_model_path(name), name=name, cost=c) for name, c in costs.items()}


def ensemble_of(members, names, combination, sampling=Sampling()):
    chosen = [members[n] for n in names]
    ensemble = Ensemble(chosen, combination, sampling=sampling, tokenizer=chosen[0].tokenizer)
    assert ensemble.eos_token_id == (chosen[0].tokenizer.eos_token_id,)  # FAST-6: from the model files
    return ensemble


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_speculative_naive_and_mixture_equal_the_greedy_standard_ensemble(members, prompt):
    """COMBINE-7, TRANSFORM-5, SE-1, NAIVE-1, MIX-3 on the bundled members: same tokens as the standard ensemble."""
    we = ensemble_of(members, ["pytiny", "pylib", "pytests"],
                     WeightedEnsemble({"pytiny": "1/5", "pylib": "2/5", "pytests": "2/5"}), Sampling(temperature=0))
    want = generate(we, prompt, max_new_tokens=24, method=StandardEnsemble(), seed=0).tokens
    for method in (SpeculativeEnsemble({"pytiny": 3, "pylib": 1, "pytests": 1}),
                   SpeculativeEnsemble({"pytiny": 1, "pylib": 2, "pytests": 1}, default_proposer="pylib"),
                   NaiveSE(gamma=4), MixtureEnsemble()):
        assert generate(we, prompt, max_new_tokens=24, method=method, seed=1).tokens == want, method


def first_two_token_check(ensemble, method, rows: int, seed: int):
    """Pearson chi-square of the first two emitted tokens against the exact ensemble law (cells pooled).

    The exact law comes from the reference (ENGINE-2's conditionals): r after the prompt, and r after
    the prompt and x1 for every x1 likely enough to get its own cells; the rest of the mass is pooled
    exactly (its probability is 1 minus the listed cells), so no part of the 4096 x 4096 table is skipped.
    """
    prompt = ensemble.tokenizer(PROMPTS[0])["input_ids"]
    ref = reference_ensemble(ensemble, prompt)
    first = ref.target(ref.prompt)
    cells, probs = [], []
    for x1 in sorted(range(len(first)), key=lambda x: -first[x]):
        if float(first[x1]) * rows < 5:
            break
        if x1 in ensemble.eos_token_id:  # the run ends at EOS (METHOD-3): a one-token sequence
            cells.append((x1,))
            probs.append(first[x1])
            continue
        second = ref.target(ref.prompt + (x1,))
        listed = Fraction(0)
        for x2 in sorted(range(len(second)), key=lambda x: -second[x]):
            p = first[x1] * second[x2]
            if float(p) * rows < 5:
                break
            cells.append((x1, x2))
            probs.append(p)
            listed += second[x2]
        cells.append((x1, None))  # x1 then any unlisted x2
        probs.append(first[x1] * (1 - listed))
    cells.append((None, None))  # any unlisted x1
    probs.append(1 - sum(probs, Fraction(0)))
    index = {c: i for i, c in enumerate(cells)}
    observed = np.zeros(len(cells))
    for out in generate(ensemble, [prompt] * rows, max_new_tokens=2, method=method, seed=seed):
        seq = tuple(out.tokens)
        key = seq if seq in index else (seq[0], None) if (seq[0], None) in index else (None, None)
        observed[index[key]] += 1
    pooled = pool_cells(np.array([float(p) for p in probs]) * rows, observed)
    p = p_value(pearson(pooled.observed, pooled.expected), len(pooled.expected) - 1)
    table = "\n".join(f"{str(cells[i]):>14}: expected {e:7.1f} observed {o:5.0f}"
                      for i, (e, o) in enumerate(zip(np.array([float(p) for p in probs]) * rows, observed))
                      if e >= 5 or o > 0)
    return p, table


SAMPLING = Sampling(top_k=8)  # concentrates the law on few cells, so 600 rows resolve it (TRANSFORM-3)
CASES = {
    "we": (["pytiny", "pylib"], lambda: WeightedEnsemble({"pytiny": "1/3", "pylib": "2/3"}),
           SpeculativeEnsemble({"pytiny": 1, "pylib": 1})),
    "cd": (["pytiny", "pylib"], lambda: ContrastiveDecoding(expert="pylib", amateur="pytiny", mu="1/10"),
           SpeculativeEnsemble({"pytiny": 1, "pylib": 1}, default_proposer="pylib")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_two_tokens_follow_the_exact_ensemble_law(members, case):
    """ENGINE-2, SE-1, FAST-2: chi-square at 0.001 (Sidak over WE and CD) on 600 rows in float32, top-k 8."""
    names, combination, method = CASES[case]
    p, table = first_two_token_check(ensemble_of(members, names, combination(), SAMPLING), method, rows=600, seed=100)
    assert p > LEVEL, f"p = {p:.2e} <= {LEVEL:.2e}\n{table}"


def test_a_sampler_that_accepts_every_proposal_fails_the_same_check(members, monkeypatch):
    """Negative control (VERIFY-1): emitting the proposer's tokens unverified is rejected by the same test."""
    names, combination, method = CASES["we"]
    monkeypatch.setattr(specens.state, "accept", lambda u, q_x, r_x: True)
    p, table = first_two_token_check(ensemble_of(members, names, combination(), SAMPLING), method, rows=600, seed=100)
    assert p < LEVEL, f"the wrong sampler passed: p = {p:.2e}\n{table}"


def run_cli(capsys, *args):
    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_prints_the_completion_and_a_summary_line(capsys):
    """The main job: default members (pylib, pytests), WE, SE; completion on stdout, summary on stderr."""
    code, out, err = run_cli(capsys, "def median(values):", "--max-new-tokens", "8", "--seed", "3")
    assert code == 0 and out.startswith("def median(values):")
    assert "tokens/s" in err and "acceptance" in err and "member forwards per token" in err


def test_generate_json_and_trace_are_machine_readable(capsys):
    """TRACE-1 through the CLI: --json carries the tokens, statistics and trace; --trace names proposers."""
    code, out, _ = run_cli(capsys, "import os", "--max-new-tokens", "6", "--json", "--trace",
                           "--members", "pytiny,pylib", "--gammas", "3,1")
    data = json.loads(out)
    assert code == 0 and len(data["token_ids"]) == data["stats"]["emitted"] <= 6
    assert {e["event"] for e in data["trace"]} >= {"call", "emit"}
    code, out, _ = run_cli(capsys, "import os", "--max-new-tokens", "6", "--trace", "--members", "pytiny,pylib",
                           "--gammas", "3,1", "--seed", "1")
    assert code == 0 and "proposed by pytiny" in out


def test_generate_contrastive_decoding_greedy_runs(capsys):
    """COMBINE-3 through the CLI: CD of pytiny (amateur) and pylib (expert), greedy."""
    code, out, err = run_cli(capsys, "for i in range(", "--members", "pytiny,pylib", "--combination", "cd",
                             "--temperature", "0", "--max-new-tokens", "6", "--method", "naive", "--gammas", "3")
    assert code == 0 and "naive over pytiny, pylib" in err


@pytest.mark.parametrize("args, message", [
    (["--members", "pylib,nope"], "neither a bundled member"),
    (["--gammas", "0,1"], "gamma"),
    (["--gammas", "1,2,3"], "--gammas"),
    (["--combination", "cd", "--weights", "1/2,1/2"], "--weights"),
    (["--method", "standard", "--gammas", "2,2"], "--gammas"),
    (["--members", "pylib,pytests,pygui", "--combination", "cd"], "two members"),
    (["--weights", "1/2,1/3"], "weights"),
    (["--top-p", "1.5"], "top_p"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
])
def test_generate_rejects_bad_options_with_a_clear_error(capsys, args, message):
    """Bad input: exit code 2 and an error naming the option, never a traceback."""
    code, out, err = run_cli(capsys, "x = 1", *args)
    assert code == 2 and message in err and "Traceback" not in err, err
