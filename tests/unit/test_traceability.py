"""Every rule id in spec/ is implemented (cited by a docstring under reference/ or specens/) and tested
(cited under tests/); every theorem is tested and its named proof exists (spec/README.md). Every known
defect (spec/14-defects.md) has the mutants it names, or says why it has none and names the tests
that guard it; and no project file refers to a document the repository does not contain."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^#{2,4} +([A-Z]+(?:-[A-Z0-9.]+)+): ", re.M)
THEOREM = re.compile(r"^(THM|COR)-")
CATALOGUE = re.compile(r"^DEFECT-")  # known defects: checked by the mutant tests below, not implemented
PROOF = re.compile(r"`proofs/([\w/]+\.v)`, ((?:`\w+`(?:, )?)+)")


def spec_rules() -> dict[str, str]:
    rules = {}
    for path in sorted((ROOT / "spec").glob("*.md")):
        text = path.read_text()
        for match in HEADING.finditer(text):
            rule = match.group(1)
            assert rule not in rules, f"{rule} is defined twice ({rules.get(rule)} and {path.name})"
            end = text.find("\n###", match.end())
            rules[rule] = text[match.end(): end if end > 0 else None]
    return rules


def cited(rule: str, folders: list[str]) -> bool:
    pattern = re.compile(rf"(?<![A-Z0-9-]){re.escape(rule)}(?![0-9A-Za-z.-]*[0-9A-Za-z])")
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if pattern.search(path.read_text()):
                return True
    return False


def test_the_spec_defines_rules():
    rules = spec_rules()
    assert len(rules) >= 40, sorted(rules)
    for family in ("NOTATION", "NUM", "TRANSFORM", "COMBINE", "VERIFY", "METHOD", "STD", "NAIVE", "SE", "MIX",
                   "RNG", "COST", "TRACE", "THM", "COR", "TOY", "ENGINE"):
        assert any(r.startswith(family + "-") for r in rules), family


def test_every_rule_is_implemented_by_a_cited_function():
    missing = [r for r in spec_rules()
               if not THEOREM.match(r) and not CATALOGUE.match(r) and not cited(r, ["reference", "specens"])]
    assert not missing, f"rules no reference/specens code cites: {missing}"


def test_every_rule_and_theorem_is_cited_by_a_test():
    missing = [r for r in spec_rules() if not CATALOGUE.match(r) and not cited(r, ["tests"])]
    assert not missing, f"rules no test cites: {missing}"


def test_every_proof_the_spec_names_exists():
    for rule, body in spec_rules().items():
        for match in PROOF.finditer(body):
            path = ROOT / "proofs" / match.group(1)
            assert path.exists(), f"{rule} names {path}, which does not exist"
            text = path.read_text()
            for name in re.findall(r"`(\w+)`", match.group(2)):
                assert re.search(rf"\b(Theorem|Lemma|Corollary|Proposition)\s+{name}\b", text), \
                    f"{rule} names {name}, not found in {path.name}"


# -- the catalogue of known defects (spec/14-defects.md) --------------------------------------------
def defects() -> dict[int, str]:
    return {int(rule.split("-")[1]): body for rule, body in spec_rules().items() if CATALOGUE.match(rule)}


def mutants_by_defect() -> dict[int, set]:
    """Which mutants reproduce DEFECT-N: their `defect` field is N, or their class docstring cites DEFECT-N."""
    from specens.oracle import MUTANTS
    from specens.oracle.sampler import VectorRun

    found: dict[int, set] = {}
    for m in MUTANTS:
        numbers = {int(m.defect)} if m.defect.isdigit() else set()
        for cls in (m.run_class, m.chooser_wrapper):
            if cls is not None and cls is not VectorRun:
                numbers |= {int(n) for n in re.findall(r"DEFECT-(\d+)", cls.__doc__ or "")}
        for n in numbers:
            found.setdefault(n, set()).add(m.name)
    return found


def test_the_catalogue_numbers_its_defects_one_to_twenty_without_gaps():
    assert sorted(defects()) == list(range(1, 21))


def test_every_defect_names_its_mutants_or_says_why_it_has_none():
    """Each entry's `Mutants:` line lists exactly the mutants that reproduce it; an entry without a mutant
    says `No mutant:` with a reason and names, under `Guard:`, test files that exist."""
    found, problems = mutants_by_defect(), []
    for n, body in defects().items():
        listed = re.search(r"^Mutants: (.*?)\.$", body, re.M)
        reason = re.search(r"^No mutant: (.+?)(?=^Guard:)", body, re.M | re.S)
        if listed:
            names = set(re.findall(r"`([\w-]+)`", listed.group(1)))
            if names != found.get(n, set()):
                problems.append(f"DEFECT-{n} lists {sorted(names)}, the mutants reproducing it are {sorted(found.get(n, ()))}")
        elif n in found:
            problems.append(f"DEFECT-{n} has mutants {sorted(found[n])} but no `Mutants:` line")
        elif not reason or len(reason.group(1).split()) < 8:
            problems.append(f"DEFECT-{n} has no mutant and no `No mutant:` reason followed by `Guard:`")
        else:
            guard = body[body.index("Guard:"):]
            paths = re.findall(r"`(tests/[\w/.-]+)`", guard)
            if not paths:
                problems.append(f"DEFECT-{n} names no guarding test")
            problems += [f"DEFECT-{n} names {p}, which does not exist" for p in paths if not (ROOT / p).exists()]
    assert not problems, "\n".join(problems)


def test_every_mutant_of_a_defect_points_at_an_entry_of_the_catalogue():
    """A mutant's defect number (or the DEFECT id its class cites) exists; the others are our own."""
    from specens.oracle import MUTANTS

    assert set(mutants_by_defect()) <= set(defects())
    assert all(m.defect == "own" or m.defect.isdigit() for m in MUTANTS)


def test_the_checker_fails_a_catalogue_entry_whose_mutant_list_is_wrong(monkeypatch):
    """Negative control: an entry that lists a mutant of another defect, or none and no reason, fails."""
    real = defects()
    broken = dict(real)
    broken[1] = real[1].replace("`member0-argmax`", "`accept-all`")
    broken[10] = real[10].split("No mutant:")[0]
    monkeypatch.setattr(sys.modules[__name__], "defects", lambda: broken)
    with pytest.raises(AssertionError) as failure:
        test_every_defect_names_its_mutants_or_says_why_it_has_none()
    assert "DEFECT-1 lists" in str(failure.value) and "DEFECT-10 has no mutant" in str(failure.value)


def project_files() -> list[Path]:
    """Files git tracks or would track (untracked, not ignored), that exist in the working tree."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [ROOT / f for f in listed if f and (ROOT / f).is_file()]


def test_no_project_file_refers_to_a_document_outside_the_repository():
    """The spec stands alone: no file mentions the algorithm brief the project started from, and defects
    are cited as DEFECT-N ids, never as bare "defect N"."""
    brief = "ALGORITHM" + ".md"  # spelled in two pieces so that this file does not match itself
    bare = re.compile(r"\bdefects? \d", re.I)
    assert bare.search("see defect " + "13") and bare.search("Defects " + "1 and 2") and not bare.search("DEFECT-13")
    offending = []
    for path in project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files: weights, figures
        if brief in text or bare.search(text):
            offending.append(str(path.relative_to(ROOT)))
    assert not offending, f"files citing {brief} or a bare 'defect N' instead of DEFECT-N: {offending}"
