"""Every python code block in README.md and docs/*.md runs: each page in order, and each section alone.

A reader runs a page top to bottom, or jumps to one section and copies its code. So the blocks of
every page must run in order in one namespace, and the blocks of every section (a `## ` heading up to
the next one; what comes before the first heading is a section too) must also run in a fresh
namespace of their own: a section that uses a name only an earlier section defines fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```+|~~~+)(.*)$")


def sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, python blocks) for each `## ` section of a markdown page, in page order.

    Fenced blocks are read line by line, so a `## ` line inside a code block is not a heading.
    >>> sections("intro\\n## A\\n```python\\nx = 1\\n## not a heading\\n```\\n## B\\n```bash\\nls\\n```\\n")
    [('', []), ('A', ['x = 1\\n## not a heading\\n']), ('B', [])]
    """
    found: list[tuple[str, list[str]]] = [("", [])]
    fence, language, block = None, "", []
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\n")
        match = FENCE.match(stripped)
        if fence is None and match:
            fence, language, block = match.group(1), match.group(2).strip(), []
        elif fence is not None and stripped.startswith(fence) and not stripped[len(fence):].strip():
            if language == "python":
                found[-1][1].append("".join(block))
            fence = None
        elif fence is not None:
            block.append(line)
        elif line.startswith("## "):
            found.append((stripped[3:].strip(), []))
    assert fence is None, "a code fence is never closed"
    return found


def run_blocks(blocks: list[str], where: str, namespace: dict) -> None:
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{where} [block {i}]", "exec"), namespace)
        except Exception as e:  # report which block failed, and its code
            raise AssertionError(f"{where}, code block {i} failed: {e!r}\n{block}") from e


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


SECTIONS = [(page, heading, blocks) for page in PAGES for heading, blocks in sections(page.read_text()) if blocks]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_code_block_on_the_page_runs_in_order(page, capsys):
    blocks = [block for _, page_blocks in sections(page.read_text()) for block in page_blocks]
    run_blocks(blocks, page_id(page), {"__name__": f"docs_{page.stem}"})


@pytest.mark.parametrize(("page", "heading", "blocks"), SECTIONS,
                         ids=[f"{page_id(p)}::{h or '(top)'}" for p, h, _ in SECTIONS])
def test_every_section_runs_alone_in_a_fresh_namespace(page, heading, blocks, capsys):
    run_blocks(blocks, f"{page_id(page)} section {heading!r}", {"__name__": f"docs_{page.stem}_section"})


def test_the_pages_have_python_sections_to_run():
    """The split must find the blocks: as many python blocks in sections as fences that open them."""
    for page in PAGES:
        text = page.read_text()
        assert sum(len(b) for _, b in sections(text)) == len(re.findall(r"^```python\s*$", text, re.M)), page
    assert len(SECTIONS) >= 10


def test_a_section_that_uses_an_earlier_sections_name_is_caught():
    """Negative control: the tutorial's old section 5 (no import of WeightedEnsemble) must fail alone."""
    page = "## 1\n```python\nfrom fractions import Fraction\n```\n## 2\n```python\nFraction(1, 2)\n```\n"
    (_, first), (_, second) = sections(page)[1:]
    namespace = {}
    run_blocks(first + second, "in order", namespace)
    with pytest.raises(AssertionError, match="NameError"):
        run_blocks(second, "alone", {})
