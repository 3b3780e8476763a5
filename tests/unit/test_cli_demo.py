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


def test_demo_runs_the_speculative_mixture_and_shows_the_chosen_verifier_and_outside_drafter(capsys, tmp_path):
    """SMIX-1, SMIX-3, METHOD-5, TOY-7, TRACE-1: `--method speculative-mixture` with one --gammas value;
    a verify line names the member chosen to verify (`against`) and its p_k/q; a toy file's outside
    drafter is listed with the ensemble."""
    from specens.reference import SpeculativeMixture, dump_toy
    from specens.reference.zoo import random_member, toy_ensemble

    assert main(["demo", "--method", "speculative-mixture", "--gammas", "3", "--length", "6", "--exact"]) == 0
    out = capsys.readouterr().out
    assert "'name': 'speculative-mixture', 'gamma': 3" in out and "equals the standard ensemble's: True" in out
    verifies = [line for line in out.splitlines() if "verify" in line]
    assert verifies and all("against m1, p_m1/q" in line for line in verifies), verifies  # m0 drafts, so m1 verifies
    assert main(["demo", "--method", "speculative-mixture", "--gammas", "3,1"]) == 2
    assert "--gammas: the speculative-mixture method takes 1" in capsys.readouterr().err
    toy = toy_ensemble(2, 3, seed=2).with_(drafter=random_member("t", 3, order=1, cost="1/10", seed=3))
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(dump_toy(toy, SpeculativeMixture(gamma=2), 3)))
    assert main(["demo", "--toy", str(path)]) == 0
    assert "outside drafter t (cost 1/10)" in capsys.readouterr().out
