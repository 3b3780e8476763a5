"""Real transformers members: random-init in memory and saved-then-reloaded from a local directory,
offline (HF_HUB_OFFLINE=1, set by tests/conftest.py); nothing is downloaded."""

import os

import pytest
import torch

from specens.api import Ensemble, generate
from specens.coupling import tiny_causal_lm, tiny_tokenizer, trace_mismatches
from specens.members import Member
from specens.reference.combine import WeightedEnsemble
from specens.reference.methods import NaiveSE, SpeculativeEnsemble, StandardEnsemble
from specens.reference.transforms import Sampling

torch.set_num_threads(1)


def test_saved_then_reloaded_members_generate_the_same_tokens_as_the_in_memory_members(tmp_path):
    """FAST-1, FAST-3: save_pretrained / Member.from_pretrained (safetensors, no remote code, local only).

    Both are Llama models: AutoTokenizer picks the tokenizer class from the model type, and a Qwen2
    directory would reload this tokenizer as a Qwen2Tokenizer with an extra token (FAST-1 refuses that).
    """
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    tokenizer = tiny_tokenizer(16)
    models = {"small": tiny_causal_lm("llama", 16, seed=20), "large": tiny_causal_lm("llama", 16, seed=21, layers=2)}
    for name, model in models.items():
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    assert all((tmp_path / name / "model.safetensors").exists() for name in models)
    in_memory = Ensemble([Member(models["small"], name="small", cost="1/4", tokenizer=tokenizer),
                          Member(models["large"], name="large", tokenizer=tokenizer)],
                         WeightedEnsemble({"small": "1/4", "large": "3/4"}), sampling=Sampling(temperature="0.9"))
    reloaded = Ensemble([Member.from_pretrained(tmp_path / "small", cost="1/4"),
                         Member.from_pretrained(tmp_path / "large")],
                        WeightedEnsemble({"small": "1/4", "large": "3/4"}), sampling=Sampling(temperature="0.9"))
    assert reloaded.names == ("small", "large") and reloaded.tokenizer is not None and reloaded.vocab_size == 16
    for method in (StandardEnsemble(), NaiveSE(gamma=2), SpeculativeEnsemble({"small": 3, "large": 1})):
        a = generate(in_memory, "t1 t2 t3", max_new_tokens=10, method=method, seed=5, trace=True)
        b = generate(reloaded, "t1 t2 t3", max_new_tokens=10, method=method, seed=5, trace=True)
        # Reloaded weights are bitwise equal, but their memory layout can pick other float32 kernels:
        # logits move by ~1e-7 relative, so ratios get 1e-5 (a wrong model would move them by > 1e-2).
        assert a.tokens == b.tokens and a.text == b.text and not trace_mismatches(a.trace, b.trace, rtol=1e-5)
    path_member = Member(str(tmp_path / "large"), name="by-path")  # a path is loaded with the same defaults
    assert path_member.tokenizer is not None and path_member.logit_width == 16


def test_loading_refuses_anything_but_a_local_directory():
    """FAST-1: specens never downloads; a hub id or a missing path is a ValueError naming `model`."""
    with pytest.raises(ValueError, match="model: .*never downloads"):
        Member.from_pretrained("some-org/some-model")


def test_a_three_member_speculative_ensemble_runs_with_every_member_as_the_default_proposer():
    """SE-1, SE-2, SE-3: n = 3, gammas 1 and above 1; statistics report alpha per proposing member."""
    members = [Member(tiny_causal_lm(arch, 12, seed=30 + i), name=arch, cost=c)
               for i, (arch, c) in enumerate((("gpt2", "1/8"), ("llama", "1/2"), ("qwen2", "1")))]
    ensemble = Ensemble(members, WeightedEnsemble({"gpt2": "1/6", "llama": "2/6", "qwen2": "3/6"}))
    for default in ensemble.names:
        out = generate(ensemble, [[1, 2], [3]], max_new_tokens=12,
                       method=SpeculativeEnsemble({"gpt2": 3, "llama": 1, "qwen2": 2}, default), seed=[1, 2])
        for row in out:
            assert len(row.tokens) == 12
            assert all(a is None or 0 <= a <= 1 for a in row.stats.alpha.values())
            assert row.stats.verified[default] > 0


def test_a_member_loaded_with_an_accelerate_device_map_works_as_a_plain_member(tmp_path):
    """FAST-2, FAST-3: a model dispatched by accelerate (`device_map`, here with a layer offloaded to
    disk so accelerate's hooks move its weights in at every call) generates the same tokens as the plain
    member. On a multi-GPU machine the same path shards layers across devices."""
    pytest.importorskip("accelerate")
    tokenizer = tiny_tokenizer(16)
    model = tiny_causal_lm("llama", 16, seed=30, layers=2)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    small = Member(tiny_causal_lm("llama", 16, seed=31), name="small", cost="1/4", tokenizer=tokenizer)
    device_map = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk",
                  "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    from transformers import AutoModelForCausalLM

    dispatched = AutoModelForCausalLM.from_pretrained(tmp_path / "m", device_map=device_map, local_files_only=True,
                                                      offload_folder=str(tmp_path / "offload"))
    assert getattr(dispatched, "hf_device_map", None), "the model was not dispatched"
    plain = Member.from_pretrained(tmp_path / "m", name="large")
    sharded = Member(dispatched, name="large", tokenizer=plain.tokenizer)
    combination = WeightedEnsemble({"small": "1/3", "large": "2/3"})
    for method in (StandardEnsemble(), SpeculativeEnsemble({"small": 2, "large": 1})):
        a = generate(Ensemble([small, plain], combination), [1, 2, 3], max_new_tokens=8, method=method, seed=2,
                     trace=True)
        b = generate(Ensemble([small, sharded], combination), [1, 2, 3], max_new_tokens=8, method=method, seed=2,
                     trace=True)
        assert a.tokens == b.tokens and not trace_mismatches(a.trace, b.trace, rtol=1e-5)
