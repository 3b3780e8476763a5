"""A real model as a toy member: its logits after every context a run can reach (spec/09-toy-format.md).

A run from prompt `P` that emits at most `L` tokens only ever asks a member for its output after
`P + y` with `y` of 0 .. L - 1 tokens. Tabulating the model there gives a toy member of order
`len(P) + L - 1` (TOY-2) whose rows depend on the whole history, and whose exact law the reference
computes: a conformance check of a sampler on a real model, without trusting the model's code path.

torch is imported inside the functions, so the oracle package stays importable without it.
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

MAX_CONTEXTS = 100_000


def tabulate_member(model, prompt: Sequence[int], max_new_tokens: int, *, name: str, vocab_size: int,
                    cost=1, batch_size: int = 512) -> dict:
    """The toy-member JSON (TOY-2) of `model`: float64 logits after prompt + every y of < L tokens.

    Args:
        model: a causal LM called as `model(input_ids=ids (B, K), use_cache=False).logits` (B, K, W),
            W >= vocab_size; run in its own dtype, logits rounded once to float64.
        prompt: the token ids every run starts from (at least one for a transformers model).
        max_new_tokens: L; contexts hold up to L - 1 generated tokens.
        name, cost: the member's name and c_k (COST-1).
        vocab_size: V, the number of logit columns kept (padded columns beyond it are dropped, FAST-1).

    Returns the member as a dict for a toy file: order len(prompt) + L - 1, one `logits` row per
    reachable context (keys as in TOY-2), and the row `"*"` (all zeros) for contexts that do not
    start with the prompt: a run never reaches them, but the oracle's tables form a row for every
    context. With V = 2, prompt [1] and L = 2 the keys are "1", "1,0", "1,1" and "*".
    """
    import torch

    prompt = [int(t) for t in prompt]
    if not prompt:
        raise ValueError("prompt: a model is tabulated after at least one prompt token (e.g. the BOS token)")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: must be a positive integer, got {max_new_tokens!r}")
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size: must be a positive integer, got {vocab_size!r}")
    if any(not 0 <= t < vocab_size for t in prompt):
        raise ValueError(f"prompt: token ids must lie in [0, {vocab_size}), got {prompt}")
    count = sum(vocab_size ** j for j in range(max_new_tokens))
    if count > MAX_CONTEXTS:
        raise ValueError(f"max_new_tokens: {count} contexts to tabulate (V = {vocab_size}), more than {MAX_CONTEXTS}; "
                         "use fewer new tokens or a smaller vocabulary")
    device = next(model.parameters()).device
    rows = {}
    for j in range(max_new_tokens):  # every context of one length in batches: (B, len(prompt) + j)
        contexts = [prompt + list(y) for y in itertools.product(range(vocab_size), repeat=j)]
        for start in range(0, len(contexts), batch_size):
            chunk = contexts[start:start + batch_size]
            ids = torch.tensor(chunk, dtype=torch.long, device=device)  # (B, K)
            with torch.no_grad():
                logits = model(input_ids=ids, use_cache=False).logits[:, -1, :vocab_size]  # (B, V)
            for context, row in zip(chunk, logits.to(torch.float64).cpu().tolist()):
                rows[",".join(map(str, context))] = [_number(v) for v in row]
    rows["*"] = [0.0] * vocab_size
    return {"name": name, "order": len(prompt) + max_new_tokens - 1, "cost": str(cost), "logits": rows}


def _number(value: float):
    """A logit for JSON: the float itself (written exactly by `json`), or the string "-inf" (TOY-2)."""
    if value == float("-inf"):
        return "-inf"
    if value != value or value == float("inf"):
        raise ValueError(f"model: produced the logit {value}; a toy row allows finite numbers and -inf only")
    return value


def tabulated_toy(models: Mapping[str, object], combination: dict, prompt: Sequence[int], max_new_tokens: int, *,
                  vocab_size: int, costs: Mapping[str, object] | None = None, mode: str | None = None,
                  sampling: dict | None = None, eos_token_id=None, method: dict | None = None) -> dict:
    """A toy file (TOY-1) whose members are `models` tabulated by `tabulate_member`.

    combination, sampling and method are their TOY-3, TOY-1 and TOY-4 JSON forms; the file carries
    the prompt, so `load_toy` gives the ensemble whose exact law is that of the models from it.
    """
    costs = costs or {}
    ensemble = {"members": [tabulate_member(model, prompt, max_new_tokens, name=name, vocab_size=vocab_size,
                                            cost=costs.get(name, 1)) for name, model in models.items()],
                "combination": combination, "eos_token_id": eos_token_id, "prompt": [int(t) for t in prompt]}
    if mode is not None:
        ensemble["mode"] = mode
    if sampling is not None:
        ensemble["sampling"] = sampling
    return {"format": "specens/toy-ensemble", "version": 1, "ensemble": ensemble,
            "method": method or {"name": "standard"}, "max_new_tokens": max_new_tokens}
