"""The `specens` command line: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

import specens

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
SUBCOMMANDS = {
    "generate": ("specens._cli_generate", "complete a prompt with an ensemble of causal LMs (bundled or local)"),
    "demo": ("specens._cli_demo", "sample a speculative ensemble on a built-in toy ensemble (NumPy reference)"),
    "check": ("specens._cli_check", "check sampled sequences against a toy ensemble's exact law (specens.oracle)"),
    "vectors": ("specens._cli_vectors", "write the golden conformance vectors from the reference"),
    "kit": ("specens._cli_kit", "write tiny Hugging Face checkpoints and the exact law of each setting (conformance kit)"),
}


# Options whose value may start with '-' without being a plain number ("--weights -1,2"): argparse
# would take such a value for an option and answer "expected one argument", so main() attaches it
# with '=' and the subcommand's own check names what is wrong with it.
NUMBER_LIST_OPTIONS = ("--weights", "--costs", "--gammas")


def attach_dash_values(argv: list[str]) -> list[str]:
    """["--weights", "-1,2"] -> ["--weights=-1,2"], for the options of NUMBER_LIST_OPTIONS only."""
    out = []
    for arg in argv:
        if out and out[-1] in NUMBER_LIST_OPTIONS and re.match(r"-[0-9.]", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="specens", description="Speculative Ensemble decoding: exact, fast, checkable.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {specens.__version__}")  # package metadata
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        modules[name] = importlib.import_module(module)
        modules[name].add_arguments(p)
    args = parser.parse_args(attach_dash_values(sys.argv[1:] if argv is None else list(argv)))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status = modules[args.command].run(args)
        sys.stdout.flush()  # inside the try: a reader that went away shows up here or in run()
        return status
    except BrokenPipeError:  # `specens demo | head`: the reader closed the pipe; stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail
        return 141  # 128 + SIGPIPE, what a shell reports for a writer stopped by a closed pipe
    except ValueError as e:  # bad input: a clear message and exit code 2, never a traceback
        print(f"specens {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
