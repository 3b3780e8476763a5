"""Every rule id in spec/ is implemented (cited by a docstring under reference/ or specens/) and tested
(cited under tests/); every theorem is tested and its named proof exists (spec/README.md)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^#{2,4} +([A-Z]+(?:-[A-Z0-9.]+)+): ", re.M)
THEOREM = re.compile(r"^(THM|COR)-")
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
    missing = [r for r in spec_rules() if not THEOREM.match(r) and not cited(r, ["reference", "specens"])]
    assert not missing, f"rules no reference/specens code cites: {missing}"


def test_every_rule_and_theorem_is_cited_by_a_test():
    missing = [r for r in spec_rules() if not cited(r, ["tests"])]
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
