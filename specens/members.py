"""Ensemble members for the fast path: a causal LM with its own KV cache (spec/11-fast-path.md).

A `Member` wraps a Hugging Face `PreTrainedModel` (or any module with the same calling convention:
`model(input_ids=(1, K), cache=..., use_cache=True).logits` of shape (1, K, W)). It keeps one
`DynamicCache`, feeds exactly the tokens it has not seen (FAST-3), crops the cache after a
rejection, and never recomputes the prompt. Inputs go to the device of the embedding layer, so a
model sharded with `device_map` works as a plain member.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
from fractions import Fraction
from pathlib import Path

import torch

from specens.linear import FewRowLinear, eligible_linears
from specens.reference.numbers import as_fraction


def resolve_device(spec, *, argument: str = "device") -> torch.device:
    """`spec` as a torch device this machine has, or a one-line ValueError naming `argument` and the fix.

    resolve_device("cpu") == torch.device("cpu"); "cuda" without CUDA, "mps" off Apple silicon and
    "foo" are refused.
    """
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{argument}: {spec!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{argument}: {spec!r} needs CUDA, which this machine (or this build of torch) does "
                             "not have; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{argument}: {spec!r} does not exist, this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{argument}: {spec!r} needs Apple silicon and a torch build with MPS, which this machine "
                             "does not have; use cpu")
    elif device.type != "cpu":
        backend = getattr(torch, device.type, None)
        if not callable(getattr(backend, "is_available", None)) or not backend.is_available():
            raise ValueError(f"{argument}: {spec!r} is not available on this machine; use cpu, cuda or mps")
    return device


@contextlib.contextmanager
def quiet_transformers():
    """Within the block, transformers shows no progress bars and logs errors only ("Loading weights",
    "Token indices sequence length is longer than..."): specens says what matters itself. The
    caller's verbosity and progress-bar setting are restored afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _context_length(model) -> int | None:
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None) if config is not None else None
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0:
            return int(value)
    return None


def _logit_width(model) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return int(weight.shape[0])
    for owner in (getattr(model, "config", None), model):
        value = getattr(owner, "vocab_size", None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"model: cannot tell how many logits {type(model).__name__} produces; give it a config.vocab_size")


def _parameter_device(module, fallback="cpu") -> torch.device:
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device(fallback)


PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth")


def _check_safetensors_folder(path: Path) -> None:
    """Refuse, in one line, a path that is not a folder of safetensors weights (pickle weights above all)."""
    if not path.is_dir():
        raise ValueError(f"model: {str(path)!r} is not a local directory or .gguf file; specens never downloads. "
                         "Download the model first and pass its directory")
    if any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists():
        return
    pickled = [f for f in PICKLE_WEIGHTS if (path / f).exists()]
    if pickled:
        raise ValueError(f"model: {str(path)!r} holds pickle weights only ({pickled[0]}); specens loads safetensors "
                         "or GGUF, never pickle, which can run code. If you trust the file, convert it once with "
                         "transformers: AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(NEW_DIR) writes "
                         "model.safetensors and AutoTokenizer.from_pretrained(DIR).save_pretrained(NEW_DIR) its "
                         "tokenizer; pass NEW_DIR")
    raise ValueError(f"model: {str(path)!r} holds no model.safetensors and no .gguf file; pass a folder saved by "
                     "transformers' save_pretrained, or a GGUF file")


class Member:
    """One ensemble member: a causal LM, its name, its cost c_k and its KV cache. FAST-3, FAST-5.

    Args:
        model: a `PreTrainedModel` (or compatible module), or a local directory (loaded with
            `Member.from_pretrained` defaults: safetensors only, no remote code).
        name: the member's identity; combinations and gammas are keyed by it.
        cost: c_k, the cost of one call (COST-1), a positive number or rational string.
        tokenizer: the member's tokenizer, if known; the ensemble checks that all members share one.
        max_length: the longest sequence (prompt + generated) the member accepts; default from the
            config (`max_position_embeddings`, `n_positions`), None for no limit.
        few_row_linear: compute the model's float32 CPU linear layers, in calls of at most 5 tokens,
            as `weight @ x.T` (FAST-7, `specens.linear`): on MKL builds of torch this makes a call of
            2 tokens cost about what a call of 1 costs. False: torch's own `F.linear` throughout.
    """

    def __init__(self, model, *, name: str, cost=1, tokenizer=None, max_length: int | None = None,
                 few_row_linear: bool = True):
        if isinstance(model, (str, Path)):
            loaded = Member.from_pretrained(model, name=name, cost=cost, max_length=max_length,
                                            few_row_linear=few_row_linear)
            model, tokenizer = loaded.model, tokenizer or loaded.tokenizer
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model: expected a transformers PreTrainedModel or a local model directory, "
                             f"got {type(model).__name__}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: a member needs a non-empty string name, got {name!r}")
        if not isinstance(few_row_linear, bool):
            raise ValueError(f"few_row_linear: expected True or False, got {few_row_linear!r}")
        self.name, self.model, self.tokenizer = name, model.eval(), tokenizer
        # FAST-7: the layers given the few-row kernel, chosen once here (weights on the CPU, float32, >= 64 MiB)
        self._linear = FewRowLinear(eligible_linears(model) if few_row_linear else [])
        self.cost: Fraction = as_fraction(cost, name=f"cost of member {name!r}")
        if self.cost <= 0:
            raise ValueError(f"cost of member {name!r}: must be positive, got {cost}")
        self.max_length = max_length if max_length is not None else _context_length(model)
        if self.max_length is not None:
            if (isinstance(self.max_length, bool) or not isinstance(self.max_length, numbers.Integral)
                    or self.max_length < 1):
                raise ValueError(f"max_length: must be a positive integer or None, got {max_length!r}")
            self.max_length = int(self.max_length)
        self.logit_width = _logit_width(model)
        parameters = inspect.signature(model.forward).parameters
        self._cache_keyword = "cache" if "cache" in parameters else "past_key_values"
        self._keep_last = "logits_to_keep" in parameters
        try:  # inputs go where the embedding lives (the first shard of a device_map model)
            embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        except NotImplementedError:
            embeddings = None
        self.input_device = _parameter_device(embeddings if embeddings is not None else model)
        self.cache, self.length = None, 0  # length: tokens in the KV cache, prompt included

    @classmethod
    def from_pretrained(cls, path, *, name: str | None = None, cost=1, trust_remote_code: bool = False,
                        dtype=None, device=None, device_map=None, max_length: int | None = None,
                        cache_dir=None, few_row_linear: bool = True) -> "Member":
        """Load a member from local files: a safetensors folder, or a GGUF file (or a folder holding one).

        Nothing is downloaded (`local_files_only=True`), pickle weights are refused (unpickling can run
        code), and remote code is off unless asked. The folder's
        tokenizer is loaded when it has one, so the ensemble can check that members share a vocabulary.

        A GGUF file is converted once to a float32 safetensors folder under `cache_dir` (default
        `specens.gguf.default_cache_dir()`, about 20 s for SmolLM2-135M) and loaded from there;
        `cache_dir=False` reads the GGUF file directly every time and writes nothing.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from specens import gguf

        if device is not None:
            device = resolve_device(device)  # before loading: one line, not torch's traceback
        path = Path(path)
        gguf_file = gguf.find_gguf(path)
        if gguf_file is None:
            _check_safetensors_folder(path)
        kwargs = dict(trust_remote_code=trust_remote_code, local_files_only=True)
        if dtype is not None:
            kwargs["dtype"] = dtype
        if device_map is not None:
            kwargs["device_map"] = device_map
        with quiet_transformers():
            if gguf_file is not None and cache_dir is False:
                model, tokenizer = gguf.load_gguf(gguf_file, **kwargs)
            else:
                folder = gguf.convert_gguf(gguf_file, cache_dir=cache_dir) if gguf_file is not None else path
                model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, **kwargs)
                try:
                    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                              trust_remote_code=trust_remote_code)
                except (OSError, ValueError, TypeError):
                    tokenizer = None
        if device is not None and device_map is None:
            model = model.to(device)
        default_name = gguf_file.stem if gguf_file is not None else path.name
        return cls(model, name=name or default_name, cost=cost, tokenizer=tokenizer, max_length=max_length,
                   few_row_linear=few_row_linear)

    def fast_linear(self) -> FewRowLinear:
        """The context in which this member's model runs its calls (FAST-7): within it, the model's
        eligible linear layers compute blocks of at most 5 rows as `weight @ x.T`. Open it around your
        own calls of `member.model` (e.g. transformers' `generate`) to give them the same kernels; with
        `few_row_linear=False`, or a model outside FAST-7's scope, it changes nothing."""
        return self._linear

    @property
    def output_device(self) -> torch.device:
        """Where the logits come out (the LM head's device)."""
        head = self.model.get_output_embeddings() if hasattr(self.model, "get_output_embeddings") else None
        weight = getattr(head, "weight", None)
        return weight.device if isinstance(weight, torch.Tensor) else self.input_device

    def __repr__(self) -> str:
        return f"Member(name={self.name!r}, cost={self.cost}, model={type(self.model).__name__})"

    # -- the KV cache (FAST-3) ------------------------------------------------------------------
    def _new_cache(self):
        from transformers import DynamicCache, PreTrainedModel

        config = self.model.config if isinstance(self.model, PreTrainedModel) else None
        cache = DynamicCache(config=config)
        if not (callable(getattr(cache, "crop", None)) and callable(getattr(cache, "get_seq_length", None))):
            raise ValueError(f"member {self.name!r}: its KV cache {type(cache).__name__} cannot be cropped")
        return cache

    def check_croppable(self, total_length: int):
        """Refuse, before any call, a cache that could not be rolled back within `total_length`. FAST-3.

        Sliding-window layers of a `DynamicCache` forget old states once the window is full, so a
        crop after that point is impossible; such a member can run only methods that never crop
        (standard, mixture) or sequences shorter than its window.
        """
        for layer in getattr(self._new_cache(), "layers", ()):
            window = getattr(layer, "sliding_window", None)
            if isinstance(window, int) and total_length >= window and not getattr(layer, "record_past", False):
                raise ValueError(
                    f"member {self.name!r}: its sliding-window KV cache (window {window}) cannot be cropped once "
                    f"{total_length} tokens are cached; use a shorter prompt or max_new_tokens (under {window} tokens "
                    "in all), or the standard or mixture method, which never crop")

    def reset(self):
        """Forget the cache (a new row starts)."""
        self.cache, self.length = self._new_cache(), 0

    def _call(self, tokens: list[int], *, keep: int | None) -> torch.Tensor:
        ids = torch.tensor([tokens], dtype=torch.long, device=self.input_device)  # (1, K)
        kwargs = {self._cache_keyword: self.cache, "use_cache": True}
        if keep is not None and keep < len(tokens) and self._keep_last:
            kwargs["logits_to_keep"] = keep  # the LM head runs on the last `keep` positions only
        with self._linear:  # FAST-7
            out = self.model(input_ids=ids, **kwargs)
        self.length += len(tokens)
        if self.cache.get_seq_length() != self.length:
            raise RuntimeError(f"member {self.name!r}: its KV cache holds {self.cache.get_seq_length()} tokens after a "
                               f"call, expected {self.length}; the model did not use the cache it was given")
        return out.logits[0]  # (K, W) or (1, W)

    def prefill(self, prompt: list[int]) -> torch.Tensor:
        """Process the prompt in one call; returns the logits (W,) at the position after it. METHOD-1, FAST-5."""
        if not prompt:
            raise ValueError("prompt: a transformers member needs at least one prompt token (e.g. the BOS token)")
        if self.max_length is not None and len(prompt) > self.max_length:
            raise ValueError(f"prompt: {len(prompt)} tokens exceed member {self.name!r}'s context of "
                             f"{self.max_length}; shorten the prompt")
        self.reset()
        return self._call(list(prompt), keep=1)[-1]

    def feed(self, tokens: list[int], *, keep: int | None = None) -> torch.Tensor:
        """Process exactly `tokens`, which the cache has not seen; returns logits (K, W), one row per token. FAST-3.

        keep: return only the rows of the last `keep` tokens, (keep, W) (None: all K). A model whose
        forward takes `logits_to_keep` then runs its LM head on those positions only; others compute
        every row and the first ones are dropped, so the rows returned are the same either way.
        """
        if not tokens:
            raise ValueError("tokens: feed at least one new token")
        if self.cache is None:
            raise ValueError(f"member {self.name!r}: prefill the prompt before feeding tokens")
        if keep is not None and not 1 <= keep <= len(tokens):
            raise ValueError(f"keep: must be 1 .. {len(tokens)} (the tokens fed), got {keep}")
        rows = self._call(list(tokens), keep=keep)  # (K, W) or (keep, W)
        return rows if keep is None else rows[-keep:]

    def crop(self, length: int):
        """Roll the KV cache back to its first `length` tokens (prompt included). FAST-3, METHOD-4.

        Raises ValueError when the cache cannot be cropped exactly, never continues with a wrong cache.
        """
        if length == self.length:
            return
        if not 0 < length < self.length:
            raise ValueError(f"length: can crop member {self.name!r} to 1 .. {self.length} tokens, got {length}")
        try:
            self.cache.crop(length - self.length)  # negative: remove that many tokens
        except (RuntimeError, ValueError, NotImplementedError) as e:
            raise ValueError(f"member {self.name!r}: its KV cache {type(self.cache).__name__} cannot be cropped to "
                             f"{length} tokens ({e}); use the standard or mixture method, which never crop") from e
        if self.cache.get_seq_length() != length:
            raise ValueError(f"member {self.name!r}: cropping its KV cache to {length} tokens left "
                             f"{self.cache.get_seq_length()}; this cache type cannot be rolled back")
        self.length = length


def set_parameter_costs(members) -> None:
    """Set each member's c_k to its parameter count relative to the largest member's (COST-1).

    A proxy for the cost of one call when it has not been measured: two members of 0.5M and 1.3M
    parameters get costs of about 0.38 and 1.
    """
    sizes = [sum(p.numel() for p in m.model.parameters()) for m in members]
    for m, size in zip(members, sizes):
        m.cost = Fraction(size, max(sizes))
