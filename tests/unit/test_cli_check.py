"""`specens check`: verdicts, exit codes (0 consistent, 1 rejected, 2 bad input) and the line-precise
messages on malformed samples files (ORACLE-7)."""

import json
import subprocess
import sys

import pytest

from specens.cli import main
from specens.oracle import CASES, MUTANTS

CASE = next(c for c in CASES if c.name == "we-se-2-2-eos")  # V = 4, EOS = 2, max_new_tokens = 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    (folder / "toy.json").write_text(json.dumps(CASE.toy()))

    def write(name, rows):
        (folder / name).write_text("".join(json.dumps([int(t) for t in row if t >= 0]) + "\n" for row in rows))

    write("good.jsonl", CASE.sampler().sample(40_000, seed=1))
    wrong = MUTANTS[3]  # bonus-unverified, on its own case
    (folder / "wrong-toy.json").write_text(json.dumps(wrong.case.toy()))
    write("wrong.jsonl", wrong.sample(40_000, seed=1))
    return folder


def check(files, samples, *extra, toy="toy.json"):
    return main(["check", "--ensemble", str(files / toy), "--samples", str(files / samples), *extra])


def test_exact_samples_exit_zero_with_the_report(files, capsys):
    """ORACLE-7, ORACLE-6: verdict, p-value, estimated TV and the worst cells on standard output."""
    assert check(files, "good.jsonl") == 0
    out = capsys.readouterr().out
    assert "consistent with the exact law" in out and "Sidak-adjusted p =" in out
    assert "estimated TV" in out and "largest discrepancies (expected vs observed)" in out


def test_a_wrong_sampler_exits_one(files, capsys):
    """ORACLE-7, ORACLE-9: the negative control (a bonus token emitted unverified) is rejected."""
    assert check(files, "wrong.jsonl", "--worst", "3", toy="wrong-toy.json") == 1
    assert "REJECTED" in capsys.readouterr().out


@pytest.mark.parametrize("lines, message", [
    (["[0, 1, 0, 1, 3]", "[0, 1"], "line 2: not valid JSON"),
    (["[0, 1, 0, 1, 3]", "", "[2]"], "line 2: empty line"),
    (['{"tokens": [0]}'], "line 1: expected a JSON array of integer token ids"),
    (["[0, 1, true, 1, 3]"], "line 1: expected a JSON array of integer token ids"),
    (["[0, 1, 0, 1, 3]", "[0, 1, 7, 1, 3]"], "line 2: token 7 at position 2 is out of range"),
    (["[0, 1, 0, 1, 3]", "[0, -1, 0, 1, 3]"], "line 2: token -1 at position 1 is out of range"),
    (["[0, 2, 0, 1, 3]"], "line 1: tokens follow the end-of-sequence token 2 at position 1"),
    (["[0, 1, 0, 1, 3, 3]"], "line 1: wrong length 6"),
    (["[0, 1, 0, 1, 3]", "[0, 1]"], "line 2: wrong length 2; expected exactly 5 tokens"),
])
def test_malformed_lines_exit_two_naming_the_line(files, tmp_path, capsys, lines, message):
    """ORACLE-7: every kind of bad line is refused with its line number and the fix."""
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["check", "--ensemble", str(files / "toy.json"), "--samples", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.jsonl" in err


def test_bad_arguments_and_missing_files_exit_two(files, capsys):
    """ORACLE-7: --length outside [1, max_new_tokens], --alpha outside (0, 1), missing files."""
    assert check(files, "good.jsonl", "--length", "9") == 2
    assert "--length" in capsys.readouterr().err
    assert check(files, "good.jsonl", "--alpha", "1.5") == 2
    assert "--alpha" in capsys.readouterr().err
    assert check(files, "missing.jsonl") == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", "--ensemble", str(files / "nope.json"), "--samples", str(files / "good.jsonl")]) == 2


def test_a_shorter_length_checks_the_law_of_the_first_tokens(files, capsys):
    """ORACLE-7: --length 2 checks the first two tokens, with that length's law."""
    assert check(files, "good.jsonl", "--length", "2") == 0
    assert "up to 2 tokens" in capsys.readouterr().out


def test_progress_goes_to_standard_error(files, capsys):
    """ORACLE-7: --progress always writes the progress line on stderr, never on stdout."""
    assert check(files, "good.jsonl", "--progress", "always") == 0
    captured = capsys.readouterr()
    assert "specens check: read 40,000 lines, done." in captured.err and "read" not in captured.out


def test_a_small_file_is_inconclusive_with_exit_status_three(files, tmp_path, capsys):
    """ORACLE-4, ORACLE-7: 200 samples cannot see the target TV bias: INCONCLUSIVE, exit 3, samples needed."""
    path = tmp_path / "few.jsonl"
    path.write_text("".join(line + "\n" for line in (files / "good.jsonl").read_text().splitlines()[:200]))
    assert main(["check", "--ensemble", str(files / "toy.json"), "--samples", str(path)]) == 3
    captured = capsys.readouterr()
    assert "INCONCLUSIVE" in captured.out and "consistent" not in captured.out
    assert "specens check: inconclusive: 200 samples" in captured.err and "use at least" in captured.err


def test_the_console_script_reads_standard_input(files):
    """ORACLE-7: `specens check ... --samples -` through the installed entry point."""
    done = subprocess.run([sys.executable, "-m", "specens.cli", "check", "--ensemble", str(files / "toy.json"),
                           "--samples", "-"], input=(files / "good.jsonl").read_text(), capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "consistent with the exact law" in done.stdout
