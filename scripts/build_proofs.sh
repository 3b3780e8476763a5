#!/usr/bin/env bash
# Build the Coq proofs in proofs/ and check that none is left unfinished.
# Installs Coq 8.16 and MathComp 1.15 from the distribution's packages when coqc is missing
# (needs root and apt-get; runs without a terminal). Exits non-zero on any failure.
# --install-only: install Coq and MathComp if missing, then stop (scripts/test.sh uses it: the build
# and the same checks then run once, inside pytest, in tests/unit/test_proofs_build.py).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v coqc >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "build_proofs: coqc is missing and apt-get is not available; install Coq 8.16 and MathComp 1.15" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q </dev/null
  $SUDO apt-get install -y -q --no-install-recommends \
    coq libcoq-mathcomp-ssreflect libcoq-mathcomp-algebra </dev/null
fi

echo "build_proofs: $(coqc --version | head -n 1)"
if [ "${1:-}" = "--install-only" ]; then exit 0; fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
# Always recompile Assumptions.v so that its Print Assumptions output appears in the log.
rm -f proofs/Assumptions.vo proofs/Assumptions.vos proofs/Assumptions.vok proofs/Assumptions.glob
if ! make -C proofs all >"$log" 2>&1; then
  cat "$log" >&2
  echo "build_proofs: the Coq build failed" >&2
  exit 1
fi
echo "build_proofs: built in $(( $(date +%s) - start )) s"

# Every Print Assumptions in Assumptions.v must report no axioms at all.
printed=$(grep -c '^Print Assumptions' proofs/Assumptions.v)
closed=$(grep -c '^Closed under the global context' "$log" || true)
if [ "$printed" -ne "$closed" ]; then
  cat "$log" >&2
  echo "build_proofs: $printed theorems checked, only $closed closed under the global context" >&2
  exit 1
fi
echo "build_proofs: $closed main theorems, all closed under the global context"

# No unfinished or assumed proof anywhere in the sources.
forbidden='\b(Admitted|admit|Axiom|Axioms|Conjecture|Parameter|Parameters|Abort)\b'
if grep -nE "$forbidden" proofs/*.v; then
  echo "build_proofs: the sources above contain a forbidden keyword" >&2
  exit 1
fi
echo "build_proofs: ok"
