"""The design notes the code cites are in the repository: every anchor of docs/design.md that a comment, docstring or
doc names exists in docs/design.md, and so does every invariant I1-I10; nothing cites the spec outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
CITATION = re.compile(r"docs/design\.md((?:#[a-z0-9-]+)(?:(?:, | and | to |\s+to\s+)#[a-z0-9-]+)*)")
LINK = re.compile(r"\]\(design\.md#([a-z0-9-]+)\)")


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', DESIGN.read_text(encoding="utf-8")))


def _sources() -> list[Path]:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "src").rglob("*.toml"), *(ROOT / "tests").rglob("*.py")]
    return [f for f in files if "__pycache__" not in f.parts]


def test_every_cited_anchor_exists() -> None:
    anchors = _anchors()
    cited: dict[str, set[str]] = {}
    for path in _sources():
        for group in CITATION.findall(path.read_text(encoding="utf-8")):
            for anchor in re.findall(r"#([a-z0-9-]+)", group):
                cited.setdefault(anchor, set()).add(str(path.relative_to(ROOT)))
    for path in (ROOT / "docs").glob("*.md"):
        for anchor in LINK.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, set()).add(str(path.relative_to(ROOT)))
    assert len(cited) >= 10, "the code cites the design notes"
    missing = {anchor: sorted(where) for anchor, where in cited.items() if anchor not in anchors}
    assert missing == {}


def test_the_invariants_and_the_stages_have_their_anchors() -> None:
    anchors = _anchors()
    assert {f"i{n}" for n in range(1, 11)} <= anchors
    stages = "plan generate gate post measure track attribute learn feed-back replies"
    assert set(stages.split()) <= anchors


def test_nothing_cites_the_spec_outside_the_repository() -> None:
    docs = [p for p in (ROOT / "docs").glob("*.md") if p != DESIGN]
    citing = [str(p.relative_to(ROOT)) for p in [*_sources(), *docs] if "SPEC \N{SECTION SIGN}" in p.read_text("utf-8")]
    assert citing == [], "cite docs/design.md#<anchor> instead"
