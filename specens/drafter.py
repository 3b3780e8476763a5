"""The drafter of SmolLM2-135M-Instruct: 2 layers shipped with specens, embeddings from the installed model.

`specens/models/smollm2-drafter` holds the drafter's own tensors (its 2 decoder layers and final
norm, float16) and a config; its token embedding matrix (tied to the output head) is SmolLM2's,
which is not copied into git (28.3M parameters). `drafter_path()` assembles a complete float32
checkpoint once, in the same cache as the converted SmolLM2 folder (`specens.gguf`):

    embed_tokens = SmolLM2's embedding matrix, bit for bit (float32 after the GGUF conversion)
    every other tensor = the shipped float16 tensor widened to float32 (exact: float32 holds every float16)

and copies SmolLM2's tokenizer, chat template and generation config beside it, so the result is an
ordinary Hugging Face folder (`Member.from_pretrained`, `AutoModelForCausalLM`). The assembly is
checked against the SHA-256 of the SmolLM2 file it was trained with (recorded in the drafter's
`specens-drafter.json`); scripts/train_drafter.py retrains it.

    >>> drafter_path().name                      # doctest: +SKIP
    'smollm2-drafter-<hash>'
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

__all__ = ["DRAFTER_DIR", "drafter_path"]

DRAFTER_DIR = Path(__file__).resolve().parent / "models" / "smollm2-drafter"
MANIFEST = "specens-drafter.json"
COPIED = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


def shared_names(state_names, shared_layers: int) -> list[str]:
    """The tensors taken from SmolLM2: the embedding (tied to the head) and layers 0 .. shared_layers - 1."""
    prefixes = tuple(f"model.layers.{i}." for i in range(shared_layers))
    return sorted(k for k in state_names if k == "model.embed_tokens.weight" or k.startswith(prefixes))


def save_drafter(model, directory, report: dict, *, shared_layers: int) -> None:
    """Write the drafter's own tensors (float16, without the shared ones), config, manifest and card."""
    import torch
    from safetensors.torch import save_file

    from specens.gguf import SMOLLM2_SHA256

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    shared = shared_names(state, shared_layers)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in state.items()
               if k not in shared and k != "lm_head.weight"}
    save_file(tensors, str(directory / "layers.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.update(dtype="float32", tie_word_embeddings=True, architectures=["LlamaForCausalLM"])
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    manifest = {"shared_from": "SmolLM2-135M-Instruct", "smollm2_sha256": SMOLLM2_SHA256, "shared": shared,
                "training": report}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (directory / "README.md").write_text(card(report))


def card(r: dict) -> str:
    acc = "\n".join(f"| {k} | {v['alpha']:.3f} | {r['acceptance_before'][k]['alpha']:.3f} | {v['positions']} |"
                    for k, v in r["acceptance_T1"].items())
    return f"""# smollm2-drafter

A 2-layer drafter for SmolLM2-135M-Instruct (Apache-2.0), trained by `scripts/train_drafter.py` on
this repository's development machine. It shares SmolLM2's tokenizer and its token embedding matrix
(tied to the output head, {r['shared_parameters']:,} parameters, taken from the installed SmolLM2 file at
load time by `specens.drafter.drafter_path()`); this folder holds only its own
{r['new_parameters']:,} parameters in float16.

- Architecture: SmolLM2's (Llama, hidden 576, 9 heads, 3 key-value heads, MLP 1536) with
  {r['shared_layers'] + r['new_layers']} layers: {r['shared_layers']} of SmolLM2's own first layers (frozen, taken from the installed
  file) and {r['new_layers']} trained layer(s) initialised from SmolLM2's next layer(s); SmolLM2's final norm (trained) and
  tied head.
- Data: SmolLM2's own answers at temperature 1 to {r['answers']} chat prompts built from the Python
  standard library (write a function from a docstring's first line; explain a class), plus
  {r['source_windows']} windows of 256 tokens of stdlib source; targets are SmolLM2's top-{r['top_k']}
  probabilities at every position ({r['target_positions']:,} positions). Prompts and source of the
  modules {', '.join(r['held_out_modules'])} are held out.
- Training: AdamW, lr {r['lr']}, batch {r['batch']} sequences, {r['steps']} steps ({r['target_positions_seen']:,} target
  positions){' under bfloat16 autocast (float32 master weights)' if r['bf16'] else ''}, seed {r['seed']}, {r['threads']} CPU threads, torch {r['torch']}; {r['minutes']:.1f} minutes in all (data,
  training and evaluation). Loss, on {r['ce_rows']} random rows a batch: {r['tv_weight']} x the total variation
  between the drafter's distribution and SmolLM2's renormalised top-{r['top_k']} probabilities (1 minus the
  acceptance rate; final {r['final_tv']:.3f}) plus {r['ce_weight']} x the cross-entropy against them (final
  {r['final_token_loss']:.3f} nats); and on every row {r['feature_weight']} x the mean squared error per dimension
  between the drafter's last hidden state and SmolLM2's (final {r['final_feature_loss']:.4f}).
- Acceptance at T = 1 against SmolLM2-135M-Instruct (mean over positions of 1 - TV(p_drafter, p_SmolLM2)
  along SmolLM2's own sampled answers, up to {r['max_new_tokens']} tokens, to held-out prompts):

| prompt set | acceptance | before training | positions |
|---|---|---|---|
{acc}

The project's goal for this drafter is an acceptance of 0.6; this run reached the figures above. Made by
`{r['command']}` on a 2-core machine shared with other work.
"""


def _file_digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:12]


def drafter_path(*, cache_dir=None, source=DRAFTER_DIR) -> Path:
    """The complete float32 folder of the drafter, assembled on first use (a second or two).

    Args:
        cache_dir: where assembled folders live; default `specens.gguf.default_cache_dir()`.
        source: the shipped drafter folder (layers, config, manifest).

    Raises:
        ValueError: the drafter was trained against another SmolLM2 file, or a file is missing.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from specens.gguf import SMOLLM2_SHA256, default_cache_dir, smollm2_path

    source = Path(source)
    manifest_file = source / MANIFEST
    if not manifest_file.is_file():
        raise ValueError(f"drafter: {str(source)!r} has no {MANIFEST}; retrain it with scripts/train_drafter.py")
    manifest = json.loads(manifest_file.read_text())
    if manifest.get("smollm2_sha256") != SMOLLM2_SHA256:
        raise ValueError(f"drafter: trained against SmolLM2 file {manifest.get('smollm2_sha256')}, but specens uses "
                         f"{SMOLLM2_SHA256}; retrain it with scripts/train_drafter.py")
    out = Path(cache_dir or default_cache_dir()) / f"smollm2-drafter-{_file_digest([source / 'layers.safetensors', source / 'config.json'])}"
    if (out / MANIFEST).is_file():
        return out
    smol = smollm2_path(cache_dir=cache_dir)
    tensors = {k: v.to(torch.float32) for k, v in load_file(str(source / "layers.safetensors")).items()}
    expert = load_file(str(smol / "model.safetensors"))
    for name in manifest["shared"]:
        tensors[name] = expert[name].to(torch.float32)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(source / "config.json", tmp / "config.json")
    for name in COPIED:
        if (smol / name).is_file():
            shutil.copy(smol / name, tmp / name)
    shutil.copy(manifest_file, tmp / MANIFEST)  # written last: its presence marks a complete folder
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
