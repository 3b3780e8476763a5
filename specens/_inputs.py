"""What `generate()` accepts, checked in one place: integers, prompts, seeds and the thread count.

Each check either returns the value in the one form the fast path uses (Python ints, lists of token
ids, one `UniformStream` per row, a thread count) or raises a one-line ValueError that names the
argument and the fix. An integer is anything `numbers.Integral` but a bool: a Python int or a NumPy
integer, so `np.int64(3)` works wherever 3 does.
"""

from __future__ import annotations

import contextlib
import decimal
import numbers
import os
from fractions import Fraction

import numpy as np
import torch

from specens.members import quiet_transformers
from specens.reference.rng import UniformStream

AUTO = "auto"
SMALL_MEMBER_PARAMETERS = 1_000_000_000  # below this on CPU, one torch thread beats several (README)
THREADS_PER_CORE = 4  # the most threads="N" may ask for per CPU core: more only thrash (and can exhaust the OS)


def is_integer(value) -> bool:
    """A Python or NumPy integer, never a bool: is_integer(np.int64(3)) and not is_integer(True)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def positive_int(value, argument: str) -> int:
    """`value` as an int >= 1, or a ValueError naming `argument`: positive_int(np.int64(3), "top_k") == 3."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{argument}: must be a positive integer, got {value!r}")
    return int(value)


# -- prompts -------------------------------------------------------------------------------------
def _is_sequence(x) -> bool:
    """A row (text, a list of ids, a 1-D tensor or array) rather than one token id."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return x.ndim >= 1
    return isinstance(x, (str, bytes, list, tuple))


def _integer_dtype(array) -> bool:
    if isinstance(array, torch.Tensor):
        return not (array.dtype.is_floating_point or array.dtype.is_complex or array.dtype == torch.bool)
    return array.dtype.kind in "iu"


def _token(x) -> int:
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 0 and _integer_dtype(x):
        return int(x.item())
    if not is_integer(x):
        chat = ("; chat messages are a list of dicts only, one conversation per prompt" if isinstance(x, (dict, str))
                else "")
        raise ValueError(f"prompts: token ids must be integers, got {x!r} ({type(x).__name__}); give ints, or a "
                         f"tensor or array of an integer dtype (e.g. torch.long){chat}")
    return int(x)


def _is_messages(row) -> bool:
    """A conversation in transformers' chat format: a non-empty list of {"role": ..., "content": ...} dicts."""
    return isinstance(row, (list, tuple)) and len(row) > 0 and all(isinstance(m, dict) for m in row)


def _template_errors() -> tuple:
    """The exceptions a chat template raises on messages it refuses (jinja2's, which transformers' chat
    templates need; torch depends on jinja2, so it is there wherever a model runs)."""
    try:
        import jinja2
    except ImportError:  # then apply_chat_template itself says how to install it
        return ()
    return (jinja2.TemplateError,)


def chat_ids(tokenizer, messages) -> list[int]:
    """`messages` ([{"role": "user", "content": "..."}, ...]) as token ids in the tokenizer's chat template, as
    transformers' text-generation pipeline puts a chat: the assistant's turn opened after the last message
    (`add_generation_prompt=True`), or, when the last message is the assistant's, that message continued
    (`continue_final_message=True`: a prefill of the answer). ValueError without a tokenizer, without a chat
    template, for a message that is not a dict with string "role" and "content", and when the template
    refuses the messages (e.g. roles that do not alternate)."""
    if tokenizer is None:
        raise ValueError("prompts: chat messages need a tokenizer; pass tokenizer= to Ensemble or give token ids")
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompts: the tokenizer has no chat template; give the prompt as text or token ids, "
                         "not as chat messages")
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise ValueError(f'prompts: each chat message is a dict {{"role": str, "content": str}}, got {m!r}')
    prefill = messages[-1]["role"] == "assistant"
    try:
        with quiet_transformers():
            ids = tokenizer.apply_chat_template(list(messages), add_generation_prompt=not prefill,
                                                continue_final_message=prefill, tokenize=True)
    except _template_errors() as e:
        raise ValueError(f"prompts: the tokenizer's chat template refused these messages: {e}") from None
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _row_ids(row, tokenizer) -> list[int]:
    """One prompt as token ids: text encoded by the tokenizer, chat messages in its chat template, or ids of
    an integer type."""
    if _is_messages(row):
        return chat_ids(tokenizer, row)
    if isinstance(row, str):
        if tokenizer is None:
            raise ValueError("prompts: text needs a tokenizer; pass tokenizer= to Ensemble or give token ids")
        with quiet_transformers():  # a too-long prompt is reported by FAST-5's check, naming the member
            return list(tokenizer(row)["input_ids"])
    if isinstance(row, (torch.Tensor, np.ndarray)):
        if row.ndim != 1:
            raise ValueError(f"prompts: a row of token ids must be 1-D, got shape {tuple(row.shape)}")
        if not _integer_dtype(row):
            raise ValueError(f"prompts: token ids must be integers, got a {type(row).__name__} of dtype {row.dtype}; "
                             "convert it, e.g. torch.tensor(ids, dtype=torch.long)")
        return [int(t) for t in row.tolist()]
    if isinstance(row, (list, tuple)):
        return [_token(t) for t in row]
    lone = "; a chat message goes in a list, its conversation: [{...}]" if isinstance(row, dict) else ""
    raise ValueError(f"prompts: each prompt is text, token ids or chat messages, got {type(row).__name__}{lone}")


def prompt_rows(prompts, *, tokenizer, vocab_size: int) -> tuple[list[list[int]], bool]:
    """Token-id rows and whether a single prompt was given; every form passes the same checks.

    A single prompt: text, a list of ids, a 1-D tensor or array, or chat messages (a list of
    {"role", "content"} dicts, put in the tokenizer's chat template). A batch: a list of those, or a 2-D
    tensor or array. Ids must be integers in [0, V). Example, V = 10: [1, 2] -> ([[1, 2]], True);
    np.array([[1], [2]]) -> ([[1], [2]], False); torch.tensor([1.5]) and [1, 10] are refused.
    """
    if isinstance(prompts, (torch.Tensor, np.ndarray)):
        if prompts.ndim not in (1, 2):
            raise ValueError(f"prompts: a tensor or array of token ids must be 1-D (one prompt) or 2-D (a batch), "
                             f"got shape {tuple(prompts.shape)}")
        single = prompts.ndim == 1
    elif isinstance(prompts, (str, list, tuple)):
        single = isinstance(prompts, str) or (len(prompts) > 0 and not any(_is_sequence(x) for x in prompts))
    else:
        raise ValueError(f"prompts: give text, a list of token ids, a 1-D or 2-D integer tensor or array, chat "
                         f"messages, or a list of prompts; got {type(prompts).__name__}")
    rows = [prompts] if single else list(prompts)
    if not rows:
        raise ValueError("prompts: give a prompt (text, token ids or chat messages) or a non-empty list of them")
    out = []
    for row in rows:
        ids = _row_ids(row, tokenizer)
        if not ids:
            raise ValueError(f"prompts: each prompt must hold at least one token (a conversation, at least one "
                             f"message), got {row!r}")
        bad = [t for t in ids if not 0 <= t < vocab_size]
        if bad:
            raise ValueError(f"prompts: token ids must lie in [0, {vocab_size}), got {bad[:5]}")
        out.append(ids)
    return out, single


# -- randomness (FAST-4) -------------------------------------------------------------------------
def uniform_streams(rows: int, single: bool, seed, uniforms) -> list[UniformStream]:
    """One independent uniform stream per row (FAST-4): seed + b, a list of seeds, or given uniforms.

    Seeds are non-negative integers (PCG64 takes no other): seed=np.int64(3) works, -1 and 1.5 do not.
    """
    if (seed is None) == (uniforms is None):
        raise ValueError("seed/uniforms: randomness is an input; give seed= (an int, or one per row) or "
                         "uniforms= (floats in [0, 1), or a UniformStream; one per row for a batch), not both; at "
                         "temperature 0 SE, naive SE and the standard ensemble give the same tokens for any seed: seed=0")
    if seed is not None:
        if is_integer(seed):
            seeds = [int(seed) + b for b in range(rows)]
        elif isinstance(seed, (list, tuple, np.ndarray, torch.Tensor)):
            seeds = list(seed.tolist() if hasattr(seed, "tolist") else seed)
        else:
            seeds = None
        if seeds is None or len(seeds) != rows or not all(is_integer(s) for s in seeds):
            raise ValueError(f"seed: give an int or a list of {rows} int{'s' if rows != 1 else ''} (one per row), got {seed!r}")
        if any(s < 0 for s in seeds):
            raise ValueError(f"seed: must be a non-negative integer (PCG64 takes no negative seed), got {seed!r}")
        return [UniformStream(seed=int(s)) for s in seeds]  # one stream object per row, even for equal seeds
    sources = [uniforms] if single else list(uniforms)
    if len(sources) != rows:
        raise ValueError(f"uniforms: give one source per row ({rows}), got {len(sources)}")
    streams = [s if isinstance(s, UniformStream) else UniformStream(list(s)) for s in sources]
    if len({id(s) for s in streams}) != rows:
        raise ValueError("uniforms: rows must not share one UniformStream (FAST-4); give one per row")
    return streams


# -- threads -------------------------------------------------------------------------------------
def max_threads() -> int:
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def check_threads(threads):
    """`threads` as generate() takes it: 'auto', None, or a count in 1 .. 4 per CPU core (an int)."""
    if threads is None or threads == AUTO:
        return threads
    if not is_integer(threads):
        raise ValueError(f"threads: a number of threads, {AUTO!r} or None (leave torch alone), got {threads!r}")
    if not 1 <= threads <= max_threads():
        raise ValueError(f"threads: must be a positive number of threads, at most {max_threads()} "
                         f"({THREADS_PER_CORE} per CPU core here), got {threads!r}")
    return int(threads)


def thread_count(threads, members) -> int | None:
    """The torch thread count a run uses; None leaves torch's setting alone.

    'auto' (the default of `generate` and `specens generate`): 1 when every member lies on the CPU
    with under 1B parameters and OMP_NUM_THREADS is unset (such members' matrix products are too
    small to share, so extra threads only wait on each other; on a busy 2-core machine one thread
    ran the bundled members some 60x faster), else None. An int: that count. None: None.
    """
    threads = check_threads(threads)
    if threads != AUTO:
        return threads
    if "OMP_NUM_THREADS" in os.environ:
        return None
    for m in members:
        parameters = list(m.model.parameters())
        on_cpu = all(t.device.type == "cpu" for t in parameters + list(m.model.buffers()))
        if not on_cpu or sum(p.numel() for p in parameters) >= SMALL_MEMBER_PARAMETERS:
            return None
    return 1


@contextlib.contextmanager
def torch_threads(count: int | None):
    """Run the block with `count` torch threads and restore the previous count after (None: no change)."""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- numbers in messages -------------------------------------------------------------------------
def short_number(value, digits: int = 4) -> str:
    """An exact number as a short decimal, whatever its size: short_number(Fraction(1, 3)) == '0.3333',
    short_number(Fraction(10**400)) == '1e+400' (beyond a float), short_number(2) == '2'."""
    x = Fraction(value)
    try:
        f = float(x)
    except OverflowError:
        f = None
    if f is not None and (f == 0) == (x == 0):  # a float holds it without overflow or underflow to 0
        return f"{f:.{digits}g}"
    context = decimal.Context(prec=digits, Emin=-10**9, Emax=10**9)
    quotient = context.divide(decimal.Decimal(x.numerator), decimal.Decimal(x.denominator))
    return format(quotient.normalize(context), "g")
