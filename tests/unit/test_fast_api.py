"""The public fast-path API: bad input raises ValueError naming the argument and the fix; statistics
agree with the trace; streams are per row (FAST-4); context limits are checked up front (FAST-5)."""

import re
from collections import Counter

import numpy as np
import pytest
import torch

from specens.api import Ensemble, default_method, generate
from specens.coupling import ToyLM, tiny_causal_lm, tiny_tokenizer
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble
from specens.reference.methods import MixtureEnsemble, NaiveSE, SpeculativeEnsemble, StandardEnsemble
from specens.reference.rng import UniformStream
from specens.reference.transforms import Sampling
from specens.reference.zoo import toy_ensemble


class Recorder:
    """A streamer in transformers' protocol that records what it receives."""

    def __init__(self):
        self.puts, self.ended = [], 0

    def put(self, value):
        self.puts.append(value.tolist())

    def end(self):
        self.ended += 1


def toy_fast(**kwargs):
    toy = toy_ensemble(2, 4, kind="logits", sparsity=0)
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    return Ensemble(members, toy.combination, **kwargs)


@pytest.mark.parametrize("call,argument", [
    (lambda e: generate(e, [1], max_new_tokens=0, seed=0), "max_new_tokens"),
    (lambda e: generate(e, [1], max_new_tokens=3), "seed/uniforms"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, uniforms=[0.5]), "seed/uniforms"),
    (lambda e: generate(e, [[1], [2]], max_new_tokens=3, seed=[1]), "seed"),
    (lambda e: generate(e, [[1], [2]], max_new_tokens=3, seed=[4, "4"]), "seed"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, top_k=0), "top_k"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, temperature=-1), "temperature"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, streamer=print), "streamer"),
    (lambda e: generate(e, [[1], [2]], max_new_tokens=3, seed=0, streamer=Recorder()), "streamer"),
    (lambda e: generate(e, [1], max_new_tokens=3, uniforms=[0.5]), "uniforms"),  # runs out
    (lambda e: generate(e, [[1], [2]], max_new_tokens=3, uniforms=[UniformStream(seed=1)] * 2), "uniforms"),
    (lambda e: generate(e, [], max_new_tokens=3, seed=0), "prompts"),
    (lambda e: generate(e, [[]], max_new_tokens=3, seed=0), "prompts"),
    (lambda e: generate(e, [1, 9], max_new_tokens=3, seed=0), "prompts"),
    (lambda e: generate(e, "t1 t2", max_new_tokens=3, seed=0), "prompts"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, method=SpeculativeEnsemble({"m0": 2})), "gammas"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, method=NaiveSE(proposer="zz")), "member"),
    (lambda e: generate(e, [1], max_new_tokens=3, seed=0, method="se"), "method"),
    (lambda e: Ensemble(e.members, ContrastiveDecoding("m1", "m9")), "combination"),
    (lambda e: Ensemble(e.members, mode="prob"), "mode"),
    (lambda e: Ensemble(e.members, dtype="bfloat16"), "dtype"),
    (lambda e: Ensemble(e.members, eos_token_id=4), "eos_token_id"),
    (lambda e: Ensemble(e.members, eos_token_id=[1, 4]), "eos_token_id"),
    (lambda e: Ensemble(e.members, eos_token_id="eos"), "eos_token_id"),
    (lambda e: Ensemble(e.members, eos_token_id=True), "eos_token_id"),
    (lambda e: Ensemble(e.members, device="foo"), "device: 'foo' is not a device"),
    (lambda e: Ensemble(e.members, sampling={"temperature": 0}), "sampling"),
    (lambda e: Ensemble([e.members[0], e.members[0]]), "members"),
    (lambda e: Ensemble(e.members, vocab_size=5), "vocab_size"),
    (lambda e: Member(e.members[0].model, name=""), "name"),
    (lambda e: Member(e.members[0].model, name="x", cost=0), "cost"),
    (lambda e: Member("/nonexistent/model", name="x"), "model"),
    (lambda e: Member(object(), name="x"), "model"),
])
def test_bad_input_raises_a_value_error_that_names_the_argument(call, argument):
    """FAST-1, FAST-4, FAST-5, COMBINE-1, COMBINE-5, SE-1, MIX-1: errors name what to fix."""
    with pytest.raises(ValueError, match=re.escape(argument)):
        call(toy_fast())


def test_the_mixture_ensemble_is_refused_outside_a_weighted_ensemble_in_mode_probs():
    """MIX-1: the mixture is exact only for WE in mode 'probs'."""
    with pytest.raises(ValueError, match="method"):
        generate(toy_fast(mode="logits"), [1], max_new_tokens=3, seed=0, method=MixtureEnsemble())


def test_a_prompt_that_does_not_fit_a_members_context_is_refused_before_any_call():
    """FAST-5: len(prompt) + max_new_tokens beyond a member's context names the member and the largest fit;
    a prompt that fills the context is told to shrink, never to lower max_new_tokens to 0."""
    member = Member(tiny_causal_lm("llama", 12, seed=0, context=8), name="short")
    ensemble = Ensemble([member, Member(tiny_causal_lm("gpt2", 12, seed=1), name="g")])
    with pytest.raises(ValueError, match=r"^max_new_tokens: .*'short' \(8 tokens\); lower it to 5 or shorten"):
        generate(ensemble, [1, 2, 3], max_new_tokens=6, seed=0)
    for prompt in ([1] * 8, [1] * 9):
        with pytest.raises(ValueError, match=r"^prompts: .*'short' \(8 tokens\); shorten it to 7 tokens or fewer$"):
            generate(ensemble, prompt, max_new_tokens=1, seed=0)
    assert len(generate(ensemble, [1] * 7, max_new_tokens=1, seed=0).tokens) == 1
    with pytest.raises(ValueError, match="prompt.*exceed"):
        member.prefill(list(range(9)))
    with pytest.raises(ValueError, match="prompt"):
        member.prefill([])
    assert len(generate(ensemble, [1, 2, 3], max_new_tokens=5, seed=0).tokens) == 5


def test_members_with_different_tokenizers_are_refused():
    """FAST-1: different vocabularies cannot be ensembled token by token."""
    a = Member(tiny_causal_lm("llama", 12, seed=0), name="a", tokenizer=tiny_tokenizer(12))
    b = Member(tiny_causal_lm("llama", 12, seed=1), name="b", tokenizer=tiny_tokenizer(12, prefix="w"))
    with pytest.raises(ValueError, match="tokenizer: the members use different tokenizers"):
        Ensemble([a, b])


def test_logit_widths_that_differ_need_a_tokenizer_or_a_vocabulary_size_and_never_a_narrower_member():
    """FAST-1: 12 and 16 logits without a tokenizer is ambiguous; a member narrower than V is refused."""
    a = Member(tiny_causal_lm("llama", 12, seed=0), name="a")
    b = Member(tiny_causal_lm("qwen2", 16, seed=1), name="b")
    with pytest.raises(ValueError, match="vocab_size: the members' logit widths differ"):
        Ensemble([a, b])
    assert Ensemble([a, b], vocab_size=12).vocab_size == 12
    with pytest.raises(ValueError, match="fewer logits"):
        Ensemble([a, b], tokenizer=tiny_tokenizer(14))


def test_statistics_agree_with_the_trace_and_the_cost_rule():
    """COST-1, COST-2, TRACE-1: calls, tokens fed, proposals, acceptances and cost match the trace's events."""
    ensemble = toy_fast()
    for method in (SpeculativeEnsemble({"m0": 3, "m1": 1}), NaiveSE(gamma=2), MixtureEnsemble()):
        out = generate(ensemble, [2], max_new_tokens=10, method=method, seed=3, trace=True)
        s, events = out.stats, out.trace
        calls = [e for e in events if e["event"] == "call"]
        for name in ensemble.names:
            mine = [e for e in calls if e["member"] == name]
            assert s.calls[name] == len(mine)
            assert s.tokens_fed[name] == sum(e["fed"][1] - e["fed"][0] for e in mine)
            assert s.proposed[name] == sum(1 for e in events if e["event"] == "propose" and e["member"] == name)
            verified = [e for e in events if e["event"] == "verify" and e["proposer"] == name]
            assert s.verified[name] == len(verified) and s.accepted[name] == sum(e["accepted"] for e in verified)
        assert s.cost == sum(ensemble.member(e["member"]).cost for e in calls)
        assert s.emitted == len(out.tokens) == 10 and s.prompt_tokens == 1
        assert set(s.seconds) == {"prefill", "propose", "score", "verify", "wall"}
        assert s.as_dict()["cost"] == str(s.cost)


def test_a_seed_and_the_same_uniforms_given_as_a_list_produce_the_same_run():
    """RNG-1: a seeded stream is PCG64(seed).random(); given as floats it reproduces the run exactly."""
    ensemble = toy_fast()
    method = SpeculativeEnsemble({"m0": 2, "m1": 2})
    seeded = generate(ensemble, [1], max_new_tokens=8, method=method, seed=11, trace=True)
    uniforms = np.random.Generator(np.random.PCG64(11)).random(seeded.uniforms_used).tolist()
    listed = generate(ensemble, [1], max_new_tokens=8, method=method, uniforms=uniforms, trace=True)
    assert listed.tokens == seeded.tokens and listed.trace == seeded.trace


def test_text_prompts_use_the_shared_tokenizer_and_return_text():
    """FAST-1: the tokenizer encodes the prompt and decodes the tokens; its size is V."""
    tokenizer = tiny_tokenizer(12)
    ensemble = Ensemble([Member(tiny_causal_lm("llama", 12, seed=0), name="a"),
                         Member(tiny_causal_lm("gpt2", 12, seed=1), name="b")], tokenizer=tokenizer,
                        sampling=Sampling(top_k=4))
    out = generate(ensemble, "t3 t4", max_new_tokens=5, method=SpeculativeEnsemble({"a": 2, "b": 1}), seed=0)
    assert out.text == tokenizer.decode(out.tokens) and out.stats.prompt_tokens == 2
    batch = generate(ensemble, ["t3", "t5 t6"], max_new_tokens=5, seed=[3, 8])
    assert [b.stats.prompt_tokens for b in batch] == [1, 2]


def test_members_in_other_dtypes_are_combined_in_one_dtype_on_one_device():
    """FAST-2: a bfloat16 and a float32 member; r in float32 by default or float64 on request."""
    a = Member(tiny_causal_lm("llama", 12, seed=0, dtype=torch.bfloat16), name="a", cost="1/4")
    b = Member(tiny_causal_lm("qwen2", 12, seed=1), name="b")
    for dtype in ("float32", "float64"):
        ensemble = Ensemble([a, b], dtype=dtype)
        assert ensemble.dtype == getattr(torch, dtype) and ensemble.combiner.coefficients.dtype == ensemble.dtype
        out = generate(ensemble, [1], max_new_tokens=12, method=SpeculativeEnsemble({"a": 3, "b": 1}), seed=0)
        assert len(out.tokens) == 12 and all(0 <= x < 12 for x in out.tokens)


def two_token_members(rows_a, rows_b):
    from fractions import Fraction

    from specens.reference.toy import ToyMember
    from specens.reference.transforms import Scores

    toys = [ToyMember(name, {None: Scores(logits=np.array(row))}, order=0, cost=Fraction(1))
            for name, row in (("a", rows_a), ("b", rows_b))]
    return [Member(ToyLM(t), name=t.name) for t in toys]


def test_an_empty_combination_raises_an_error_naming_the_cause():
    """COMBINE-6: per-member top-k in mode 'logits' can rule out every token; the error says so and how to fix it."""
    members = two_token_members([1.0, 0.0], [0.0, 1.0])
    ensemble = Ensemble(members, WeightedEnsemble({"a": "1/2", "b": "1/2"}), mode="logits", sampling=Sampling(top_k=1))
    with pytest.raises(ValueError, match="combination: every token is ruled out.*COMBINE-6"):
        generate(ensemble, [0], max_new_tokens=2, seed=0)
    assert generate(Ensemble(members, sampling=Sampling(top_k=1)), [0], max_new_tokens=2, seed=0).tokens


def test_a_member_with_nan_logits_raises_an_error_naming_the_member_and_never_emits():
    """TRANSFORM-1, VERIFY-4: NaN logits are an error, never a NaN distribution or an out-of-vocabulary token."""
    class NaNLM(ToyLM):  # the reference refuses NaN rows, so the NaN comes from the module itself
        def _row(self, context):
            return torch.tensor([float("nan"), 0.0], dtype=torch.float64)

    members = two_token_members([0.0, 0.0], [0.0, 0.0])
    members[1] = Member(NaNLM(members[1].model.toy), name="b")
    for method in (None, SpeculativeEnsemble({"a": 2, "b": 1}), SpeculativeEnsemble({"a": 2, "b": 1}, "b")):
        with pytest.raises(ValueError, match="member 'b': returned NaN"):
            generate(Ensemble(members), [0], max_new_tokens=3, seed=0, method=method)


def test_an_ensemble_with_a_tokenizer_stops_where_its_members_and_tokenizer_say_by_default():
    """FAST-6, METHOD-3: eos_token_id="auto" takes every id the members' generation configs and the tokenizer
    name (in [0, V)); without a tokenizer there is none; an explicit id, list or None wins."""
    llama = Member(tiny_causal_lm("llama", 12, seed=0), name="a")  # a default Llama config names EOS 2
    gpt2 = Member(tiny_causal_lm("gpt2", 12, seed=1), name="b")  # names 50256, outside V: dropped
    assert Ensemble([llama, gpt2]).eos_token_id == ()
    assert Ensemble([llama, gpt2], tokenizer=tiny_tokenizer(12)).eos_token_id == (2,)
    gpt2.model.generation_config.eos_token_id = [7, 5, 50256]
    assert Ensemble([llama, gpt2], tokenizer=tiny_tokenizer(12)).eos_token_id == (2, 5, 7)
    tokenizer = tiny_tokenizer(12)
    tokenizer.eos_token = "t9"
    assert Ensemble([gpt2], tokenizer=tokenizer).eos_token_id == (5, 7, 9)
    assert Ensemble([gpt2], tokenizer=tokenizer, eos_token_id=None).eos_token_id == ()
    assert Ensemble([gpt2], tokenizer=tokenizer, eos_token_id=[3, 1, 3]).eos_token_id == (1, 3)
    assert Ensemble([gpt2], tokenizer=tokenizer, eos_token_id=4).eos_token_id == (4,)


def test_every_id_in_an_eos_list_stops_a_row_and_the_run_says_why():
    """METHOD-3: with E = {1, 2} a row ends right after its first 1 or 2, else at max_new_tokens. The
    standard ensemble spends one uniform per token, so the row is the run without EOS cut after that token."""
    endless, stopping = toy_fast(eos_token_id=None), toy_fast(eos_token_id=[2, 1])
    reasons = Counter()
    for seed in range(40):
        full = generate(endless, [0], max_new_tokens=6, method=StandardEnsemble(), seed=seed)
        cut = generate(stopping, [0], max_new_tokens=6, method=StandardEnsemble(), seed=seed)
        ends = [i for i, t in enumerate(full.tokens) if t in (1, 2)]
        want = full.tokens[: ends[0] + 1] if ends else full.tokens
        assert cut.tokens == want and full.stop_reason == "max_new_tokens"
        assert cut.stop_reason == ("eos" if ends else "max_new_tokens")
        reasons[cut.tokens[-1] if ends else "max_new_tokens"] += 1
    assert set(reasons) == {1, 2, "max_new_tokens"}, reasons  # each id stopped some row
    for seed in range(10):  # the speculative ensemble stops at either id as well
        out = generate(stopping, [0], max_new_tokens=8, method=SpeculativeEnsemble({"m0": 3, "m1": 2}), seed=seed)
        assert all(t not in (1, 2) for t in out.tokens[:-1])
        assert out.stop_reason == ("eos" if out.tokens[-1] in (1, 2) else "max_new_tokens")


def test_the_text_of_a_row_stopped_by_eos_leaves_the_eos_token_out():
    """METHOD-3: the tokens keep the final EOS, the text does not (stop_reason says why the row ended)."""
    tokenizer = tiny_tokenizer(12)
    ensemble = Ensemble([Member(tiny_causal_lm("llama", 12, seed=0), name="a")], tokenizer=tokenizer,
                        eos_token_id=list(range(1, 12)))  # every id but 0 stops: most rows end early
    stopped = [out for out in (generate(ensemble, [0], max_new_tokens=4, seed=s) for s in range(6))
               if out.stop_reason == "eos"]
    assert stopped
    for out in stopped:
        assert out.tokens[-1] != 0 and out.text == tokenizer.decode(out.tokens[:-1]) != tokenizer.decode(out.tokens)


def test_generate_defaults_to_the_speculative_ensemble_with_gamma_one_for_every_member():
    """SE-1: no method means default_method, the same one `specens generate` uses."""
    ensemble = toy_fast()
    implicit = generate(ensemble, [1], max_new_tokens=8, seed=4, trace=True)
    explicit = generate(ensemble, [1], max_new_tokens=8, seed=4, trace=True,
                        method=SpeculativeEnsemble({"m0": 1, "m1": 1}))
    assert default_method(ensemble.names) == SpeculativeEnsemble({"m0": 1, "m1": 1})
    assert implicit.trace == explicit.trace and any(e["event"] == "propose" for e in implicit.trace)


def test_temperature_top_k_and_top_p_given_to_generate_override_the_ensembles_sampling():
    """TRANSFORM-1: per-call settings give the run of an ensemble built with them; the ensemble keeps its own."""
    ensemble = toy_fast()
    method = SpeculativeEnsemble({"m0": 2, "m1": 1})
    for settings in ({"temperature": 0}, {"top_k": 2}, {"top_p": "1/2", "temperature": "0.7"}):
        built = toy_fast(sampling=Sampling(**settings))
        for seed in range(3):
            want = generate(built, [1], max_new_tokens=8, method=method, seed=seed, trace=True)
            got = generate(ensemble, [1], max_new_tokens=8, method=method, seed=seed, trace=True, **settings)
            assert got.tokens == want.tokens and got.trace == want.trace
    assert ensemble.sampling == Sampling()
    plain = [generate(ensemble, [1], max_new_tokens=8, seed=s).tokens for s in range(6)]
    greedy = [generate(ensemble, [1], max_new_tokens=8, seed=s, temperature=0).tokens for s in range(6)]
    assert len({tuple(t) for t in greedy}) == 1 and len({tuple(t) for t in plain}) > 1  # the override acts


def test_rows_with_equal_seeds_and_equal_prompts_give_equal_outputs():
    """FAST-4: each row builds its own stream from its seed; equal seeds are not a shared stream."""
    ensemble = toy_fast()
    method = SpeculativeEnsemble({"m0": 3, "m1": 1})
    rows = generate(ensemble, [[1], [1], [1]], max_new_tokens=10, method=method, seed=[7, 7, 8], trace=True)
    assert rows[0].tokens == rows[1].tokens and rows[0].trace == rows[1].trace
    assert rows[0].trace != rows[2].trace  # negative control: another seed, another run
    assert rows[0].tokens == generate(ensemble, [1], max_new_tokens=10, method=method, seed=7).tokens


def test_a_streamer_gets_the_prompt_then_each_token_as_it_is_emitted():
    """TRACE-1: put(prompt (1, L)), then put((1,)) once per emit event, in order, then end()."""
    ensemble = toy_fast()
    recorder = Recorder()
    out = generate(ensemble, [1, 2], max_new_tokens=9, method=SpeculativeEnsemble({"m0": 3, "m1": 1}), seed=2,
                   trace=True, streamer=recorder)
    emitted = [e["token"] for e in out.trace if e["event"] == "emit"]
    assert recorder.puts == [[[1, 2]]] + [[t] for t in out.tokens] and emitted == out.tokens
    assert recorder.ended == 1


def test_transformers_text_streamer_prints_the_completion_without_splitting_a_character(capsys):
    """A byte-level tokenizer splits 'é', '中' and '😀' over several tokens; TextStreamer holds partial
    characters back, so every printed piece is whole text and the pieces add up to the decoded completion."""
    from transformers import AutoTokenizer, TextStreamer

    from specens._bundled import bundled_tokenizer_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_tokenizer_path())
    script = tokenizer('x = "é中😀" + y\n', add_special_tokens=False)["input_ids"]
    assert len(script) > len('x = "é中😀" + y\n'.encode()) // 2  # multi-byte characters span tokens

    class ScriptLM(ToyLM):  # emits `script` greedily, whatever the prompt
        def _row(self, context):
            row = torch.full((len(tokenizer),), -10.0, dtype=torch.float64)
            row[script[min(len(context) - 1, len(script) - 1)]] = 10.0
            return row

    from specens.reference.toy import ToyMember
    from specens.reference.transforms import Scores

    table = ToyMember("s", {None: Scores(logits=np.zeros(len(tokenizer)))}, order=0, cost=1)
    member = Member(ScriptLM(table), name="s")
    ensemble = Ensemble([member], tokenizer=tokenizer, sampling=Sampling(temperature=0), eos_token_id=None)

    class Pieces(TextStreamer):  # records the pieces TextStreamer would print
        def on_finalized_text(self, text, stream_end=False):
            self.pieces.append(text)

    streamer = Pieces(tokenizer, skip_prompt=True)
    streamer.pieces = []
    out = generate(ensemble, [0], max_new_tokens=len(script), seed=0, streamer=streamer)
    assert out.tokens == script
    assert "".join(streamer.pieces) == out.text == tokenizer.decode(script) and len(streamer.pieces) > 1
    assert not any("\ufffd" in p for p in streamer.pieces), streamer.pieces
