"""The ``models`` flow creates ``<workdir>/<mutant>/<group>/<name>/`` on both dev clusters (the local
master and the slave over SSH), with ``model.pdb`` on the master only; completing a held model
moves its folder on both."""

from __future__ import annotations

import posixpath
import uuid

import pytest
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select

from mpflow.clusters.transport import check, open_transport
from mpflow.models.completion import complete_models
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.schema import Model

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


@pytest.fixture
def mutant():
    return Mutant.create(**{**GPA_WT.model_dump(), "name": f"it-models-{uuid.uuid4().hex[:8]}"})


@pytest.fixture
def project(tmp_path, master, slave):
    """A project of this test's own; its folder (with its marker) is removed from both clusters afterwards."""
    project = make_project(tmp_path / "project")
    yield project
    for settings in project.cluster_settings():
        with open_transport(settings) as transport:
            check(transport.run(["rm", "-rf", "--", settings.workdir]), settings.name, f"removing {settings.workdir}")


def _tree(project, cluster: int, mutant: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """((group, model) folders, (group, model) holding model.pdb) of ``mutant`` on one cluster."""
    settings = project.cluster_settings()[cluster]
    base = posixpath.join(settings.workdir, mutant)
    with open_transport(settings) as t:
        out = check(t.run(["find", base, "-mindepth", "2", "-maxdepth", "3"]), settings.name, "find").stdout
    folders, files = set(), set()
    for path in out.split():
        parts = posixpath.relpath(path, base).split("/")
        if len(parts) == 2:
            folders.add(tuple(parts))
        elif parts[2] == "model.pdb":
            files.add(tuple(parts[:2]))
    return folders, files


def test_models_flow_creates_the_tree_on_both_clusters(prefect_api, project, mutant, tmp_path):
    from mpflow.flows.models import models_flow

    project.add_mutant(mutant)
    docked = tmp_path / "docked"
    models = build_models(mutant, k=8, seed=4, out_dir=docked)
    gap = docked / "gap_1.pdb"  # a copy of model 1 without residues B:80–82: held, then completed
    gap.write_text("".join(line for line in models[0].path.read_text().splitlines(keepends=True)
                           if not (line.startswith("ATOM") and line[21] == "B" and 80 <= int(line[22:26]) <= 82)))

    state = models_flow(mutant=mutant.name, paths=[str(docked)], project=str(project.root), return_state=True)
    assert state.is_completed(), state.message
    Session = open_database(project.database_url)
    with Session() as s:
        rows = {name: (group, status) for name, group, status in
                s.execute(select(Model.name, Model.group, Model.status))}
    assert rows["gap_1"] == ("None", "waiting")
    expected = {(group, name) for name, (group, _) in rows.items()}
    assert len(expected) == 9
    assert _tree(project, 0, mutant.name) == (expected, expected)
    assert _tree(project, 1, mutant.name) == (expected, set())

    reports = complete_models(project, Session, mutant=mutant.name)
    assert [r.completed for r in reports] == [["gap_1"]]
    with Session() as s:
        group, status = s.execute(select(Model.group, Model.status).where(Model.name == "gap_1")).one()
    assert status == "ok" and group != "None"
    expected = (expected - {("None", "gap_1")}) | {(group, "gap_1")}
    assert _tree(project, 0, mutant.name)[0] == expected
    assert _tree(project, 1, mutant.name) == (expected, set())
