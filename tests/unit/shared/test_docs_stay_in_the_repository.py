"""The README and the docs point only inside the repository (a clone is complete): every
relative link and every backquoted path that leaves the repository is a defect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "deploy" / "README.md"]
LINK = re.compile(r"\]\(([^)#\s]+)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(document: Path) -> None:
    text = document.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # a URL (https:, mailto:), not a file
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
        assert resolved.exists(), f"{target} does not exist"
    assert "../shared/" not in text and "/work/" not in text


def test_the_spec_lives_in_the_repository() -> None:
    spec = (ROOT / "docs" / "spec.md").read_text()
    assert "**R8**" in spec and "**U12**" in spec
    assert "docs/spec.md" in (ROOT / "README.md").read_text()
