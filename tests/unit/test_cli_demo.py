"""`specens demo`: the reference's traced run on a toy ensemble, from the command line."""

import json

from specens.cli import main


def test_demo_prints_a_traced_run_and_confirms_the_exact_law(capsys):
    """TRACE-1, ENGINE-1 through the CLI: every step is printed and the exact law equals the ensemble's."""
    assert main(["demo", "--exact", "--length", "5", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "propose" in out and "verify" in out and "(bonus)" in out
    assert "equals the standard ensemble's: True" in out


def test_demo_json_is_the_reference_run(capsys):
    """RNG-1: --json gives the tokens, cost and trace of the run with that seed."""
    assert main(["demo", "--json", "--method", "naive", "--gammas", "3", "--seed", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["tokens"]) == 8 and data["trace"][0]["event"] == "call"


def test_demo_rejects_a_bad_gamma_with_exit_code_2(capsys):
    """SE-1: gammas >= 1; bad input is exit 2 with the option named."""
    assert main(["demo", "--gammas", "0,1"]) == 2
    assert "--gammas" in capsys.readouterr().err
