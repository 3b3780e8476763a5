"""`specens generate`: the main job. Sample a completion from an ensemble of real causal LMs.

Defaults: contrastive decoding (mu 1/10, the paper's setting) of SmolLM2-135M-Instruct (the expert)
and its 2-layer drafter (the amateur), with the speculative ensemble (`specens.api.default_method`, as
`specens.generate`), the expert's chat template applied to a plain-text prompt. Members are names
(`smollm2`, `smollm2-drafter`, the small stdlib family `pylib`, `pytests`, `pygui`, `pytiny`), local model
directories (safetensors, offline) or GGUF files. torch and transformers are imported only when this
command runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from fractions import Fraction

METHODS = ("se", "naive", "standard", "mixture", "speculative-mixture")
DEFAULT_MEMBERS = "smollm2-drafter,smollm2"  # amateur first: CD's default expert is the last member
# Python argument names in library errors -> the flag a command-line user sets instead
FLAGS = {"prompts": "prompt", "max_new_tokens": "--max-new-tokens", "temperature": "--temperature",
         "top_k": "--top-k", "top_p": "--top-p", "mu": "--mu", "gammas": "--gammas", "gamma": "--gammas",
         "mode": "--mode", "tokenizer": "--members", "vocab_size": "--members", "model": "--members",
         "expert/amateur": "--expert/--amateur", "device": "--device", "seed": "--seed", "threads": "--threads",
         "drafter": "--drafter", "confidence_threshold": "--confidence-threshold",
         "repetition_penalty": "--repetition-penalty", "presence_penalty": "--presence-penalty",
         "frequency_penalty": "--frequency-penalty", "no_repeat_ngram_size": "--no-repeat-ngram-size",
         "min_new_tokens": "--min-new-tokens", "logit_bias": "--logit-bias", "bad_words_ids": "--bad-words",
         "min_p": "--min-p", "stop_strings": "--stop", "stop_sequences": "--stop-sequence",
         "eos_token_id": "--stop-token-ids",
         "frequency_penalty/presence_penalty": "--frequency-penalty/--presence-penalty"}


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("prompt", nargs="?",
                   help="the text to complete (the members' shared tokenizer encodes it); - reads standard input")
    p.add_argument("--prompt-file", metavar="PATH",
                   help="read the prompt from this UTF-8 file instead, exactly as written (- for standard input)")
    p.add_argument("--members", default=DEFAULT_MEMBERS,
                   help="comma-separated names (smollm2: SmolLM2-135M-Instruct; smollm2-drafter: its 2-layer drafter; "
                        "the small stdlib family pylib, pytests, pygui, pytiny), local model directories or GGUF files "
                        f"(default {DEFAULT_MEMBERS})")
    p.add_argument("--combination", choices=("we", "cd"),
                   help="we: weighted ensemble; cd: contrastive decoding of two members (default: we when --weights is "
                        "given, cd when --expert/--amateur/--mu is, we for --method mixture or speculative-mixture, "
                        "else cd for two members and we otherwise)")
    p.add_argument("--chat", action=argparse.BooleanOptionalAction,
                   help="wrap the prompt in a chat template as one user turn: CD's expert's, else the first member's "
                        "that has one (default: when that tokenizer has a chat template and the prompt holds none "
                        "of its special tokens); the answer is printed alone, while without the template the "
                        "prompt is printed before its completion")
    p.add_argument("--weights",
                   help="relative WE weights in member order: non-negative numbers with a positive sum, divided by "
                        "their sum, so 1,2 and 0.1,0.2 and 1/3,2/3 are the same weights; decimals are read as "
                        "written (default equal)")
    p.add_argument("--expert", help="CD: the expert member (default: the last member)")
    p.add_argument("--amateur", help="CD: the amateur member (default: the first member)")
    p.add_argument("--mu", help="CD: amateur coefficient mu (default 1/10, the paper's setting)")
    p.add_argument("--mode", choices=("probs", "logits", "raw-logits"),
                   help="where the sampling transform applies (default probs for WE, raw-logits for CD)")
    p.add_argument("--method", choices=METHODS,
                   help="decoding method (default se with gamma 1 for every member, as specens.generate)")
    p.add_argument("--gammas", help="proposal lengths in member order, e.g. 3,1 (se), or one value (naive, "
                                    "speculative-mixture); default 1 for every member")
    p.add_argument("--default-proposer", help="member that drafts after a rejection (default: the cheapest)")
    p.add_argument("--confidence-threshold", metavar="P",
                   help="se and naive: end a proposal early, right after a token its proposer gave a probability "
                        "below P, read as written (0.4 or 2/5; METHOD-6, transformers' "
                        "assistant_confidence_threshold); --gammas become upper bounds. The output's law is "
                        "unchanged. Default: off")
    p.add_argument("--drafter",
                   help="speculative-mixture and naive: the model that drafts; a member's name, or a model outside the "
                        "ensemble sharing its tokenizer (a name or directory as in --members; it never enters r). "
                        "Default: the cheapest member")
    p.add_argument("--costs", help="c_k per member in order, then the outside --drafter's (default: parameter "
                                   "count relative to the largest)")
    p.add_argument("--temperature", default="0",
                   help="0 is greedy (default 0, as transformers' generate is for a model whose generation config "
                        "does not set do_sample; SmolLM2's does not); 1 samples from r as it is")
    p.add_argument("--top-k", type=int, help="keep the k most likely tokens")
    p.add_argument("--top-p", help="nucleus mass in (0, 1]")
    g = p.add_argument_group("logits processors and stopping (transformers' names; spec/15-processors.md)")
    g.add_argument("--repetition-penalty", help="divide a positive logit of every token already in the prompt or the "
                                                "completion by this, multiply a negative one (> 0; 1 is off)")
    g.add_argument("--presence-penalty",
                   help="subtract this from the logit of every token already generated (0 is off)")
    g.add_argument("--frequency-penalty", help="subtract this times its count from the logit of every token already "
                                               "generated (0 is off)")
    g.add_argument("--no-repeat-ngram-size", type=int, help="never repeat an n-gram of this size (prompt included)")
    g.add_argument("--min-new-tokens", type=int, help="rule out the EOS ids until this many tokens are generated")
    g.add_argument("--logit-bias", metavar="ID=BIAS,...", help="add BIAS to the logit of token ID, e.g. 13=-100,42=2.5")
    g.add_argument("--bad-words", action="append", metavar="TEXT",
                   help="never generate these words: TEXT is encoded as written (a leading space matters); repeatable")
    g.add_argument("--min-p", help="after top-p, rule out tokens below this fraction of the top probability (0 is off)")
    g.add_argument("--stop", action="append", metavar="STRING",
                   help="stop once the completion's text contains STRING, and cut it right after (with --stream, the "
                        "token that completes it is printed whole); repeatable; taken as written: in bash a newline "
                        "is $'\\n', not '\\n'")
    g.add_argument("--stop-token-ids", metavar="ID,...",
                   help="more token ids that end the completion like the EOS ids (vLLM's stop_token_ids)")
    g.add_argument("--stop-sequence", action="append", metavar="ID,...",
                   help="stop once the completion ends with these token ids; repeatable")
    p.add_argument("--max-new-tokens", type=int, default=256,
                   help="at most this many new tokens; the run also stops at an EOS id (default 256)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform stream (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the combination and verification (default float32)")
    p.add_argument("--device", help="device for every member, e.g. cpu, cuda, cuda:1 or mps (default: cuda if "
                                    "available, else cpu)")
    p.add_argument("--threads", type=int,
                   help="torch threads during generation (default, as specens.generate's threads='auto': 1 when every "
                        "member has under 1B parameters and runs on CPU, where more threads only wait on each "
                        "other, and OMP_NUM_THREADS is unset; else torch's default); at most 4 per CPU core")
    p.add_argument("--stream", action=argparse.BooleanOptionalAction,
                   help="print tokens as they are emitted (default: when standard output is a terminal)")
    p.add_argument("--trace", action="store_true", help="print who proposed and who verified each token")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def read_prompt(args) -> str:
    """The prompt text: the argument, or a file / standard input (-) read exactly as written."""
    if args.prompt is None and args.prompt_file is None:
        raise ValueError("prompt: no prompt given; give the text to complete, or --prompt-file PATH (- reads "
                         "standard input)")
    if args.prompt is not None and args.prompt_file is not None:
        raise ValueError("prompt: give the text to complete, or --prompt-file PATH (- reads standard input), "
                         "not both")
    if args.prompt_file is None and args.prompt != "-":
        return args.prompt
    path = args.prompt_file if args.prompt_file is not None else "-"
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--prompt-file: cannot read {path!r} as UTF-8 text ({e.__class__.__name__}); "
                         "give a readable text file") from None


def cli_error(e: ValueError) -> ValueError:
    """A library error with the Python argument it names replaced by the command-line flag (FLAGS)."""
    match = re.match(r"([a-z_/]+)(\[[^\]]*\])?: ", str(e))
    if match is None or match.group(1) not in FLAGS:
        return e
    where = f" {match.group(2)[1:-1]}" if match.group(2) else ""
    rest = str(e)[match.end():]
    if "_" in match.group(1):  # the fix names the setting again ("relax bad_words_ids", PROC-11): flags there too
        rest = re.sub(rf"\b{re.escape(match.group(1))}\b(?!=)", FLAGS[match.group(1)], rest)
        rest = rest.replace(" or dtype float64", " or --dtype float64")
    rest = rest.replace("max_new_tokens=", "--max-new-tokens ").replace("at most max_new_tokens", "at most --max-new-tokens")
    return ValueError(f"{FLAGS[match.group(1)]}{where}: {rest}")


def _split(text: str | None, n: int, what: str, each: str = "one per member") -> list[str] | None:
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != n:
        raise ValueError(f"--{what}: give {n} comma-separated values ({each}), got {text!r}")
    return parts


def parse_weights(text: str | None, names: list[str]) -> dict:
    """--weights as exact weights keyed by member name, normalised by their sum (COMBINE-2); default equal."""
    from specens.reference.combine import relative_weights

    if text is None:
        return {n: Fraction(1, len(names)) for n in names}
    parts = _split(text, len(names), "weights")
    try:
        return relative_weights(dict(zip(names, parts)))
    except ValueError as e:  # name the flag, not the Python argument
        raise ValueError(str(e).replace("weights", "--weights", 1)) from None


def combination_of(args, n: int) -> str:
    """--combination, else the one its options name (--weights: we; --expert/--amateur/--mu: cd), else we
    for --method mixture or speculative-mixture (exact only for WE, MIX-1, SMIX-1), else cd for two
    members (the main job: an expert and its amateur) and we otherwise."""
    if args.combination is not None:
        return args.combination
    if args.weights is not None:
        return "we"
    if args.expert is not None or args.amateur is not None or args.mu is not None:
        return "cd"
    if args.method in ("mixture", "speculative-mixture"):
        return "we"
    return "cd" if n == 2 else "we"


def resolve_member_path(spec: str, flag: str = "--members"):
    """A bundled member's directory, or a local model directory; anything else is an error naming `flag`."""
    from pathlib import Path

    from specens._bundled import BUNDLED_MODELS, REAL_MODELS, bundled_model_path

    from specens.gguf import find_gguf

    if spec in BUNDLED_MODELS or spec in REAL_MODELS:
        return spec, bundled_model_path(spec)
    path = Path(spec)
    gguf = find_gguf(path)
    if gguf is not None:
        return gguf.stem, gguf
    if path.is_dir() and (path / "config.json").exists():
        return path.name, path
    raise ValueError(f"{flag}: {spec!r} is neither a named member ({', '.join(REAL_MODELS + BUNDLED_MODELS)}), "
                     "a local model directory with a config.json, nor a GGUF file")


def build(args):
    """(ensemble, checked method) from the parsed options; sets the thread count; every error is a ValueError."""
    import torch
    from transformers.utils import logging as hf_logging

    from specens._inputs import check_threads
    from specens.api import default_method, resolve_device
    from specens.members import set_parameter_costs
    from specens import (ContrastiveDecoding, Ensemble, Member, MixtureEnsemble, NaiveSE, Sampling,
                         SpeculativeEnsemble, SpeculativeMixture, StandardEnsemble, WeightedEnsemble)

    specs = [s.strip() for s in args.members.split(",") if s.strip()]
    if not specs:
        raise ValueError("--members: name at least one member")
    resolved = [resolve_member_path(s) for s in specs]
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"--members: each member may appear once, got {names}")
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens: must be >= 1, got {args.max_new_tokens}")
    combination_kind = combination_of(args, len(names))
    mode = args.mode or ("probs" if combination_kind == "we" else "raw-logits")  # as Ensemble resolves it
    if args.method in ("mixture", "speculative-mixture") and (combination_kind != "we" or mode != "probs"):
        raise ValueError(f"--method {args.method}: is exact only for a weighted ensemble in mode probs, got --combination "
                         f"{combination_kind} in mode {mode}; use --combination we --mode probs (or another "
                         "--method)")  # MIX-1, SMIX-1: refused before any model loads
    weights = parse_weights(args.weights, names) if combination_kind == "we" else None  # before loading
    for flag, value in (("--expert", args.expert), ("--amateur", args.amateur), ("--default-proposer",
                                                                                 args.default_proposer)):
        if value is not None and value not in names:
            raise ValueError(f"{flag}: {value!r} is not one of the members {', '.join(names)}; name one of them")
    method_name = args.method or default_method(names).name
    if args.drafter is not None and method_name not in ("naive", "speculative-mixture"):  # METHOD-5, before loading
        raise ValueError(f"--drafter: only --method naive or speculative-mixture draft from a member or from a model "
                         f"outside the ensemble, got --method {method_name}; for plain speculative decoding give "
                         f"the expert alone, e.g. --members smollm2 --method naive --drafter smollm2-drafter")
    check_threads(args.threads)  # before loading; generate() sets the count for the run
    check_sampling_flags(args)
    stop_token_ids = _id_list(args.stop_token_ids, "--stop-token-ids") if args.stop_token_ids else []
    stop_sequences = [_id_list(s, "--stop-sequence") for s in args.stop_sequence or ()]  # STOP-2
    if args.logit_bias is not None:
        parse_logit_bias(args.logit_bias)  # before loading
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    device = resolve_device(args.device if args.device is not None else default_device, argument="--device")
    hf_logging.disable_progress_bar()  # loading bars would bury the completion
    hf_logging.set_verbosity_error()  # e.g. "sequence length is longer than...": specens says it once, naming the flag
    members = [Member.from_pretrained(path, name=name, device=device, dtype=torch.float32) for name, path in resolved]
    drafter = None  # METHOD-5: --drafter names a model outside the ensemble
    if args.drafter is not None and args.drafter not in names:
        drafter_name, drafter_path = resolve_member_path(args.drafter, "--drafter")
        if drafter_name in names:
            drafter_name = f"{drafter_name}-drafter"
        drafter = Member.from_pretrained(drafter_path, name=drafter_name, device=device, dtype=torch.float32)
    if all(m.tokenizer is None for m in members):
        raise ValueError(f"--members: {', '.join(specs)} {'holds' if len(specs) == 1 else 'hold'} no tokenizer files "
                         "(tokenizer.json, tokenizer_config.json); copy the model's tokenizer into "
                         f"{'its directory' if len(specs) == 1 else 'their directories'}")
    models = members + ([drafter] if drafter is not None else [])
    costs = _split(args.costs, len(models), "costs",
                   "one per member, then the outside --drafter's" if drafter is not None else "one per member")
    if costs is None:
        set_parameter_costs(models)
    for m, c in zip(models, costs or ()):
        try:
            m.cost = Fraction(c)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"--costs: {c!r} for {m.name} is not a number; give e.g. 1/4 or 0.25") from None
        if m.cost <= 0:
            raise ValueError(f"--costs: costs must be positive, got {c} for {m.name}")

    if combination_kind == "we":
        if any(x is not None for x in (args.expert, args.amateur)):
            raise ValueError("--expert/--amateur: only with --combination cd")
        if args.mu is not None:
            raise ValueError("--mu: CD's amateur coefficient, only with --combination cd; a weighted ensemble "
                             "takes --weights")
        combination = WeightedEnsemble(weights)
    else:
        if args.weights is not None:
            raise ValueError("--weights: only with --combination we")
        if len(names) != 2:
            raise ValueError(f"--combination cd: needs exactly two members, got {len(names)}")
        expert = args.expert or names[-1]
        amateur = args.amateur or next(n for n in names if n != expert)
        combination = ContrastiveDecoding(expert=expert, amateur=amateur, mu="1/10" if args.mu is None else args.mu)
    sampling = Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    options = dict(mode=args.mode, sampling=sampling, dtype=args.dtype, stop_sequences=stop_sequences,
                   drafter=drafter)
    ensemble = Ensemble(members, combination, **options)  # EOS: FAST-6
    if stop_token_ids:  # STOP-1: more ids that end a row, beside the configured EOS ids
        bad = [t for t in stop_token_ids if not 0 <= t < ensemble.vocab_size]
        if bad:
            raise ValueError(f"--stop-token-ids: {bad[0]} is not a token id of the vocabulary "
                             f"[0, {ensemble.vocab_size})")
        ensemble = Ensemble(members, combination, eos_token_id=list(ensemble.eos_token_id) + stop_token_ids, **options)

    if args.gammas is not None and not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", args.gammas):
        raise ValueError(f"--gammas: give whole numbers separated by commas, e.g. 3,1; got {args.gammas!r}")
    gammas = [int(g) for g in args.gammas.split(",")] if args.gammas else None
    drafter_name = None if args.drafter is None else (args.drafter if drafter is None else drafter.name)
    if method_name == "se":
        if gammas is not None and len(gammas) != len(names):
            raise ValueError(f"--gammas: give {len(names)} values for --method se (one per member), got {args.gammas}")
        gammas = dict(zip(names, gammas)) if gammas is not None else default_method(names).gammas
        method = SpeculativeEnsemble(gammas, default_proposer=args.default_proposer,
                                     confidence_threshold=args.confidence_threshold)
    elif args.method in ("naive", "speculative-mixture"):
        if gammas is not None and len(gammas) != 1:
            raise ValueError(f"--gammas: --method {args.method} takes one proposal length, got {args.gammas}")
        if args.default_proposer is not None and drafter_name is not None:
            raise ValueError("--default-proposer/--drafter: give one of them, the model that drafts")
        proposer = drafter_name or args.default_proposer
        if args.confidence_threshold is not None and args.method != "naive":
            raise ValueError("--confidence-threshold: only --method se and naive stop proposals early (METHOD-6); "
                             "drop it for --method speculative-mixture")
        method = (NaiveSE(gamma=gammas[0] if gammas else 1, proposer=proposer,
                          confidence_threshold=args.confidence_threshold) if args.method == "naive"
                  else SpeculativeMixture(gamma=gammas[0] if gammas else 1, drafter=proposer))
    else:
        given = [flag for flag, value in (("--gammas", gammas), ("--default-proposer", args.default_proposer),
                                          ("--confidence-threshold", args.confidence_threshold)) if value is not None]
        if given:
            raise ValueError(f"{'/'.join(given)}: --method {args.method} has no proposer; drop "
                             f"{'it' if len(given) == 1 else 'them'}")
        method = StandardEnsemble() if args.method == "standard" else MixtureEnsemble()
    return ensemble, method.check(ensemble)  # check() names the default proposer


def _id_list(text: str, flag: str) -> list[int]:
    if not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", text):
        raise ValueError(f"{flag}: give token ids separated by commas, e.g. 13,42; got {text!r}")
    return [int(t) for t in text.split(",")]


def parse_logit_bias(text: str) -> dict:
    """--logit-bias ID=BIAS,... as {id: bias text} (PROC-6 reads each bias exactly, NUM-1): '13=-100,42=2.5'."""
    bias = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*=\s*(\S+)\s*", part)
        if match is None:
            raise ValueError(f"--logit-bias: give ID=BIAS pairs separated by commas, e.g. 13=-100,42=2.5; got {part!r}")
        if int(match.group(1)) in bias:
            raise ValueError(f"--logit-bias: token {int(match.group(1))} is given twice; give each id once")
        bias[int(match.group(1))] = match.group(2)
    return bias


def processor_settings(args, tokenizer) -> dict:
    """The processor flags given, as generate()'s keyword arguments (PROC-1); flags left out are absent."""
    settings = {k: getattr(args, k) for k in ("repetition_penalty", "presence_penalty", "frequency_penalty",
                                               "no_repeat_ngram_size", "min_new_tokens", "min_p")
                if getattr(args, k) is not None}
    if args.logit_bias is not None:
        settings["logit_bias"] = parse_logit_bias(args.logit_bias)
    if args.bad_words:
        words = [list(tokenizer.encode(w, add_special_tokens=False)) for w in args.bad_words]
        empty = [w for w, ids in zip(args.bad_words, words) if not ids]
        if empty:
            raise ValueError(f"--bad-words: {empty[0]!r} encodes to no tokens; give a non-empty word")
        settings["bad_words_ids"] = words
    return settings


def chat_tokenizer(ensemble):
    """The tokenizer whose chat template --chat uses: CD's expert's; otherwise the first member's that has
    a chat template; else the ensemble's (FAST-1 has checked that they share one vocabulary)."""
    by_name = {m.name: m.tokenizer for m in ensemble.members}
    expert = getattr(ensemble.combination, "expert", None)
    if by_name.get(expert) is not None:
        return by_name[expert]
    templated = [t for t in by_name.values() if t is not None and getattr(t, "chat_template", None)]
    return templated[0] if templated else ensemble.tokenizer


def chat_prompt(tokenizer, prompt: str, chat: bool | None):
    """The prompt as token ids in the tokenizer's chat template (one user turn, then the assistant's
    turn opened), or the text itself when `chat` is False, or when it is None and the tokenizer has no
    template or the prompt already holds one of its special tokens (a prompt written in the template)."""
    template = getattr(tokenizer, "chat_template", None)
    if chat is None:
        specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
        chat = bool(template) and not any(t in prompt for t in specials)
    if not chat:
        return prompt
    if not template:
        raise ValueError("--chat: the members' tokenizer has no chat template; drop --chat")
    from specens._inputs import chat_ids

    return chat_ids(tokenizer, [{"role": "user", "content": prompt}])


def CompletionStreamer(tokenizer, prompt: str, eos: tuple):
    """transformers' TextStreamer (it decodes incrementally and holds back a character split over
    several tokens), printing the prompt as written once generation starts, then the completion
    without its end-of-sequence token."""
    from transformers import TextStreamer

    class Streamer(TextStreamer):
        def put(self, value):
            if value.dim() == 2:  # (1, L): the prompt, sent once the run's input is checked
                print(prompt, end="", flush=True)
            elif int(value[0]) in eos:  # (1,): an emitted token
                return
            super().put(value)

    return Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def check_sampling_flags(args):
    """--top-k and --top-p in command-line terms: a flag left out keeps every token (None in Python)."""
    from specens.reference.numbers import as_fraction

    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"--top-k: must be a positive integer, got {args.top_k}; omit --top-k to keep every token")
    if args.top_p is not None:
        p = as_fraction(args.top_p, name="--top-p")
        if not 0 < p <= 1:
            raise ValueError(f"--top-p: must lie in (0, 1], got {args.top_p}; omit --top-p for no nucleus cut")


def _trace_lines(trace: list, tokenizer, names) -> list[str]:
    """One line per emitted token: who proposed it and who verified it (METHOD-4 forms r from every
    member's output, so the members other than the proposer verify; a speculative mixture verifies
    against the chosen member's p_k alone, the event's `against`, SMIX-3), or how it was drawn (TRACE-1)."""
    lines, proposer = [], {}
    for e in trace:
        if e["event"] == "propose":
            proposer[e["position"]] = (e["member"], e["bonus"], e.get("stopped", False))
        elif e["event"] == "verify":
            who, bonus, stopped = proposer.get(e["position"], (e["proposer"], False, False))
            verifiers = e.get("against") or ", ".join(n for n in names if n != who) or who
            ratio = f"p_{e['against']}/q" if "against" in e else "r/q"
            verdict = "accepted" if e["accepted"] else f"rejected -> {tokenizer.decode([e['emitted']])!r} from residual"
            lines.append(f"  pos {e['position']:>3}: {tokenizer.decode([e['token']])!r:<14} proposed by {who}"
                         f"{' (bonus)' if bonus else ''}{' (doubted: its proposal ends here)' if stopped else ''}, "
                         f"verified by {verifiers}: {ratio} = {e['ratio']:.3f}, {verdict}")
        elif e["event"] == "emit" and e["rule"] not in ("accepted", "residual"):
            member = e["rule"].split(":", 1)[1] if e["rule"].startswith("mixture:") else None
            if member is not None and proposer.get(e["position"], (None,))[0] == member:  # SMIX-3 step 2
                lines.append(f"  pos {e['position']:>3}: {tokenizer.decode([e['token']])!r:<14} proposed by {member}, "
                             "the chosen member: kept as is")
                continue
            source = f"member {member} (mixture)" if member is not None else f"r of {', '.join(names)}"
            lines.append(f"  pos {e['position']:>3}: {tokenizer.decode([e['token']])!r:<14} drawn from {source}")
    return lines


def describe(ensemble, method) -> dict:
    """The method, combination and members in words, for the summary. For the default command:
    method 'se (gammas pylib 1, pytests 1; default proposer pylib)', combination
    'WE pylib 1/2, pytests 1/2, mode probs', members 'pylib (1.33M parameters, cost 1)', ..."""
    from specens._inputs import short_number
    from specens.reference.combine import ContrastiveDecoding, WeightedEnsemble

    def shown(x):  # an exact number as written when short (1/3), else as a short decimal
        return x if len(str(x)) <= 12 else short_number(Fraction(x))

    c = ensemble.combination
    if isinstance(c, WeightedEnsemble):
        combination = "WE " + ", ".join(f"{k} {shown(w)}" for k, w in c.weights.items())
    elif isinstance(c, ContrastiveDecoding):
        combination = f"CD expert {c.expert}, amateur {c.amateur}, mu {shown(c.mu)}"
    else:
        combination = type(c).__name__
    settings = []
    for key, value in method.to_json().items():
        if key != "name" and value is not None:
            value = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
            value = shown(value) if key == "confidence_threshold" else value
            settings.append(f"{key.replace('_', ' ')} {value}")
    members = [f"{m.name} ({sum(p.numel() for p in m.model.parameters()) / 1e6:.2f}M parameters, "
               f"cost {short_number(m.cost, 3)})" for m in ensemble.members]
    if ensemble.drafter is not None:  # METHOD-5
        m = ensemble.drafter
        members.append(f"{m.name} (outside drafter, {sum(p.numel() for p in m.model.parameters()) / 1e6:.2f}M "
                       f"parameters, cost {short_number(m.cost, 3)})")
    return {"method": method.name + (f" ({'; '.join(settings)})" if settings else ""),
            "combination": f"{combination}, mode {ensemble.mode}", "members": members}


def run(args) -> int:
    from specens import generate
    from specens.reference.processors import Processors

    started = time.perf_counter()
    prompt = read_prompt(args)
    stream = (sys.stdout.isatty() if args.stream is None else args.stream) and not args.json
    try:
        ensemble, method = build(args)
        model_input = chat_prompt(chat_tokenizer(ensemble), prompt, args.chat)
        shown_prompt = prompt if isinstance(model_input, str) else ""  # a chat answer is printed alone
        streamer = CompletionStreamer(ensemble.tokenizer, shown_prompt, ensemble.eos_token_id) if stream else None
        settings = processor_settings(args, ensemble.tokenizer)
        out = generate(ensemble, model_input, max_new_tokens=args.max_new_tokens, method=method, seed=args.seed,
                       trace=args.trace, streamer=streamer, threads="auto" if args.threads is None else args.threads,
                       stop_strings=args.stop, **settings)
    except ValueError as e:
        raise cli_error(e) from None
    shown = out.tokens[:-1] if out.stop_reason == "eos" else out.tokens  # the summary says why it stopped
    completion = ensemble.tokenizer.decode(shown, skip_special_tokens=True)
    if out.stop_reason == "stop_string":  # STOP-3: cut right after the stop string
        from specens.processors import cut

        completion = completion[: cut(completion, args.stop)]
    stats = out.stats
    outside = ensemble.drafter.name if ensemble.drafter is not None else None  # METHOD-5: not a member
    forwards = sum(max(n - 1, 0) for k, n in stats.calls.items() if k != outside)  # prefill excluded
    drafter_forwards = max(stats.calls.get(outside, 0) - 1, 0) if outside is not None else None
    summary = {
        "tokens": stats.emitted,
        "stop_reason": out.stop_reason,
        "tokens_per_second": stats.tokens_per_second,
        "acceptance": {k: v for k, v in stats.alpha.items() if v is not None},
        "member_forwards_per_token": forwards / stats.emitted,
        **({} if outside is None else {"drafter_forwards_per_token": drafter_forwards / stats.emitted}),
        # COST-1: the standard ensemble pays sum_k c_k per token; this run paid stats.cost in all
        "cost_model_speedup": float(sum(m.cost for m in ensemble.members) * stats.emitted / stats.cost),
        "chat": not isinstance(model_input, str),
        "calls": stats.calls,
        "cost": str(stats.cost),
        "threads": stats.threads,
        "seconds_total": time.perf_counter() - started,
        **describe(ensemble, method),
        # PROC-1, STOP-1..3: the settings in force, so that a run can be read back and repeated
        "processors": Processors(**settings).to_json(),
        "stop": {"eos_token_id": list(ensemble.eos_token_id), "stop_sequences": [list(q) for q in ensemble.stop_sequences],
                 "stop_strings": list(args.stop or ())},
    }
    if args.json:
        print(json.dumps({"prompt": prompt, "prompt_ids": out.prompt_ids, "completion": completion,
                          "token_ids": out.tokens,
                          "stop_reason": out.stop_reason, "members": list(ensemble.names),
                          "combination": ensemble.combination.to_json(), "method": method.to_json(),
                          "stats": stats.as_dict(), "summary": summary, "trace": out.trace},
                         default=str, allow_nan=False))  # strict JSON: every figure above is finite or None
        return 0
    if not stream:
        print(shown_prompt + completion)
    if args.trace:
        print("\ntrace:")
        print("\n".join(_trace_lines(out.trace, ensemble.tokenizer, ensemble.names)))
    acceptance = ", ".join(f"{k} {v:.2f}" for k, v in summary["acceptance"].items()) or "n/a"
    tokens = f"{stats.emitted} token{'' if stats.emitted == 1 else 's'}"
    print(f"\n[{tokens}, stopped by {out.stop_reason}; {summary['tokens_per_second']:.1f} tokens/s on "
          f"{summary['threads']} thread(s); acceptance {acceptance}; {summary['member_forwards_per_token']:.2f} member "
          + ("" if outside is None else f"and {summary['drafter_forwards_per_token']:.2f} outside drafter ")
          + f"forwards per token; cost-model speed-up {summary['cost_model_speedup']:.2f}x over the standard ensemble]\n"
          f"[{summary['method']} over {summary['combination']}]\n"
          f"[members: {'; '.join(summary['members'])}]", file=sys.stderr)
    shaping = [f"{k} {v}" for k, v in summary["processors"].items()]
    shaping += [f"stop sequence {','.join(map(str, q))}" for q in summary["stop"]["stop_sequences"]]
    shaping += [f"stop string {t!r}" for t in summary["stop"]["stop_strings"]]
    if shaping:
        print(f"[processors and stopping: {'; '.join(shaping)}]", file=sys.stderr)
    for note in method_notes(ensemble, method):
        print(f"[note: {note}]", file=sys.stderr)
    return 0


def method_notes(ensemble, method) -> list[str]:
    """Settings that run exactly but cannot be what the user meant: one member drafting for itself, and a
    confidence stop on proposals of one token (METHOD-6)."""
    notes = []
    proposers = {getattr(method, "proposer", None)} | set(getattr(method, "gammas", {}))
    if len(ensemble.names) == 1 and proposers & set(ensemble.names) and ensemble.drafter is None:
        notes.append(f"{ensemble.names[0]} drafts for itself (one member, no --drafter): every proposal is accepted "
                     "and nothing is saved; give --method naive --drafter MODEL for plain speculative decoding")
    lengths = [method.gamma] if hasattr(method, "gamma") else list(getattr(method, "gammas", {}).values())
    if getattr(method, "confidence_threshold", None) is not None and lengths and max(lengths) == 1:
        notes.append("--confidence-threshold: every proposal already has one token, so the stop never shortens one; "
                     "raise --gammas (transformers' assisted generation drafts up to 20)")
    return notes
