"""What the fast path's Python API accepts: every prompt form through one check, NumPy integers wherever an
int is expected, the thread count of a call, a tiny temperature, devices and quiet loading (FAST-1..5)."""

import logging
import re

import numpy as np
import pytest
import torch
from transformers.utils import logging as hf_logging

import specens._inputs
from specens.api import Ensemble, generate
from specens.coupling import ToyLM, tiny_causal_lm, tiny_tokenizer
from specens.distributions import temperature_overflows
from specens.members import Member
from specens.reference.combine import ContrastiveDecoding
from specens.reference.methods import NaiveSE, SpeculativeEnsemble, StandardEnsemble
from specens.reference.transforms import Sampling
from specens.reference.zoo import toy_ensemble


def toy_fast(combination=None, **kwargs):
    toy = toy_ensemble(2, 4, kind="logits", sparsity=0)  # V = 4, members m0 and m1
    members = [Member(ToyLM(m), name=m.name, cost=m.cost) for m in toy.members]
    return Ensemble(members, combination or toy.combination, **kwargs)


class ThreadProbe:
    """A streamer that notes torch's thread count each time the run hands it a token."""

    def __init__(self):
        self.seen = set()

    def put(self, value):
        self.seen.add(torch.get_num_threads())

    def end(self):
        pass


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def threads_inside(ensemble, **kwargs) -> set:
    probe = ThreadProbe()
    out = generate(ensemble, [1], max_new_tokens=3, seed=0, streamer=probe, **kwargs)
    assert out.stats.threads in probe.seen
    return probe.seen


def test_generate_runs_small_cpu_members_on_one_thread_and_restores_the_count_after(two_threads, monkeypatch):
    """FAST-5: threads='auto' is 1 for members under the size bound on the CPU; an int sets the count, None
    leaves torch alone, and every call gives the previous count back. OMP_NUM_THREADS or a large member
    turns 'auto' off (the negative controls)."""
    ensemble = toy_fast()
    assert threads_inside(ensemble) == {1} and torch.get_num_threads() == 2
    assert threads_inside(ensemble, threads=3) == {3} and torch.get_num_threads() == 2
    assert threads_inside(ensemble, threads=None) == {2}
    monkeypatch.setattr(specens._inputs, "SMALL_MEMBER_PARAMETERS", 0)  # every member counts as large
    assert threads_inside(ensemble) == {2}
    monkeypatch.undo()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads_inside(ensemble) == {2} and torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -1, 10**6, True, 1.5, "two"])
def test_a_thread_count_outside_one_to_four_per_core_is_refused_naming_threads(threads):
    with pytest.raises(ValueError, match=r"^threads: "):
        generate(toy_fast(), [1], max_new_tokens=2, seed=0, threads=threads)


@pytest.mark.parametrize("prompts", [
    torch.tensor([1, 4 + 10]), torch.tensor([1, -1]), torch.tensor([[1, -3]]), torch.tensor([1.7, 2.2]),
    torch.tensor([True, False]), [1.7, 2.2], np.array([1.5]), np.array([[1, 9]]), [[1, 2], [0.5]],
    [[1, 2], np.array([1.0])], torch.tensor(3), {"ids": [1]}, [True, 1],
], ids=repr)
def test_every_prompt_form_is_checked_for_integer_ids_in_the_vocabulary(prompts):
    """FAST-1: ids must be integers in [0, V); a float, bool or out-of-range id in a list, a tensor or an
    array is one ValueError naming prompts (never an IndexError, never a silently truncated float)."""
    with pytest.raises(ValueError, match=r"^prompts: "):
        generate(toy_fast(), prompts, max_new_tokens=2, seed=0)


def test_lists_tensors_and_numpy_arrays_of_the_same_ids_give_the_same_run():
    """FAST-4: the prompt's form does not change the run; a 2-D tensor or array is a batch."""
    ensemble = toy_fast()
    want = generate(ensemble, [1, 2], max_new_tokens=6, seed=5).tokens
    for prompt in ((1, 2), torch.tensor([1, 2]), torch.tensor([1, 2], dtype=torch.int32), np.array([1, 2]),
                   np.array([1, 2], dtype=np.uint8), [np.int64(1), np.int32(2)], [torch.tensor(1), 2]):
        assert generate(ensemble, prompt, max_new_tokens=6, seed=5).tokens == want, prompt
    for batch in (torch.tensor([[1, 2], [1, 2]]), np.array([[1, 2], [1, 2]]), [np.array([1, 2]), [1, 2]]):
        rows = generate(ensemble, batch, max_new_tokens=6, seed=[5, 5])
        assert [r.tokens for r in rows] == [want, want]


CHAT_TEMPLATE = ("{% for m in messages %}t1 {{ m['content'] }} t2 {% endfor %}"
                 "{% if add_generation_prompt %}t3{% endif %}")  # t1/t2 around each turn, t3 opens the answer


def chat_ensemble(template=CHAT_TEMPLATE):
    tokenizer = tiny_tokenizer(12)
    tokenizer.chat_template = template
    member = Member(tiny_causal_lm("llama", 12, seed=0), name="a", tokenizer=tokenizer)
    return Ensemble([member], tokenizer=tokenizer)


def test_chat_messages_are_put_in_the_tokenizers_chat_template_as_transformers_pipeline_does():
    """FAST-1: a list of {"role", "content"} dicts is one prompt in the chat template, the answer's turn opened
    (transformers' apply_chat_template(add_generation_prompt=True)); a list of conversations is a batch."""
    ensemble = chat_ensemble()
    chat = [{"role": "user", "content": "t5 t6"}]
    assert generate(ensemble, chat, max_new_tokens=4, seed=3).tokens == \
        generate(ensemble, [1, 5, 6, 2, 3], max_new_tokens=4, seed=3).tokens
    two = [chat, [{"role": "system", "content": "t4"}, {"role": "user", "content": "t7"}]]
    rows = generate(ensemble, two, max_new_tokens=4, seed=[3, 3])
    assert [r.tokens for r in rows] == [generate(ensemble, ids, max_new_tokens=4, seed=3).tokens
                                        for ids in ([1, 5, 6, 2, 3], [1, 4, 2, 1, 7, 2, 3])]


def test_a_chat_ending_with_the_assistants_message_is_continued_as_transformers_pipeline_does():
    """FAST-1: a last message of role "assistant" is a prefill of the answer: the template's text is cut right
    after it (continue_final_message=True) and no new turn is opened, as transformers' text-generation
    pipeline does by default."""
    ensemble = chat_ensemble()
    chat = [{"role": "user", "content": "t5 t6"}, {"role": "assistant", "content": "t7"}]
    assert generate(ensemble, chat, max_new_tokens=4, seed=3).tokens == \
        generate(ensemble, [1, 5, 6, 2, 1, 7], max_new_tokens=4, seed=3).tokens


def test_chat_messages_give_the_ids_transformers_text_generation_pipeline_feeds():
    """FAST-1 against transformers' own code: the ids `generate` feeds for a chat equal those the
    text-generation pipeline's preprocessing makes from the same messages and tokenizer, with a new
    user turn and with a final assistant message (continued)."""
    from transformers import pipeline
    from transformers.pipelines.text_generation import Chat

    from specens._inputs import chat_ids

    tokenizer = tiny_tokenizer(12)
    tokenizer.chat_template = CHAT_TEMPLATE
    pipe = pipeline("text-generation", model=tiny_causal_lm("llama", 12, seed=0), tokenizer=tokenizer)
    for chat in ([{"role": "user", "content": "t5 t6"}],
                 [{"role": "user", "content": "t5 t6"}, {"role": "assistant", "content": "t7"}],
                 [{"role": "system", "content": "t4"}, {"role": "user", "content": "t8"}]):
        assert chat_ids(tokenizer, chat) == pipe.preprocess(Chat(chat))["input_ids"][0].tolist(), chat


ALTERNATING = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
               "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
               "t1 {{ m['content'] }} t2 {% endfor %}t3")  # as Llama-2's and Mistral's templates refuse a system turn


@pytest.mark.parametrize("ensemble, prompt, message", [
    (lambda: chat_ensemble(template=ALTERNATING),
     [{"role": "system", "content": "t4"}, {"role": "user", "content": "t5"}],
     "prompts: the tokenizer's chat template refused these messages: Conversation roles must alternate"),
    (lambda: toy_fast(), [{"role": "user", "content": "t1"}], "prompts: chat messages need a tokenizer"),
    (lambda: chat_ensemble(template=None), [{"role": "user", "content": "t1"}], "has no chat template"),
    (lambda: chat_ensemble(), [{"role": "user"}], 'each chat message is a dict {"role": str, "content": str}'),
    (lambda: chat_ensemble(), [{"role": "user", "content": 5}], "each chat message is a dict"),
    (lambda: chat_ensemble(), [{"role": "user", "content": "t1"}, 4], "prompts: token ids must be integers"),
    (lambda: chat_ensemble(), [{"role": "user", "content": "t1"}, "t1"], "a chat message goes in a list"),
    (lambda: chat_ensemble(), [[], [{"role": "user", "content": "t1"}]], "a conversation, at least one message"),
])
def test_chat_messages_without_a_template_or_malformed_are_refused_naming_prompts(ensemble, prompt, message):
    """FAST-1: one ValueError naming prompts, never a Jinja error from inside transformers (a template that
    raises on the messages included)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(ensemble(), prompt, max_new_tokens=2, seed=0)


def test_at_temperature_0_the_seed_does_not_change_se_naive_or_the_standard_ensemble():
    """RNG-1 with greedy transforms: every draw is from a point mass and every acceptance test has
    probability 0 or 1, so the tokens do not depend on the uniforms (what the missing-seed error says).
    Negative control: at temperature 1 the seed does change them."""
    ensemble = toy_fast()
    for method in (SpeculativeEnsemble({"m0": 2, "m1": 1}), NaiveSE(gamma=3), StandardEnsemble()):
        runs = {tuple(generate(ensemble, [1], max_new_tokens=12, seed=s, method=method, temperature=0).tokens)
                for s in range(8)}
        assert len(runs) == 1, (method, runs)
    sampled = {tuple(generate(ensemble, [1], max_new_tokens=12, seed=s, temperature=1).tokens) for s in range(8)}
    assert len(sampled) > 1
    with pytest.raises(ValueError, match="any seed: seed=0"):
        generate(ensemble, [1], max_new_tokens=2, temperature=0)


def test_numpy_integers_work_wherever_an_int_does():
    """RNG-1, TRANSFORM-3, METHOD-3: seed, max_new_tokens, top_k and threads take NumPy integers."""
    ensemble = toy_fast()
    method = SpeculativeEnsemble({"m0": 2, "m1": 1})
    want = generate(ensemble, [1], max_new_tokens=5, seed=3, top_k=2, method=method).tokens
    got = generate(ensemble, [1], max_new_tokens=np.int64(5), seed=np.int64(3), top_k=np.int64(2), method=method,
                   threads=np.int64(1)).tokens
    assert got == want and len(got) == 5
    rows = generate(ensemble, [[1], [1]], max_new_tokens=5, seed=np.array([3, 4]), top_k=2, method=method)
    assert rows[0].tokens == want and len(rows[1].tokens) == 5
    assert Member(ToyLM(toy_ensemble(2, 4, kind="logits").members[0]), name="a", max_length=np.int64(7)).max_length == 7


@pytest.mark.parametrize("seed, message", [
    (-1, "seed: must be a non-negative integer"), ([3, -2], "seed: must be a non-negative integer"),
    (1.5, "seed: give an int or a list of 1 int "), (True, "seed: give an int"), ("3", "seed: give an int"),
])
def test_a_seed_that_is_not_a_non_negative_integer_is_an_error_naming_seed(seed, message):
    prompts = [[1], [1]] if isinstance(seed, list) else [1]
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(toy_fast(), prompts, max_new_tokens=2, seed=seed)


class TenfoldLM(ToyLM):
    """The toy's logits times 10 (up to about 30): divided by 1e-40 they pass float32's 3.4e38."""

    def _row(self, context):
        return super()._row(context) * 10


@pytest.mark.parametrize("mode", ["logits", "raw-logits"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_tiny_temperature_gives_the_greedy_tokens_in_float32_and_float64_alike(mode, dtype):
    """TRANSFORM-2, FAST-2: logits / T is formed in float64, so T = 1e-40 (beyond float32 for logits
    near 10) and T = 1e-300 give the near-one-hot r whose tokens are the greedy ones, in either dtype."""
    cd = ContrastiveDecoding(expert="m1", amateur="m0", mu="1/10")
    ensemble = toy_fast(cd, mode=mode, dtype=dtype)
    scaled = Ensemble([Member(TenfoldLM(m.model.toy), name=m.name) for m in ensemble.members], cd, mode=mode,
                      dtype=dtype)
    for e in (ensemble, scaled):
        for seed in range(3):
            greedy = generate(e, [1], max_new_tokens=6, seed=seed, temperature=0).tokens
            for t in (1e-40, 1e-300):
                assert generate(e, [1], max_new_tokens=6, seed=seed, temperature=t).tokens == greedy, (t, seed)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("temperature", [1e-320, "1e-400"])
def test_a_temperature_too_small_for_float64_is_an_error_naming_temperature(dtype, temperature):
    """TRANSFORM-2: when logits / T overflows float64, both dtypes say so and how to fix it."""
    with pytest.raises(ValueError, match=r"^temperature: .* so small .* use temperature 0"):
        generate(toy_fast(dtype=dtype), [1], max_new_tokens=3, seed=0, temperature=temperature)
    logits = torch.tensor([1.0, 0.0], dtype=torch.float32)
    assert not temperature_overflows(logits, Sampling(temperature=1e-300))
    assert temperature_overflows(logits, Sampling(temperature=1e-320))


def test_an_empty_contrastive_combination_at_a_small_temperature_names_the_temperature():
    """COMBINE-6: in mode 'probs' at T = 1e-40 each member's p_k is one-hot, so CD of members that
    disagree rules out every token; the error names raising the temperature as a fix."""
    ensemble = toy_fast(ContrastiveDecoding(expert="m1", amateur="m0", mu="1/10"), mode="probs")
    errors = set()
    for seed in range(6):
        try:
            generate(ensemble, [1], max_new_tokens=4, seed=seed, temperature=1e-40)
        except ValueError as e:
            errors.add(str(e))
    assert errors and all(e.startswith("combination: every token is ruled out") and "raise the temperature" in e
                          for e in errors), errors


@pytest.fixture
def model_dir(tmp_path):
    tiny_causal_lm("llama", 12, seed=0).save_pretrained(tmp_path / "m")
    tiny_tokenizer(12).save_pretrained(tmp_path / "m")
    return tmp_path / "m"


@pytest.mark.parametrize("device, message", [
    ("foo", "device: 'foo' is not a device; use cpu, cuda, cuda:N or mps"),
    ("", "device: '' is not a device"),
    ("cuda", "device: 'cuda' needs CUDA, which this machine (or this build of torch) does not have; use cpu"),
])
def test_member_from_pretrained_refuses_a_device_the_machine_lacks_as_ensemble_does(model_dir, monkeypatch, device,
                                                                                   message):
    """FAST-2: the same one-line check as Ensemble(device=...), before anything is loaded."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=re.escape(message)):
        Member.from_pretrained(model_dir, name="m", device=device)


def test_the_pickle_refusal_says_how_to_convert_the_model_and_its_tokenizer(tmp_path):
    """A converted folder needs the tokenizer too, or the ensemble cannot encode text."""
    (tmp_path / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ValueError, match=re.escape("AutoTokenizer.from_pretrained(DIR).save_pretrained(NEW_DIR)")):
        Member.from_pretrained(tmp_path, name="m")


def test_loading_and_encoding_print_no_transformers_bars_or_warnings_and_keep_the_users_settings(model_dir, capfd,
                                                                                                    caplog):
    """Progress bars and transformers' warnings are silenced inside specens' own calls only."""
    hf_logging.set_verbosity_warning()
    hf_logging.enable_progress_bar()
    member = Member.from_pretrained(model_dir, name="m")
    tokenizer = member.tokenizer
    tokenizer.model_max_length = 4  # a longer text makes transformers warn "Token indices sequence length..."
    generate(Ensemble([member], tokenizer=tokenizer), "t1 t2 t3 t4 t5 t6", max_new_tokens=1, seed=0)
    assert "Loading weights" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.name.startswith("transformers")], caplog.text
    assert hf_logging.get_verbosity() == logging.WARNING and hf_logging.is_progress_bar_enabled()
    other = tiny_tokenizer(12)  # negative control: outside specens the user's settings act
    other.model_max_length = 4
    other("t1 t2 t3 t4 t5 t6")
    assert "Token indices" in caplog.text
