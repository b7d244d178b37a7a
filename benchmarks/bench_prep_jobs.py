"""Preparation as Slurm jobs on the dev clusters against preparation on the orchestrator, one model
at a time (what mpflow did before issue 19), in one run.

Ours: N glycophorin A models (default 8) prepared by ``mpflow run --until prep`` with the stage a Slurm
job on the master (alpha), as many at once as the cluster has room. Baseline: the same models in a
second project whose ``[stages.prep]`` says ``run = "local"`` with ``local_workers = 1``: one after
another on this machine. For each: the wall time, and the orchestrator's own CPU seconds during the
preparation (getrusage of this process and of its children: the baseline's GROMACS runs are its
children; the jobs' are slurmd's, not the orchestrator's).

    .venv/bin/python benchmarks/bench_prep_jobs.py [--models N] [--npt-steps S]

Needs the dev clusters (``scripts/devcluster up``). Timings on a shared 2-core machine vary with the
load of other processes; the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import tomlkit

from mpflow.analysis.structure.helix_builder import build_models
from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.transport import open_transport
from mpflow.manager.pipeline import prepare_locally, run_pipeline
from mpflow.manager.tick import DirectIO, Manager
from mpflow.models.importing import import_models
from mpflow.project.file import Project, init_project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.store.database import open_database


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def make(root: Path, n: int, npt_steps: int, local: bool) -> Project:
    tag = uuid.uuid4().hex[:6]
    project = init_project(root, name=f"benchprep-{tag}", dev=True)

    def edit(doc) -> None:
        prep = {"kind": "protocol", "clusters": "master", "protocol": "prep",
                "params": {"npt_steps": npt_steps, "threads": 1}}
        if local:
            prep.update(run="local", local_workers=1)
        table = tomlkit.table(is_super_table=True)
        table["prep"] = prep
        doc["stages"] = table
        doc["manager"]["interval_s"] = 1

    project.update_file(edit)
    mutant = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    project.add_mutant(mutant)
    project = Project.load(root)
    Session = open_database(project.database_url)
    built = build_models(mutant, k=n, seed=3, out_dir=root / "built")
    import_models(project, Session, mutant.name, [b.path for b in built])
    return project


def prepare(project: Project) -> tuple[float, float, str]:
    Session = open_database(project.database_url)
    clusters = project.cluster_settings()
    manager = Manager(project, Session, clusters)

    def tick(scope):
        with ClusterConnections(clusters) as conns:
            return manager.tick(DirectIO(conns), scope=scope)

    local = project.config.stages["prep"].run == "local"
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = run_pipeline(project, Session, tick=tick, until="prep", interval_s=1.0, timeout_s=3600,
                          prepare=(lambda items: prepare_locally(project, Session, clusters[0], items))
                          if local else None, echo=lambda line: None)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return wall, cpu, result.progress.line()


def clean(project: Project) -> None:
    for c in project.cluster_settings():
        with open_transport(c) as t:
            t.run(["rm", "-rf", "--", c.workdir])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--npt-steps", type=int, default=1000)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-prep-jobs-") as tmp:
        for label, local in (("Slurm jobs on the master", False), ("orchestrator, one at a time", True)):
            project = make(Path(tmp) / ("local" if local else "jobs"), args.models, args.npt_steps, local)
            try:
                wall, cpu, line = prepare(project)
            finally:
                clean(project)
            rows.append((label, wall, cpu))
            print(f"{label:30s} wall {wall:7.1f} s   orchestrator CPU {cpu:7.2f} s   ({line})", flush=True)
    (_, jobs_wall, jobs_cpu), (_, local_wall, local_cpu) = rows
    print(f"{args.models} models: wall {local_wall / jobs_wall:.2f}x faster as jobs; orchestrator CPU "
          f"{100 * jobs_cpu / local_cpu:.1f} % of the one-at-a-time preparation's")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
