"""A conformance kit of real checkpoints: tiny Hugging Face models and the exact law of each setting. ORACLE-11.

`write_kit(out_dir)` writes
- `models/<name>/`: ordinary Hugging Face folders (config.json, generation_config.json,
  model.safetensors in float32, a word-level tokenizer) that transformers, vLLM or SGLang load;
- `laws/<setting>.json`: for each setting, a toy file (spec/09-toy-format.md) whose members are the
  checkpoints tabulated over every context the setting can reach, with float64 forwards, and the
  SHA-256 of each checkpoint's weights (TOY-5);
- `README.md`: per setting, what to sample and how to check it.

`law_of_models(models, combination, prompt, max_new_tokens)` builds such a law from models in
memory, so a test can check a sampler on checkpoints of its own; `verify_kit(dir)` and
`verify_checkpoints(law_file)` refuse a law whose checkpoint was changed after it was written.

torch and transformers are imported inside the functions that build models: `specens check` reads
the laws and hashes the checkpoints with NumPy and hashlib only (`specens.gguf.file_sha256`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from specens.gguf import file_sha256 as sha256_file  # TOY-5: one file hash for the kit and the GGUF check

WORDS = ("w0", "w1", "w2", "w3", "w4", "w5")
BOS, EOS = 0, 1
VOCAB = ("<bos>", "<eos>") + WORDS  # token id = position; V = 8
WEIGHTS_FILE = "model.safetensors"
TARGET_TV = 0.05  # the bias each setting's sample count is sized to detect (the oracle's default)
ALPHA = 0.001


@dataclass(frozen=True)
class Checkpoint:
    """A tiny seeded model of the kit: architecture, seed offset, size, and the output-head scale.

    The weights are drawn by `specens.coupling.tiny_causal_lm` (normal, std 0.5) and the output head
    is then multiplied by `head_scale`: logits three times as large make the next-token laws peaked
    enough that a setting's whole law over 4 tokens is checked with about 20,000 samples. GPT-2 ties
    its head to the token embedding (as engines load it), so there the embedding is scaled too.
    """

    name: str
    arch: str
    seed: int
    hidden: int
    layers: int
    head_scale: float = 3.0


CHECKPOINTS = (
    Checkpoint("llama-target", "llama", seed=11, hidden=16, layers=2),
    Checkpoint("llama-draft", "llama", seed=12, hidden=16, layers=1),
    Checkpoint("gpt2-other", "gpt2", seed=13, hidden=16, layers=1),  # head tied to the token embedding
)

SPECULATIVE = {"kind": "we", "weights": {"llama-target": 1, "llama-draft": 0}}  # r = the target's law


@dataclass(frozen=True)
class Setting:
    """One check of the kit: members, combination (TOY-3), sampling (TOY-1), prompt, length, method (TOY-4).

    `engine` says in words what an engine samples for it; prompts were chosen (among <bos> a b)
    for a law that is far from deterministic yet powered at about 20,000 samples.
    """

    name: str
    engine: str
    combination: dict
    prompt: tuple
    sampling: dict | None = None
    method: dict | None = None
    max_new_tokens: int = 4


def _speculative(name, prompt, sampling=None, note=""):
    return Setting(name, "speculative decoding: target llama-target, draft llama-draft" + note, SPECULATIVE,
                   prompt, sampling, {"name": "naive", "gamma": 3, "proposer": "llama-draft"})


SETTINGS = (
    _speculative("sd-t1", (0, 3, 7), None),
    _speculative("sd-t0.7", (0, 6, 6), {"temperature": "0.7"}),
    _speculative("sd-top-k", (0, 3, 6), {"top_k": 3}),
    _speculative("sd-top-p", (0, 6, 7), {"top_p": "0.9"}),
    _speculative("sd-eos", (0, 4, 2), None, note="; EOS (id 1) ends most sequences inside the horizon"),
    Setting("we-llama", "weighted ensemble of llama-target and llama-draft, weights 1/2 each (mode probs)",
            {"kind": "we", "weights": {"llama-target": 1, "llama-draft": 1}}, (0, 3, 4),
            method={"name": "se", "gammas": {"llama-draft": 3, "llama-target": 1},
                    "default_proposer": "llama-draft"}),
    Setting("we-cross-family", "weighted ensemble of llama-target and gpt2-other, weights 1/2 each, T = 0.8",
            {"kind": "we", "weights": {"llama-target": 1, "gpt2-other": 1}}, (0, 6, 5), {"temperature": "0.8"},
            method={"name": "se", "gammas": {"gpt2-other": 2, "llama-target": 1}}),
    Setting("cd-llama", "contrastive decoding: expert llama-target, amateur llama-draft, mu = 1/10 (raw logits)",
            {"kind": "cd", "expert": "llama-target", "amateur": "llama-draft", "mu": "1/10"}, (0, 3, 6),
            method={"name": "se", "gammas": {"llama-draft": 3, "llama-target": 1},
                    "default_proposer": "llama-draft"}),
)


# -- models ---------------------------------------------------------------------------------------
def build_model(checkpoint: Checkpoint, *, seed: int = 0):
    """The checkpoint's float32 model: seeded weights (seed + checkpoint.seed), output head scaled."""
    import torch

    from specens.coupling import tiny_causal_lm

    model = tiny_causal_lm(checkpoint.arch, len(VOCAB), seed=seed + checkpoint.seed, hidden=checkpoint.hidden,
                           layers=checkpoint.layers, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS)
    with torch.no_grad():
        model.lm_head.weight.mul_(checkpoint.head_scale)
    return model


def kit_tokenizer():
    """A word-level tokenizer of the kit's vocabulary: '<bos>' 0, '<eos>' 1, 'w0' .. 'w5' 2 .. 7; BOS prepended.

    kit_tokenizer()("w1 w5").input_ids == [0, 3, 7].
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(VOCAB)}, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", BOS)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<eos>",
                                   unk_token="<eos>")


def save_checkpoint(model, folder: Path) -> str:
    """Write `model` (weights, config, generation config) and the kit tokenizer to `folder`; its SHA-256."""
    from specens.members import quiet_transformers

    folder.mkdir(parents=True, exist_ok=True)
    model.generation_config.bos_token_id, model.generation_config.eos_token_id = BOS, EOS
    model.generation_config.pad_token_id = EOS
    with quiet_transformers():
        model.save_pretrained(folder, safe_serialization=True)
        kit_tokenizer().save_pretrained(folder)
    config = folder / "tokenizer_config.json"  # the class every transformers version (and vLLM, SGLang) knows
    config.write_text(json.dumps({**json.loads(config.read_text()), "tokenizer_class": "PreTrainedTokenizerFast"},
                                 indent=2) + "\n")
    return sha256_file(folder / WEIGHTS_FILE)


# -- laws -----------------------------------------------------------------------------------------
def law_of_models(models: Mapping[str, object], combination: dict, prompt: Sequence[int], max_new_tokens: int, *,
                  vocab_size: int | None = None, sampling: dict | None = None, eos_token_id=None,
                  mode: str | None = None, method: dict | None = None, dtype="float64",
                  checkpoints: Mapping[str, dict] | None = None) -> dict:
    """The exact law of `models` as a toy file (TOY-1): each tabulated after prompt + every y of < L tokens.

    Args:
        models: {name: causal LM} (transformers or any `model(input_ids=..., use_cache=False).logits`);
            each is run in `dtype` (a copy when it differs; "float64" by default: the law of the
            checkpoints' weights without rounding in the forward).
        combination, sampling, method: TOY-3, TOY-1 and TOY-4 JSON; mode: COMBINE-5.
        prompt: token ids (P,); max_new_tokens: L; vocab_size: V (default: the first model's
            `config.vocab_size`); eos_token_id: None, an id or a list of ids (METHOD-3).
        checkpoints: {name: {"path": ..., "sha256": ...}} stored with each member (TOY-5).

    Returns the parsed toy file; pass it to `assert_sampler_exact(sample_fn, law)` or write it with
    `json.dump` for `specens check --ensemble`.
    """
    import copy

    import torch

    from specens.members import quiet_transformers

    from .tabulate import tabulated_toy

    if not models:
        raise ValueError("models: give at least one {name: model}")
    torch_dtype = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}.get(str(dtype))
    if torch_dtype is None:
        raise ValueError(f"dtype: one of 'float64', 'float32', 'bfloat16', got {dtype!r}")
    if vocab_size is None:
        vocab_size = int(next(iter(models.values())).config.vocab_size)
    cast = {name: m if next(m.parameters()).dtype == torch_dtype else copy.deepcopy(m).to(torch_dtype)
            for name, m in models.items()}
    with quiet_transformers():  # no "pass an attention_mask" warning: the kit's pad id is its EOS id
        toy = tabulated_toy(cast, combination, prompt, max_new_tokens, vocab_size=vocab_size, mode=mode,
                            sampling=sampling, eos_token_id=eos_token_id, method=method)
    for member in toy["ensemble"]["members"]:
        if checkpoints and member["name"] in checkpoints:
            member["checkpoint"] = dict(checkpoints[member["name"]])
    return toy


def setting_law(setting: Setting, models: Mapping[str, object], *, checkpoints=None, dtype="float64") -> dict:
    """The law file of one kit setting from the kit's models {checkpoint name: model}."""
    names = list(setting.combination.get("weights") or [setting.combination["expert"], setting.combination["amateur"]])
    return law_of_models({n: models[n] for n in names}, setting.combination, setting.prompt, setting.max_new_tokens,
                         vocab_size=len(VOCAB), sampling=setting.sampling, eos_token_id=EOS, method=setting.method,
                         dtype=dtype, checkpoints=checkpoints and {n: checkpoints[n] for n in names})


def _law(toy: dict) -> tuple[dict, int]:
    """The exact law of a toy file's ensemble over its horizon, and that horizon L."""
    from specens.reference import exact_ensemble_pmf, load_toy

    ensemble, _, length = load_toy(toy)
    return exact_ensemble_pmf(ensemble, length), length


def law_summary(toy: dict) -> dict:
    """Power facts of a law: sequences, samples needed at TARGET_TV, first-position r. ORACLE-4."""
    import numpy as np

    from .stats import sample_size

    law, length = _law(toy)
    probs = np.array([float(p) for p in law.values()])
    tests = 2 * (1 + length)  # the largest family `specens check` forms: joint + one per position, Pearson and G
    return {"law": law, "sequences": len(law), "tests": tests,
            "samples": sample_size(probs, TARGET_TV, alpha=ALPHA, tests=tests),
            "eos": float(sum(p for s, p in law.items() if s and s[-1] == EOS))}


def law_tv(a: Mapping, b: Mapping) -> float:
    """Total variation between two laws over sequences."""
    return 0.5 * sum(abs(float(a.get(s, 0)) - float(b.get(s, 0))) for s in set(a) | set(b))


def budget(facts: dict) -> int:
    """The samples a setting's README asks for: 20,000, or more when its law needs more for TV 0.05."""
    return max(20_000, facts["samples"])


def rejection_chance(facts: dict, other: Mapping) -> float:
    """How likely the check rejects an engine exact for `other` (a float32/bf16 law) at the setting's budget."""
    import numpy as np

    from .stats import power_against

    law = facts["law"]
    keys = sorted(set(law) | set(other))
    probs = np.array([float(law.get(s, 0)) for s in keys])
    alternative = np.array([float(other.get(s, 0)) for s in keys])
    return power_against(probs, alternative, budget(facts), alpha=ALPHA, tests=facts["tests"])


# -- the kit ----------------------------------------------------------------------------------------
def write_kit(out_dir, *, seed: int = 0, precision: bool = True) -> dict:
    """Write the kit's checkpoints, laws and README to `out_dir`. ORACLE-11.

    seed: offset added to every checkpoint's seed (0: the documented kit). precision: also measure,
    per setting, the TV between the float64 law and the laws of float32 and bfloat16 forwards of
    the same weights (written to the README). Returns {setting name: facts} (sequences, samples
    needed at TV 0.05, EOS mass, float32/bfloat16 TVs).
    """
    import torch

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: a non-negative integer, got {seed!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: {out} exists and is not a folder; give a new or empty folder")
    (out / "laws").mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():
        models = {c.name: build_model(c, seed=seed) for c in CHECKPOINTS}
    hashes = {c.name: {"path": f"../models/{c.name}", "sha256": save_checkpoint(models[c.name], out / "models" / c.name)}
              for c in CHECKPOINTS}
    facts = {}
    for setting in SETTINGS:
        toy = setting_law(setting, models, checkpoints=hashes)
        (out / "laws" / f"{setting.name}.json").write_text(json.dumps(toy) + "\n")
        facts[setting.name] = law_summary(toy)
        if precision:
            for dtype in ("float32", "bfloat16"):
                low, _ = _law(setting_law(setting, models, dtype=dtype))  # the law alone: no power facts
                facts[setting.name][dtype] = law_tv(facts[setting.name]["law"], low)
                facts[setting.name][f"{dtype} rejection"] = rejection_chance(facts[setting.name], low)
    (out / "README.md").write_text(readme(facts, seed=seed))
    return facts


def verify_checkpoints(law_file) -> list[str]:
    """Refuse a law whose checkpoint's weights no longer hash to the stored SHA-256. TOY-5.

    Each member with a `checkpoint` {"path", "sha256"} has its path read relative to the law file's
    folder; a missing weights file is left unverified (the law can be checked on samples drawn
    elsewhere). Returns one line per member: verified, or not found. Raises ValueError naming the
    member, the file and both hashes when they differ.
    """
    from specens.reference.toy_json import read_toy_file

    law_file = Path(law_file)
    toy = read_toy_file(law_file)
    members = toy.get("ensemble", {}).get("members", []) if isinstance(toy, dict) else []
    lines = []
    for i, member in enumerate(m for m in members if isinstance(m, dict)):
        stored = member.get("checkpoint")
        if stored is None:
            continue
        where = f"{law_file}: ensemble.members[{i}].checkpoint"
        if not isinstance(stored, dict) or not isinstance(stored.get("path"), str) \
                or not isinstance(stored.get("sha256"), str):
            raise ValueError(f"{where}: expected {{\"path\": \"../models/NAME\", \"sha256\": \"<64 hex digits>\"}}")
        weights = (law_file.parent / stored["path"] / WEIGHTS_FILE).resolve()
        if not weights.exists():
            lines.append(f"checkpoint {member.get('name')!r}: {weights} not found, not verified")
            continue
        actual = sha256_file(weights)
        if actual != stored["sha256"].lower():
            raise ValueError(f"{where}: checkpoint {member.get('name')!r} ({weights}) has SHA-256 {actual[:16]}..., "
                             f"but the law was tabulated from {stored['sha256'][:16]}...; its weights changed "
                             "after the law was written: restore them, or write the kit again (specens kit --out DIR)")
        lines.append(f"checkpoint {member.get('name')!r}: SHA-256 verified")
    return lines


def verify_kit(kit_dir) -> list[str]:
    """verify_checkpoints for every law of a kit folder; every checkpoint must be present. TOY-5, ORACLE-11."""
    laws = sorted(Path(kit_dir, "laws").glob("*.json"))
    if not laws:
        raise ValueError(f"kit_dir: no laws/*.json under {kit_dir}; write a kit with `specens kit --out DIR`")
    lines = []
    for law in laws:
        for line in verify_checkpoints(law):
            if "not found" in line:
                raise ValueError(f"{law}: {line}; a kit folder holds its models/ next to laws/")
            lines.append(f"{law.name}: {line}")
    return lines


# -- the README -------------------------------------------------------------------------------------
def _sampling_line(sampling: dict | None) -> str:
    sampling = sampling or {}
    top_k, top_p = sampling.get("top_k"), sampling.get("top_p")
    return (f"temperature {sampling.get('temperature', '1')}, top-k {top_k or 'off (0 / None)'}, "
            f"top-p {top_p or 'off (1.0)'}; no repetition penalty, no min_new_tokens")


def readme(facts: dict, *, seed: int) -> str:
    """The kit's README.md: what to sample for each setting and how to check it. ORACLE-11."""
    lines = [
        "# specens conformance kit", "",
        f"Written by `specens kit` (seed {seed}). Three tiny causal LMs as ordinary Hugging Face folders "
        "under `models/`, and per setting the exact law of the tokens they generate as a toy file under `laws/` "
        "(spec/09-toy-format.md): the checkpoints tabulated over every context the setting can reach, with "
        "float64 forwards of the stored float32 weights, and the SHA-256 of each checkpoint's "
        "model.safetensors (`specens check` refuses a law whose checkpoint changed).", "",
        f"Vocabulary (V = {len(VOCAB)}): " + ", ".join(f"`{t}` = {i}" for i, t in enumerate(VOCAB))
        + ". The tokenizer prepends `<bos>`; every setting's prompt starts with it, and EOS is id 1 "
        "(the generation config's eos_token_id).", "",
        "Checkpoints: " + "; ".join(f"`models/{c.name}` ({c.arch}, hidden {c.hidden}, {c.layers} layer(s), "
                                    f"output head x{c.head_scale:g})" for c in CHECKPOINTS) + ".", "",
        "## How to sample and check any setting", "",
        "1. Load the folders as ordinary checkpoints (`AutoModelForCausalLM.from_pretrained(\"models/llama-target\")`, "
        "the same for the tokenizer); run the engine in any dtype (see Float precision below).",
        "2. Feed the setting's prompt ids as they are (not a chat template; `<bos>` is already there) and sample "
        "with the listed settings, `max_new_tokens` as listed, stopping at EOS id 1 (do not ignore EOS, no "
        "`min_new_tokens`). Draw each sequence independently (its own seed, or one batch of independent rows).",
        "3. Write the generated ids only (not the prompt) one JSON array per line, including a final EOS: "
        "`[5, 2, 7, 3]` or `[4, 1]`.",
        "4. `specens check --ensemble laws/<setting>.json --samples samples.jsonl` (exit status 0 consistent, "
        "1 rejected, 3 too few samples), or in Python "
        "`specens.oracle.assert_sampler_exact(sample_fn, \"laws/<setting>.json\", samples=N)` with "
        "`sample_fn(n, seed)` returning n generated sequences.", "",
        "The law's `method` names the reference method that samples it (a label only: every exact method has "
        "this law). For speculative decoding the law file holds both checkpoints, the draft with weight 0: "
        "r is the target's (tempered, truncated) law, whatever the draft proposes.", "",
        "## Settings", "",
    ]
    for setting in SETTINGS:
        f = facts[setting.name]
        text = " ".join(VOCAB[t] for t in setting.prompt[1:])
        lines += [
            f"### {setting.name}", "",
            f"- Engine: {setting.engine}.",
            f"- Prompt ids `{list(setting.prompt)}` (text `{text}` through the tokenizer).",
            f"- Sampling: {_sampling_line(setting.sampling)}.",
            f"- max_new_tokens {setting.max_new_tokens}; EOS ids [{EOS}] (P(EOS within the horizon) = {f['eos']:.3f}).",
            f"- Samples: {budget(f):,} (the check needs {f['samples']:,} to detect a TV bias of {TARGET_TV} with "
            f"power 0.9 at alpha {ALPHA}; the law has {f['sequences']:,} sequences).",
            f"- Check: `specens check --ensemble laws/{setting.name}.json --samples {setting.name}.jsonl`.",
        ]
        if "float32" in f:
            lines.append(f"- Float precision: TV to the float64 law {f['float32']:.2g} (float32 forwards), "
                         f"{f['bfloat16']:.2g} (bfloat16); chance that the check rejects an exact engine at "
                         f"{budget(f):,} samples: {f['float32 rejection']:.2g} (float32), "
                         f"{f['bfloat16 rejection']:.2g} (bfloat16).")
        lines.append("")
    measured = any("float32" in f for f in facts.values())
    lines += [
        "## Float precision", "",
        "The laws are those of float64 forwards. An exact engine in float32 or bfloat16 samples the law of its own "
        + ("rounded logits, at the TV from the float64 law listed per setting. " if measured else
           "rounded logits. This kit was written with --no-precision, so that TV is not listed here: write it "
           "without that flag to have it per setting. ")
        + "At this kit's budgets the check "
        f"detects biases of about {TARGET_TV} and above; a rejection chance near alpha = {ALPHA} means rounding alone "
        "will not make an exact engine fail. A larger rejection chance (bfloat16) means a rejection at that "
        "budget may be rounding: rerun in float32 before calling it a defect.", "",
    ]
    return "\n".join(lines)
