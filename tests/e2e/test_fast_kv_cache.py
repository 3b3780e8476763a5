"""KV caches: every call feeds exactly the unseen tokens, and crops roll caches back to the verified prefix.

Each model gets a forward pre-hook recording, per call, how many tokens it was fed and how long its
cache was before the call; these are checked against the trace's `call` events (`fed = [start, end]`)
and `crop` events (DEFECT-9: a cache not rolled back, or rolled back one off).
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, MistralConfig

from specens.api import Ensemble, generate
from specens.coupling import tiny_causal_lm
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.methods import MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble

torch.set_num_threads(1)


def instrument(member: Member, log: list):
    """Record (tokens fed, cache length before the call) for every forward of the member's model, and the
    cache length right after every crop."""

    def hook(module, args, kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        log.append(("call", kwargs["input_ids"].shape[1], cache.get_seq_length()))

    member.model.register_forward_pre_hook(hook, with_kwargs=True)
    crop = member.crop

    def recording_crop(length):
        crop(length)
        log.append(("crop", length, member.cache.get_seq_length()))

    member.crop = recording_crop


@pytest.mark.parametrize("method_name", ["standard", "naive", "se", "se-long", "mixture"])
def test_every_call_feeds_exactly_the_unseen_tokens_and_crops_restore_the_verified_prefix(method_name):
    """FAST-3, METHOD-1, METHOD-4, COST-1: prompt once per member, then only unseen tokens; crops to len(prompt) + i."""
    members = [Member(tiny_causal_lm("llama", 12, seed=1), name="a", cost="1/4"),
               Member(tiny_causal_lm("gpt2", 12, seed=2), name="b")]
    logs = {m.name: [] for m in members}
    for m in members:
        instrument(m, logs[m.name])
    ensemble = Ensemble(members, WeightedEnsemble({"a": "1/3", "b": "2/3"}))
    method = {"standard": StandardEnsemble(), "naive": NaiveSE(gamma=3), "se": SpeculativeEnsemble({"a": 2, "b": 1}),
              "se-long": SpeculativeEnsemble({"a": 1, "b": 3}, "b"), "mixture": MixtureEnsemble()}[method_name]
    crops = 0
    for seed in range(6):
        prompt = [3, 1, 4][: 1 + seed % 3]
        for log in logs.values():
            log.clear()
        out = generate(ensemble, prompt, max_new_tokens=12, method=method, seed=seed, trace=True)
        for name, log in logs.items():
            expected, rejected_at = [], None
            for event in out.trace:
                if event["event"] == "verify" and not event["accepted"]:
                    rejected_at = event["position"]
                if event.get("member") != name:
                    continue
                if event["event"] == "call":
                    start, end = event["fed"]
                    if event["kind"] == "prefill":
                        expected.append(("call", len(prompt), 0))
                    else:
                        expected.append(("call", end - start, len(prompt) + start))
                elif event["event"] == "crop":
                    assert event["length"] == rejected_at  # cropped to the tokens before the rejected one
                    expected.append(("crop", len(prompt) + rejected_at, len(prompt) + rejected_at))
                    crops += 1
            assert log == expected, (name, seed)
            assert sum(1 for e in log if e[0] == "call" and e[2] == 0) == 1  # the prompt is processed once
    if method_name in ("naive", "se", "se-long"):
        assert crops > 0  # rejections happened, so crops were exercised


@pytest.mark.parametrize("method_name", ["mixture", "se-long"])
def test_a_catch_up_call_runs_the_lm_head_only_on_rows_a_rule_reads_and_changes_nothing(method_name):
    """FAST-3: a member catching up on emitted tokens gets logits only for the positions from len(emitted) on
    (`logits_to_keep`); tokens, trace and decisions equal those of a run computing every row."""
    def run(keep_last: bool):
        members = [Member(tiny_causal_lm("llama", 12, seed=1), name="a", cost="1/4"),
                   Member(tiny_causal_lm("qwen2", 12, seed=2), name="b")]
        kept = []
        for m in members:
            m._keep_last = m._keep_last and keep_last
            m.model.register_forward_pre_hook(
                lambda module, args, kwargs: kept.append((kwargs["input_ids"].shape[1], kwargs.get("logits_to_keep"))),
                with_kwargs=True)
        ensemble = Ensemble(members, WeightedEnsemble({"a": "1/4", "b": "3/4"}))
        method = MixtureEnsemble() if method_name == "mixture" else SpeculativeEnsemble({"a": 1, "b": 3}, "b")
        outs = [generate(ensemble, [3, 1], max_new_tokens=16, method=method, seed=s, trace=True) for s in range(4)]
        return [(o.tokens, o.trace, o.decisions) for o in outs], kept

    fast, kept = run(True)
    full, kept_full = run(False)
    assert fast == full
    assert all(keep is None for _, keep in kept_full)
    skipped = [(n, keep) for n, keep in kept if keep is not None]
    assert all(1 <= keep < n for n, keep in skipped)
    prefills = 2 * 4  # two members, four rows, a prompt of two tokens: the last row only
    if method_name == "mixture":  # a member not drawn for a few steps catches up and needs its last row only
        assert len(skipped) > prefills and all(keep == 1 for _, keep in skipped)


def test_a_sliding_window_cache_that_cannot_be_cropped_is_refused_before_generation():
    """FAST-3: a cache that would lose states before a crop is an error up front; methods that never crop run."""
    config = MistralConfig(vocab_size=12, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, sliding_window=4)
    torch.manual_seed(0)
    windowed = Member(AutoModelForCausalLM.from_config(config), name="w")
    ensemble = Ensemble([windowed, Member(tiny_causal_lm("llama", 12, seed=1), name="a", cost="1/4")])
    with pytest.raises(ValueError, match="sliding-window KV cache"):
        generate(ensemble, [1, 2], max_new_tokens=8, method=SpeculativeEnsemble({"w": 1, "a": 2}), seed=0)
    standard = generate(ensemble, [1, 2], max_new_tokens=8, method=StandardEnsemble(), seed=0)
    assert len(standard.tokens) == 8  # the standard ensemble never crops
    assert len(generate(ensemble, [1], max_new_tokens=2, method=SpeculativeEnsemble({"w": 1, "a": 2}), seed=0).tokens) == 2


def test_a_cache_whose_crop_fails_raises_a_clear_error_instead_of_continuing():
    """FAST-3: when a crop raises or leaves the wrong length, generation stops with a ValueError naming the member."""
    member = Member(tiny_causal_lm("qwen2", 12, seed=5), name="q", cost="1/4")
    other = Member(tiny_causal_lm("llama", 12, seed=6), name="l")
    ensemble = Ensemble([member, other], ContrastiveDecoding(expert="l", amateur="q"))
    make = member._new_cache

    def broken_cache():
        cache = make()
        cache.crop = lambda n: None  # silently does nothing: the length check must catch it
        return cache

    member._new_cache = broken_cache
    with pytest.raises(ValueError, match="member 'q'.*crop"):
        for seed in range(20):  # some seed rejects a proposal of q's
            generate(ensemble, [1], max_new_tokens=10, method=SpeculativeEnsemble({"q": 3, "l": 1}), seed=seed)
