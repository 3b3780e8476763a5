"""Where the bundled model family lives: small Llama models trained on the Python stdlib's source.

The members share one byte-level BPE tokenizer, so any subset of them is a valid ensemble. They are
trained by `scripts/train_models.py`; each directory has a model card (README.md) with its corpus slice,
size, training run and held-out loss, and `models/family.json` holds the same numbers for programs.

    pylib    library modules                       large
    pytests  the stdlib's regression tests         large
    pygui    Tk GUI code (idlelib, tkinter, turtle)  large
    pytiny   all three slices; the cheap proposer   small

Pure standard library: importing this module does not import torch or transformers.

>>> bundled_model_path("pytiny").name
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
    """The directory of bundled member `name`, loadable with `AutoModelForCausalLM.from_pretrained`.

    The weights are stored as float16 and load as float32. The directory also holds a copy of the shared
    tokenizer, so `AutoTokenizer.from_pretrained` works on it too.

    Args:
        name: one of `BUNDLED_MODELS`.

    Returns:
        The absolute path of the member's directory inside the installed package.

    Raises:
        ValueError: `name` is not a bundled member.
    """
    if name not in BUNDLED_MODELS:
        raise ValueError(f"name={name!r} is not a bundled model; use one of {', '.join(BUNDLED_MODELS)}")
    return MODELS_DIR / name


def bundled_tokenizer_path() -> Path:
    """The directory of the tokenizer every bundled member shares (load it with `AutoTokenizer`)."""
    return MODELS_DIR / "tokenizer"
