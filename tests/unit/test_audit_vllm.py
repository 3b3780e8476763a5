"""scripts/audit_vllm.py: where vLLM (or SGLang) does not import it says so and exits with status 4,
sampling nothing; its EOS normalisation turns an engine's output into the sequences the kit's laws count.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit_vllm.py"
_spec = importlib.util.spec_from_file_location("audit_vllm", SCRIPT)
audit_vllm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit_vllm)


@pytest.mark.parametrize(("engine", "name"), [("vllm", "vLLM"), ("sglang", "SGLang")])
def test_audit_vllm_exits_with_a_clear_message_where_the_engine_does_not_import(engine, name, tmp_path):
    """ORACLE-11: no traceback, no samples written; the message names the engine and the how-to."""
    if importlib.util.find_spec(engine) is not None:
        pytest.skip(f"{engine} is installed here: the script would sample it")
    out = tmp_path / "samples"
    run = subprocess.run([sys.executable, str(SCRIPT), "--kit", str(tmp_path), "--out", str(out), "--engine", engine],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == audit_vllm.NOT_AVAILABLE == 4
    assert f"{name} is not importable here" in run.stderr and "docs/howto-vllm.md" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_completed_sequences_end_with_one_eos_or_fill_the_horizon():
    """ORACLE-11: an early stop gains its EOS, tokens after the first EOS are cut, full sequences are kept."""
    assert audit_vllm.completed([5, 2], eos=1, max_new_tokens=4) == [5, 2, 1]
    assert audit_vllm.completed([5, 2, 1], eos=1, max_new_tokens=4) == [5, 2, 1]
    assert audit_vllm.completed([5, 1, 3, 3], eos=1, max_new_tokens=4) == [5, 1]
    assert audit_vllm.completed([5, 2, 7, 3], eos=1, max_new_tokens=4) == [5, 2, 7, 3]
    assert audit_vllm.completed([], eos=1, max_new_tokens=4) == [1]


def test_audit_vllm_refuses_a_setting_that_is_not_speculative_decoding(tmp_path):
    """Bad input: --settings names the settings it accepts."""
    run = subprocess.run([sys.executable, str(SCRIPT), "--kit", str(tmp_path), "--out", str(tmp_path / "o"),
                          "--settings", "we-llama"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--settings" in run.stderr and "sd-t1" in run.stderr
