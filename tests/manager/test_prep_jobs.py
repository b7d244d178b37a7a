"""Preparation as Slurm jobs on the dev clusters, moved by the manager tick like every stage: `--until`
submits nothing past its stage, a bad structure is held with the step's own line (not retried), and a
preparation job killed on its node is resubmitted within its budget."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from md_helpers import tiny_pipeline_stages
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.devcluster import dev_cluster_info
from mpflow.clusters.transport import open_transport
from mpflow.manager.pipeline import run_pipeline
from mpflow.manager.tick import DirectIO, Manager, TickScope
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database
from mpflow.store.schema import Job, Model, ModelStage

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGES = tiny_pipeline_stages(prep_threads=1, emmd_steps=100)


class PrepRun:
    def __init__(self, root: Path):
        self.project = Project.load(root)
        self.clusters = self.project.cluster_settings()
        self.Session = open_database(self.project.database_url)
        self.manager = Manager(self.project, self.Session, self.clusters)

    def tick(self, scope: TickScope | None = None):
        with ClusterConnections(self.clusters) as conns:
            return self.manager.tick(DirectIO(conns), scope=scope)

    def pipeline(self, until: str, timeout_s: float = 600):
        return run_pipeline(self.project, self.Session, tick=self.tick, until=until, interval_s=1.0,
                            timeout_s=timeout_s, echo=lambda line: None)

    def stages(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        with self.Session() as s:
            rows = s.execute(select(Model.name, ModelStage.stage, ModelStage.state, ModelStage.reason)
                             .join(Model, Model.id == ModelStage.model_id)).all()
        return {(n, st): (state, reason) for n, st, state, reason in rows}

    def jobs(self, name: str | None = None):
        q = select(Model.name, Job.stage, Job.cluster, Job.attempt, Job.state, Job.failure_kind, Job.counted,
                   Job.slurm_id).join(Model, Model.id == Job.model_id).order_by(Job.id)
        if name:
            q = q.where(Model.name == name)
        with self.Session() as s:
            return [tuple(r) for r in s.execute(q).all()]

    def queued_ids(self) -> dict[str, set[str]]:
        """Every job each cluster still lists (squeue)."""
        out = {}
        for c in self.clusters:
            with open_transport(c) as t:
                res = t.run(["squeue", "-h", "-o", "%i"])
            out[c.name] = set(res.stdout.split())
        return out


@pytest.fixture(scope="module")
def prep(tmp_path_factory, master, slave):
    root = tmp_path_factory.mktemp("prepjobs")
    tag = uuid.uuid4().hex[:6]
    make_project(root, name=f"prepjobs-{tag}", clusters=[master.name, slave.name], stages=STAGES,
                 manager={"interval_s": 1, "backoff_s": [0]})
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    # far longer than the bilayer is thick: the embedding step refuses it
    long = Mutant(name=f"Long-{tag}", sequence="L" * 64, oligomer=2, first_resid=1)
    run = PrepRun(root)
    for m, k in ((gpa, 3), (long, 1)):
        run.project.add_mutant(m)
        built = build_models(m, k=k, seed=3, out_dir=root / "built" / m.name)
        import_models(run.project, run.Session, m.name, [b.path for b in built])
    run = PrepRun(root)
    yield run, gpa, long
    for c in run.clusters:
        with open_transport(c) as t:
            t.run(["rm", "-rf", "--", c.workdir])


def test_a_killed_preparation_job_is_resubmitted_within_its_budget(prep, master):
    run, gpa, _ = prep
    name = f"{gpa.name}_003"
    conf = dev_cluster_info(master.name)["slurm_conf"]
    deadline = time.monotonic() + 300
    killed = None
    while killed is None:  # tick (preparation only) until its job runs, then kill it on its node
        assert time.monotonic() < deadline, run.jobs(name)
        run.tick(TickScope("prep"))
        running = [j for j in run.jobs(name) if j[1] == "prep" and j[4] == "R"]
        if running:
            killed = running[0][7]
            subprocess.run(["scancel", "--signal=KILL", "--full", killed],
                           env={"SLURM_CONF": conf, "PATH": "/usr/bin:/bin"}, check=True)
    result = run.pipeline(until="prep", timeout_s=400)
    assert not result.timed_out
    jobs = [j for j in run.jobs(name) if j[1] == "prep"]
    assert [(j[3], j[4]) for j in jobs] == [(1, "F"), (2, "D")], jobs
    assert jobs[0][7] == killed
    assert run.stages()[(name, "prep")][0] == "done"


def test_until_emmd_submits_nothing_past_it_and_leaves_nothing_queued(prep, master, slave):
    run, gpa, long = prep
    result = run.pipeline(until="emmd")
    assert not result.timed_out
    rows = run.stages()
    for i in (1, 2, 3):
        name = f"{gpa.name}_00{i}"
        assert [rows[(name, st)][0] for st in ("prep", "emmd", "prmd", "urmd")] == ["done", "done", "waiting",
                                                                                    "waiting"]
    jobs = run.jobs()
    assert {j[1] for j in jobs} == {"prep", "emmd"}, jobs  # not one job of PRMD or URMD
    assert {j[2] for j in jobs if j[1] == "prep"} == {master.name}  # prep: the master only
    assert not [j for j in jobs if j[4] in ("PD", "R", "SUBMITTING")], jobs
    ours = {c: {j[7] for j in jobs if j[2] == c} for c in (master.name, slave.name)}
    queued = run.queued_ids()
    assert {c: ours[c] & queued[c] for c in ours} == {master.name: set(), slave.name: set()}


def test_a_bad_structure_is_held_with_the_steps_own_line_and_not_retried(prep, master):
    run, _, long = prep
    name = f"{long.name}_001"
    state, reason = run.stages()[(name, "prep")]
    assert state == "held" and reason.startswith("step embed: the protein is") and "long" in reason, reason
    assert "\n" not in reason
    jobs = [j for j in run.jobs(name) if j[1] == "prep"]
    assert [(j[2], j[4], j[5], j[6]) for j in jobs] == [(master.name, "F", "input_refused", False)]
