#!/usr/bin/env python
"""Train the drafter of SmolLM2-135M-Instruct: a 2-layer model on its tokenizer, distilled from it.

The drafter is SmolLM2's own architecture cut to 2 decoder layers. It shares SmolLM2's token
embedding matrix (tied to the output head, 49,152 x 576: 28.3M parameters, frozen) and ships only
its new layers and final norm (7.1M parameters, float16: about 14 MB in git); `specens.drafter`
assembles the full checkpoint at load time from those layers and the installed SmolLM2 file.

What it learns from (all made on this machine, nothing downloaded):

1. SmolLM2's own answers. Chat prompts are built from the Python standard library: "write a function
   that <first docstring line of a stdlib function>" (code) and "explain what <stdlib class> is for"
   (explain). SmolLM2 answers them at temperature 1; at every answer token its distribution is kept
   (the top `--top-k` probabilities).
2. Python source. Stdlib modules read by SmolLM2 (teacher forcing), same top-k targets.

The loss is what the acceptance rate rewards: on a sample of rows each batch, the total variation
between the drafter's full distribution and SmolLM2's top-k probabilities (1 - TV is the chance a
T = 1 proposal is accepted), plus a small cross-entropy against them that keeps gradients alive
while the two are far apart; and on every row a small weight on the squared distance between the
drafter's last hidden state and SmolLM2's (the head is shared, so this costs no pass through the
49,152-row head). An earlier run that weighted the hidden-state distance fully and the
cross-entropy by 0.1 reached acceptance 0.31 with a drafter far flatter than SmolLM2 (entropy 3.7
against 1.3 nats); this loss reached 0.38 in the same 60 minutes. Layers start from SmolLM2's first
layers.

Where the 60 minutes go: SmolLM2's hidden states are caught from the same forwards that make its
answers (a hook on its final norm), not from a second pass; it answers 64 prompts at a time (1.4x
the positions per second of 16 on this machine); the held-out answers are made once for the
before/after figures; training runs under bfloat16 autocast (this CPU has AVX-512 BF16; 0.81 s a step
against 1.37 s in float32). Together: every one of the 1,554 training prompts answered within the 15
minutes (880 before), 2,371 steps instead of 1,143, and held-out acceptance 0.427 (code) and 0.412
(explain) instead of 0.383 and 0.382. The defaults are the shipped run's settings (56 minutes on 2
cores, 35 of them training).

Frozen SmolLM2 layers under the new ones (`--shared-layers`) were tried on the same data, 10 minutes of
training each (147-190 steps): 4 shared layers gave acceptance 0.26 and 8 gave 0.30 on 4 held-out
prompts a set, against 0.23 with none (three runs sharing the 2 cores, one thread each). Each shared
layer adds about 0.028 to the drafter's cost ratio c (0.21 with none), which costs more speed than
that acceptance buys in plain speculative decoding; the option stays for other trade-offs.

Prompts from the modules statistics, bisect, heapq, textwrap and fractions are held out of every
training set; the card reports acceptance on them per prompt set (and the README's median prompt
is one of them).

    .venv/bin/python scripts/train_drafter.py                         # into specens/models/smollm2-drafter
    .venv/bin/python scripts/train_drafter.py --quick --out /tmp/d      # smoke run, about a minute
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import sys
import sysconfig
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM  # noqa: E402
from transformers.masking_utils import create_causal_mask  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from specens.drafter import save_drafter  # noqa: E402
from specens.gguf import smollm2_path  # noqa: E402

SEED = 20250203
HELD_OUT_MODULES = ("statistics", "bisect", "heapq", "textwrap", "fractions")
SKIP_ROOTS = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "site-packages", "encodings", "pydoc_data",
              "ensurepip", "venv")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------
# Prompts and text from the standard library


def stdlib_items(root: Path):
    """(module, kind, name, first docstring line, source path) of public stdlib functions and classes."""
    items = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_ROOTS or rel.parts[0].startswith("_") or "__pycache__" in rel.parts:
            continue
        if path.stat().st_size > 300_000:
            continue
        try:
            tree = ast.parse(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                line = doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""
                if 12 <= len(line) <= 120 and not line.startswith((">>>", "..", "@")):
                    kind = "code" if isinstance(node, ast.FunctionDef) else "explain"
                    items.append((module, kind, node.name, line, path))
    return items


def prompt_of(module: str, kind: str, name: str, line: str) -> str:
    """The chat prompt for one stdlib item, e.g. 'Write a Python function that returns the median of data.'"""
    what = line[0].lower() + line[1:] if line[:2].isalpha() and not line[:2].isupper() else line
    what = what.rstrip(".")
    if kind == "code":
        return f"Write a Python function `{name}` that does this: {what}."
    return f"In a few sentences, explain what the Python class `{module}.{name}` is for ({what})."


HELD_OUT_EXTRA = {  # held-out prompts written here (the README's main prompt among them)
    "code": ["Write a Python function that returns the median of a list.",
             "Write a Python function that checks whether a string is a palindrome.",
             "Write a Python function that merges two sorted lists into one sorted list."],
    "explain": ["Explain what a Python generator is, with a short example.",
                "What is the difference between a list and a tuple in Python?"],
}


def build_prompts(items, rng: random.Random):
    train = {"code": [], "explain": []}
    held = {"code": list(HELD_OUT_EXTRA["code"]), "explain": list(HELD_OUT_EXTRA["explain"])}
    for module, kind, name, line, _ in items:
        target = held if module.split(".")[0] in HELD_OUT_MODULES else train
        target[kind].append(prompt_of(module, kind, name, line))
    for k in train:
        rng.shuffle(train[k])
    return train, held


def source_texts(items, *, held_out: bool):
    paths = sorted({p for m, *_, p in items if (m.split(".")[0] in HELD_OUT_MODULES) == held_out})
    return [p.read_text("utf-8") for p in paths]


# ---------------------------------------------------------------------------------------------------
# SmolLM2's distributions


def chat_ids(tokenizer, prompt: str) -> list[int]:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def topk_targets(logits: torch.Tensor, k: int):
    """(indices int32, probs float16) of the k most likely tokens of softmax(logits), renormalised."""
    probs = torch.softmax(logits.float(), dim=-1)  # (..., V)
    top, idx = probs.topk(k, dim=-1)  # (..., k)
    return idx.to(torch.int32), (top / top.sum(-1, keepdim=True)).to(torch.float16)


@torch.inference_mode()
def teacher_answers(teacher, tokenizer, prompts, *, batch: int, max_new: int, top_k: int, deadline: float,
                    eos: list[int], seed: int):
    """SmolLM2's sampled answers (T = 1) with its top-k distribution at every answer position."""
    examples = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    for start in range(0, len(prompts), batch):
        if time.time() > deadline:
            break
        chunk = [chat_ids(tokenizer, p) for p in prompts[start:start + batch]]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        torch.manual_seed(seed + start)
        normed = []  # what SmolLM2's head reads, at every forward of the generation: (B, width, 576), then (B, 1, 576)
        hook = teacher.model.norm.register_forward_hook(lambda module, args, output: normed.append(output))
        try:
            out = teacher.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                                   top_p=1.0, max_new_tokens=max_new, eos_token_id=eos, pad_token_id=pad,
                                   output_logits=True, return_dict_in_generate=True)
        finally:
            hook.remove()
        new = out.sequences[:, width:]  # (B, n)
        logits = torch.stack(out.logits, dim=1)  # (B, n, V)
        hidden = torch.cat(normed, dim=1)[:, width - 1:width - 1 + new.shape[1]]  # (B, n, 576): answer token t's row
        for b, prompt_ids in enumerate(chunk):
            n = 0
            while n < new.shape[1]:
                n += 1
                if int(new[b, n - 1]) in eos:
                    break
            idx, pr = topk_targets(logits[b, :n], top_k)
            # answer token t is predicted at row len(prompt) - 1 + t
            examples.append({"ids": prompt_ids + new[b, :n].tolist(), "row0": len(prompt_ids) - 1, "idx": idx,
                             "probs": pr, "hidden": hidden[b, :n].to(torch.float16)})
        log(f"  answers {len(examples)}/{len(prompts)}")
    return examples


@torch.inference_mode()
def teacher_on_text(teacher, tokenizer, texts, *, seq_len: int, top_k: int, deadline: float):
    """SmolLM2's top-k distributions along windows of Python source (teacher forcing)."""
    examples = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        for s in range(0, max(1, len(ids) - 1), seq_len):
            if time.time() > deadline:
                return examples
            window = ids[s:s + seq_len + 1]
            if len(window) < 32:
                continue
            hidden = teacher.model(input_ids=torch.tensor([window[:-1]])).last_hidden_state[0]  # (n, 576)
            idx, pr = topk_targets(teacher.lm_head(hidden), top_k)
            examples.append({"ids": window[:-1], "row0": 0, "idx": idx, "probs": pr, "hidden": hidden.to(torch.float16)})
    return examples


# ---------------------------------------------------------------------------------------------------
# The drafter


def make_drafter(teacher, shared: int, new: int) -> LlamaForCausalLM:
    """SmolLM2's first `shared` layers (frozen, not shipped) and `new` trainable layers, then the final
    norm and the tied head. New layer i starts as a copy of SmolLM2's layer shared + i."""
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.num_hidden_layers = shared + new
    drafter = LlamaForCausalLM(config)
    drafter.model.embed_tokens.weight = teacher.model.embed_tokens.weight
    drafter.lm_head.weight = teacher.model.embed_tokens.weight
    for i in range(shared + new):
        drafter.model.layers[i].load_state_dict(teacher.model.layers[i].state_dict())
    drafter.model.norm.load_state_dict(teacher.model.norm.state_dict())
    for p in [drafter.model.embed_tokens.weight, *(q for layer in drafter.model.layers[:shared] for q in layer.parameters())]:
        p.requires_grad_(False)
    return drafter


def run_layers(model, hidden: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Decoder layers start .. stop - 1 of a Llama `model.model` on hidden states (B, L, 576), causal.

    Sequences in a batch are right-padded, so plain causal attention is exact on their own rows."""
    positions = torch.arange(hidden.shape[1])[None]  # (1, L)
    mask = create_causal_mask(config=model.config, inputs_embeds=hidden, attention_mask=None, cache=None,
                              position_ids=positions)
    rotary = model.rotary_emb(hidden, position_ids=positions)
    for layer in model.layers[start:stop]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=rotary, position_ids=positions)
    return hidden


@torch.inference_mode()
def add_shared_inputs(teacher, examples, shared: int) -> None:
    """With `shared` frozen layers: the input of layer `shared` at every row of every example (what the
    drafter's trained layers read; float16), so the frozen layers need not run while training."""
    for e in examples:
        if "hidden" not in e:
            raise ValueError("--data: this file was made by an older train_drafter.py without SmolLM2's hidden "
                             "states; delete it and let the script remake it")
        if shared and e.get("shared") != shared:
            hidden = run_layers(teacher.model, teacher.model.embed_tokens(torch.tensor([e["ids"]])), 0, shared)
            e["h_in"], e["shared"] = hidden[0].to(torch.float16), shared


def loss_of(drafter, batch, *, shared: int, ce_rows: int, ce_weight: float, tv_weight: float,
            feature_weight: float, gen: torch.Generator):
    """Token losses on a sample of rows plus a feature loss on every row.

    On `ce_rows` random target rows the drafter's full softmax q is compared with SmolLM2's top-k
    probabilities p (renormalised): TV, 1/2 (sum over the top k of |p - q| + the mass q puts outside
    them), is 1 minus the acceptance rate at T = 1 when SmolLM2's tail is negligible, so it is the
    quantity the drafter exists to minimise; the cross-entropy -sum p log q keeps gradients alive
    where q is still far from p (early training). Feature: mean squared distance between the
    drafter's last hidden state and SmolLM2's, per dimension, at every target row (the head is shared;
    this signal costs no pass through the 49,152-row head). Returns (loss, feature, token CE, TV).
    """
    width = max(len(e["ids"]) for e in batch)
    if shared:  # the frozen layers' output was kept with the data: run only the trained layers
        h_in = torch.zeros(len(batch), width, drafter.config.hidden_size)
        for b, e in enumerate(batch):
            h_in[b, :len(e["ids"])] = e["h_in"].float()
    else:
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        for b, e in enumerate(batch):
            ids[b, :len(e["ids"])] = torch.tensor(e["ids"])
        h_in = drafter.model.embed_tokens(ids)  # (B, L, 576)
    hidden = drafter.model.norm(run_layers(drafter.model, h_in, shared, drafter.config.num_hidden_layers))
    rows = torch.cat([hidden[b, e["row0"]:e["row0"] + e["idx"].shape[0]] for b, e in enumerate(batch)])  # (n, 576)
    target = torch.cat([e["hidden"].float() for e in batch])  # (n, 576)
    feature = ((rows - target) ** 2).mean()
    pick = torch.randperm(rows.shape[0], generator=gen)[:ce_rows]  # (m,)
    logq = torch.log_softmax(drafter.lm_head(rows[pick]).float(), dim=-1)  # (m, V)
    idx = torch.cat([e["idx"] for e in batch]).long()[pick]  # (m, k)
    probs = torch.cat([e["probs"].float() for e in batch])[pick]  # (m, k)
    logq_top = logq.gather(1, idx)  # (m, k)
    token = -(logq_top * probs).sum() / max(1, pick.shape[0])
    q_top = logq_top.exp()
    tv = 0.5 * ((probs - q_top).abs().sum(-1) + (1 - q_top.sum(-1)).clamp_min(0)).mean()
    loss = feature_weight * feature + ce_weight * token + tv_weight * tv
    return loss, feature.detach(), token.detach(), tv.detach()


@torch.inference_mode()
def held_out_answers(teacher, tokenizer, prompts, *, max_new: int, seed: int, eos: list[int]):
    """SmolLM2's sampled answers (T = 1) to held-out prompts, with its full distribution at each answer token:
    a list of (sequence (L,), answer rows, probabilities (n, V) float32)."""
    answers = []
    for i, prompt in enumerate(prompts):
        ids = chat_ids(tokenizer, prompt)
        torch.manual_seed(seed + i)
        seq = teacher.generate(input_ids=torch.tensor([ids]), do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                               max_new_tokens=max_new, eos_token_id=eos, pad_token_id=eos[0])[0]
        n = seq.shape[0] - len(ids)
        if n:
            rows = slice(len(ids) - 1, len(ids) - 1 + n)
            answers.append((seq, rows, torch.softmax(teacher(seq[None]).logits[0, rows].double(), -1).float()))
    return answers


@torch.inference_mode()
def acceptance(drafter, answers):
    """Mean over positions of 1 - TV(p_drafter, p_SmolLM2) at T = 1 along SmolLM2's own answers: the chance
    that a proposal sampled from the drafter is accepted. Returns (mean, positions)."""
    values = []
    for seq, rows, pt in answers:
        pd = torch.softmax(drafter(seq[None]).logits[0, rows].double(), -1)
        values.extend((1 - 0.5 * (pt.double() - pd).abs().sum(-1)).tolist())
    return sum(values) / max(1, len(values)), len(values)


def command_of(args) -> str:
    """The command line that repeats this run's training settings (output and data paths left out)."""
    flags = ("threads", "answer_minutes", "text_minutes", "train_minutes", "eval_prompts", "max_new_tokens", "top_k",
             "batch", "gen_batch", "lr", "shared_layers", "new_layers", "ce_rows", "ce_weight", "tv_weight", "feature_weight")
    return " ".join([".venv/bin/python scripts/train_drafter.py",
                     *(f"--{f.replace('_', '-')} {getattr(args, f):g}" for f in flags),
                     "--bf16" if args.bf16 else "--no-bf16"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "specens" / "models" / "smollm2-drafter")
    ap.add_argument("--answer-minutes", type=float, default=15, help="time for SmolLM2's answers (default 15)")
    ap.add_argument("--text-minutes", type=float, default=5, help="time for Python source targets (default 5)")
    ap.add_argument("--train-minutes", type=float, default=35, help="training time (default 35)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16, help="training sequences per step (default 16)")
    ap.add_argument("--gen-batch", type=int, default=64,
                    help="prompts SmolLM2 answers at once while making the data (default 64)")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="train under bfloat16 autocast, float32 master weights (default on: 1.7x the steps here)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-prompts", type=int, default=8, help="held-out prompts per set for the card")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared-layers", type=int, default=0, help="SmolLM2 layers reused frozen (default 0)")
    ap.add_argument("--new-layers", type=int, default=2, help="trained layers after them (default 2)")
    ap.add_argument("--ce-rows", type=int, default=256, help="rows per batch with the token losses (default 256)")
    ap.add_argument("--ce-weight", type=float, default=0.1, help="weight of the cross-entropy (default 0.1)")
    ap.add_argument("--tv-weight", type=float, default=1.0, help="weight of the TV loss, 1 - acceptance (default 1)")
    ap.add_argument("--feature-weight", type=float, default=0.1,
                    help="weight of the hidden-state loss (default 0.1)")
    ap.add_argument("--data", type=Path, help="keep SmolLM2's targets in this file and reuse them when it exists")
    ap.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    args = ap.parse_args(argv)
    if args.quick:
        args.answer_minutes, args.text_minutes, args.train_minutes, args.eval_prompts = 0.3, 0.1, 0.3, 2
        args.max_new_tokens = 24
    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)

    teacher_dir = smollm2_path()
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    eos = [2, 0]
    items = stdlib_items(Path(sysconfig.get_paths()["stdlib"]))
    train_prompts, held_prompts = build_prompts(items, rng)
    log(f"prompts: train {[len(v) for v in train_prompts.values()]}, held out {[len(v) for v in held_prompts.values()]}")

    if args.data is not None and args.data.exists():
        examples, n_answers = torch.load(args.data)
        log(f"targets read from {args.data}")
    else:
        mixed = [p for pair in zip(train_prompts["code"], train_prompts["explain"]) for p in pair]
        examples = teacher_answers(teacher, tokenizer, mixed, batch=args.gen_batch, max_new=args.max_new_tokens,
                                   top_k=args.top_k, deadline=time.time() + 60 * args.answer_minutes, eos=eos, seed=SEED)
        n_answers = len(examples)
        texts = source_texts(items, held_out=False)
        rng.shuffle(texts)
        examples += teacher_on_text(teacher, tokenizer, texts, seq_len=256, top_k=args.top_k,
                                    deadline=time.time() + 60 * args.text_minutes)
    add_shared_inputs(teacher, examples, args.shared_layers)
    if args.data is not None and not args.data.exists():
        torch.save((examples, n_answers), args.data)
    targets = sum(e["idx"].shape[0] for e in examples)
    log(f"targets: {n_answers} answers + {len(examples) - n_answers} source windows, {targets} positions")

    drafter = make_drafter(teacher, args.shared_layers, args.new_layers)
    params = [p for p in drafter.parameters() if p.requires_grad]
    n_new = sum(p.numel() for p in params)
    eval_sets = {k: v[:args.eval_prompts] for k, v in held_prompts.items()}
    eval_answers = {k: held_out_answers(teacher, tokenizer, v, max_new=args.max_new_tokens, seed=SEED + 1, eos=eos)
                    for k, v in eval_sets.items()}
    before = {k: acceptance(drafter.eval(), v) for k, v in eval_answers.items()}
    log(f"acceptance before training: {before}")

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    drafter.train()
    deadline, step, seen, t_train = time.time() + 60 * args.train_minutes, 0, 0, time.time()
    losses = []
    while time.time() < deadline:
        order = list(range(len(examples)))
        rng.shuffle(order)
        for s in range(0, len(order), args.batch):
            if time.time() >= deadline:
                break
            frac = (time.time() - t_train) / (60 * args.train_minutes)
            for g in opt.param_groups:  # linear warm-up over 3% of the time, then cosine to 10%
                g["lr"] = args.lr * min(1.0, frac / 0.03) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1))))
            batch = [examples[i] for i in order[s:s + args.batch]]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss, feature, token, tv = loss_of(drafter, batch, shared=args.shared_layers, ce_rows=args.ce_rows,
                                                   ce_weight=args.ce_weight, tv_weight=args.tv_weight,
                                                   feature_weight=args.feature_weight, gen=gen)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            seen += sum(e["idx"].shape[0] for e in batch)
            losses.append((float(feature), float(token), float(tv)))
            if step % 50 == 0:
                recent = losses[-50:]
                log(f"  step {step} feature loss {sum(f for f, _, _ in recent) / len(recent):.4f}, cross-entropy "
                    f"{sum(t for _, t, _ in recent) / len(recent):.3f} nats, TV {sum(v for *_, v in recent) / len(recent):.3f} "
                    f"({seen} target positions)")
    drafter.eval()
    after = {k: acceptance(drafter, v) for k, v in eval_answers.items()}
    log(f"acceptance after training: {after}")
    report = {
        "seed": SEED, "threads": args.threads, "shared_layers": args.shared_layers,
        "new_layers": args.new_layers, "new_parameters": n_new,
        "shared_parameters": sum(p.numel() for p in drafter.parameters() if not p.requires_grad), "steps": step, "target_positions_seen": seen,
        "answers": n_answers, "source_windows": len(examples) - n_answers, "target_positions": targets,
        "top_k": args.top_k, "lr": args.lr, "batch": args.batch, "gen_batch": args.gen_batch, "bf16": args.bf16,
        "max_new_tokens": args.max_new_tokens,
        "final_feature_loss": sum(f for f, _, _ in losses[-50:]) / max(1, len(losses[-50:])),
        "final_token_loss": sum(t for _, t, _ in losses[-50:]) / max(1, len(losses[-50:])),
        "final_tv": sum(v for *_, v in losses[-50:]) / max(1, len(losses[-50:])),
        "ce_rows": args.ce_rows, "ce_weight": args.ce_weight, "tv_weight": args.tv_weight,
        "feature_weight": args.feature_weight,
        "acceptance_before": {k: {"alpha": a, "positions": n} for k, (a, n) in before.items()},
        "acceptance_T1": {k: {"alpha": a, "positions": n} for k, (a, n) in after.items()},
        "held_out_prompts": eval_sets, "held_out_modules": list(HELD_OUT_MODULES),
        "minutes": (time.time() - t0) / 60, "torch": torch.__version__,
        "command": command_of(args),
    }
    save_drafter(drafter, args.out, report, shared_layers=args.shared_layers)
    log(f"saved {args.out} ({report['minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
