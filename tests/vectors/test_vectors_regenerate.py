"""The committed golden vectors are exactly what the reference generates today (VECTOR-6)."""

import hashlib
import json
from pathlib import Path

from specens.cli import main
from specens.oracle.vectors import FORMAT, INDEX_FORMAT, VERSION, build_vectors, compare_vectors

GOLDEN = Path(__file__).parent / "golden"


def test_regenerating_the_vectors_changes_nothing():
    """VECTOR-6: byte-for-byte equal to a fresh `specens vectors` run; missing or stale files count."""
    problems = compare_vectors(GOLDEN)
    assert not problems, "golden vectors differ from the reference; run `specens vectors --out " \
                         "tests/vectors/golden` if the change is intended:\n" + "\n".join(problems)


def test_the_index_lists_every_vector_with_its_hash():
    """VECTOR-1: index.json names each file, its method and the SHA-256 of its bytes."""
    index = json.loads((GOLDEN / "index.json").read_text())
    assert (index["format"], index["version"]) == (INDEX_FORMAT, VERSION)
    files = sorted(p.name for p in GOLDEN.glob("*.json") if p.name != "index.json")
    assert sorted(entry["file"] for entry in index["vectors"]) == files
    for entry in index["vectors"]:
        data = (GOLDEN / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        header = json.loads(data)
        assert (header["format"], header["version"], header["name"]) == (FORMAT, VERSION, entry["name"])


def test_the_vectors_command_writes_and_checks_a_folder(tmp_path, capsys):
    """VECTOR-6: `specens vectors --out DIR` writes the set; `--check` exits 1 once a file changes."""
    assert main(["vectors", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(build_vectors())
    assert main(["vectors", "--out", str(tmp_path), "--check"]) == 0
    victim = next(p for p in tmp_path.glob("se-*.json"))
    victim.write_text(victim.read_text().replace('"tokens": [', '"tokens": [0, ', 1))
    assert main(["vectors", "--out", str(tmp_path), "--check"]) == 1
    assert f"{victim.name}: differs" in capsys.readouterr().out


def test_checking_a_folder_that_does_not_exist_is_one_line_of_bad_input(tmp_path, capsys):
    """VECTOR-6: `--check` of a missing folder exits 2 with one line naming --out and the fix (it listed every
    vector as missing)."""
    assert main(["vectors", "--out", str(tmp_path / "nowhere"), "--check"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--out:" in err and "specens vectors --out" in err
