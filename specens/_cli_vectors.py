"""`specens vectors --out DIR`: write the golden conformance vectors (spec/12-vectors.md).

With `--check`, compare DIR with freshly generated vectors instead and exit 1 on any difference.
NumPy reference only (no torch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from specens.oracle.vectors import compare_vectors, write_vectors


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the vector files and index.json")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 if DIR differs from what the reference generates")


def run(args) -> int:
    if args.check:
        if not Path(args.out).is_dir():
            raise ValueError(f"--out: {args.out} is not a folder of vectors; write them first with "
                             f"`specens vectors --out {args.out}`, or give --check the folder that holds them")
        problems = compare_vectors(args.out)
        for line in problems:
            print(line)
        print(f"specens vectors: {'DIFFERENT' if problems else 'identical'} ({args.out})")
        return 1 if problems else 0
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out: {args.out} exists and is not a folder")
    paths = write_vectors(args.out)
    print(f"specens vectors: wrote {len(paths) - 1} vectors and index.json to {args.out}")
    return 0
