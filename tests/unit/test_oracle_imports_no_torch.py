"""The oracle is NumPy and SciPy only: importing it, its CLI modules, and running a check never imports
torch (in a fresh interpreter)."""

import subprocess
import sys

CODE = """
import sys
import specens.oracle, specens._cli_check, specens._cli_vectors
from specens.oracle import CASES, check_samples
case = CASES[0]
check_samples(case.sampler().sample(2000, seed=0), case.law(), warn=False)
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') or m == 'transformers')
print(bad)
sys.exit(1 if bad else 0)
"""


def test_importing_and_using_the_oracle_does_not_import_torch():
    """ORACLE-8, ORACLE-7: specens.oracle and the check/vectors CLI modules run without torch."""
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
