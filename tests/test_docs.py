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


def test_the_architecture_notes_map_every_folder_and_package_of_the_tree():
    """The layout table is the tree: every installed top-level folder and every package of the core
    and the science is named there, and it names no folder that is not there."""
    text = (REPO / "docs" / "architecture.md").read_text()
    import tomllib

    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in mapping.values():
        assert f"| `{folder}/` |" in text, f"docs/architecture.md: the layout table does not name {folder}/"
    for root in ("mpflow", "analysis"):
        for init in sorted((REPO / root).glob("*/__init__.py")):
            package = init.parent.relative_to(REPO).as_posix()
            if package in ("mpflow/templates", "mpflow/store/migrations"):
                continue
            assert f"`{package}/`" in text, f"docs/architecture.md does not name the package {package}/"
    for named in re.findall(r"\| `([\w/]+)/` \|", text):
        assert (REPO / named).is_dir(), f"docs/architecture.md names {named}/, which is not a folder"
