"""The README and the design notes point only at things inside the repository, and the notes name no
module that does not exist unless they say it is planned."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_readme_links_to_the_architecture_notes():
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text()


def test_links_stay_inside_the_repository():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            assert not re.match(r"[a-z]+://", target), f"{doc.name} links outside the repository: {target}"
            path = (doc.parent / target.split("#")[0]).resolve()
            assert REPO in path.parents and path.exists(), f"{doc.name}: broken or outside link {target}"
        assert "../" not in doc.read_text(), f"{doc.name} points outside the repository"


def test_modules_named_in_the_architecture_notes_exist_or_are_marked_planned():
    pattern = re.compile(r"`((?:mpflow|flows|tasks|blocks|analysis|deployments|scripts|tests)/[\w/.-]*)`")
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        for path in pattern.findall(line):
            if "planned" not in line:
                assert (REPO / path).exists(), f"docs/architecture.md names {path}, which does not exist: {line}"
