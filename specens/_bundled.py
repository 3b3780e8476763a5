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

__all__ = ["BUNDLED_MODELS", "LARGE_BUNDLED_MODELS", "SMALL_BUNDLED_MODEL", "bundled_model_path",
           "bundled_tokenizer_path"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
LARGE_BUNDLED_MODELS = ("pylib", "pytests", "pygui")
SMALL_BUNDLED_MODEL = "pytiny"
BUNDLED_MODELS = (*LARGE_BUNDLED_MODELS, SMALL_BUNDLED_MODEL)


def bundled_model_path(name: str) -> Path:
    """The directory of bundled member `name`, for `Member.from_pretrained` or `--members` on the CLI.

    The directory holds a Hugging Face causal LM (`config.json`, `model.safetensors`; weights stored as
    float16, loaded as float32) and a copy of the shared tokenizer, so `AutoModelForCausalLM` and
    `AutoTokenizer.from_pretrained` both load it, offline. Every member scores a vocabulary of the same
    size V: one forward over (B, L) token ids gives logits of shape (B, L, V).

    Args:
        name: one of `BUNDLED_MODELS` ("pylib", "pytests", "pygui", "pytiny").

    Returns:
        The absolute path of the member's directory inside the installed package.

    Raises:
        ValueError: `name` is not a bundled member; the one-line message lists the names.

    >>> bundled_model_path("pylib").parent.name
    'models'
    """
    if not isinstance(name, str) or name not in BUNDLED_MODELS:
        raise ValueError(f"name={name!r} is not a bundled model; use one of {', '.join(BUNDLED_MODELS)}")
    return MODELS_DIR / name


def bundled_tokenizer_path() -> Path:
    """The directory of the tokenizer every bundled member shares (load it with `AutoTokenizer`).

    >>> bundled_tokenizer_path().name
    'tokenizer'
    """
    return MODELS_DIR / "tokenizer"
