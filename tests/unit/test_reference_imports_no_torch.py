"""The reference is plain NumPy: importing it (and running it) never imports torch."""

import subprocess
import sys

CODE = """
import sys
import specens, specens.reference
from specens.reference import generate, SpeculativeEnsemble
from specens.reference.zoo import toy_ensemble
generate(toy_ensemble(2, 3), SpeculativeEnsemble({'m0': 2, 'm1': 1}), 4, seed=0)
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') or m == 'transformers')
print(bad)
sys.exit(1 if bad else 0)
"""


def test_importing_and_running_the_reference_does_not_import_torch():
    """NUM-1: the reference (NumPy + fractions) is usable without torch, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
