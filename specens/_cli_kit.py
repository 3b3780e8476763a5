"""`specens kit`: write the conformance kit of tiny Hugging Face checkpoints and their exact laws (ORACLE-11).

`specens kit --out DIR` writes DIR/models/<checkpoint>/ (safetensors, config, generation config,
tokenizer), DIR/laws/<setting>.json (toy files, spec/09-toy-format.md) and DIR/README.md (what to
sample per setting, how to check it). `--verify` checks an existing kit's checkpoint hashes (TOY-5).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the kit to (or to verify)")
    p.add_argument("--seed", type=int, default=0, help="offset of every checkpoint's seed (default 0: the documented kit)")
    p.add_argument("--no-precision", action="store_true",
                   help="skip measuring the float32/bfloat16 laws (faster; the README then omits them)")
    p.add_argument("--verify", action="store_true",
                   help="do not write: check that every law's checkpoints in DIR still have their SHA-256")


def run(args) -> int:
    from specens.oracle.kit import SETTINGS, budget, verify_kit, write_kit

    out = Path(args.out)
    if args.verify:
        for line in verify_kit(out):
            print(line)
        return 0
    if args.seed < 0:
        raise ValueError(f"--seed: a non-negative integer, got {args.seed}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a folder; give a new or empty folder")
    facts = write_kit(out, seed=args.seed, precision=not args.no_precision)
    print(f"specens kit: wrote {out}/models, {out}/laws ({len(SETTINGS)} settings) and {out}/README.md")
    for setting in SETTINGS:
        f = facts[setting.name]
        print(f"  {setting.name:16} {budget(f):>7,} samples  laws/{setting.name}.json")
    return 0
