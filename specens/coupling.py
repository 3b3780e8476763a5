"""Couple the fast path with the NumPy reference: same members on both sides, traces compared.

- `ToyLM`: a reference `ToyMember` table as a torch causal LM with a real `DynamicCache`, so the
  fast path (caches, crops, alignment) runs on members whose exact law the reference knows.
- `ReferenceMember`: a transformers model as a reference member; every `scores(context)` is a full
  forward without a cache, in float64.
- `reference_ensemble`: the reference `Ensemble` that describes a fast `Ensemble` for one prompt.
- `trace_mismatches`: field-by-field comparison of two traces (TRACE-1), ratios with a tolerance.
- `assert_coupled`: one seeded run on each side, asserting equal tokens, traces, uniforms and cost.
- `MarginChooser`: the reference's stream chooser, also recording how far each uniform fell from
  its decision boundary, to explain float32 mismatches (NUM-2's note).
- `tiny_causal_lm`, `tiny_tokenizer`: seeded tiny random transformers models and a word-level
  tokenizer, built offline.
- `first_tokens_check` (`first_two_tokens_check`): a chi-square of the first tokens a fast `generate`
  emits against the exact law of the same members in float64 (for real models, whose whole law cannot be enumerated).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from types import SimpleNamespace

import torch

from specens.reference.rng import StreamChooser, sample
from specens.reference.toy import Ensemble as ReferenceEnsemble
from specens.reference.toy import ToyMember
from specens.reference.transforms import Scores


class ToyLM(torch.nn.Module):
    """A `ToyMember` as a causal LM: logits (1, K, V) in float64, the context kept in a `DynamicCache`.

    Its cache stores the token ids as one-dimensional "keys", so cropping the cache (FAST-3) really
    forgets tokens, and a wrong crop shows up as a wrong context. Each row is the toy's row for the
    whole history (prompt + fed tokens); the toy takes its own window of it (TOY-2, `context_window`). `extra_logits` appends padded
    columns (FAST-1 tests).
    """

    def __init__(self, toy: ToyMember, *, extra_logits: int = 0):
        super().__init__()
        self.toy, self.extra = toy, extra_logits
        self.vocab_size = toy.vocab_size + extra_logits
        self.register_buffer("anchor", torch.zeros(1, dtype=torch.float64))  # gives the module a device
        self._rows: dict = {}

    def _row(self, context: tuple) -> torch.Tensor:
        if context not in self._rows:
            logits = torch.from_numpy(self.toy.scores(context).to_logits().copy())
            pad = torch.full((self.extra,), float("-inf"), dtype=torch.float64) if self.extra else logits[:0]
            self._rows[context] = torch.cat([logits, pad]).to(self.anchor.device)
        return self._rows[context]

    def forward(self, input_ids: torch.Tensor, cache=None, use_cache: bool = True, **kwargs):
        new = input_ids[0].tolist()
        past = [] if cache is None or cache.get_seq_length() == 0 else [int(t) for t in cache.layers[0].keys[0, 0, :, 0]]
        history = past + new
        if cache is not None:
            ids = torch.tensor(new, dtype=torch.float64, device=self.anchor.device).view(1, 1, -1, 1)
            cache.update(ids, ids, 0)
        rows = [self._row(tuple(history[: len(past) + j + 1])) for j in range(len(new))]
        return SimpleNamespace(logits=torch.stack(rows)[None])  # (1, K, V)


class ReferenceMember:
    """A transformers model as a reference member: full no-cache forward per context, float64 logits."""

    def __init__(self, model, *, name: str, cost, vocab_size: int):
        self.model, self.name, self.cost, self.vocab_size = model, name, Fraction(cost), vocab_size
        self._memo: dict = {}
        self._device = next(model.parameters()).device

    def scores(self, context) -> Scores:
        context = tuple(context)
        if context not in self._memo:
            with torch.no_grad():
                ids = torch.tensor([context], dtype=torch.long, device=self._device)
                logits = self.model(input_ids=ids, use_cache=False).logits[0, -1, : self.vocab_size]
            self._memo[context] = Scores(logits=logits.double().cpu().numpy())
        return self._memo[context]


def reference_member(member, vocab_size: int, *, dtype=torch.float64):
    """The reference twin of a fast `Member`: its toy table, or its model (a float64 copy if needed)."""
    if isinstance(member.model, ToyLM):
        return member.model.toy
    model = member.model
    if next(model.parameters()).dtype != dtype:
        model = copy.deepcopy(model).to(dtype)
    return ReferenceMember(model, name=member.name, cost=member.cost, vocab_size=vocab_size)


def reference_ensemble(ensemble, prompt, *, members=None) -> ReferenceEnsemble:
    """The reference `Ensemble` with the same members, combination, mode, sampling, EOS ids, processors
    (PROC-1), stop sequences (STOP-2) and prompt. A fast ensemble with a `logits_processor` has no twin."""
    if ensemble.logits_processor:
        raise ValueError("logits_processor: the reference has no transformers processors; compare without them")
    members = members or [reference_member(m, ensemble.vocab_size) for m in ensemble.members]
    drafter = getattr(ensemble, "drafter", None)  # METHOD-5: the outside drafter, if any
    drafter = None if drafter is None else reference_member(drafter, ensemble.vocab_size)
    return ReferenceEnsemble(tuple(members), ensemble.combination, mode=ensemble.mode, sampling=ensemble.sampling,
                             eos_token_id=ensemble.eos_token_id, prompt=tuple(prompt), drafter=drafter,
                             processors=ensemble.processors, stop_sequences=ensemble.stop_sequences)


def trace_mismatches(fast: list, reference: list, *, rtol: float) -> list[str]:
    """Every difference between two traces (TRACE-1): events, fields, values; `ratio` within rtol."""
    problems = []
    if len(fast) != len(reference):
        problems.append(f"lengths differ: fast {len(fast)} events, reference {len(reference)}")
    for i, (a, b) in enumerate(zip(fast, reference)):
        if set(a) != set(b):
            problems.append(f"event {i}: fields {sorted(a)} vs {sorted(b)}")
            continue
        for key in a:
            x, y = a[key], b[key]
            if key == "ratio":
                if abs(x - y) > rtol * max(abs(y), 1e-300):
                    problems.append(f"event {i}: ratio {x!r} vs {y!r}")
            elif x != y or type(x) is not type(y):
                problems.append(f"event {i} ({a.get('event')}): {key} {x!r} vs {y!r}")
    return problems


def assert_coupled(ensemble, reference, prompt, method, seed: int, length: int, *, rtol: float):
    """Run `method` with `seed` on the fast `ensemble` and on its `reference` twin (a reference Ensemble for
    `prompt`) and assert coupling: equal tokens, equal traces (ratios within `rtol`, TRACE-1), equal
    uniforms used (RNG-1) and equal cost (COST-2).

    Returns (fast Generation, reference Result); (None, None) when the reference refuses with a
    ValueError (e.g. COMBINE-6, an emptied row) and the fast path refuses with the same message.
    Raises AssertionError otherwise.
    """
    import re

    from specens.api import generate
    from specens.reference.methods import generate as reference_generate

    try:
        slow = reference_generate(reference, method.check(reference), length, seed=seed)
    except ValueError as e:  # the fast path must refuse the same way
        try:
            generate(ensemble, prompt, max_new_tokens=length, method=method, seed=seed)
        except ValueError as fast_error:
            assert re.search(re.escape(str(e)[:30]), str(fast_error)), (str(fast_error), str(e))
            return None, None
        raise AssertionError(f"the reference refused ({e}) but the fast path ran") from None
    fast = generate(ensemble, prompt, max_new_tokens=length, method=method, seed=seed, trace=True)
    problems = trace_mismatches(fast.trace, slow.trace, rtol=rtol)
    assert fast.tokens == slow.tokens and not problems, (method, seed, fast.tokens, slow.tokens, problems[:5])
    assert fast.uniforms_used == slow.uniforms_used and fast.cost == slow.cost
    return fast, slow


class MarginChooser(StreamChooser):
    """The reference chooser (RNG-1), recording each decision with its margin: the distance of u from
    the nearest boundary that would change the outcome (exact rationals, reported as floats)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.decisions: list[tuple[str, object, float]] = []

    def draw(self, dist, what):
        u = Fraction(next(self.stream))
        x = sample(dist, u)
        below = sum(dist[:x], Fraction(0))
        self.decisions.append(("draw", x, float(min(u - below, below + dist[x] - u))))
        return x

    def accept(self, r_x, q_x, what):
        u = Fraction(next(self.stream))
        self.decisions.append(("accept", u * q_x < r_x, float(abs(u - r_x / q_x))))
        return u * q_x < r_x


def tiny_causal_lm(arch: str, vocab_size: int, *, seed: int, dtype=torch.float32, hidden: int = 16,
                   layers: int = 1, init_range: float = 0.5, context: int = 64, **config):
    """A seeded random transformers causal LM ('llama', 'gpt2', 'qwen2'), built offline, in eval mode.

    `init_range` is large on purpose: the default 0.02 gives nearly uniform next-token laws, in
    which every method looks right.
    """
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config

    if arch == "gpt2":
        if vocab_size <= 50256:  # GPT-2's own BOS/EOS id (50256) lies outside a tiny vocabulary: none, as llama's
            config = {"bos_token_id": None, "eos_token_id": None, **config}
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=hidden, n_layer=layers, n_head=2, n_positions=context,
                         initializer_range=init_range, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **config)
    elif arch in ("llama", "qwen2"):
        cls = LlamaConfig if arch == "llama" else Qwen2Config
        cfg = cls(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=context,
                  initializer_range=init_range, tie_word_embeddings=False, **config)
    else:
        raise ValueError(f"arch: one of 'llama', 'gpt2', 'qwen2', got {arch!r}")
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg).to(dtype).eval()


def tiny_tokenizer(vocab_size: int, *, prefix: str = "t"):
    """A word-level tokenizer of `vocab_size` words `t0 t1 ...` (a different `prefix`: a different vocabulary)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"{prefix}{i}": i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=f"{prefix}0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=f"{prefix}0")


def first_two_tokens_check(ensemble, prompt, method, *, rows: int, seed: int, min_expected: float = 5):
    """`first_tokens_check` of the first two emitted tokens: (p-value, table)."""
    return first_tokens_check(ensemble, prompt, method, rows=rows, seed=seed, tokens=2, min_expected=min_expected)


def first_tokens_check(ensemble, prompt, method, *, rows: int, seed: int, tokens: int, min_expected: float = 5):
    """(p-value, table) of Pearson's chi-square of the first `tokens` emitted tokens against the exact law.

    The law is ENGINE-2's conditionals on the reference twin of `ensemble` (float64 forwards, exact
    transforms and combination): r after `prompt`, then after every listed prefix. A token is listed
    after a prefix while the prefix-and-token's expected count reaches `min_expected`; a listed prefix
    of `tokens` tokens, or one ending in an EOS id (METHOD-3), is a cell, a shorter one is expanded.
    Each expanded prefix also has the cell "(prefix, any other token)", whose exact probability is
    its unlisted mass, so no part of the V^tokens table is left out. Cells are pooled to expected
    counts of at least 5 (the oracle's `pool_cells`).

    Args:
        ensemble: a fast-path `Ensemble` with a tokenizer or not; prompt: token ids (L0,);
        method: the method under test; rows: sequences sampled (one row each, seeds from `seed`);
        tokens: how many leading tokens the law covers (>= 1).
    """
    import numpy as np

    from specens.api import generate
    from specens.oracle.stats import p_value, pearson, pool_cells

    ref = reference_ensemble(ensemble, prompt)
    cells, probs, expanded = [], [], set()

    def expand(prefix: tuple, mass: Fraction):
        expanded.add(prefix)
        dist = ref.target(ref.prompt + prefix)
        listed = Fraction(0)
        for x in sorted(range(len(dist)), key=lambda t: -dist[t]):
            if float(mass * dist[x]) * rows < min_expected:
                break
            listed += dist[x]
            if x in ensemble.eos_token_id or len(prefix) + 1 == tokens:
                cells.append(prefix + (x,))
                probs.append(mass * dist[x])
            else:
                expand(prefix + (x,), mass * dist[x])
        cells.append(prefix + (None,))
        probs.append(mass * (1 - listed))

    expand((), Fraction(1))
    index = {c: i for i, c in enumerate(cells)}

    def cell(seq: tuple) -> int:
        for j in range(len(seq)):
            if seq[:j + 1] in index:
                return index[seq[:j + 1]]
            if seq[:j + 1] not in expanded:
                return index[seq[:j] + (None,)]
        raise AssertionError(f"no cell holds {seq}")  # a run shorter than `tokens` ends in EOS, a listed cell

    observed = np.zeros(len(cells))
    for out in generate(ensemble, [list(prompt)] * rows, max_new_tokens=tokens, method=method, seed=seed):
        observed[cell(tuple(out.tokens))] += 1
    expected = np.array([float(p) for p in probs]) * rows
    pooled = pool_cells(expected, observed)
    p = p_value(pearson(pooled.observed, pooled.expected), len(pooled.expected) - 1)
    table = "\n".join(f"{str(cells[i]):>24}: expected {e:7.1f} observed {o:5.0f}"
                      for i, (e, o) in enumerate(zip(expected, observed)) if e >= 5 or o > 0)
    return p, table
