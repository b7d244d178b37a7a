"""A manager test bench: a project on the dev clusters with a small script stage, ticked by hand."""

from __future__ import annotations

import os
import subprocess
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from projects import make_project
from sqlalchemy import select

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.devcluster import dev_cluster_info, find_connection_file
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import open_transport
from mpflow.manager.tick import DirectIO, Manager, TickReport
from mpflow.project.file import Project
from mpflow.slurm.client import SlurmClient
from mpflow.store.database import open_database
from mpflow.store.records import add_model
from mpflow.store.schema import Job, ModelStage
from mpflow.tags import NO_GROUP

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Bench:
    """One project (a fresh mutant name per test), its database and a manager over the dev clusters."""

    root: Path
    clusters: list[ClusterSettings]
    mutant: str
    project: Project = field(init=False)

    def __post_init__(self):
        self.project = Project.load(self.root)
        # as the project sees them: each cluster's workdir plus the project's own folder
        self.clusters = [c.model_copy(update={"workdir": f"{c.workdir}/{self.project.config.project.name}"})
                         for c in self.clusters]
        self.Session = open_database(self.project.database_url)
        self.manager = Manager(self.project, self.Session, self.clusters)
        self.reports: list[TickReport] = []

    def add_models(self, *names: str) -> list[int]:
        with self.Session.begin() as s:
            return [add_model(s, mutant=self.mutant, group=NO_GROUP, name=n) for n in names]

    def tick(self, io_wrapper=None, clusters: list[ClusterSettings] | None = None) -> TickReport:
        clusters = clusters or self.clusters
        manager = self.manager if clusters is self.clusters else Manager(self.project, self.Session, clusters)
        with ClusterConnections(clusters) as conns:
            io = DirectIO(conns)
            report = manager.tick(io_wrapper(io) if io_wrapper else io)
        self.reports.append(report)
        return report

    def tick_until(self, what: str, predicate, timeout: float = 180, interval: float = 1.0, **kw) -> TickReport:
        deadline = time.monotonic() + timeout
        while True:
            report = self.tick(**kw)
            if predicate():
                return report
            if time.monotonic() > deadline:
                jobs = [(j.cluster, j.state, j.failure_kind) for j in self.jobs()]
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; jobs: {jobs}; "
                                     f"stages: {self.stages()}")
            time.sleep(interval)

    def jobs(self, stage: str | None = None) -> list[Job]:
        with self.Session() as s:
            q = select(Job).order_by(Job.id)
            if stage:
                q = q.where(Job.stage == stage)
            return list(s.scalars(q))

    def stages(self) -> dict[tuple[int, str], str]:
        with self.Session() as s:
            return {(r.model_id, r.stage): r.state for r in s.scalars(select(ModelStage))}

    def stage_state(self, model_id: int, stage: str) -> str | None:
        return self.stages().get((model_id, stage))

    def cleanup(self) -> None:
        """Cancel this test's jobs still queued and remove its project's folder (with its marker) on
        every cluster: the project's name is this test's own (``make_project``)."""
        for c in self.clusters:
            ids = [j.slurm_id for j in self.jobs() if j.cluster == c.name and j.slurm_id and j.state in ("PD", "R")]
            with open_transport(c) as t:
                if ids:
                    t.run(["scancel", *ids])
                t.run(["rm", "-rf", "--", c.workdir])


def make_bench(tmp_path: Path, clusters: list[ClusterSettings], stages_toml: str, manager_toml: str = "", *,
               name: str | None = None, database: str | None = None) -> Bench:
    """A bench on ``clusters``; ``database``: the jobs database's URL (default: SQLite in the project)."""
    make_project(tmp_path, name=name, clusters=[c.name for c in clusters], stages=stages_toml,
                 manager=tomllib.loads(manager_toml), database=database)
    return Bench(tmp_path, clusters, f"t{uuid.uuid4().hex[:8]}")


def squeue_tokens(cluster: ClusterSettings) -> list[str]:
    """Names of every job of the dev user on a cluster (for counting copies of one token)."""
    with open_transport(cluster) as t:
        return [s.name for s in SlurmClient(t).poll().states.values()]


class PassThroughIO:
    """A tick's I/O passed through unchanged; tests override one phase to cause a fault."""

    def __init__(self, io):
        self.io = io
        self.connections = io.connections

    def observe_all(self, refs):
        return self.io.observe_all(refs)

    def submit_all(self, requests):
        return self.io.submit_all(requests)

    def cancel_all(self, ids):
        return self.io.cancel_all(ids)

    def advance(self, label, batch):
        return self.io.advance(label, batch)

    def claim_all(self, claims):
        return self.io.claim_all(claims)
    def survey_all(self, since, folders):
        return self.io.survey_all(since, folders)


def set_partition_state(cluster: ClusterSettings, state: str) -> None:
    """``scontrol update PartitionName=<the cluster's partition> State=<state>`` on a dev cluster (UP, DOWN, DRAIN)."""
    conf = dev_cluster_info(cluster.name)["slurm_conf"]
    subprocess.run(["scontrol", "update", f"PartitionName={cluster.partition}", f"State={state}"],
                   env={**os.environ, "SLURM_CONF": conf}, check=True, capture_output=True, timeout=30)


def devcluster_up() -> None:
    """``scripts/devcluster up`` for the connection file the tests use (brings back what a test stopped)."""
    env = {**os.environ, "MPFLOW_DEVCLUSTER_DIR": str(find_connection_file().parent)}
    res = subprocess.run([str(REPO / "scripts" / "devcluster"), "up"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
