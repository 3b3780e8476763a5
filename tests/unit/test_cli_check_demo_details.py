"""Details of `specens check` and `specens demo` a first user trips over (ORACLE-7): flags named in every
error, no contradictory messages, no silently ignored options, and a quiet exit when the reader of a pipe
goes away."""

import json
import subprocess
import sys

import pytest

from specens.cli import main

TOY = {"format": "specens/toy-ensemble", "version": 1, "max_new_tokens": 3,
       "ensemble": {"members": [{"name": "a", "order": 0, "probs": {"": ["1/2", "1/4", "1/4"]}}],
                    "combination": {"kind": "we", "weights": {"a": 1}}, "eos_token_id": 2}}


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.json").write_text(json.dumps(TOY))
    return tmp_path


def check(folder, lines, *extra):
    (folder / "s.jsonl").write_bytes(lines if isinstance(lines, bytes) else "".join(l + "\n" for l in lines).encode())
    return main(["check", "--ensemble", str(folder / "toy.json"), "--samples", str(folder / "s.jsonl"), *extra])


def test_worst_must_be_non_negative_and_zero_leaves_the_table_out(toy, capsys):
    """ORACLE-6, ORACLE-7: --worst -1 is refused naming it; --worst 0 prints no empty table header."""
    assert check(toy, ["[0, 0, 0]"] * 50, "--worst", "-1") == 2
    assert "--worst" in capsys.readouterr().err
    check(toy, ["[0, 0, 0]"] * 50, "--worst", "0")
    out = capsys.readouterr().out
    assert "estimated TV" in out and "largest discrepancies" not in out


def test_a_short_line_says_exactly_how_long_a_line_must_be(toy, capsys):
    """ORACLE-7: "exactly 3 tokens, or fewer ending with the end-of-sequence token 2", not "at least"."""
    assert check(toy, ["[0, 1]"]) == 2
    err = capsys.readouterr().err
    assert "wrong length 2; expected exactly 3 tokens, or fewer ending with the end-of-sequence token 2" in err
    assert check(toy, ["[0, 1, 0, 1]"]) == 2
    err = capsys.readouterr().err
    assert "wrong length 4; expected exactly 3 tokens" in err
    assert "the toy file's law goes to max_new_tokens 3: sample with that limit, or raise it in the file" in err


def test_a_samples_file_that_is_not_utf8_names_the_file_and_line(toy, capsys):
    """ORACLE-7: a stray byte is bad input on its own line, not a decoding traceback."""
    assert check(toy, b"[0, 0, 0]\n[0, \xff]\n") == 2
    err = capsys.readouterr().err
    assert "s.jsonl line 2: not UTF-8 text" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, flag", [
    (["--gammas", "a"], "--gammas: comma-separated positive integers"),
    (["--temperature", "abc"], "--temperature: cannot read 'abc'"),
    (["--temperature", "1/0"], "--temperature: cannot read '1/0'"),
    (["--combination", "cd", "--members", "3"], "--members: --combination cd needs exactly 2 members"),
    (["--members", "0"], "--members: at least 1"),
    (["--members", "3", "--gammas", "1,1"], "--gammas: the se method takes 3 (one per member), got 2"),
    (["--method", "naive", "--gammas", "2,2"], "--gammas: the naive method takes 1, got 2"),
    (["--toy", "/nonexistent.json"], "/nonexistent.json: cannot read the toy file"),
])
def test_demo_errors_name_the_flag(argv, flag, capsys):
    """One line naming the flag (no 'n:' or 'weights:' from the Python API, no ZeroDivisionError)."""
    assert main(["demo", *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and err.count("\n") == 1


def test_demo_refuses_built_in_options_with_a_toy_file(toy, capsys):
    """A toy file sets the ensemble, method and length: --length etc. are refused, not silently ignored."""
    assert main(["demo", "--toy", str(toy / "toy.json"), "--length", "5", "--method", "standard"]) == 2
    assert "--method, --length: the toy file sets" in capsys.readouterr().err
    assert main(["demo", "--toy", str(toy / "toy.json")]) == 0  # control
    assert main(["demo", "--members", "3", "--gammas", "2,1,1", "--length", "3"]) == 0  # control


@pytest.mark.parametrize("command", ["demo --exact", "check --ensemble {toy} --samples {samples}"])
def test_output_piped_to_a_reader_that_stops_exits_quietly(command, toy):
    """`specens demo --exact | head`: no BrokenPipeError traceback, for any subcommand (cli.main). The
    reader closes its end before specens writes a byte, so every write meets a closed pipe."""
    (toy / "s.jsonl").write_text("[0, 0, 0]\n" * 200)
    args = command.format(toy=toy / "toy.json", samples=toy / "s.jsonl").split()
    run = subprocess.Popen([sys.executable, "-m", "specens.cli", *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    run.stdout.close()  # the reader is gone
    err = run.stderr.read()
    assert run.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
