#!/usr/bin/env bash
# Set up specens on a fresh machine: a virtual environment in .venv with the package installed
# (editable) and its test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # A plain `torch` requirement pulls a multi-GB CUDA build; without a CUDA driver take the CPU wheel.
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    pip install "torch>=2.1"
  else
    pip install "torch==2.13.0"
  fi
fi
if ! .venv/bin/python -c "import specens, pytest, hypothesis, transformers" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.specens-installed ]; then
  pip install -e ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
  touch .venv/.specens-installed
fi
