"""The bundled model family: it loads offline, shares one tokenizer, is small, and has learned something.

The members are trained by `scripts/train_models.py` on slices of the Python stdlib; these tests check
what ships in `specens/models/` and that the training script still runs end to end.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never touch the network

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import specens
from specens import BUNDLED_MODELS, bundled_model_path, bundled_tokenizer_path

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = bundled_tokenizer_path().parent
FAMILY = json.loads((MODELS_DIR / "family.json").read_text())
SMALL_BUNDLED_MODEL = FAMILY["small"]  # the cheap proposer
LARGE_BUNDLED_MODELS = tuple(name for name in BUNDLED_MODELS if name != SMALL_BUNDLED_MODEL)
MAX_WEIGHT_BYTES = 25_000_000


@pytest.fixture(scope="module")
def members():
    return {
        name: AutoModelForCausalLM.from_pretrained(bundled_model_path(name), dtype=torch.float32).eval()
        for name in BUNDLED_MODELS
    }


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(bundled_tokenizer_path())


def held_out_source(relpath: str) -> str:
    """A held-out module's text from the stdlib of the running interpreter (no member trained on it)."""
    return (Path(sysconfig.get_paths()["stdlib"]) / relpath).read_text(encoding="utf-8")


def test_every_bundled_member_loads_offline_with_the_auto_classes(members):
    for name, model in members.items():
        assert model.config.model_type == "llama", name
        assert next(model.parameters()).dtype == torch.float32, name
        tok = AutoTokenizer.from_pretrained(bundled_model_path(name))
        ids = tok("x = 1", return_tensors="pt").input_ids  # (1, L)
        logits = model(input_ids=ids).logits  # (1, L, V)
        assert logits.shape == (1, ids.shape[1], model.config.vocab_size)
        assert torch.isfinite(logits).all(), name


def test_a_plain_load_computes_in_float32_although_weights_are_stored_as_float16():
    model = AutoModelForCausalLM.from_pretrained(bundled_model_path(SMALL_BUNDLED_MODEL))
    assert next(model.parameters()).dtype == torch.float32


def test_all_members_share_one_tokenizer_and_vocabulary(members, tokenizer):
    shared = (bundled_tokenizer_path() / "tokenizer.json").read_bytes()
    for name, model in members.items():
        assert (bundled_model_path(name) / "tokenizer.json").read_bytes() == shared, name
        assert model.config.vocab_size == len(tokenizer) == FAMILY["vocab_size"], name
        assert model.config.bos_token_id == model.config.eos_token_id == tokenizer.bos_token_id, name
        assert model.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id, name


def test_tokenizer_round_trips_python_source_byte_for_byte(tokenizer):
    texts = [
        held_out_source("heapq.py"),
        "def f(x):\n\tif x:\r\n        return 'caf\u00e9 \u4e2d\u6587 \U0001f40d'  # trailing spaces   \n\n\n",
        "",
    ]
    for text in texts:
        ids = tokenizer(text).input_ids
        assert ids[0] == tokenizer.bos_token_id  # tokenizer(text) prepends BOS, as in training
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
        plain = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(plain) == text
        assert tokenizer.bos_token_id not in plain


@pytest.fixture(scope="module")
def held_out_losses(members, tokenizer):
    """{member: {group: nats/token}} on the first 512 tokens of each held-out module, from BOS."""
    losses = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these tiny forwards run 3x slower on 2 threads when the CPU is shared
    try:
        _score_held_out(members, tokenizer, losses)
    finally:
        torch.set_num_threads(threads)
    return losses


def _score_held_out(members, tokenizer, losses):
    for name, model in members.items():
        losses[name] = {}
        for group, paths in FAMILY["held_out"].items():
            nats, count = 0.0, 0
            for path in paths:
                x = torch.tensor([tokenizer(held_out_source(path)).input_ids[:512]])  # (1, L)
                with torch.no_grad():
                    logits = model(input_ids=x).logits[0]  # (L, V)
                nats += torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum").item()
                count += x.shape[1] - 1
            losses[name][group] = nats / count


def test_held_out_loss_is_well_below_the_uniform_baseline(held_out_losses, tokenizer):
    uniform = math.log(len(tokenizer))  # 8.32 nats for V = 4096
    for name, by_group in held_out_losses.items():
        # The trained members score 5.3 (pylib) to 6.1 (pytiny) nats/token on these module openings; an
        # untrained one scores log V. A margin of 1.5 nats (4.5x in perplexity) leaves room for another
        # Python's slightly different stdlib text while still failing a broken or unigram-level model
        # (a unigram model of these slices scores about 6.8).
        assert by_group["lib"] < uniform - 1.5, (name, by_group, uniform)


def test_each_large_member_is_best_on_held_out_code_from_its_own_slice(held_out_losses):
    # The members differ in what they know: an ensemble of them is not three copies of one model.
    for name in LARGE_BUNDLED_MODELS:
        group = FAMILY["members"][name]["spec"]["slice"]
        best = min(LARGE_BUNDLED_MODELS, key=lambda n: held_out_losses[n][group])
        assert best == name, (group, {n: held_out_losses[n][group] for n in LARGE_BUNDLED_MODELS})


def test_small_member_has_fewer_parameters_than_each_large_member(members):
    count = {name: sum(p.numel() for p in m.parameters()) for name, m in members.items()}
    for name in LARGE_BUNDLED_MODELS:
        assert count[SMALL_BUNDLED_MODEL] < count[name] / 2, count


def test_small_member_measured_forward_cost_is_at_most_about_half_a_large_one():
    ratios = FAMILY["members"][SMALL_BUNDLED_MODEL]["cost"]["ratios"]
    for threads, r in ratios.items():
        assert r["step"] <= 0.55 and r["prefill"] <= 0.55, (threads, r)


def test_bundled_weights_total_at_most_25_mb():
    """The family's weights, and separately the SmolLM2 drafter's own layers, each at most 25 MB in git."""
    weights = [p for name in BUNDLED_MODELS for p in (MODELS_DIR / name).rglob("*.safetensors")]
    assert len(weights) == len(BUNDLED_MODELS)
    assert sum(p.stat().st_size for p in weights) <= MAX_WEIGHT_BYTES
    drafter = list((MODELS_DIR / "smollm2-drafter").rglob("*.safetensors"))
    assert len(drafter) == 1 and drafter[0].stat().st_size <= MAX_WEIGHT_BYTES
    assert {p.parent.name for p in MODELS_DIR.rglob("*.safetensors")} == set(BUNDLED_MODELS) | {"smollm2-drafter"}


def test_every_member_has_a_model_card_reporting_held_out_loss():
    for name in BUNDLED_MODELS:
        card = (bundled_model_path(name) / "README.md").read_text()
        assert card.startswith(f"# {name}\n")
        for phrase in ("held-out loss", "unigram", "Parameters", "learning rate", "Seed", "Wall time"):
            assert phrase in card, (name, phrase)
        assert f"{FAMILY['members'][name]['heldout']['lib']['nats_per_token']:.3f}" in card
    assert "Forward cost" in (bundled_model_path(SMALL_BUNDLED_MODEL) / "README.md").read_text()


def test_unknown_bundled_model_name_raises_value_error_listing_the_valid_names():
    for bad in ("nope", "PyLib", 3, None):
        with pytest.raises(ValueError, match=f"name={bad!r}") as excinfo:
            bundled_model_path(bad)
        message = str(excinfo.value)
        assert "\n" not in message and all(name in message for name in BUNDLED_MODELS), message


def test_the_bundled_family_is_public_api():
    for name in ("BUNDLED_MODELS", "bundled_model_path", "bundled_tokenizer_path"):
        assert name in specens.__all__, name
    assert BUNDLED_MODELS == ("pylib", "pytests", "pygui", "pytiny")
    assert set(FAMILY["members"]) == set(BUNDLED_MODELS)


def test_bundled_paths_live_inside_the_installed_package():
    models = Path(specens.__file__).resolve().parent / "models"
    assert bundled_tokenizer_path() == models / "tokenizer"
    assert (models / "tokenizer" / "tokenizer.json").is_file()
    for name in BUNDLED_MODELS:
        assert bundled_model_path(name) == models / name
        assert (models / name / "config.json").is_file()


def test_the_bundled_paths_are_found_without_importing_torch():
    code = (
        "import sys, specens\n"
        "specens.bundled_model_path('pytiny'), specens.bundled_tokenizer_path(), specens.BUNDLED_MODELS\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow  # about 12 s of CPU but 30-45 s of wall time on the shared 2-core machine
def test_training_script_runs_end_to_end_in_quick_mode(tmp_path):
    script = REPO / "scripts" / "train_models.py"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    family = json.loads((tmp_path / "family.json").read_text())
    assert family["quick"] is True
    for name in BUNDLED_MODELS:
        directory = tmp_path / name
        assert (directory / "README.md").exists()
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(directory)
        assert model.config.vocab_size == len(tok) == family["vocab_size"]
