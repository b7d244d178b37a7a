"""``mpflow analyse`` of a project whose master is remote (beta, real Slurm over SSH): the analysis runs as
one job on the master, where the files are, and its tables, report and notebook come back; its numbers are
those of the same analysis run here on the same models; a second run computes no new frame; without the
cluster-side mpflow it is one line naming `mpflow cluster setup`, and no job is submitted; a job that
fails is one line with its log's last line; the ``analysis`` flow does the same (last: it starts Prefect's
test server for the session).

One project (three docked models, no MD) and one `mpflow cluster setup` for the module."""

from __future__ import annotations

import json
import os
import posixpath
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from mpflow.analysis.frames import FrameSource
from mpflow.analysis.run import AnalysisSettings, run_analysis
from mpflow.analysis.structure.helix_builder import build_models
from mpflow.flows.analysis import analysis_flow
from project_analysis_data import make_project as make_analysis_project
from projects import make_project
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.side import venv_dir
from mpflow.clusters.transport import LocalTransport, open_transport
from mpflow.commands.analyse import analyse_project
from mpflow.models.analysis_job import MASTER_DIR, existing_files, master_folders
from mpflow.models.importing import import_models
from mpflow.models.sources import project_manifest
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.schema import Model
from mpflow.tags import MODEL_FILE, ModelTag
from mpflow.transfers.engine import transfer_tree

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters (beta over SSH)

ANALYSE = ["--executor", "threads"]  # one CPU of beta's two


@pytest.fixture(scope="module")
def remote_project(slave, tmp_path_factory):
    """A project whose only cluster (its master) is beta, three docked models there, and this build's
    cluster-side mpflow set up on beta; the project's folder on beta is removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    root = tmp_path_factory.mktemp("remote") / "p"
    make_project(root, name=f"anal-{tag}", clusters=[slave.name])
    project = Project.load(root)
    Session = open_database(project.database_url)
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    project.add_mutant(gpa)
    project = Project.load(root)
    built = build_models(gpa, k=3, seed=5, out_dir=root / "built")
    import_models(project, Session, gpa.name, [b.path for b in built])
    master = project.cluster_settings()[0]
    setup = CliRunner().invoke(app, ["cluster", "setup", slave.name, "--project", str(root)])
    assert setup.exit_code == 0, setup.output
    try:
        yield project, Session, master
    finally:
        with open_transport(master) as t:
            t.run(["rm", "-rf", "--", master.workdir])


def analyse_docked(root, *extra) -> subprocess.CompletedProcess:
    return analyse(root, "--stage", "docked", *extra)


def analyse(root, *extra) -> subprocess.CompletedProcess:
    """``mpflow analyse`` as the user runs it: its own process, no Prefect server (none of this session's
    PREFECT_* settings, a Prefect home of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MPFLOW_PROJECT"))}
    env["PREFECT_HOME"] = str(Path(root) / ".prefect-home")
    return subprocess.run([str(Path(sys.executable).with_name("mpflow")), "analyse", "--project", str(root), *ANALYSE,
                           *extra], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def first_run(remote_project):
    project, _, _ = remote_project
    return analyse_docked(project.root)


def local_reference(project, Session, master, out):
    """The same analysis run on this machine, on copies of the master's model files."""
    folder = out / "models"
    folder.mkdir(parents=True)
    with Session() as s:
        models = s.execute(select(Model.id, Model.mutant, Model.group, Model.name).order_by(Model.id)).all()
    sources = []
    with open_transport(master) as t:
        for model_id, mutant, group, name in models:
            with t.open_read(posixpath.join(ModelTag(mutant, group, name).model_dir(master.workdir), MODEL_FILE)) as f:
                (folder / f"{model_id}.pdb").write_bytes(f.read())
            sources.append(FrameSource(model_id=model_id, mutant=mutant, group=group, name=name, stage="docked",
                                       topology=folder / f"{model_id}.pdb"))
    return run_analysis(sources, out / "analysis", AnalysisSettings(), executor="threads")


def test_the_analysis_runs_on_the_master_and_its_numbers_are_the_local_ones(remote_project, first_run, tmp_path):
    project, Session, master = remote_project
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert first_run.stderr == ""
    lines = first_run.stdout.splitlines()
    assert re.fullmatch(rf"analysis of 3 source\(s\) submitted as job \d+ on {master.name} \(output there: "
                        rf"{re.escape(master.workdir)}/{MASTER_DIR}/analysis/out\)", lines[0]), lines
    back = next(i for i, ln in enumerate(lines) if ln.startswith("results brought back"))
    assert all(re.fullmatch(rf"analysis job \d+ on {master.name}: (PD|R).* for \d+ s.*", ln) for ln in lines[1:back]), lines
    out = project.root / "analysis"
    assert re.fullmatch(rf"results brought back from {master.name} to {re.escape(str(out))} \(\d+ file\(s\) copied\)",
                        lines[back]), lines
    assert re.fullmatch(r"analysed 3 frame\(s\) of 3 model\(s\) \(3 new\): .*", lines[back + 1]), lines
    assert lines[-1] == f"report: {out / 'report.html'}"
    assert {p.name for p in out.iterdir()} >= {"report.html", "analysis.ipynb", "summary.json", "tables", "csv"}
    assert not (out / "store").exists()  # the frame store stays on the master
    ref = local_reference(project, Session, master, tmp_path)
    for table in ("probabilities", "superbase", "model_counts"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / "tables" / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "analysis" / "tables" / f"{table}.parquet"))
    assert json.loads((out / "summary.json").read_text()) == json.loads(
        (tmp_path / "analysis" / "summary.json").read_text())
    assert ref["frames"] == 3


def test_a_second_run_computes_no_new_frame(remote_project, first_run):
    project, _, _ = remote_project
    assert first_run.returncode == 0, first_run.stderr
    again = analyse_docked(project.root)
    assert again.returncode == 0, again.stderr
    assert re.search(r"^analysed 3 frame\(s\) of 3 model\(s\) \(0 new\)", again.stdout, re.M), again.stdout


def test_without_the_cluster_side_mpflow_it_is_one_line_and_no_job(remote_project, first_run):
    project, _, master = remote_project
    venv = venv_dir(master)
    job_dir = posixpath.join(master.workdir, MASTER_DIR, "analysis", "job")
    with open_transport(master) as t:
        logs = sorted(e.path for e in t.list_files(job_dir) or [])
        assert t.run(["mv", "--", venv, venv + ".aside"]).returncode == 0
        try:
            res = analyse_docked(project.root)
        finally:
            t.run(["mv", "--", venv + ".aside", venv])
        assert sorted(e.path for e in t.list_files(job_dir) or []) == logs  # nothing written, no job
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == (f"error: cluster-side mpflow on {master.name} is missing: run "
                          f"`mpflow cluster setup {master.name}`\n")


def test_a_missing_file_fails_the_job_in_one_line(remote_project, first_run):
    project, Session, master = remote_project
    with Session() as s:
        mutant, group, name = s.execute(select(Model.mutant, Model.group, Model.name).order_by(Model.id)).first()
    model = posixpath.join(ModelTag(mutant, group, name).model_dir(master.workdir), MODEL_FILE)
    with open_transport(master) as t:
        t.rename(model, model + ".aside")
        try:
            res = analyse_docked(project.root)
        finally:
            t.rename(model + ".aside", model)
    assert res.returncode == 1
    assert re.fullmatch(rf"error: analysis job \d+ on {master.name} failed \(exit code 1\): manifest: model 1 "
                        rf"\({name}\) stage docked: file not found: {re.escape(model)}\n", res.stderr), res.stderr


def test_which_files_exist_is_asked_of_the_master_over_ssh(remote_project):
    project, Session, master = remote_project
    with Session() as s:
        mutant, group, name = s.execute(select(Model.mutant, Model.group, Model.name).order_by(Model.id)).first()
    model = posixpath.join(ModelTag(mutant, group, name).model_dir(master.workdir), MODEL_FILE)
    with open_transport(master) as t:
        assert existing_files(t, [model, model + ".xtc", posixpath.dirname(model)]) == {model}


def test_ctrl_c_cancels_the_job_and_says_so(remote_project, first_run, tmp_path):
    project, _, master = remote_project
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MPFLOW_PROJECT"))}
    env["PREFECT_HOME"] = str(tmp_path / ".prefect-home")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("mpflow")), "analyse", "--project", str(project.root),
                             *ANALYSE, "--stage", "docked", "--out", str(tmp_path / "interrupted")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # waits for the submission
        job_id = re.fullmatch(rf"analysis of 3 source\(s\) submitted as job (\d+) on {master.name} .*\n", first)[1]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out.splitlines()[-1] == f"interrupted: cancelled analysis job {job_id} on {master.name}" and err == ""
    with open_transport(master) as t:
        listed = t.run(["squeue", "--noheader", "--states=all", "--jobs", job_id, "--format=%T"]).stdout.split()
    assert listed in ([], ["CANCELLED"]), listed  # cancelled (or already forgotten by Slurm)


def test_analyse_project_the_demo_ends_with_runs_it_on_the_master(remote_project, first_run, tmp_path):
    project, Session, master = remote_project
    lines = []
    report = analyse_project(project, Session, echo=lines.append, out_dir=tmp_path / "demo", executor="threads")
    assert report == tmp_path / "demo" / "report.html" and report.is_file()
    assert lines[0] == "note: no emmd/prmd/urmd stage is done yet: analysing the 3 docked model(s) only"
    assert lines[1].startswith("analysis of 3 source(s) submitted as job ") and lines[1].endswith(
        f"on {master.name} (output there: {master_folders(master, tmp_path / 'demo', project.root).out_dir})")
    assert lines[-1].startswith("analysed 3 frame(s) of 3 model(s) (3 new): ")


def test_the_analysis_flow_runs_it_on_the_master_too(prefect_api, remote_project, first_run, tmp_path):
    project, _, master = remote_project
    summary = analysis_flow(project=str(project.root), out_dir=str(tmp_path / "flow"), stages=["docked"],
                            executor="threads")
    assert (summary["frames"], summary["new_frames"]) == (3, 3)  # another output folder: a store of its own
    assert summary["report"] == str(tmp_path / "flow" / "report.html") and (tmp_path / "flow" / "report.html").is_file()
    assert summary["master_out_dir"].startswith(f"{master.workdir}/{MASTER_DIR}/flow-")


@pytest.mark.slow  # the session's real system (GROMACS) takes ~1.5 min to build, if no test built it yet
def test_md_stages_on_the_master_are_analysed_there_as_here(real_system, remote_project, tmp_path):
    """The real system's model tree (EMMD, PRMD, URMD of four models) on beta, the master of a project
    of its own: the job reads its trajectories there; the tables are those of the same analysis here."""
    _, _, beta = remote_project  # this build's cluster side is set up on beta
    project, Session = make_analysis_project(tmp_path / "md", name=f"realsys-{uuid.uuid4().hex[:6]}",
                                             clusters=(beta.name,))
    master = project.cluster_settings()[0]
    here = LocalTransport(ClusterSettings(name="here", kind="local", workdir=str(real_system.workdir)))
    try:
        with open_transport(master) as t:
            transfer_tree(here, str(real_system.workdir), t, master.workdir, include=["*/model.pdb", "*.gro", "*.xtc"])
        res = analyse(project.root)
        assert res.returncode == 0, res.stderr
        assert re.search(r"^analysed 96 frame\(s\) of 4 model\(s\) \(96 new\)", res.stdout, re.M), res.stdout
        local = project_manifest(project, Session, master_workdir=real_system.workdir)  # the same rows, here
        assert sum(s.trajectory is not None for s in local) == 8  # PRMD and URMD wrote trajectories
        run_analysis(local, tmp_path / "here", AnalysisSettings(), executor="threads")
        for table in ("probabilities", "superbase", "geometry"):
            pd.testing.assert_frame_equal(pd.read_parquet(project.root / "analysis" / "tables" / f"{table}.parquet"),
                                          pd.read_parquet(tmp_path / "here" / "tables" / f"{table}.parquet"))
    finally:
        with open_transport(master) as t:
            t.run(["rm", "-rf", "--", master.workdir])
