#!/usr/bin/env python
"""Train the small model family bundled with specens, from the Python standard library's own source.

Four Llama-architecture causal LMs that share one byte-level BPE tokenizer:

    pylib    library modules (no tests, no GUI code)         large
    pytests  the regression tests (test/, */tests/, test_*)  large
    pygui    the Tk GUI code: idlelib, tkinter, turtle(demo)  large
    pytiny   the union of the three slices                    small: at most about half a large forward

The three large members have the same size and differ only in what they read, so they disagree in
useful, measurable ways (an ensemble of them is not three copies of one model). The GUI slice is the
third one because Tk code is a distinct register (widgets, geometry managers, event bindings, callbacks)
that is self-contained and large enough to train on, unlike e.g. `json` or `email`. A few modules of
each slice are held out from every training slice; they give the held-out losses in the model cards and
evaluation prompts for the rest of the project.

Everything is seeded and runs on CPU with a fixed thread count and deterministic algorithms, so two runs
on the same Python (the corpus is that interpreter's stdlib) give the same weights.

    .venv/bin/python scripts/train_models.py                     # full family into specens/models
    .venv/bin/python scripts/train_models.py --quick --out /tmp/m  # end-to-end smoke run, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import math
import os
import platform
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

os.environ.setdefault("RAYON_NUM_THREADS", "2")  # the tokenizers library's thread pool
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

REPO = Path(__file__).resolve().parent.parent
SEED = 20250203
# One torch thread: the training machine has 2 cores shared with other work, and there 2 threads ran
# 3x slower than 1 (each step waits for the slower thread). It also keeps the run bitwise repeatable.
THREADS = 1
BOS = "<|endoftext|>"  # also EOS: every training document starts with it, so it ends the one before
PAD = "<|pad|>"
MAX_FILE_BYTES = 200_000  # skips the few giant files (generated data, 250 KB+ test modules)
TOKENIZER_DIR = "tokenizer"

# Held out of every training slice. Grouped by the slice they would otherwise belong to.
HELD_OUT = {
    "lib": ("statistics.py", "bisect.py", "heapq.py", "textwrap.py", "fractions.py"),
    "tests": ("test/test_bisect.py", "test/test_heapq.py", "test/test_textwrap.py"),
    "gui": ("idlelib/textview.py", "idlelib/tooltip.py", "tkinter/simpledialog.py", "turtledemo/clock.py"),
}
SLICES = ("lib", "tests", "gui")
SLICE_RULES = {
    "lib": "every other *.py module of the stdlib (not site-packages, encodings/, pydoc_data/, "
    "_sysconfigdata*; not the tests or GUI slices)",
    "tests": "files under a directory named test, tests or idle_test, or named test_*.py",
    "gui": "idlelib/, tkinter/, turtledemo/ and turtle.py, minus their tests",
    "union": "the lib, tests and gui slices together",
}
GUI_ROOTS = ("idlelib", "tkinter", "turtledemo")
SKIP_ROOTS = ("site-packages", "encodings", "pydoc_data", "__pycache__")  # packages, generated tables


@dataclass(frozen=True)
class MemberSpec:
    """One member: its training slice, architecture and optimisation schedule."""

    name: str
    slice: str  # one of SLICES, or "union"
    hidden: int
    layers: int
    heads: int
    intermediate: int
    steps: int
    batch: int
    seq_len: int  # the context trained in the last part of the run (and the model's context)
    lr: float
    warmup: int
    short_seq_len: int  # the first short_frac of the steps use windows this long (same tokens per step)
    short_frac: float

    def shape_at(self, step: int) -> tuple[int, int]:
        """(batch, window length) at `step`: short windows first, the full context at the end."""
        length = self.short_seq_len if step < self.short_frac * self.steps else self.seq_len
        return self.batch * self.seq_len // length, length

    def __post_init__(self):
        if self.slice not in (*SLICES, "union"):
            raise ValueError(f"slice={self.slice!r}: use one of {(*SLICES, 'union')}")
        if self.seq_len % self.short_seq_len:
            raise ValueError(f"seq_len={self.seq_len} must be a multiple of short_seq_len={self.short_seq_len}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} must be a multiple of heads={self.heads}")


CONTEXT = 512
# Sized for about 9 minutes each on one shared CPU core: a compute-bound run learns more per second from a
# narrow model that sees more tokens. The small member has 1 layer against 4, which is what sets the
# cost of a cached single-token forward on CPU (per-layer overhead dominates at these widths).
LARGE = dict(hidden=128, layers=4, heads=4, intermediate=352, steps=560, batch=4, seq_len=512, lr=4e-3,
             warmup=30, short_seq_len=256, short_frac=0.75)
FULL = dict(
    vocab=4096,
    members=(
        MemberSpec("pylib", "lib", **LARGE),
        MemberSpec("pytests", "tests", **LARGE),
        MemberSpec("pygui", "gui", **LARGE),
        MemberSpec("pytiny", "union", hidden=96, layers=1, heads=2, intermediate=256, steps=500, batch=4,
                   seq_len=512, lr=5e-3, warmup=30, short_seq_len=256, short_frac=0.75),
    ),
    timing_reps=200,
    eval_every=50,
)
QUICK_LARGE = dict(hidden=32, layers=2, heads=2, intermediate=64, steps=4, batch=2, seq_len=128, lr=3e-3,
                   warmup=1, short_seq_len=64, short_frac=0.5)
QUICK = dict(
    vocab=320,
    members=(
        MemberSpec("pylib", "lib", **QUICK_LARGE),
        MemberSpec("pytests", "tests", **QUICK_LARGE),
        MemberSpec("pygui", "gui", **QUICK_LARGE),
        MemberSpec("pytiny", "union", hidden=16, layers=1, heads=1, intermediate=32, steps=4, batch=2,
                   seq_len=128, lr=3e-3, warmup=1, short_seq_len=64, short_frac=0.5),
    ),
    timing_reps=10,
    eval_every=4,
    files_per_slice=6,
    quick_max_bytes=12_000,
    heldout_chars=1_000,
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------
# Corpus


def classify(rel: PurePosixPath) -> str | None:
    """The slice a stdlib path belongs to ("lib", "tests", "gui", "held-out:<slice>") or None to skip.

    >>> classify(PurePosixPath("idlelib/idle_test/test_run.py")), classify(PurePosixPath("tkinter/ttk.py"))
    ('tests', 'gui')
    """
    s = rel.as_posix()
    for group, files in HELD_OUT.items():
        if s in files:
            return f"held-out:{group}"
    parts = rel.parts
    if parts[0] in SKIP_ROOTS or parts[0].startswith("_sysconfigdata") or "__pycache__" in parts:
        return None
    if any(p in ("test", "tests", "idle_test") for p in parts[:-1]) or rel.name.startswith("test_"):
        return "tests"
    if parts[0] in GUI_ROOTS or s == "turtle.py":
        return "gui"
    return "lib"


def collect_corpus(root: Path, *, files_per_slice: int | None = None, max_bytes: int = MAX_FILE_BYTES):
    """Read the stdlib's *.py files into {slice: [(relative path, text)]}, sorted by path.

    Skips files over `max_bytes` and files that are not valid UTF-8 (a few tokenizer tests are
    deliberately in other encodings). `files_per_slice` keeps only the first files of each training
    slice (the --quick run).
    """
    corpus: dict[str, list[tuple[str, str]]] = {k: [] for k in (*SLICES, *(f"held-out:{g}" for g in HELD_OUT))}
    skipped = {"too large": 0, "not utf-8": 0}
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        kind = classify(rel)
        if kind is None or not path.is_file():
            continue
        if files_per_slice is not None and not kind.startswith("held-out") and len(corpus[kind]) >= files_per_slice:
            continue
        if path.stat().st_size > max_bytes and not kind.startswith("held-out"):
            skipped["too large"] += 1
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            skipped["not utf-8"] += 1
            continue
        corpus[kind].append((rel.as_posix(), text))
    for group, files in HELD_OUT.items():
        found = [p for p, _ in corpus[f"held-out:{group}"]]
        if found != sorted(files):
            raise SystemExit(f"held-out modules missing from {root}: {sorted(set(files) - set(found))}")
    return corpus, skipped


def corpus_digest(docs) -> str:
    h = hashlib.sha256()
    for rel, text in docs:
        h.update(rel.encode() + b"\0" + hashlib.sha256(text.encode()).digest())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(texts, vocab_size: int) -> Tokenizer:
    """Byte-level BPE: every string round-trips; `tok(text)` prepends BOS like the training documents."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def save_tokenizer(tok: Tokenizer, directory: Path) -> PreTrainedTokenizerFast:
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=BOS, pad_token=PAD, model_max_length=CONTEXT,
        clean_up_tokenization_spaces=False,
    )
    save_tokenizer_files(hf, directory)
    return hf


def save_tokenizer_files(hf: PreTrainedTokenizerFast, directory: Path) -> None:
    hf.save_pretrained(directory)
    # Name the class every transformers release knows (5.x maps it to its tokenizers backend).
    path = directory / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def encode_docs(tok: Tokenizer, docs) -> list[torch.Tensor]:
    """Each document as BOS + its tokens + BOS (the closing BOS doubles as EOS)."""
    bos = tok.token_to_id(BOS)
    encs = tok.encode_batch([text for _, text in docs], add_special_tokens=False)
    return [torch.tensor([bos, *e.ids, bos], dtype=torch.long) for e in encs]


def stream_of(encoded: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate documents, dropping each one's closing BOS (the next one's opening BOS stands for it)."""
    return torch.cat([e[:-1] for e in encoded] + [encoded[-1][-1:]])


# ---------------------------------------------------------------------------------------------------
# Models


def make_model(spec: MemberSpec, vocab: int, bos_id: int, pad_id: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        intermediate_size=spec.intermediate,
        max_position_embeddings=CONTEXT,
        rope_theta=10_000.0,
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        eos_token_id=bos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=bos_id, pad_token_id=pad_id)
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied embeddings count once


def lr_at(step: int, spec: MemberSpec) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < spec.warmup:
        return spec.lr * (step + 1) / spec.warmup
    t = (step - spec.warmup) / max(1, spec.steps - spec.warmup)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def heldout_nll(model, encoded: list[torch.Tensor], seq_len: int, max_tokens: int | None = None):
    """Summed next-token NLL (nats) and token count over documents, sliding windows with half overlap.

    Every token after a document's opening BOS is scored once, with at least seq_len/2 tokens of context
    once the document is that long.
    """
    model.eval()
    total, count = 0.0, 0
    for ids in encoded:
        if max_tokens is not None:
            ids = ids[: max_tokens + 1]
        n, scored = len(ids), 1  # ids[scored:] still to score
        end = min(seq_len, n)
        while True:
            start = max(0, end - seq_len)
            window = ids[start:end]
            logits = model(input_ids=window[None]).logits[0].float()  # (L, V)
            nll = F.cross_entropy(logits[:-1], window[1:], reduction="none")  # (L-1,)
            first = scored - start - 1  # index in nll of the first not-yet-scored target
            total += nll[first:].sum().item()
            count += len(nll) - first
            scored = end
            if end == n:
                break
            end = min(end + seq_len // 2, n)
    model.train()
    return total, count


def unigram_loss(train_stream: torch.Tensor, encoded: list[torch.Tensor], vocab: int) -> float:
    """Cross-entropy (nats/token) of an add-one-smoothed unigram model fitted on the training stream."""
    counts = torch.bincount(train_stream, minlength=vocab).double() + 1.0
    logp = (counts / counts.sum()).log()
    targets = torch.cat([ids[1:] for ids in encoded])
    return -logp[targets].mean().item()


def evaluate(model, heldout: dict[str, list[torch.Tensor]], nbytes: dict[str, int], seq_len: int):
    out = {}
    for group, enc in heldout.items():
        nats, count = heldout_nll(model, enc, seq_len)
        out[group] = {"nats_per_token": nats / count, "tokens": count,
                      "bits_per_byte": nats / math.log(2) / nbytes[group]}
    return out


def train_member(spec: MemberSpec, stream: torch.Tensor, vocab, bos_id, pad_id, heldout, nbytes, cfg):
    model = make_model(spec, vocab, bos_id, pad_id)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    gen = torch.Generator().manual_seed(SEED + sum(map(ord, spec.name)))
    log(f"{spec.name}: {n_params(model):,} parameters, {len(stream):,} training tokens, "
        f"{spec.steps} steps x {spec.batch * spec.seq_len} tokens")
    t0 = time.perf_counter()
    model.train()
    for step in range(spec.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, spec)
        b, length = spec.shape_at(step)
        starts = torch.randint(0, len(stream) - length - 1, (b,), generator=gen)
        batch = torch.stack([stream[s : s + length + 1] for s in starts.tolist()])  # (B, L+1)
        logits = model(input_ids=batch[:, :-1]).logits  # (B, L, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab).float(), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % cfg["eval_every"] == 0 or step + 1 == spec.steps:
            quick_eval = {g: heldout_nll(model, e[:1], spec.seq_len, 1024) for g, e in heldout.items()}
            msg = " ".join(f"{g}={n / c:.3f}" for g, (n, c) in quick_eval.items())
            log(f"{spec.name} step {step + 1}/{spec.steps} train {loss.item():.3f} held-out(first doc) {msg} "
                f"lr {lr_at(step, spec):.2e} {time.perf_counter() - t0:.0f}s")
    wall = time.perf_counter() - t0
    return model, wall


def save_member(model, hf_tok, directory: Path) -> None:
    """Weights as float16 (half the bytes); config.json says float32, so a plain load computes in float32."""
    directory.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(directory)
    config = json.loads((directory / "config.json").read_text())
    config["dtype"] = "float32"
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_tokenizer_files(hf_tok, directory)


def load_member(directory: Path):
    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()


# ---------------------------------------------------------------------------------------------------
# Cost


def _cache_kwarg() -> str:
    params = inspect.signature(LlamaForCausalLM.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


@torch.inference_mode()
def measure_cost(models_: dict, *, context: int, reps: int, threads: int, vocab: int):
    """Median seconds of a 64-token prefill and of one cached decode step at that context, per model.

    The models are timed in turn within each repetition, so background load hits them alike.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    kw = _cache_kwarg()
    ids = torch.randint(0, vocab, (1, context + 1), generator=torch.Generator().manual_seed(SEED))
    times = {name: {"prefill": [], "step": []} for name in models_}
    for rep in range(reps + 5):
        for name, model in models_.items():
            t = time.perf_counter()
            out = model(input_ids=ids[:, :context], use_cache=True)
            t1 = time.perf_counter()
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            model(input_ids=ids[:, context:], use_cache=True, **{kw: cache})
            t2 = time.perf_counter()
            if rep >= 5:  # warm-up
                times[name]["prefill"].append(t1 - t)
                times[name]["step"].append(t2 - t1)
    torch.set_num_threads(before)
    return {n: {k: statistics.median(v) for k, v in d.items()} for n, d in times.items()}


# ---------------------------------------------------------------------------------------------------
# Cards


def member_card(name, info, family) -> str:
    spec = info["spec"]
    ev, uni = info["heldout"], info["unigram"]
    rows = "\n".join(
        f"| {g} ({', '.join(f'`{f}`' for f in HELD_OUT[g])}) | {ev[g]['tokens']:,} | "
        f"{ev[g]['nats_per_token']:.3f} | {uni[g]:.3f} | {math.log(family['vocab_size']):.3f} |"
        + f" {ev[g]['bits_per_byte']:.3f} |"
        for g in HELD_OUT
    )
    cost = ""
    if "cost" in info:
        c = info["cost"]
        cost = (
            f"\n## Forward cost against a large member\n\n"
            f"Measured on the training machine against `{c['against']}`, float32, batch 1, median of "
            f"{c['reps']} repetitions timed alternately with the large member:\n\n"
            "| threads | prefill of 64 tokens | one token with a KV cache at context 64 |\n|---|---|---|\n"
            + "\n".join(
                f"| {t} | {r['prefill']:.3f} ({r['prefill_ms'][0]:.2f} ms vs {r['prefill_ms'][1]:.2f} ms) | "
                f"{r['step']:.3f} ({r['step_ms'][0]:.2f} ms vs {r['step_ms'][1]:.2f} ms) |"
                for t, r in c["ratios"].items()
            )
            + "\n\nRatios are this member's time over the large member's (the `c` of the cost model).\n"
        )
    a = spec
    return f"""# {name}

A {"small" if name == family["small"] else "large"} member of the specens bundled model family: a
Llama-architecture causal LM trained from scratch on Python source from the standard library of the
interpreter that ran `scripts/train_models.py`. It is a test fixture for speculative ensemble decoding,
not a useful code model: it writes plausible-looking Python, not correct Python.

## Training data

- Slice: **{a.slice}**: {SLICE_RULES[a.slice]}.
- Source: the `*.py` files of the stdlib at `sysconfig.get_paths()["stdlib"]` (Python
  {family["python"]}), sorted by path; files over {MAX_FILE_BYTES:,} bytes and files that are not valid
  UTF-8 are skipped.
- {info["files"]:,} files, {info["chars"]:,} characters, {info["tokens"]:,} tokens (corpus digest
  `{info["digest"]}`).
- Held out of every training slice: {", ".join(f"`{f}`" for g in HELD_OUT for f in HELD_OUT[g])}.

## Model

- Architecture: `LlamaForCausalLM`, hidden {a.hidden}, {a.layers} layer(s), {a.heads} heads
  (head dim {a.hidden // a.heads}), MLP {a.intermediate}, RoPE, context {CONTEXT}, tied input/output
  embeddings.
- Parameters: {info["params"]:,}; weights stored as float16 safetensors ({info["weight_bytes"] / 1e6:.2f} MB).
  Load with `AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)`.
- Tokenizer: the family's shared byte-level BPE, vocabulary {family["vocab_size"]:,}, `{BOS}` (id
  {family["bos_id"]}) as BOS and EOS, `{PAD}` (id {family["pad_id"]}) as padding; `tokenizer(text)`
  prepends BOS, as every training document began with it.

## Training

- {a.steps} steps of {a.batch * a.seq_len:,} tokens ({a.steps * a.batch * a.seq_len:,} tokens seen), random
  windows of the slice's token stream: batch {a.batch * a.seq_len // a.short_seq_len} x {a.short_seq_len} for the
  first {a.short_frac:.0%} of the steps, then batch {a.batch} x {a.seq_len} (the full context).
- AdamW (betas 0.9, 0.95, weight decay 0.1 on matrices), peak learning rate {a.lr:g}, {a.warmup} warm-up
  steps then cosine decay to a tenth, gradient clipping at 1.0, float32.
- Seed {SEED}; deterministic algorithms, {THREADS} CPU thread(s).
- Wall time {info["wall_s"]:.0f} s on {family["hardware"]}.

## Held-out loss

Next-token loss of the stored (float16, run in float32) weights on the held-out modules, each as one
document from BOS, sliding windows of {a.seq_len} tokens with half overlap. The unigram baseline is an
add-one-smoothed unigram model fitted on this member's training tokens; uniform is log V.

| held-out group | tokens | held-out loss (nats/token) | unigram | uniform | bits/byte |
|---|---|---|---|---|---|
{rows}
{cost}"""


def family_readme(family, infos) -> str:
    rows = "\n".join(
        f"| `{n}` | {i['spec'].slice} | {i['params']:,} | {i['weight_bytes'] / 1e6:.2f} | "
        + " | ".join(f"{i['heldout'][g]['nats_per_token']:.3f}" for g in HELD_OUT)
        + f" | {i['unigram']['lib']:.3f} |"
        for n, i in infos.items()
    )
    c = infos[family["small"]].get("cost", {}).get("ratios", {})
    cost = "; ".join(f"{t} thread(s): one cached token {r['step']:.2f}, prefill of 64 {r['prefill']:.2f}"
                     for t, r in c.items())
    return f"""# Bundled models

Small Llama-architecture causal LMs trained by `scripts/train_models.py` on slices of the Python
standard library's source (Python {family["python"]}). They share one tokenizer (`tokenizer/`, also copied
into each member's directory) with vocabulary {family["vocab_size"]:,}, so any subset is a valid ensemble.
Find them with `specens.bundled_model_path(name)`. Each directory has a model card; `family.json`
holds the same numbers for programs.

| member | slice | parameters | MB (fp16) | held-out loss, lib | tests | gui | unigram (lib) |
|---|---|---|---|---|---|---|---|
{rows}

Held-out losses are in nats per token on modules no member trained on. Forward cost of `{family["small"]}`
relative to `{infos[family["small"]].get("cost", {}).get("against", "-")}`: {cost}.
Total training time {family["total_train_s"]:.0f} s on {family["hardware"]}.
"""


# ---------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "specens" / "models", help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny corpus, models and steps: a smoke test")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    t_start = time.perf_counter()

    # 1. Corpus.
    root = Path(sysconfig.get_paths()["stdlib"])
    corpus, skipped = collect_corpus(
        root, files_per_slice=cfg.get("files_per_slice"), max_bytes=cfg.get("quick_max_bytes", MAX_FILE_BYTES)
    )
    for k, docs in corpus.items():
        log(f"corpus {k}: {len(docs)} files, {sum(len(t) for _, t in docs):,} chars")
    log(f"skipped: {skipped}")
    train_docs = {s: corpus[s] for s in SLICES}
    train_docs["union"] = [d for s in SLICES for d in corpus[s]]
    cut = cfg.get("heldout_chars")  # --quick scores only the start of each held-out module
    heldout_docs = {g: [(p, t[:cut]) for p, t in corpus[f"held-out:{g}"]] for g in HELD_OUT}

    # 2. Tokenizer, on the union of the training slices.
    tok = train_tokenizer([t for _, t in train_docs["union"]], cfg["vocab"])
    vocab, bos_id, pad_id = tok.get_vocab_size(), tok.token_to_id(BOS), tok.token_to_id(PAD)
    args.out.mkdir(parents=True, exist_ok=True)
    hf_tok = save_tokenizer(tok, args.out / TOKENIZER_DIR)
    log(f"tokenizer: vocabulary {vocab}, BOS/EOS {bos_id}, PAD {pad_id}")
    encoded = {s: encode_docs(tok, docs) for s, docs in train_docs.items() if s != "union"}
    encoded["union"] = [e for s in SLICES for e in encoded[s]]
    streams = {s: stream_of(e) for s, e in encoded.items()}
    heldout = {g: encode_docs(tok, docs) for g, docs in heldout_docs.items()}
    nbytes = {g: sum(len(t.encode()) for _, t in docs) for g, docs in heldout_docs.items()}
    for s, st in streams.items():
        log(f"tokens {s}: {len(st):,} ({sum(len(t) for _, t in train_docs[s]) / len(st):.2f} chars/token)")

    family = {
        "vocab_size": vocab, "bos_id": bos_id, "pad_id": pad_id, "context": CONTEXT, "seed": SEED,
        "python": platform.python_version(), "quick": args.quick,
        "hardware": f"{platform.machine()} CPU ({os.cpu_count()} cores shared with other work), "
                    f"{THREADS} torch thread(s), torch {torch.__version__}",
        "small": next(m.name for m in cfg["members"] if m.slice == "union"),
        "held_out": HELD_OUT, "slices": SLICE_RULES,
    }

    # 3. Members.
    infos = {}
    for spec in cfg["members"]:
        model, wall = train_member(spec, streams[spec.slice], vocab, bos_id, pad_id, heldout, nbytes, cfg)
        directory = args.out / spec.name
        save_member(model, hf_tok, directory)
        del model
        stored = load_member(directory)  # evaluate exactly what ships
        ev = evaluate(stored, heldout, nbytes, spec.seq_len)
        uni = {g: unigram_loss(streams[spec.slice], e, vocab) for g, e in heldout.items()}
        docs = train_docs[spec.slice]
        infos[spec.name] = {
            "spec": spec, "params": n_params(stored), "wall_s": wall, "heldout": ev, "unigram": uni,
            "files": len(docs), "chars": sum(len(t) for _, t in docs), "tokens": len(streams[spec.slice]),
            "digest": corpus_digest(docs), "weight_bytes": (directory / "model.safetensors").stat().st_size,
        }
        log(f"{spec.name}: held-out " + ", ".join(
            f"{g} {ev[g]['nats_per_token']:.3f} (unigram {uni[g]:.3f})" for g in HELD_OUT) + f"; {wall:.0f}s")

    # 4. Forward cost of the small member against a large one, on the stored float32 weights.
    small = family["small"]
    large = next(m.name for m in cfg["members"] if m.name != small)
    timed = {n: load_member(args.out / n) for n in (large, small)}
    ratios = {}
    for threads in (THREADS,):
        med = measure_cost(timed, context=64, reps=cfg["timing_reps"], threads=threads, vocab=vocab)
        ratios[threads] = {
            k: med[small][k] / med[large][k] for k in ("prefill", "step")
        } | {f"{k}_ms": (med[small][k] * 1e3, med[large][k] * 1e3) for k in ("prefill", "step")}
        log(f"cost {small}/{large} at {threads} thread(s): step {ratios[threads]['step']:.3f}, "
            f"prefill {ratios[threads]['prefill']:.3f}")
    infos[small]["cost"] = {"against": large, "reps": cfg["timing_reps"], "ratios": ratios}
    family["total_train_s"] = sum(i["wall_s"] for i in infos.values())
    family["total_run_s"] = time.perf_counter() - t_start

    # 5. Cards and the family summary.
    for name, info in infos.items():
        (args.out / name / "README.md").write_text(member_card(name, info, family))
    (args.out / "README.md").write_text(family_readme(family, infos))
    family["members"] = {
        n: {k: v for k, v in i.items() if k != "spec"} | {"spec": dataclasses.asdict(i["spec"])}
        for n, i in infos.items()
    }
    (args.out / "family.json").write_text(json.dumps(family, indent=1, sort_keys=True) + "\n")
    log(f"done in {family['total_run_s']:.0f}s; training {family['total_train_s']:.0f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
