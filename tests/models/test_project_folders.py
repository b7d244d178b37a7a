"""A project's folder on every cluster is claimed by a marker holding its identity (issue 24, item 1).

Two projects of the same name would share ``<workdir>/<name>`` on every cluster: the second is refused,
in one line and before anything is written, by ``import`` and by the manager's tick. The clusters here
are two local folders declared like the dev clusters (``local_clusters``, see conftest); the same claim
over SSH is tested on the dev clusters in ``tests/project/test_claim_devcluster.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from projects import make_project
from sqlalchemy import delete, select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.project.claim import MARKER
from mpflow.project.file import Project, ProjectError, init_project
from mpflow.project.mutants import GPA_WT
from mpflow.store.database import open_database
from mpflow.store.records import add_model
from mpflow.store.schema import ClusterState, Model


@pytest.fixture
def workdirs(local_clusters) -> list[Path]:
    """The two local clusters' workdirs (alpha, the master, first)."""
    return [Path(c.workdir) for c in local_clusters]


@pytest.fixture
def docked(built, tmp_path) -> tuple[Path, Path]:
    """Two folders holding a different GpA-WT_003.pdb each (the issue's case)."""
    models, _ = built
    out = []
    for i, model in enumerate((models[2], models[7])):
        folder = tmp_path / f"docked{i}"
        folder.mkdir()
        shutil.copy(model.path, folder / "GpA-WT_003.pdb")
        out.append(folder)
    return out[0], out[1]


def _cli(project: Project, *args):
    return CliRunner().invoke(app, [*map(str, args), "--project", str(project.root)])


@pytest.mark.parametrize("name", ["a b", "a;b", "Å", "", "-x", "x" * 65])
def test_an_invalid_name_is_refused_in_one_line_and_nothing_is_created(tmp_path, name):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "p"), "--name", name])
    assert result.exit_code == 2
    assert result.output == (f"error: --name {name!r} is not a project name: use 1-64 letters, digits, '_', '.' "
                             "or '-', starting with a letter or digit (it names the project's folder on every "
                             "cluster)\n")
    assert not (tmp_path / "p").exists()


def test_a_folder_name_is_made_safe_or_refused_never_replaced_by_mpflow(tmp_path):
    assert init_project(tmp_path / "my project", dev=True).config.project.name == "my-project"
    with pytest.raises(ProjectError, match="the folder name 'Å' makes no project name: give one with --name"):
        init_project(tmp_path / "Å", dev=True)
    assert not (tmp_path / "Å").exists()


def test_init_gives_every_project_an_identity_of_its_own(tmp_path):
    a = init_project(tmp_path / "a", name="gpa", dev=True)
    b = init_project(tmp_path / "b", name="gpa", dev=True)
    assert a.config.project.id and b.config.project.id and a.config.project.id != b.config.project.id


def test_two_projects_of_one_name_never_share_the_clusters_folders(workdirs, docked, tmp_path):
    first = make_project(tmp_path / "one", name="gpa", mutants=[GPA_WT])
    second = make_project(tmp_path / "two", name="gpa", mutants=[GPA_WT])
    result = _cli(first, "import", "GpA-WT", docked[0])
    assert result.exit_code == 0, result.output
    marker = json.loads((workdirs[0] / "gpa" / MARKER).read_text())
    assert (marker["id"], marker["name"]) == (first.config.project.id, "gpa")
    assert marker["project_file"].endswith(f":{first.file}")
    placed = sorted((workdirs[0] / "gpa" / "GpA-WT").glob("*/GpA-WT_003/model.pdb"))
    assert [p.read_bytes() for p in placed] == [(docked[0] / "GpA-WT_003.pdb").read_bytes()]
    trees = {c: sorted(str(p) for p in c.rglob("*")) for c in workdirs}

    result = _cli(second, "import", "GpA-WT", docked[1])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: [alpha] {workdirs[0] / 'gpa'} belongs to another project named 'gpa' (id {first.config.project.id}, "
        f"project file {marker['project_file']}); give this project another name ([project] name in {second.file}); "
        "its folder on every cluster is <cluster workdir>/<project name>; nothing was imported"]
    assert [p.read_bytes() for p in placed] == [(docked[0] / "GpA-WT_003.pdb").read_bytes()]  # untouched
    assert {c: sorted(str(p) for p in c.rglob("*")) for c in workdirs} == trees  # nothing written anywhere
    with open_database(second.database_url)() as s:
        assert list(s.scalars(select(Model))) == []

    # and its manager ticks refuse too, in one line, before writing anything
    result = _cli(second, "manage", "--once")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: [alpha] {workdirs[0] / 'gpa'} belongs to another project named 'gpa'")
    assert {c: sorted(str(p) for p in c.rglob("*")) for c in workdirs} == trees


def test_a_claim_on_the_second_cluster_refuses_before_the_first_is_written(workdirs, docked, tmp_path):
    """The check goes over every cluster before any claim: beta taken means nothing is written on alpha."""
    other = make_project(tmp_path / "other", name="gpa", clusters=["beta"], mutants=[GPA_WT])
    assert _cli(other, "import", "GpA-WT", docked[0]).exit_code == 0
    mine = make_project(tmp_path / "mine", name="gpa", mutants=[GPA_WT])
    result = _cli(mine, "import", "GpA-WT", docked[1])
    assert result.exit_code == 1 and result.output.startswith(f"error: [beta] {workdirs[1] / 'gpa'} belongs to ")
    assert not (workdirs[0] / "gpa").exists()


def test_a_tick_claims_once_and_records_it(workdirs, tmp_path):
    project = make_project(tmp_path / "p", name="gpa")
    assert _cli(project, "manage", "--once").exit_code == 0
    Session = open_database(project.database_url)
    with Session() as s:
        claims = {c.name: (c.workdir, c.claimed) for c in s.scalars(select(ClusterState))}
    assert {n: w for n, (w, _) in claims.items()} == {"alpha": str(workdirs[0] / "gpa"), "beta": str(workdirs[1] / "gpa")}
    assert all((c / "gpa" / MARKER).is_file() for c in workdirs)
    assert _cli(project, "manage", "--once").exit_code == 0
    with Session() as s:
        assert {c.name: (c.workdir, c.claimed) for c in s.scalars(select(ClusterState))} == claims  # not asked again


def test_a_folder_with_files_but_no_marker_is_adopted_only_by_a_project_with_models(workdirs, docked, tmp_path):
    """A project from before markers: its folder holds its models but no marker. The project itself
    (its database has models) adopts it; a new project of the same name is refused."""
    old = make_project(tmp_path / "old", name="gpa", mutants=[GPA_WT])
    assert _cli(old, "import", "GpA-WT", docked[0]).exit_code == 0
    for c in workdirs:  # as before markers: none on the clusters, no claim in the database, no id
        (c / "gpa" / MARKER).unlink()
    with open_database(old.database_url).begin() as s:
        s.execute(delete(ClusterState))
    text = old.file.read_text()
    old.file.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("id = ")) + "\n")

    new = make_project(tmp_path / "new", name="gpa", mutants=[GPA_WT])
    result = _cli(new, "import", "GpA-WT", docked[1])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: [alpha] {workdirs[0] / 'gpa'} holds files but no project marker "
                                    "(.mpflow-project): another project of the name 'gpa' may use it; give this "
                                    "project another name")

    assert _cli(old, "manage", "--once").exit_code == 0  # the old project adopts its own folder
    adopted = Project.load(old.root)
    assert adopted.config.project.id  # an identity written into its project file
    assert json.loads((workdirs[0] / "gpa" / MARKER).read_text())["id"] == adopted.config.project.id


def test_a_run_of_a_project_refused_there_prepares_nothing_in_the_other_projects_folder(workdirs, docked, tmp_path):
    """`mpflow run`: its first tick claims the folders before the first preparation writes in them."""
    first = make_project(tmp_path / "one", name="gpa", mutants=[GPA_WT])
    assert _cli(first, "import", "GpA-WT", docked[0]).exit_code == 0
    second = make_project(tmp_path / "two", name="gpa", mutants=[GPA_WT])
    Session = open_database(second.database_url)
    with Session.begin() as s:  # models of its own (registered before markers, say) to prepare
        add_model(s, mutant="GpA-WT", group="Conformation1", name="GpA-WT_003")
    trees = {c: sorted(str(p) for p in c.rglob("*")) for c in workdirs}
    result = _cli(second, "run", "--interval", "0.2", "--timeout", "30")
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: [alpha] {workdirs[0] / 'gpa'} belongs to another project named 'gpa'")
    assert {c: sorted(str(p) for p in c.rglob("*")) for c in workdirs} == trees
