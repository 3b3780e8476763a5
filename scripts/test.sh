#!/usr/bin/env bash
# The whole test suite from a fresh machine: set up .venv, install Coq and MathComp from Debian's
# packages if missing, then run pytest, which also builds the proofs and checks that they use no
# axiom (tests/unit/test_proofs_build.py). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build_proofs.sh --install-only
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
