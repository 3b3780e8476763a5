"""The speculative mixture (SMIX-1) and the outside drafter (METHOD-5) on the fast path, coupled token for
token with the reference (RNG-1, TRACE-1): toy members as torch LMs with real KV caches, and tiny
random transformers in float64; the CLI's `--method speculative-mixture` and `--drafter`."""

import pytest

torch = pytest.importorskip("torch")

import specens  # noqa: E402
from specens.api import Ensemble, generate  # noqa: E402
from specens.coupling import ToyLM, assert_coupled, reference_ensemble, reference_member, tiny_causal_lm  # noqa: E402
from specens.members import Member  # noqa: E402
from specens.reference.combine import WeightedEnsemble  # noqa: E402
from specens.reference.methods import NaiveSE, SpeculativeMixture  # noqa: E402
from specens.reference.transforms import Sampling  # noqa: E402
from specens.reference.zoo import random_member, toy_ensemble  # noqa: E402

torch.set_num_threads(1)
RTOL = 1e-9


def coupled(fast, ref, prompt, method, seed, length):
    out, slow = assert_coupled(fast, ref, prompt, method, seed, length, rtol=RTOL)
    assert out is not None, "both sides refused"
    assert out.calls == {k: n for k, n in slow.calls.items() if n}
    return out


@pytest.mark.parametrize("setting", [(2, 3, 1, None), (2, 4, "1/2", 2), (3, 3, 1, (0, 2)), (2, 3, 0, 2)],
                         ids=lambda s: "-".join(map(str, s)))
def test_fast_path_equals_the_reference_with_an_outside_drafter(setting):
    """SMIX-1..SMIX-6, METHOD-5, NAIVE-1, RNG-1, TRACE-1, COST-2: the drafter's calls and crops (FAST-3) included."""
    n, v, t, eos = setting
    toy = toy_ensemble(n, v, temperature=t, eos_token_id=eos, seed=1)
    toy = toy.with_(drafter=random_member("t", v, order=2, cost="1/10", seed=5), prompt=(1,))
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    drafter = Member(ToyLM(toy.drafter), name="t", cost="1/10")
    fast = Ensemble(members, toy.combination, sampling=toy.sampling, eos_token_id=list(toy.eos_token_id) or None,
                    dtype="float64", drafter=drafter)
    for method in (SpeculativeMixture(gamma=1), SpeculativeMixture(gamma=3), SpeculativeMixture(2, toy.names[-1]),
                   NaiveSE(gamma=2, proposer="t")):
        for seed in range(3):
            out = coupled(fast, toy, [1], method, seed, 7)
            if (method.name == "naive" or method.drafter == "t") and len(out.tokens) > 1:
                assert out.calls["t"] >= 2 and out.stats.proposed["t"] >= 1


def test_fast_path_equals_the_reference_on_tiny_transformers_with_an_outside_drafter():
    """SMIX-1, METHOD-5, FAST-2, FAST-3: Llama and GPT-2 members, a Qwen2 drafter, float64, two prompts."""
    members = [Member(tiny_causal_lm("llama", 12, seed=10, dtype=torch.float64), name="a", cost="1"),
               Member(tiny_causal_lm("gpt2", 12, seed=11, dtype=torch.float64, layers=2), name="b", cost="1")]
    drafter = Member(tiny_causal_lm("qwen2", 12, seed=12, dtype=torch.float64), name="d", cost="1/5")
    fast = Ensemble(members, WeightedEnsemble({"a": "1/3", "b": "2/3"}), dtype="float64", drafter=drafter,
                    sampling=Sampling(temperature="0.9"))
    twins = [reference_member(m, 12) for m in members]
    for prompt in ([1, 2], [5]):
        ref = reference_ensemble(fast, prompt, members=twins)
        assert ref.drafter is not None and ref.drafter.name == "d"
        for method in (SpeculativeMixture(gamma=2), SpeculativeMixture(gamma=4, drafter="a")):
            for seed in range(2):
                coupled(fast, ref, prompt, method, seed, 7)


def test_an_outside_drafter_is_refused_where_it_cannot_serve():
    """METHOD-5, SMIX-1: a drafter named like a member, or a CD ensemble, is refused in one line."""
    a = Member(tiny_causal_lm("llama", 8, seed=1), name="a")
    with pytest.raises(ValueError, match="drafter: its name 'a' is a member's"):
        Ensemble([a], drafter=Member(tiny_causal_lm("llama", 8, seed=2), name="a"))
    cd = Ensemble([a, Member(tiny_causal_lm("gpt2", 8, seed=3), name="b")],
                  specens.ContrastiveDecoding(expert="b", amateur="a", mu="1/10"))
    with pytest.raises(ValueError, match="method: the speculative mixture is exact only"):
        generate(cd, [1], max_new_tokens=3, method=specens.SpeculativeMixture(gamma=2), seed=0)
    assert "SpeculativeMixture" in specens.__all__


def test_the_cli_runs_the_speculative_mixture_with_an_outside_or_member_drafter(capsys):
    """SMIX-1, METHOD-5 through `specens generate`: --method speculative-mixture, --drafter (outside: pytiny;
    or a member), --gammas one value; naive SE with an outside drafter; bad combinations refused in one line."""
    import json

    from specens.cli import main

    base = ["generate", "def median(data):", "--members", "pylib,pytests", "--combination", "we",
            "--max-new-tokens", "8", "--seed", "2"]
    assert main(base + ["--method", "speculative-mixture", "--drafter", "pytiny", "--gammas", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"]["drafter"] == "pytiny" and data["stats"]["calls"]["pytiny"] >= 2
    assert main(base + ["--method", "speculative-mixture", "--drafter", "pylib", "--gammas", "2"]) == 0
    assert "drafter pylib" in capsys.readouterr().err
    assert main(base + ["--method", "naive", "--drafter", "pytiny", "--gammas", "2"]) == 0
    capsys.readouterr()
    assert main(base[:-4] + ["--max-new-tokens", "4", "--drafter", "pytiny"]) == 2
    assert "--drafter: only --method naive or speculative-mixture" in capsys.readouterr().err
    assert main(["generate", "x", "--members", "pytiny,pylib", "--combination", "cd", "--max-new-tokens", "4",
                 "--method", "speculative-mixture"]) == 2
    assert "--method speculative-mixture: is exact only" in capsys.readouterr().err


def test_the_cli_defaults_to_we_for_the_mixture_methods_and_traces_the_chosen_verifier(capsys):
    """SMIX-1, MIX-1: with two members and no --combination, the mixture methods take WE (the only
    combination they serve) rather than CD; the trace names the chosen member a token was verified
    against and its ratio p_k/q (SMIX-3, TRACE-1's `against`), not every member and r/q."""
    from specens.cli import main

    base = ["generate", "def median(data):", "--members", "pylib,pytests", "--max-new-tokens", "10", "--seed", "1",
            "--temperature", "1", "--drafter", "pytiny", "--gammas", "3", "--trace", "--no-stream"]  # sampled (SMIX-3)
    assert main(base + ["--method", "speculative-mixture"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "over WE pylib 1/2, pytests 1/2, mode probs" in text
    verified = [line for line in text.splitlines() if "verified by" in line]
    assert verified and all(("verified by pylib: p_pylib/q" in line) != ("verified by pytests: p_pytests/q" in line)
                            for line in verified), verified
    assert main(["generate", "x", "--members", "pylib,pytests", "--max-new-tokens", "3", "--method", "mixture"]) == 0
    assert "over WE pylib 1/2, pytests 1/2" in capsys.readouterr().err


def test_the_cli_names_the_drafter_flag_and_traces_a_kept_draft(capsys):
    """METHOD-5, SMIX-3 step 2, TRACE-1: a --drafter that resolves to nothing is refused naming --drafter
    (not --members); --costs with an outside drafter asks for its cost too; a token the drafter drew and
    the chosen member (the drafter itself) kept reads as such in --trace, not as a fresh mixture draw."""
    from specens.cli import main

    base = ["generate", "def f(x):", "--members", "pylib,pytests", "--method", "speculative-mixture",
            "--max-new-tokens", "8", "--no-stream"]
    assert main(base + ["--drafter", "no-such-model"]) == 2
    assert "--drafter: 'no-such-model' is neither a named member" in capsys.readouterr().err
    assert main(base + ["--drafter", "pytiny", "--costs", "1,1"]) == 2
    assert "(one per member, then the outside --drafter's)" in capsys.readouterr().err
    member = ["generate", "def f(x):", "--members", "pylib,pytiny", "--method", "speculative-mixture", "--drafter",
              "pytiny", "--gammas", "3", "--max-new-tokens", "12", "--seed", "0", "--temperature", "1", "--trace",
              "--no-stream"]  # sampled: the CLI's default is greedy (SMIX-6)
    assert main(member) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "proposed by pytiny, the chosen member: kept as is" in text
    assert "drawn from member pytiny" not in text  # pytiny never holds the position after its block (SMIX-5)


def test_the_cli_refuses_a_mixture_method_off_we_probs_before_loading_any_model(capsys, monkeypatch):
    """MIX-1, SMIX-1: --combination cd or --mode logits with a mixture method is refused at once, not after
    the members (and the drafter) have loaded."""
    from specens.cli import main

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the method was checked")

    monkeypatch.setattr(specens.Member, "from_pretrained", no_loading)
    for extra in (["--combination", "cd"], ["--mode", "logits"]):
        assert main(["generate", "x", "--members", "pylib,pytests", "--method", "speculative-mixture",
                     "--drafter", "pytiny"] + extra) == 2
        assert "--method speculative-mixture: is exact only for a weighted ensemble in mode probs" in \
            capsys.readouterr().err


def test_an_outside_drafter_with_too_few_logits_is_named_as_the_drafter():
    """METHOD-5, FAST-1: a drafter that cannot share the members' vocabulary is refused; the message no
    longer calls it a member."""
    a = Member(tiny_causal_lm("llama", 12, seed=1), name="a")
    d = Member(tiny_causal_lm("qwen2", 8, seed=3), name="d")
    with pytest.raises(ValueError, match=r"vocab_size: models \(members and the outside drafter\) \{'d': 8\}"):
        Ensemble([a], vocab_size=12, drafter=d)


def test_the_cli_summary_counts_the_outside_drafters_forwards_apart_from_the_members(capsys):
    """METHOD-5, COST-2: the outside drafter is not a member; its forwards per token are reported on their
    own (they were counted as member forwards)."""
    import json

    from specens.cli import main

    assert main(["generate", "def f(x):", "--members", "pylib,pytests", "--method", "speculative-mixture",
                 "--drafter", "pytiny", "--gammas", "3", "--max-new-tokens", "9", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    calls, tokens, summary = data["stats"]["calls"], data["summary"]["tokens"], data["summary"]
    assert summary["member_forwards_per_token"] == (calls.get("pylib", 1) + calls.get("pytests", 1) - 2) / tokens
    assert summary["drafter_forwards_per_token"] == (calls["pytiny"] - 1) / tokens > 0
