"""The conformance kit (ORACLE-11): `specens kit` output loads as ordinary transformers checkpoints,
its laws are the fast path's float64 laws on those checkpoints, the oracle's sampler on a kit law is
judged consistent while a draft-only sampler is rejected, and an edited checkpoint is refused by name
(TOY-5). The kit is written once per module through the CLI (about 4 s, precision measurement off).
"""

import json
import math
import shutil

import pytest

torch = pytest.importorskip("torch")

from specens import cli  # noqa: E402
from specens.api import Ensemble  # noqa: E402
from specens.members import Member  # noqa: E402
from specens.oracle import VectorSampler, assert_sampler_exact  # noqa: E402
from specens.oracle.kit import CHECKPOINTS, SETTINGS, VOCAB, law_summary, law_tv, setting_law, verify_kit  # noqa: E402
from specens.oracle.tables import Tables  # noqa: E402
from specens.reference import load_toy  # noqa: E402
from specens.reference.toy_json import read_toy_file  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit") / "kit"
    assert cli.main(["kit", "--out", str(out), "--no-precision"]) == 0
    return out


@pytest.fixture(scope="module")
def loaded(kit):
    from transformers import AutoModelForCausalLM

    return {c.name: AutoModelForCausalLM.from_pretrained(kit / "models" / c.name).to(torch.float64).eval()
            for c in CHECKPOINTS}


def law(kit, setting):
    return load_toy(read_toy_file(kit / "laws" / f"{setting.name}.json"))


def test_specens_kit_writes_checkpoints_laws_and_a_readme_per_setting(kit, capsys):
    """ORACLE-11: every setting has a law file and a README entry saying what to sample and how to check."""
    readme = (kit / "README.md").read_text()
    for setting in SETTINGS:
        assert (kit / "laws" / f"{setting.name}.json").exists()
        assert f"### {setting.name}" in readme and f"--ensemble laws/{setting.name}.json" in readme
        assert f"Prompt ids `{list(setting.prompt)}`" in readme
    for c in CHECKPOINTS:
        assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= \
            {p.name for p in (kit / "models" / c.name).iterdir()}
    assert cli.main(["kit", "--out", str(kit), "--verify"]) == 0
    assert "SHA-256 verified" in capsys.readouterr().out
    # written with --no-precision: no per-setting precision line, and the closing paragraph says so
    assert "- Float precision:" not in readme and "written with --no-precision" in readme
    assert "listed per setting" not in readme


def test_kit_checkpoints_load_in_transformers_as_ordinary_checkpoints(kit, loaded):
    """ORACLE-11, TOY-2: AutoTokenizer/AutoModelForCausalLM load each folder; the law's rows are the
    loaded model's float64 logits (the same float32 weights, cast once: equal to 1e-12 relative)."""
    from transformers import AutoTokenizer

    assert {type(m).__name__ for m in loaded.values()} == {"LlamaForCausalLM", "GPT2LMHeadModel"}
    for setting in SETTINGS:
        ensemble, _, length = law(kit, setting)
        for member in ensemble.members:
            tok = AutoTokenizer.from_pretrained(kit / "models" / member.name)
            assert tok(" ".join(VOCAB[t] for t in setting.prompt[1:])).input_ids == list(setting.prompt)
            assert (tok.bos_token_id, tok.eos_token_id) == (0, 1) and len(tok) == len(VOCAB)
            context = setting.prompt + (2, 5)
            with torch.no_grad():
                want = loaded[member.name](input_ids=torch.tensor([context])).logits[0, -1].tolist()
            assert member.scores(context).logits.tolist() == pytest.approx(want, rel=1e-12, abs=1e-12)


@torch.no_grad()
def fast_r(fast, prompt, prefix):
    """r after prompt + prefix from the fast path: each member's KV-cached prefill and feed, then its combiner."""
    rows = []
    for m in fast.members:
        logits = m.prefill(list(prompt))
        if prefix:
            logits = m.feed(list(prefix))[-1]
        rows.append(logits[: len(VOCAB)].to(torch.float64))
    return fast.combiner.target(torch.stack(rows)).tolist()  # (N, V) -> (V,)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_kit_law_is_the_fast_paths_float64_law_on_the_checkpoints(kit, loaded, setting):
    """ORACLE-11, COMBINE-7: r at the prompt and after the law's likeliest prefixes of 1 to 3 tokens equals
    the fast path's float64 r on the loaded checkpoints (KV cache, combiner, sampling), to 1e-9 relative
    (cached and uncached float64 forwards differ by ~1e-14); the law sums to 1 exactly."""
    ensemble, _, length = law(kit, setting)
    fast = Ensemble([Member(loaded[m.name], name=m.name, cost=1) for m in ensemble.members], ensemble.combination,
                    mode=ensemble.mode, sampling=ensemble.sampling, vocab_size=len(VOCAB), dtype="float64")
    pmf = law_summary(read_toy_file(kit / "laws" / f"{setting.name}.json"))["law"]
    assert sum(pmf.values()) == 1
    prefixes = {()} | {seq[:j] for seq in sorted(pmf, key=pmf.get, reverse=True)[:4] for j in range(1, length)
                       if len(seq) > j}
    for prefix in sorted(prefixes):
        exact = [float(p) for p in ensemble.target(ensemble.prompt + prefix)]
        got = fast_r(fast, setting.prompt, prefix)
        assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15) for a, b in zip(got, exact)), (prefix, got, exact)


def test_the_oracle_sampler_on_a_kit_law_is_consistent_and_a_draft_only_sampler_is_rejected(kit):
    """ORACLE-8, ORACLE-11: VectorSampler on the reachable-state tables of the sd-t1 law passes at the
    README's 20,000 samples; negative control: a 'speculative decoder' that emits the draft's own law
    (no verification) is rejected by the same check."""
    path = kit / "laws" / "sd-t1.json"
    ensemble, method, length = load_toy(read_toy_file(path))
    sampler = VectorSampler(ensemble, method, length, tables=Tables(ensemble, length=length))
    assert_sampler_exact(lambda n, seed: sampler.sample(n, seed=seed), path, samples=20_000)
    toy = read_toy_file(path)
    toy["ensemble"]["combination"]["weights"] = {"llama-target": 0, "llama-draft": 1}
    wrong, _, _ = load_toy(toy)
    unverified = VectorSampler(wrong, method, length, tables=Tables(wrong, length=length))
    with pytest.raises(AssertionError, match="not exact"):
        assert_sampler_exact(lambda n, seed: unverified.sample(n, seed=seed), path, samples=20_000)


def test_an_edited_checkpoint_is_detected_and_named(kit, tmp_path, capsys):
    """TOY-5: one weight of llama-draft changed -> verify_kit and specens check refuse, naming it; the
    untouched kit and a law whose checkpoint folder is absent (named on stderr) are accepted."""
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "kit"
    shutil.copytree(kit, copy)
    samples = tmp_path / "s.jsonl"
    samples.write_text("[2, 2, 2, 2]\n")
    args = ["check", "--ensemble", str(copy / "laws" / "sd-t1.json"), "--samples", str(samples), "--worst", "0"]
    assert cli.main(args) in (0, 1, 3)  # judged (one sample), not refused
    weights = copy / "models" / "llama-draft" / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] += 1e-3
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"members\[1\]\.checkpoint: checkpoint 'llama-draft' .*weights changed"):
        verify_kit(copy)
    capsys.readouterr()
    assert cli.main(args) == 2
    assert "checkpoint 'llama-draft'" in capsys.readouterr().err
    shutil.rmtree(copy / "models")
    assert cli.main(args) in (0, 1, 3)
    assert "not verified" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not found"):
        verify_kit(copy)


def test_float32_forwards_barely_move_a_kit_law_and_bfloat16_ones_do(loaded):
    """ORACLE-11: the README's float precision facts on one setting: float32 forwards of the same weights
    are within TV 1e-4 of the float64 law, bfloat16 ones at least 10 times further."""
    setting = SETTINGS[0]
    exact = law_summary(setting_law(setting, loaded))["law"]
    tv32 = law_tv(exact, law_summary(setting_law(setting, loaded, dtype="float32"))["law"])
    tv16 = law_tv(exact, law_summary(setting_law(setting, loaded, dtype="bfloat16"))["law"])
    assert tv32 < 1e-4 and 10 * tv32 < tv16, (tv32, tv16)
    assert json.dumps(setting_law(setting, loaded))  # a law is plain JSON
