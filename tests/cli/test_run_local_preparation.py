"""``mpflow run`` preparing on this machine (``run = "local"``), as a user meets it (issue 24, items 8 and 9):
Ctrl-C while a model prepares ends the step's whole process group, the model waits again (not held), the run
says what it stopped and what it left, exits 130 without a traceback, and a second run resumes; two runs at
once prepare each model once (one holds the local-preparation lease, the other waits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from projects import make_project
from sqlalchemy import select

from mpflow.analysis.structure.helix_builder import build_models
from mpflow.clusters.transport import open_transport
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.schema import ModelStage

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters (the master's folders)

STAGES = """
[stages.prep]
kind = "protocol"
clusters = "master"
protocol = "prep"
run = "local"
params = { npt_steps = 200, threads = 1 }
"""


def _processes_in(folder: Path) -> list[int]:
    """Pids of the processes whose working directory is inside ``folder`` (the preparation's steps)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}/"):
            pids.append(int(entry.name))
    return pids


def _stage_states(project: Project) -> list[str]:
    with open_database(project.database_url)() as s:
        return list(s.scalars(select(ModelStage.state).where(ModelStage.stage == "prep")))


def _project_with_one_model(tmp_path: Path, master) -> tuple[Project, str, list[str], dict]:
    root = tmp_path / "p"
    tag = uuid.uuid4().hex[:6]
    project = make_project(root, name=f"local-{tag}", clusters=[master.name], stages=STAGES,
                           manager={"interval_s": 1, "backoff_s": [0]})
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    project.add_mutant(gpa)
    built = build_models(gpa, k=1, seed=3, out_dir=tmp_path / "built")
    import_models(project, open_database(project.database_url), gpa.name, [b.path for b in built])
    [workdir] = [c.workdir for c in project.cluster_settings()]
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MPFLOW_PROJECT")}
    return project, workdir, [sys.executable, "-m", "mpflow", "run", "--project", str(root)], env


def test_two_runs_at_once_prepare_the_model_once(tmp_path, master):
    project, workdir, argv, env = _project_with_one_model(tmp_path, master)
    try:
        runs = [subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        outs = [r.communicate(timeout=900) for r in runs]
        for r, (out, err) in zip(runs, outs):
            assert r.returncode == 0, out + err
        preparing = [out for out, _ in outs if any(x.startswith("preparing ") for x in out.splitlines())]
        waited = [out for out, _ in outs if "another `mpflow run` is preparing this project's models" in out]
        assert len(preparing) == 1 and len(waited) == 1, outs
        assert _stage_states(project) == ["done"]
    finally:
        with open_transport(project.cluster_settings()[0]) as t:
            t.run(["rm", "-rf", "--", workdir])


def test_ctrl_c_while_preparing_ends_the_step_and_a_rerun_resumes(tmp_path, master):
    project, workdir, argv, env = _project_with_one_model(tmp_path, master)
    try:
        # its own session: the SIGINT goes to its process group, as a terminal's Ctrl-C does
        run = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
        wait_until("a preparation step running in the model's folder", lambda: _processes_in(Path(workdir)),
                   timeout=240, interval=0.5)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 130, out + err
        assert "Traceback" not in err, err
        [line] = [x for x in out.splitlines() if x.startswith("interrupted: ")]
        assert "preparations on this machine were ended and their models wait again" in line
        assert "no job left in any queue" in line and line.endswith("`mpflow run` again resumes")
        wait_until("no step left running", lambda: not _processes_in(Path(workdir)), timeout=30, interval=0.5)
        assert _stage_states(project) in (["waiting"], ["ready"])  # not held: prepared again by the next run

        again = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _stage_states(project) == ["done"]
    finally:
        with open_transport(project.cluster_settings()[0]) as t:
            t.run(["rm", "-rf", "--", workdir])
