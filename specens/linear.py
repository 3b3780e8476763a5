"""Linear layers for calls of a few tokens on the CPU (FAST-7).

A decoding call feeds 1 to gamma + 1 tokens, so every linear layer multiplies a (k, in) block by an
(out, in) weight with k small. With the MKL build of torch's CPU wheels, `torch.nn.functional.linear`
is slow for such blocks: on the development machine (AMD EPYC, one thread) SmolLM2-135M's 49,152 x 576
LM head took 10.0 / 22.1 / 33.0 ms for 1 / 2 / 3 rows, while the same product written as
`weight @ x.T` with at least two columns took 5.8 / 6.0 / 8.4 ms (docs/bench/cost.json). A call of two tokens then
costs about what a call of one costs, as the paper's cost model assumes (COST-1);
`scripts/bench_cost.py --linear both` measures both kernels side by side.

`FewRowLinear(modules)` makes the listed `torch.nn.Linear` modules compute blocks of at most
`MAX_ROWS` rows that way (`eligible_linears(model)` lists them: float32 CPU weights of at least
`MIN_MODEL_BYTES` in all, since a model that fits in the CPU's caches, like the bundled family, is
faster with F.linear) while the context is open and restores them on exit; larger blocks (a
prompt) use `torch.nn.functional.linear` unchanged. The values are the same product in another
summation order: they differ from `F.linear`'s by float rounding only (about 1e-5 on SmolLM2's
float32 logits), which FAST-2's note already allows.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

MAX_ROWS = 5  # blocks above this use F.linear; measured on SmolLM2 (docs/speed.md): from 6 rows on F.linear is as fast
MIN_MODEL_BYTES = 64 * 2**20  # below this the weights stay in the CPU's caches and F.linear is faster (bundled family)


def few_row_linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)` for x of shape (..., in) and weight (out, in), returned as (..., out).

    Blocks of at most `MAX_ROWS` rows are computed as `weight @ x.T` with x padded to two rows (a
    one-column product takes a slower matrix-vector path) and the result made row-major again, so
    the next layer sees the layout F.linear would give it; larger blocks call F.linear.
    """
    rows = x.reshape(-1, x.shape[-1])  # (k, in)
    k = rows.shape[0]
    if k > MAX_ROWS or k == 0:
        return F.linear(x, weight, bias)
    if k == 1:
        rows = torch.cat([rows, rows])  # (2, in): a two-column product, its first column kept
    out = torch.mm(weight, rows.contiguous().t()).t()[:k].contiguous()  # (k, out)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


def eligible_linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The `nn.Linear` modules of `model` whose weight is a float32 CPU tensor and whose `forward` is
    `nn.Linear`'s own (a subclass with its own forward, e.g. a LoRA layer, and a module another library
    has already wrapped, e.g. by accelerate's hooks, are left alone);
    none when those weights hold under `MIN_MODEL_BYTES` in all (a model that fits in the CPU's caches,
    where the extra copies of the few-row kernel cost more than they save)."""
    found = [m for m in model.modules()
             if isinstance(m, torch.nn.Linear) and type(m).forward is torch.nn.Linear.forward  # not a subclass's own
             and isinstance(m.weight, torch.Tensor)
             and m.weight.device.type == "cpu" and m.weight.dtype == torch.float32 and m.weight.dim() == 2
             and "forward" not in vars(m)]
    weights = {m.weight.data_ptr(): m.weight.nbytes for m in found}  # a weight shared by modules counts once
    return found if sum(weights.values()) >= MIN_MODEL_BYTES else []


def _forward(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return few_row_linear_forward(x, module.weight, module.bias)


class FewRowLinear:
    """A reusable context: while open, `modules` (from `eligible_linears`) compute small blocks as
    `weight @ x.T`; on exit, even when the body raises, they are exactly as before.

    The bound forwards are made once; entering and leaving only set and remove each module's
    instance `forward` (about 40 microseconds for SmolLM2's 211 layers), so a member can open it
    around every call and leave the model untouched between calls. Contexts nest: the modules are
    restored when the outermost one exits (a user's `with member.fast_linear():` around specens'
    own calls stays in force). One thread at a time.
    """

    def __init__(self, modules: list[torch.nn.Linear]):
        self._forwards = [(m, types.MethodType(_forward, m)) for m in modules]
        self._patched: list[torch.nn.Linear] = []
        self._depth = 0

    def __enter__(self) -> "FewRowLinear":
        self._depth += 1
        if self._depth == 1:
            for m, forward in self._forwards:
                if "forward" not in m.__dict__:  # set directly: nn.Module.__setattr__ is slower and not needed
                    m.__dict__["forward"] = forward
                    self._patched.append(m)
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for m in self._patched:
                m.__dict__.pop("forward", None)
            self._patched.clear()
