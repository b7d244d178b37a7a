"""The one way the tests build a project: as ``mpflow init --dev`` makes it, then changed the way a
user changes it (``Project.update_file``, ``Project.add_mutant``).

Tests of the project file's own validation write ``mpflow.toml`` by hand on purpose; every other
test gets its project here. Each project gets a name of its own (its folder's name and a random
suffix): a project's folder on the dev clusters, ``<workdir>/<name>``, is claimed by its marker, so
two test runs (or two engineers on the shared dev clusters) never meet in one folder.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import tomlkit

from mpflow.project.file import Project, init_project
from mpflow.project.mutants import Mutant


def make_project(root: Path, *, name: str | None = None, clusters: Iterable[str] = ("alpha", "beta"),
                 stages: str | None = None, manager: Mapping[str, object] | None = None,
                 mutants: Iterable[Mutant] = (), database: str | None = None, reach: str | None = None) -> Project:
    """A dev project in ``root`` on ``clusters`` (the master first). ``stages``: TOML text of
    ``[stages.NAME]`` tables replacing the pipeline's four; ``manager``: values of ``[manager]``;
    ``name``: default ``<folder name>-<8 random hex digits>``; ``database``: the jobs database's URL
    (default: SQLite in the project folder); ``reach``: ``"ssh"`` reaches every dev cluster over SSH."""
    name = name or f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', Path(root).name).strip('-._')[:40] or 'p'}-{uuid.uuid4().hex[:8]}"
    project = init_project(root, name=name, dev=True, clusters=list(clusters), reach=reach)
    if stages is not None or manager or database:
        def edit(doc) -> None:
            if database:
                doc["project"]["database"] = database
            if stages is not None:
                table = tomlkit.table(is_super_table=True)
                for stage, spec in tomllib.loads(stages).get("stages", {}).items():
                    table[stage] = spec
                doc["stages"] = table
            for key, value in (manager or {}).items():
                doc["manager"][key] = value

        project.update_file(edit)
    for mutant in mutants:
        project.add_mutant(mutant)
    return project
