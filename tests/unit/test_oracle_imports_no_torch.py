"""The oracle is NumPy and SciPy only: importing it, its CLI modules, and running a check never imports
torch (in a fresh interpreter)."""

import subprocess
import sys

CODE = r"""
import sys
import specens.oracle, specens._cli_check, specens._cli_vectors
from specens.oracle import CASES, check_samples
case = CASES[0]
check_samples(case.sampler().sample(2000, seed=0), case.law(), warn=False)
import json, tempfile, pathlib
from specens.cli import main
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "toy.json").write_text(json.dumps(case.toy()))
rows = case.sampler().sample(2000, seed=1).tolist()
(folder / "s.jsonl").write_text("".join(json.dumps([t for t in r if t >= 0]) + "\n" for r in rows))
assert main(["check", "--ensemble", str(folder / "toy.json"), "--samples", str(folder / "s.jsonl"),
             "--target-tv", "0.5"]) == 0  # 2000 samples detect a TV bias of about 0.4 (0.29 pooled)
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') or m == 'transformers')
print(bad)
sys.exit(1 if bad else 0)
"""


def test_importing_and_using_the_oracle_does_not_import_torch():
    """ORACLE-8, ORACLE-7: specens.oracle, the check/vectors CLI modules and `specens check` itself run
    without torch."""
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
