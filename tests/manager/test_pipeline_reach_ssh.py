"""End to end from a "workstation": every dev cluster, the master alpha included, reached over SSH
(`mpflow init --dev --reach ssh`), with a `gmx` on this process's PATH that fails the test if anything
here runs GROMACS. One GpA model through preparation (a job on the master), EMMD, PRMD and URMD (grompp
on the master in one cluster-side command per tick, mdrun raced on both clusters) and the analysis (a
job on the master, its results brought back); a grompp error on the remote master holds its model with
GROMACS' own line; the project folder holds no cluster file."""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from md_helpers import tiny_pipeline_stages
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select, update
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.clusters.transport import open_transport
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.records import add_model, ensure_model_stages
from mpflow.store.schema import Job, Model, ModelStage
from mpflow.tags import NO_GROUP, ModelTag

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

TRAP = """#!/bin/sh
echo "$0 $*" >> "{marker}"
echo "gmx trap: GROMACS ran on the orchestrator" >&2
exit 97
"""


class Workstation:
    """A --reach ssh project and the environment of a machine without GROMACS (gmx trapped)."""

    def __init__(self, root: Path, trap_dir: Path):
        self.root = root
        self.project = Project.load(root)
        self.clusters = self.project.cluster_settings()
        self.Session = open_database(self.project.database_url)
        self.marker = trap_dir / "ran"
        self.env = {**os.environ, "PATH": f"{trap_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                                          f"{os.environ.get('PATH', '')}", "MPFLOW_PROJECT": str(root)}

    def mpflow(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mpflow", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def rows(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        with self.Session() as s:
            found = s.execute(select(Model.name, ModelStage.stage, ModelStage.state, ModelStage.reason)
                              .join(Model, Model.id == ModelStage.model_id)).all()
        return {(n, st): (state, reason) for n, st, state, reason in found}

    def on_master(self, *argv: str) -> subprocess.CompletedProcess:
        with open_transport(self.clusters[0]) as t:
            return t.run(list(argv))


@pytest.fixture(scope="module")
def workstation(tmp_path_factory, master, slave):
    root = tmp_path_factory.mktemp("workstation") / "project"
    trap_dir = tmp_path_factory.mktemp("no-gromacs-here")
    tag = uuid.uuid4().hex[:6]
    make_project(root, name=f"ws-{tag}", clusters=[master.name, slave.name], stages=tiny_pipeline_stages(),
                 manager={"interval_s": 1, "backoff_s": [0]}, reach="ssh")
    ws = Workstation(root, trap_dir)
    (trap_dir / "gmx").write_text(TRAP.format(marker=ws.marker))
    (trap_dir / "gmx").chmod(0o755)
    assert all(c.kind == "remote" for c in ws.clusters)
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    ws.project.add_mutant(gpa)
    ws.project = Project.load(root)
    built = build_models(gpa, k=1, seed=3, out_dir=root / "built")
    import_models(ws.project, ws.Session, gpa.name, [b.path for b in built])
    setup = CliRunner().invoke(app, ["cluster", "setup", master.name, "--project", str(root)])
    assert setup.exit_code == 0, setup.output
    run = ws.mpflow("run")
    analysis = ws.mpflow("analyse", timeout=600) if run.returncode == 0 else run
    yield ws, gpa, run, analysis
    with ws.Session() as s:
        active = s.execute(select(Job.cluster, Job.slurm_id).where(Job.state.in_(("PD", "R")))).all()
    for c in ws.clusters:
        with open_transport(c) as t:
            ids = [str(j) for cl, j in active if cl == c.name and j]
            if ids:
                t.run(["scancel", *ids])
            t.run(["rm", "-rf", "--", c.workdir])


def test_one_model_through_every_stage_with_neither_gromacs_nor_cluster_files_here(workstation):
    ws, gpa, run, _ = workstation
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "pipeline finished" in run.stdout
    name = f"{gpa.name}_001"
    rows = ws.rows()
    assert [rows[(name, st)][0] for st in ("prep", "emmd", "prmd", "urmd")] == ["done"] * 4, rows
    assert not ws.marker.exists(), ws.marker.read_text()  # nothing here ran gmx
    # the outputs are on the master, read through its login node
    with ws.Session() as s:
        group = s.scalar(select(Model.group).where(Model.name == name))
    model_dir = ModelTag(gpa.name, group, name).model_dir(ws.clusters[0].workdir)
    with open_transport(ws.clusters[0]) as t:
        for f in ("prep/prep.gro", "prep/topol.top", "emmd/emmd.tpr", "emmd/emmd.tpr.sha256", "emmd/emmd.gro",
                  "prmd/prmd.xtc", "urmd/urmd.gro", "urmd/urmd.xtc"):
            st = t.stat(posixpath.join(model_dir, f))
            assert st is not None and st.size > 0, f
    # ... and none of them here: the project folder has its file, its database and the user's PDBs
    here = sorted(p.name for p in ws.root.iterdir() if not p.name.startswith("."))
    assert set(here) <= {"mpflow.toml", "mpflow.db", "mpflow.db-wal", "mpflow.db-shm", "built", "analysis"}, here
    suffixes = {p.suffix for p in ws.root.rglob("*") if p.is_file()}
    assert not suffixes & {".tpr", ".gro", ".xtc", ".top", ".log"}, suffixes
    with ws.Session() as s:
        jobs = s.execute(select(Job.stage, Job.cluster, Job.state)).all()
    for stage in ("emmd", "prmd", "urmd"):
        assert sorted(j.cluster for j in jobs if j.stage == stage) == sorted(c.name for c in ws.clusters)
        assert sum(1 for j in jobs if j.stage == stage and j.state == "D") == 1


def _prepared_copy(ws: Workstation, gpa: Mutant, name: str) -> tuple[int, str]:
    """A model registered with a copy (on the master) of the prepared model's prep/ and its prep done."""
    first = f"{gpa.name}_001"
    with ws.Session() as s:
        group = s.scalar(select(Model.group).where(Model.name == first))
    good = ModelTag(gpa.name, group, first).model_dir(ws.clusters[0].workdir)
    copy = ModelTag(gpa.name, NO_GROUP, name).model_dir(ws.clusters[0].workdir)
    with ws.Session.begin() as s:
        mid = add_model(s, mutant=gpa.name, group=NO_GROUP, name=name)
    for argv in (["mkdir", "-p", "--", copy], ["cp", "-r", "--", f"{good}/prep", f"{copy}/prep"]):
        assert ws.on_master(*argv).returncode == 0, argv
    with ws.Session.begin() as s:
        ensure_model_stages(s, ws.project.config.stage_order())
        s.execute(update(ModelStage).where(ModelStage.model_id == mid, ModelStage.stage == "prep")
                  .values(state="done"))
    return mid, copy


def test_the_analysis_runs_on_the_master_and_brings_back_the_report(workstation):
    ws, gpa, _, analysis = workstation
    assert analysis.returncode == 0, analysis.stdout[-3000:] + analysis.stderr[-3000:]
    lines = analysis.stdout.splitlines()
    assert lines[0].startswith("analysis of 4 source(s) submitted as job ") and f" on {ws.clusters[0].name} " in lines[0]
    out = ws.root / "analysis"
    assert lines[-1] == f"report: {out / 'report.html'}"
    assert any(ln.startswith("analysed ") and " of 1 model(s) " in ln for ln in lines), lines
    assert {"report.html", "analysis.ipynb", "summary.json", "tables"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"] == 1 and summary["frames"] > 3  # the docked model and the MD stages' frames
    assert not ws.marker.exists()


def test_a_grompp_error_on_the_remote_master_holds_the_model_with_gromacs_own_line(workstation):
    ws, gpa, _, _ = workstation
    mid, bad = _prepared_copy(ws, gpa, "badtop")
    assert ws.on_master("sh", "-c", 'printf "\\n[ molecules ]\\nNOSUCHMOLECULE 3\\n" >> "$1"', "sh",
                        f"{bad}/prep/topol.top").returncode == 0
    run = ws.mpflow("run", "--until", "emmd", "--timeout", "120", timeout=200)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]  # a model held: says which, exit 1
    assert "held " in run.stdout and "badtop emmd: grompp: ERROR 1 [file topol.top" in run.stdout
    state, reason = ws.rows()[("badtop", "emmd")]
    assert state == "held" and reason.startswith("grompp:") and "NOSUCHMOLECULE" in reason and "\n" not in reason
    with ws.Session() as s:
        assert s.scalars(select(Job.id).where(Job.model_id == mid)).all() == []  # nothing was submitted
    assert not ws.marker.exists()


def test_init_reach_ssh_reaches_every_dev_cluster_over_ssh_and_says_the_next_step(tmp_path, master):
    res = CliRunner().invoke(app, ["init", str(tmp_path / "p"), "--dev", "--reach", "ssh"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "  clusters:     alpha, beta (dev, all over SSH)" in lines
    assert lines[-1].startswith("  next:         mpflow cluster setup alpha ")
    settings = Project.load(tmp_path / "p").cluster_settings()
    assert [(s.name, s.kind, s.env) for s in settings] == [("alpha", "remote", {}), ("beta", "remote", {})]
    assert settings[0].port == master.port  # alpha's own login node


@pytest.mark.parametrize("args, line", [
    (["--reach", "ssh"], "--reach: only with --dev (a real cluster's block says how it is reached: kind, host, "
                         "proxy_jump)"),
    (["--dev", "--reach", "sftp"], "--reach 'sftp': expected ssh (or as-set-up, the default)"),
])
def test_init_refuses_a_reach_it_cannot_honour_in_one_line(tmp_path, args, line):
    res = CliRunner().invoke(app, ["init", str(tmp_path / "p"), *args])
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1].endswith(line), res.output
    assert not (tmp_path / "p" / "mpflow.toml").exists()


def test_without_the_master_s_cluster_side_the_grompps_wait_with_one_line_and_nothing_is_held(workstation):
    from mpflow.clusters.connections import ClusterConnections
    from mpflow.manager.tick import DirectIO, Manager, TickScope

    ws, gpa, _, _ = workstation
    mid, _ = _prepared_copy(ws, gpa, "noside")
    elsewhere = "/home/mpflowdev/alpha/mpflow-work/.mpflow/venvs/nowhere/bin/python"
    clusters = [ws.clusters[0].model_copy(update={"mpflow_python": elsewhere}), *ws.clusters[1:]]
    with ClusterConnections(clusters) as conns:
        report = Manager(ws.project, ws.Session, clusters).tick(DirectIO(conns), scope=TickScope("emmd"))
    assert report.cluster_side == {clusters[0].name: f"cluster-side mpflow on {clusters[0].name} is missing: run "
                                                     f"`mpflow cluster setup {clusters[0].name}`"}
    assert ws.rows()[("noside", "emmd")] == ("waiting", None)
    with ws.Session() as s:
        assert s.scalars(select(Job.id).where(Job.model_id == mid)).all() == []
