"""The bundled model family end to end: greedy agreement, the exact law of the first two tokens, the CLI.

Members are the trained models shipped in specens/models (loaded offline). Prompts are the openings of
held-out standard-library modules (never seen in training; specens/models/family.json lists them).
"""

import json

import pytest
import torch

import specens.state
from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                     SpeculativeEnsemble, StandardEnsemble, WeightedEnsemble, generate)
from specens import bundled_model_path
from specens.cli import main
from specens.coupling import first_two_tokens_check

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
    """specens.coupling.first_two_tokens_check after the first held-out prompt."""
    prompt = ensemble.tokenizer(PROMPTS[0])["input_ids"]
    return first_two_tokens_check(ensemble, prompt, method, rows=rows, seed=seed)


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
    """`specens generate` on the bundled family (pylib, pytests unless --members is given): the default
    members, SmolLM2 and its drafter, are tested in test_real_model.py."""
    if not any(a == "--members" or a.startswith("--members=") for a in args):
        args = ("--members", "pylib,pytests", *args)
    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_prints_the_completion_and_a_summary_line(capsys):
    """pylib and pytests (CD, the two-member default), SE; completion on stdout, summary on stderr."""
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
    assert code == 0 and "naive (gamma 3; proposer pytiny) over CD expert pylib, amateur pytiny, mu 1/10" in err


@pytest.mark.parametrize("args, message", [
    (["--members", "pylib,nope"], "neither a named member"),
    (["--gammas", "0,1"], "gamma"),
    (["--gammas", "1,2,3"], "--gammas"),
    (["--combination", "cd", "--weights", "1/2,1/2"], "--weights"),
    (["--combination", "we", "--mu", "0.2"], "--mu: CD's amateur coefficient, only with --combination cd"),
    (["--weights", "1,1", "--mu", "0.2"], "--mu: CD's amateur coefficient, only with --combination cd"),
    (["--method", "standard", "--gammas", "2,2"], "--gammas"),
    (["--members", "pylib,pytests,pygui", "--combination", "cd"], "two members"),
    (["--weights", "1/2"], "--weights: give 2 comma-separated values"),
    (["--top-p", "1.5"], "--top-p"),
    (["--temperature", "-1"], "--temperature: must be >= 0"),
    (["--mu", "-1", "--combination", "cd", "--members", "pytiny,pylib"], "--mu: must be >= 0"),
    (["--expert", "pygui", "--combination", "cd", "--members", "pytiny,pylib"], "--expert: 'pygui' is not one of"),
    (["--default-proposer", "nobody"], "--default-proposer: 'nobody' is not one of"),
    (["--gammas", "a,1"], "--gammas: give whole numbers"),
    (["--threads", "0"], "--threads: must be a positive"),
    (["--max-new-tokens", "600"], "--max-new-tokens: 600 new tokens after a prompt of 4 tokens exceed the context of "
                                  "member 'pylib' (512 tokens); lower it to 508 or shorten the prompt"),
    (["--max-new-tokens", "0"], "--max-new-tokens"),
    (["--method", "mixture", "--combination", "cd"], "--method mixture: is exact only for a weighted ensemble in mode "
                                                     "probs, got --combination cd in mode raw-logits; use --combination "
                                                     "we --mode probs"),
    (["--top-k", "0"], "--top-k: must be a positive integer, got 0; omit --top-k to keep every token"),
    (["--top-p", "0"], "--top-p: must lie in (0, 1], got 0; omit --top-p for no nucleus cut"),
    (["--device", ""], "--device: '' is not a device"),
    (["--mu", "1e400"], "--mu: 1.00e+400 is too large for float64"),
    (["--threads", "100000"], "--threads: must be a positive number of threads, at most"),
    (["--seed", "-1"], "--seed: must be a non-negative integer"),
    (["--temperature", "1e-320"], "--temperature: 1e-320 is so small that logits / temperature overflow float64; "
                                  "use temperature 0"),
    (["--confidence-threshold", "1.5"], "--confidence-threshold: must be a probability in [0, 1]"),
    (["--method", "standard", "--confidence-threshold", "0.4"], "--confidence-threshold: --method standard has no "
                                                                 "proposer"),
    (["--method", "speculative-mixture", "--confidence-threshold", "0.4"], "--confidence-threshold: only --method se "
                                                                            "and naive"),
])
def test_generate_rejects_bad_options_with_a_clear_error(capsys, args, message):
    """Bad input: exit code 2 and an error naming the option, never a traceback."""
    code, out, err = run_cli(capsys, "x = 1", *args)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_generate_with_a_prompt_longer_than_the_context_says_how_long_it_may_be(capsys):
    """FAST-5 through the CLI: the flag and a fix that is possible (never "lower --max-new-tokens to 0")."""
    code, out, err = run_cli(capsys, "x = 1\n" * 200, "--max-new-tokens", "4")
    assert code == 2 and "Traceback" not in err and "to 0" not in err
    assert err.strip().endswith("error: prompt: a prompt of 801 tokens leaves no room for a new token in the context "
                                "of member 'pylib' (512 tokens); shorten it to 511 tokens or fewer"), err


@pytest.mark.parametrize("device, message", [
    ("foo", "--device: 'foo' is not a device; use cpu, cuda, cuda:N or mps"),
    ("cuda", "--device: 'cuda' needs CUDA, which this machine (or this build of torch) does not have; use cpu"),
    ("cuda:1", "--device: 'cuda:1' needs CUDA"),
    ("mps", "--device: 'mps' needs Apple silicon and a torch build with MPS"),
])
def test_generate_refuses_a_device_the_machine_lacks_in_one_line(capsys, monkeypatch, device, message):
    """Bad input: a device this machine does not have is one line naming --device and the fix."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    code, out, err = run_cli(capsys, "x", "--device", device)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_generate_names_cli_flags_for_members_without_a_shared_tokenizer(capsys, tmp_path):
    """A local model directory without tokenizer files, or with another tokenizer: --members and the fix,
    not "pass tokenizer= to Ensemble" or "vocab_size=..."."""
    from specens.coupling import tiny_causal_lm, tiny_tokenizer

    tiny_causal_lm("llama", 12, seed=0).save_pretrained(tmp_path / "bare")
    code, out, err = run_cli(capsys, "x", "--members", str(tmp_path / "bare"))
    assert code == 2 and "--members:" in err and "holds no tokenizer files" in err
    assert "tokenizer=" not in err and "vocab_size=" not in err and "Ensemble" not in err, err
    tiny_tokenizer(12).save_pretrained(tmp_path / "bare")  # now a tokenizer, but not the bundled one
    code, out, err = run_cli(capsys, "t1", "--members", f"pylib,{tmp_path / 'bare'}")
    assert code == 2 and "error: --members: the members use different tokenizers" in err, err


def test_generate_stops_at_eos_prints_no_eos_text_and_says_why(capsys, tmp_path):
    """METHOD-3, FAST-6: a member whose generation config names every id as EOS stops after one token; the
    completion leaves the EOS token out and the summary and --json give the stop reason."""
    from specens.coupling import tiny_causal_lm, tiny_tokenizer

    model = tiny_causal_lm("llama", 12, seed=0)
    model.generation_config.eos_token_id = list(range(12))
    model.save_pretrained(tmp_path / "m")
    tiny_tokenizer(12).save_pretrained(tmp_path / "m")
    for stream in ("--stream", "--no-stream"):
        code, out, err = run_cli(capsys, "t1 t2", "--members", str(tmp_path / "m"), "--max-new-tokens", "4", stream)
        assert code == 0 and out == "t1 t2\n" and "[1 token, stopped by eos" in err, (out, err)
    code, out, err = run_cli(capsys, "t1 t2", "--members", str(tmp_path / "m"), "--max-new-tokens", "4", "--json")
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"--json wrote {c}, which JSON does not allow"))
    assert data["stop_reason"] == data["summary"]["stop_reason"] == "eos" and len(data["token_ids"]) == 1
    assert data["stats"]["tokens_per_call"] is None  # no call after the prefill: undefined, not Infinity
    assert data["completion"] == ""
    code, out, err = run_cli(capsys, "def f(x):", "--max-new-tokens", "3")
    assert "3 tokens, stopped by max_new_tokens" in err


def test_chat_uses_the_cd_experts_template_whatever_the_member_order(capsys, tmp_path):
    """--chat: CD's expert's chat template (here the amateur, listed first, has none), else the first member's
    that has one; --json's prompt ids show the template's tokens (t1 before the turn, t2 after, t3 opening
    the answer)."""
    from specens.coupling import tiny_causal_lm, tiny_tokenizer

    for name, template in (("plain", None), ("chatty", "{% for m in messages %}t1 {{ m['content'] }} t2 {% endfor %}"
                                                        "{% if add_generation_prompt %}t3{% endif %}")):
        tiny_causal_lm("llama", 12, seed=len(name)).save_pretrained(tmp_path / name)
        tokenizer = tiny_tokenizer(12)
        tokenizer.chat_template = template
        tokenizer.save_pretrained(tmp_path / name)
    members = ("--members", f"{tmp_path / 'plain'},{tmp_path / 'chatty'}", "--max-new-tokens", "2", "--json")
    for extra in (("--combination", "cd", "--expert", "chatty"), ("--combination", "we")):
        code, out, err = run_cli(capsys, "t5 t6", *members, *extra, "--chat")
        assert code == 0 and json.loads(out)["prompt_ids"] == [1, 5, 6, 2, 3], (extra, out, err)
    code, out, err = run_cli(capsys, "t5 t6", *members, "--combination", "cd", "--expert", "plain", "--chat")
    assert code == 2 and "--chat: the members' tokenizer has no chat template" in err  # the expert's has none


def test_generate_reads_the_prompt_from_a_file_or_standard_input_exactly(capsys, tmp_path, monkeypatch):
    """`-` reads standard input, --prompt-file PATH a UTF-8 file; the text is kept as written (final newline too)."""
    import io

    text = "def median(values):\n    \"\"\"Médiane.\"\"\"\n"
    (tmp_path / "prompt.py").write_text(text, encoding="utf-8")
    want = run_cli(capsys, text, "--max-new-tokens", "5", "--json")
    from_file = run_cli(capsys, "--prompt-file", str(tmp_path / "prompt.py"), "--max-new-tokens", "5", "--json")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    from_stdin = run_cli(capsys, "-", "--max-new-tokens", "5", "--json")
    results = [json.loads(r[1]) for r in (want, from_file, from_stdin)]
    assert all(r["prompt"] == text and r["token_ids"] == results[0]["token_ids"] for r in results)
    for args, message in ((["x", "--prompt-file", "p"], "prompt: give the text"), ([], "prompt: no prompt given"),
                          (["--prompt-file", str(tmp_path / "missing")], "--prompt-file: cannot read")):
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and message in err and "Traceback" not in err, err


def test_generate_streams_the_same_text_it_prints_at_the_end(capsys):
    """Streaming (TextStreamer, incremental) and printing at the end give the same standard output."""
    args = ("def mean(data):", "--max-new-tokens", "24", "--seed", "5")
    streamed = run_cli(capsys, *args, "--stream")
    printed = run_cli(capsys, *args, "--no-stream")
    assert streamed[0] == printed[0] == 0 and streamed[1] == printed[1] and len(printed[1]) > len(args[0]) + 1


def test_generate_summary_names_method_combination_threads_and_every_member(capsys):
    """The summary: stop reason, threads (1 for the small bundled members on CPU), the method with its
    gammas and default proposer, the combination with its weights, and each member with its size."""
    code, out, err = run_cli(capsys, "import os", "--max-new-tokens", "4", "--members", "pytiny,pylib,pytests",
                             "--weights", "1,2,2", "--device", "cpu")
    assert code == 0
    assert "on 1 thread(s)" in err and torch.get_num_threads() == 1
    assert "[se (gammas pytiny 1, pylib 1, pytests 1; default proposer pytiny) over WE pytiny 1/5, pylib 2/5, " \
           "pytests 2/5, mode probs]" in err, err
    assert "members: pytiny (0.50M parameters" in err and "pylib (1.33M parameters" in err and "pytests (1.33M" in err
    code, out, err = run_cli(capsys, "import os", "--max-new-tokens", "4", "--threads", "2", "--device", "cpu")
    assert code == 0 and "on 2 thread(s)" in err
    torch.set_num_threads(1)


def test_generate_with_a_confidence_stop_and_an_outside_drafter_keeps_the_greedy_tokens(capsys):
    """METHOD-6, NAIVE-5 through the CLI: plain speculative decoding of pylib with pytiny drafting from outside,
    drafts of up to 6 tokens stopped below 0.5, emits pylib's own greedy tokens; the summary names the stop."""
    greedy = ("--temperature", "0", "--max-new-tokens", "12", "--no-stream")
    code, alone, _ = run_cli(capsys, "def median(values):", "--members", "pylib", "--method", "standard", *greedy)
    assert code == 0
    code, out, err = run_cli(capsys, "def median(values):", "--members", "pylib", "--method", "naive", "--drafter",
                             "pytiny", "--gammas", "6", "--confidence-threshold", "0.5", *greedy)
    assert code == 0 and out == alone
    assert "naive (gamma 6; proposer pytiny; confidence threshold 1/2)" in err, err


def test_generate_notes_settings_that_cannot_be_what_was_meant(capsys):
    """A member drafting for itself and a confidence stop on one-token proposals run (they are exact) but say so;
    a percentage for a threshold is refused with the probability it meant (METHOD-6, NAIVE-1)."""
    code, _, err = run_cli(capsys, "import os", "--members", "pylib", "--method", "naive", "--max-new-tokens", "4")
    assert code == 0 and "[note: pylib drafts for itself" in err and "--drafter MODEL" in err
    code, _, err = run_cli(capsys, "import os", "--members", "pylib", "--method", "naive", "--drafter", "pytiny",
                           "--confidence-threshold", "0.4", "--max-new-tokens", "4")
    assert code == 0 and "[note: --confidence-threshold: every proposal already has one token" in err
    assert "drafts for itself" not in err
    code, _, err = run_cli(capsys, "import os", "--method", "naive", "--gammas", "3", "--confidence-threshold", "40")
    assert code == 2 and "--confidence-threshold: must be a probability" in err and "40 % is 2/5" in err


def test_generate_summary_shows_huge_and_tiny_weights_and_costs_as_short_numbers(capsys):
    """--weights 1e400,1 is WE 1, 1e-400 (not a 400-digit fraction); --costs 1e-400,1 is not shown as cost 0."""
    code, out, err = run_cli(capsys, "x", "--max-new-tokens", "2", "--weights", "1e400,1", "--costs", "1e-400,1")
    assert code == 0 and "over WE pylib 1, pytests 1e-400, mode probs]" in err, err
    assert "pylib (1.33M parameters, cost 1e-400)" in err, err


def test_trace_says_who_proposed_and_who_verified_each_token(capsys):
    """TRACE-1 through --trace: every emitted token has a line; proposals name the proposer and the verifier."""
    code, out, _ = run_cli(capsys, "import os", "--max-new-tokens", "8", "--trace", "--members", "pytiny,pylib",
                           "--gammas", "3,1", "--seed", "1", "--no-stream")
    lines = [line for line in out.splitlines() if line.startswith("  pos ")]
    assert code == 0 and len(lines) == 8
    assert any("proposed by pytiny, verified by pylib" in line for line in lines)
    assert all("verified by" in line or "drawn from" in line for line in lines)


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"specens {version('specens')}"
