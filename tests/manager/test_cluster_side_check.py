"""The cluster-side mpflow on a real remote dev cluster (beta, over SSH): missing → one line naming the
command and nothing submitted; `mpflow cluster setup` → the preparation job is submitted; another build
(a file of the cluster's copy changed) → one line again."""

from __future__ import annotations

import posixpath
import uuid

import pytest
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.build import build_digest
from mpflow.cli import app
from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.side import _checked, base_workdir, venv_dir
from mpflow.clusters.transport import open_transport
from mpflow.manager.tick import DirectIO, Manager, TickScope
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.schema import Job

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGES = """
[stages.prep]
kind = "protocol"
clusters = "master"
protocol = "prep"
params = { npt_steps = 200, threads = 1 }
"""


def _tick(project, Session, clusters):
    with ClusterConnections(clusters) as conns:
        return Manager(project, Session, clusters).tick(DirectIO(conns), scope=TickScope("prep"))


def _jobs(Session):
    with Session() as s:
        return s.execute(select(Job.cluster, Job.stage, Job.state)).all()


def test_missing_then_set_up_then_another_build(tmp_path, slave):
    tag = uuid.uuid4().hex[:6]
    root = tmp_path / "p"
    make_project(root, name=f"side-{tag}", clusters=[slave.name], stages=STAGES,
                 manager={"interval_s": 1, "backoff_s": [0]})
    project = Project.load(root)
    Session = open_database(project.database_url)
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    project.add_mutant(gpa)
    project = Project.load(root)
    built = build_models(gpa, k=2, seed=3, out_dir=root / "built")
    import_models(project, Session, gpa.name, [built[0].path])
    clusters = project.cluster_settings()
    beta = clusters[0]
    venv = venv_dir(beta)
    base = beta.model_copy(update={"workdir": base_workdir(beta)})
    try:
        with open_transport(base) as t:
            t.run(["rm", "-rf", "--", venv])
        _checked.clear()
        # missing: one line naming the command, nothing submitted, nothing held
        report = _tick(project, Session, clusters)
        assert report.cluster_side == {slave.name: f"cluster-side mpflow on {slave.name} is missing: run "
                                                   f"`mpflow cluster setup {slave.name}`"}
        assert _jobs(Session) == []
        check = CliRunner().invoke(app, ["cluster", "check", "--project", str(root)])
        assert f"FAIL mpflow: cluster-side mpflow on {slave.name} is missing" in check.output

        # set up: the preparation job goes
        result = CliRunner().invoke(app, ["cluster", "setup", slave.name, "--project", str(root)])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1] == (f"[{slave.name}] cluster-side mpflow {build_digest()} ready: "
                                                  f"{venv}/bin/python")
        check = CliRunner().invoke(app, ["cluster", "check", "--project", str(root)])
        assert f"ok   mpflow: build {build_digest()} at {venv}/bin/python; GROMACS " in check.output, check.output
        report = _tick(project, Session, clusters)
        assert report.cluster_side == {}
        assert [(c, st) for c, st, _ in _jobs(Session)] == [(slave.name, "prep")]

        # another build there (one file of its copy differs): one line again
        with open_transport(base) as t:
            tags = posixpath.join(venv, "src", "mpflow", "tags.py")
            assert t.run(["sh", "-c", 'echo "# changed" >> "$1"', "sh", tags]).returncode == 0
        _checked.clear()
        import_models(project, Session, gpa.name, [built[1].path])  # a second model, ready to be prepared
        line = _tick(project, Session, clusters).cluster_side[slave.name]
        assert len(_jobs(Session)) == 1  # nothing more submitted
        assert line.startswith(f"cluster-side mpflow on {slave.name} is another build (") and line.endswith(
            f", here {build_digest()}): run `mpflow cluster setup {slave.name}`")
    finally:
        with ClusterConnections(clusters) as conns:
            ids = [j for j in conns.transport(slave.name).run(["squeue", "-h", "-o", "%i %k"]).stdout.splitlines()
                   if f"GpA-{tag}" in j]
            if ids:
                conns.transport(slave.name).run(["scancel", *[i.split()[0] for i in ids]])
        with open_transport(base) as t:
            t.run(["rm", "-rf", "--", beta.workdir])
