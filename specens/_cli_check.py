"""`specens check`: are sampled sequences consistent with a toy ensemble's exact law? (spec/13-oracle.md)

Reads a toy file (spec/09-toy-format.md) and a JSON-lines file of sampled sequences, one JSON array of
token ids per line, as another implementation wrote them. Exit status: 0 consistent, 1 rejected,
2 bad input (the message names the file and line), 3 inconclusive (too few samples to detect the
target TV bias; the message says how many are needed). NumPy and SciPy only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from specens.oracle.assertion import read_toy_setting
from specens.oracle.check import DEFAULT_ALPHA, DEFAULT_TARGET_TV, PAD, check_samples, prefix_law
from specens.oracle.kit import verify_checkpoints
from specens.reference import exact_ensemble_pmf

EXIT_CONSISTENT, EXIT_REJECTED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3  # ORACLE-7

PROGRESS_BYTES = 8 << 20  # --progress auto: show progress for files at least this large on a terminal


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--ensemble", required=True, metavar="ENSEMBLE.json",
                   help="toy ensemble file (spec/09-toy-format.md); its max_new_tokens bounds each line's length")
    p.add_argument("--samples", required=True, metavar="SAMPLES.jsonl",
                   help="one JSON array of token ids per line ('-' reads standard input)")
    p.add_argument("--length", type=int, metavar="L",
                   help="check the law of the first L tokens (default: the file's max_new_tokens)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"significance level of the whole family of tests (default {DEFAULT_ALPHA})")
    p.add_argument("--target-tv", type=float, default=DEFAULT_TARGET_TV,
                   help="the TV bias the run must be able to detect with power 0.9; a smaller run is "
                        f"INCONCLUSIVE, exit status 3 (default {DEFAULT_TARGET_TV})")
    p.add_argument("--worst", type=int, default=10,
                   help="how many cells of largest discrepancy to print (default 10; 0 leaves the table out)")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress line on stderr (auto: large files on a terminal)")


class BadLine(ValueError):
    pass


def parse_line(text: str, number: int, *, vocab_size: int, eos: tuple, length: int, limit: int) -> list:
    """One line of a samples file: a JSON array of token ids, validated. ORACLE-7.

    Token ids lie in [0, V); an EOS (any id of the tuple `eos`) may only end a sequence; a sequence has at most `limit`
    (max_new_tokens) tokens, and at least `length` unless it ends with EOS.
    """
    if not text.strip():
        raise BadLine(f"line {number}: empty line; write one JSON array of token ids per line")
    try:
        seq = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadLine(f"line {number}: not valid JSON ({e.msg}); write e.g. [0, 2, 1]") from None
    if not isinstance(seq, list) or any(isinstance(t, bool) or not isinstance(t, int) for t in seq):
        raise BadLine(f"line {number}: expected a JSON array of integer token ids, got {text.strip()[:60]}")
    for i, t in enumerate(seq):
        if not 0 <= t < vocab_size:
            raise BadLine(f"line {number}: token {t} at position {i} is out of range; ids lie in [0, {vocab_size})")
        if t in eos and i != len(seq) - 1:
            raise BadLine(f"line {number}: tokens follow the end-of-sequence token {t} at position {i}")
    if len(seq) > limit or (len(seq) < length and not (seq and seq[-1] in eos)):
        ids = " or ".join(map(str, eos))
        shorter = f", or fewer ending with the end-of-sequence token {ids}" if eos else ""
        span = f"exactly {limit}" if length == limit else f"{length} to {limit} (--length {length}, max_new_tokens {limit})"
        longer = (f"; the toy file's law goes to max_new_tokens {limit}: sample with that limit, or raise it in the "
                  "file" if len(seq) > limit else "")
        raise BadLine(f"line {number}: wrong length {len(seq)}; expected {span} tokens{shorter}{longer}")
    return seq[:length]


def read_samples(path: str, *, vocab_size: int, eos: tuple, length: int, limit: int,
                 progress: str = "auto") -> np.ndarray:
    """All lines of a samples file as an (n, length) array, PAD after each end. ORACLE-7."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # bytes: a bad byte is reported on its own line
    size = 0 if path == "-" else os.path.getsize(path)
    show = progress == "always" or (progress == "auto" and size >= PROGRESS_BYTES and sys.stderr.isatty())
    blocks, rows, last, read = [], [], time.monotonic(), 0
    try:
        for number, raw in enumerate(stream, start=1):
            read += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise BadLine(f"line {number}: not UTF-8 text; write one JSON array of token ids per line") from None
            seq = parse_line(text, number, vocab_size=vocab_size, eos=eos, length=length, limit=limit)
            rows.append(seq + [PAD] * (length - len(seq)))
            if len(rows) == 1 << 16:
                blocks.append(np.array(rows, dtype=np.int64))
                rows = []
            if show and (time.monotonic() - last > 0.5 or number == 1):
                last = time.monotonic()
                done = f" ({min(100, 100 * read // size)}% of {size >> 20} MiB)" if size else ""
                print(f"\rspecens check: read {number:,} lines{done}", end="", file=sys.stderr, flush=True)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if rows or not blocks:
        blocks.append(np.array(rows, dtype=np.int64).reshape(len(rows), length))
    tokens = np.concatenate(blocks)
    if show:
        print(f"\rspecens check: read {len(tokens):,} lines, done.", file=sys.stderr, flush=True)
    return tokens


def shorter_length(law, tokens, length: int, args) -> int | None:
    """The longest prefix length below `length` whose law (`prefix_law`, a marginal of the whole `law`)
    these samples can check within --target-tv, or None. Each try is one check of the truncated samples."""
    for shorter in range(length - 1, 0, -1):
        report = check_samples(tokens[:, :shorter], prefix_law(law, shorter), length=shorter,
                               alpha=args.alpha, target_tv=args.target_tv, warn=False)
        if not report.underpowered:
            return shorter
    return None


def run(args) -> int:
    try:
        ensemble, _, limit, label = read_toy_setting(args.ensemble)
    except OSError as e:
        raise ValueError(f"--ensemble: cannot read {args.ensemble} ({e.strerror})") from None
    for line in verify_checkpoints(args.ensemble):  # TOY-5: a law whose checkpoint changed is refused
        if "not found" in line:
            print(f"specens check: {line}", file=sys.stderr)
    length = limit if args.length is None else args.length
    if not 1 <= length <= limit:
        raise ValueError(f"--length: must lie in [1, {limit}] (the file's max_new_tokens), got {length}")
    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha: must lie in (0, 1), got {args.alpha}; e.g. 0.001")
    if not 0 < args.target_tv <= 1:
        raise ValueError(f"--target-tv: a total variation in (0, 1], got {args.target_tv}; e.g. 0.05")
    if args.worst < 0:
        raise ValueError(f"--worst: how many cells to print, a non-negative integer, got {args.worst}; e.g. 10")
    try:  # the law first: a toy too large to enumerate fails before a long samples file is read (ENGINE-2)
        law = exact_ensemble_pmf(ensemble, length)
    except ValueError as e:
        raise ValueError(f"{args.ensemble}: {e}") from None
    try:
        tokens = read_samples(args.samples, vocab_size=ensemble.vocab_size, eos=ensemble.eos_token_id,
                              length=length, limit=limit, progress=args.progress)
    except BadLine as e:
        raise ValueError(f"{args.samples} {e}") from None
    except OSError as e:
        raise ValueError(f"--samples: cannot read {args.samples} ({e.strerror})") from None
    if len(tokens) == 0:
        raise ValueError(f"{args.samples}: no samples; write one JSON array of token ids per line")
    report = check_samples(tokens, law, length=length, alpha=args.alpha, target_tv=args.target_tv,
                           label=label, warn=False)
    print(report.format(args.worst))
    if report.large_tv:
        print(f"specens check: {report.large_tv_line()}", file=sys.stderr)
    if report.rejected:
        return EXIT_REJECTED
    if report.inconclusive:
        shorter = shorter_length(law, tokens, length, args)
        hint = (f"; or check the first {shorter} token{'s' if shorter > 1 else ''}, where these samples have the "
                f"power: --length {shorter}" if shorter else "")
        print(f"specens check: inconclusive: {report.power_line()} (or raise --target-tv){hint}", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    return EXIT_CONSISTENT
