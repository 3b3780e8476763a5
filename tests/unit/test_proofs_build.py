"""The Coq proofs in proofs/ are finished, documented, and build.

Checks without Coq: no source leaves a proof unfinished or assumes a statement; every theorem in
proofs/README.md exists in the file it names and cites a spec id; every theorem id cited in the
sources is in the README table; Assumptions.v prints exactly the README's theorems. With `coqc` on
PATH the proofs are also built in a temporary copy and every `Print Assumptions` must report
"Closed under the global context".
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROOFS = Path(__file__).resolve().parents[2] / "proofs"
SOURCES = sorted(PROOFS.glob("*.v"))
FORBIDDEN = re.compile(r"\b(Admitted|admit|Axiom|Axioms|Conjecture|Parameter|Parameters|Abort)\b")
SPEC_ID = re.compile(r"\b(?:THM|COR)-[A-Z0-9]+(?:[.-][A-Z0-9]+)*")
DECLARATION = r"^(?:Theorem|Lemma|Corollary|Proposition)\s+{name}\b"


def readme_rows():
    """(spec ids, file, Coq name) for each row of the README's theorem table."""
    rows = []
    for line in (PROOFS / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[1].endswith(".v") and cells[2].startswith("`"):
            ids = SPEC_ID.findall(cells[0])
            rows.append((ids, cells[1], cells[2].strip("`")))
    return rows


def comment_before(text, start):
    """The last comment that ends before offset `start`, if only blank lines separate them."""
    before = text[:start].rstrip()
    if not before.endswith("*)"):
        return ""
    return before[before.rfind("(*") :]


def test_proof_sources_exist():
    names = {p.name for p in SOURCES}
    assert {"Dist.v", "Verify.v", "WeightedEnsemble.v", "Cost.v", "Sequence.v", "Assumptions.v"} <= names


def test_no_proof_is_left_unfinished_or_assumed():
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not FORBIDDEN.search(line), f"{path.name}:{number}: {line.strip()}"


def test_every_listed_theorem_exists_and_cites_its_spec_id():
    rows = readme_rows()
    assert len(rows) >= 25, "the README theorem table looks truncated"
    for ids, filename, name in rows:
        assert ids, f"{name}: the README row gives no spec id"
        text = (PROOFS / filename).read_text()
        match = re.search(DECLARATION.format(name=re.escape(name)), text, re.MULTILINE)
        assert match, f"{name} is not declared in {filename}"
        comment = comment_before(text, match.start())
        for spec_id in ids:
            assert spec_id in comment, f"{name}: the comment before it does not cite {spec_id}"


def test_every_spec_id_cited_in_the_proofs_is_in_the_readme_table():
    listed = {spec_id for ids, _, _ in readme_rows() for spec_id in ids}
    for path in SOURCES:
        cited = set(SPEC_ID.findall(path.read_text()))
        assert cited <= listed, f"{path.name} cites {sorted(cited - listed)}, missing from the README table"


def test_assumptions_file_prints_exactly_the_readme_theorems():
    printed = re.findall(r"^Print Assumptions (\w+)\.", (PROOFS / "Assumptions.v").read_text(), re.MULTILINE)
    assert sorted(printed) == sorted(name for _, _, name in readme_rows())


def test_each_proof_file_opens_with_a_plain_language_summary():
    for path in SOURCES:
        assert path.read_text().lstrip().startswith(f"(* {path.name}:"), path.name


def test_proofs_build_and_use_no_axioms(tmp_path):
    if shutil.which("coqc") is None or shutil.which("coq_makefile") is None:
        pytest.skip("coqc is not on PATH; run scripts/build_proofs.sh to install Coq and MathComp")
    work = tmp_path / "proofs"
    work.mkdir()
    for path in SOURCES + [PROOFS / "_CoqProject", PROOFS / "Makefile"]:
        shutil.copy(path, work / path.name)
    done = subprocess.run(["make", "-j4", "-C", str(work), "all"], capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    printed = len(re.findall(r"^Print Assumptions", (work / "Assumptions.v").read_text(), re.MULTILINE))
    closed = output.count("Closed under the global context")
    assert closed == printed, output[-4000:]
