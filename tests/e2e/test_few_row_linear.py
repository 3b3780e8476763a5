"""FAST-7: linear layers of few-token calls computed as W @ X^T on the CPU.

What is checked: the kernel is the same product as `F.linear` up to rounding, for every block size
and shape a call can have; it reaches exactly the modules FAST-7 names (float32, CPU, at least
64 MiB, not already wrapped) and leaves them as they were after the call, even when the call
raises; and on SmolLM2 a member's logits with the kernel equal its logits with `F.linear` within
float32 rounding, so greedy decoding gives the same tokens either way.
"""

import pytest
import torch
import torch.nn.functional as F

from specens import Member, bundled_model_path
from specens.linear import MAX_ROWS, MIN_MODEL_BYTES, FewRowLinear, eligible_linears, few_row_linear_forward

torch.set_num_threads(1)


@pytest.mark.parametrize("rows", list(range(1, MAX_ROWS + 3)))
@pytest.mark.parametrize("bias", [False, True])
def test_kernel_is_f_linear_up_to_rounding(rows, bias):
    """float64: equal to 1e-12; float32: within rounding of the sums (576 terms)."""
    gen = torch.Generator().manual_seed(rows)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        weight = torch.randn(300, 576, generator=gen, dtype=dtype)
        b = torch.randn(300, generator=gen, dtype=dtype) if bias else None
        x = torch.randn(1, rows, 576, generator=gen, dtype=dtype)  # (batch, tokens, in): a model's layout
        got = few_row_linear_forward(x, weight, b)
        want = F.linear(x, weight, b)
        assert got.shape == want.shape == (1, rows, 300)
        assert got.is_contiguous()  # the next layer sees the layout F.linear gives
        assert torch.allclose(got, want, rtol=0, atol=tol * want.abs().max().item())


def test_kernel_rows_do_not_leak_between_positions():
    """Each output row depends on its own input row only (a padding row never shows up in the result)."""
    weight = torch.randn(64, 32, dtype=torch.float64)
    x = torch.randn(3, 32, dtype=torch.float64)
    alone = [few_row_linear_forward(x[i:i + 1], weight) for i in range(3)]
    together = few_row_linear_forward(x, weight)
    for i in range(3):
        assert torch.allclose(together[i], alone[i][0], rtol=0, atol=1e-12)


def big_model():
    """Two float32 linear layers holding MIN_MODEL_BYTES in all: just at FAST-7's bound."""
    half = MIN_MODEL_BYTES // 4 // 2 // 1024  # rows of a (rows, 1024) float32 weight holding half the bound
    return torch.nn.Sequential(torch.nn.Linear(1024, half, bias=False), torch.nn.Linear(half, 1024))


def test_eligible_linears_follow_the_rule():
    model = big_model()
    assert eligible_linears(model) == list(model)
    small = torch.nn.Sequential(torch.nn.Linear(1024, 1024))  # 4 MiB: fits in caches, F.linear kept
    assert eligible_linears(small) == []
    assert eligible_linears(big_model().double()) == []  # float64 weights: not measured, F.linear kept
    wrapped = big_model()
    wrapped[0].forward = lambda x: x  # another library's hook (e.g. accelerate) is never replaced
    assert eligible_linears(wrapped) == []  # and what is left falls under the bound


class ScaledLinear(torch.nn.Linear):
    """A subclass with its own forward (as a LoRA layer has): FAST-7 must leave it alone."""

    def forward(self, x):
        return super().forward(x) + 100.0


def test_subclasses_and_shared_weights():
    model = big_model()
    custom = ScaledLinear(1024, 8192, bias=False)
    mixed = torch.nn.Sequential(model[0], custom, model[1])
    assert custom not in eligible_linears(mixed)
    x = torch.randn(1, 1, 1024)
    with FewRowLinear(eligible_linears(mixed)):
        inside = custom(x)
    assert torch.allclose(inside, custom(x))  # its own term kept
    half = big_model()[0]
    shared = torch.nn.Sequential(half, torch.nn.Linear(1024, half.out_features, bias=False))
    shared[1].weight = half.weight  # one 32 MiB weight used twice: under the bound
    assert eligible_linears(shared) == []


def test_contexts_nest_and_the_outermost_restores():
    model = big_model()
    context = FewRowLinear(eligible_linears(model))
    with context:
        with context:
            pass
        assert all("forward" in vars(m) for m in model)  # the inner exit leaves the outer in force
    assert all("forward" not in vars(m) for m in model)


def test_context_patches_and_restores_even_when_the_body_raises():
    model = big_model()
    x = torch.randn(1, 2, 1024)
    context = FewRowLinear(eligible_linears(model))
    with context:
        assert all("forward" in vars(m) for m in model)
        inside = model(x)
    assert all("forward" not in vars(m) for m in model)
    assert torch.allclose(inside, model(x), rtol=0, atol=1e-3)
    with pytest.raises(RuntimeError, match="boom"):
        with context:
            raise RuntimeError("boom")
    assert all("forward" not in vars(m) for m in model)
    with context:  # reusable
        assert all("forward" in vars(m) for m in model)
    assert all("forward" not in vars(m) for m in model)


def test_context_is_what_runs_the_call():
    """Negative control for the tests above: the patched forward is the one the model calls."""
    model = big_model()
    calls = []
    original = torch.mm
    try:
        torch.mm = lambda a, b: calls.append(a.shape) or original(a, b)
        with FewRowLinear(eligible_linears(model)):
            model(torch.randn(1, 1, 1024))
        assert len(calls) == 2
        calls.clear()
        model(torch.randn(1, 1, 1024))  # outside: F.linear, no torch.mm
        assert calls == []
    finally:
        torch.mm = original


def test_member_option_is_checked():
    with pytest.raises(ValueError, match="few_row_linear"):
        Member(big_model(), name="m", few_row_linear="yes")


@pytest.fixture(scope="module")
def smollm2():
    try:
        path = bundled_model_path("smollm2")
    except ValueError as e:
        pytest.skip(f"SmolLM2 is not installed here: {e}")
    member = Member.from_pretrained(path, name="smollm2")
    plain = Member(member.model, name="smollm2 F.linear", tokenizer=member.tokenizer, few_row_linear=False)
    return member, plain


def test_smollm2_logits_with_the_kernel_equal_f_linear_up_to_rounding(smollm2):
    member, plain = smollm2
    assert len(member.fast_linear()._forwards) == 211  # 30 layers x 7 projections + the LM head
    assert plain.fast_linear()._forwards == []
    prompt = member.tokenizer("def median(data):\n    values = sorted(data)\n")["input_ids"]
    block = member.tokenizer("    n = len(values)\n")["input_ids"][:MAX_ROWS + 1]
    with torch.inference_mode():
        for m in (member, plain):
            m.prefill(prompt)
        for k in range(1, len(block) + 1):
            got, want = member.feed(block[:k]), plain.feed(block[:k])
            member.crop(len(prompt))
            plain.crop(len(prompt))
            assert (got - want).abs().max().item() < 1e-3, k  # logits of size ~20: float32 rounding of 30 layers
            assert torch.equal(got.argmax(-1), want.argmax(-1))
        assert all("forward" not in vars(m) for m in member.model.modules())  # the model is left as it was
