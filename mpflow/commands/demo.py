"""``mpflow demo``: mpflow's whole modelling pipeline on the dev clusters, small enough for one sitting.

A project (by default ``.mpflow-demo/``) with glycophorin A's TM dimer, wild type and G83I; two
built models of each are imported (checked, measured, classified, their folders made on both
clusters), prepared in a real POPC bilayer as Slurm jobs on the master, and taken through EMMD → PRMD → URMD with
tiny step counts, every job submitted to both dev clusters with the first to run kept. It ends with
the status table, where the results are, what each cluster ran and where the time went, and the
interaction analysis of wild type against G83I. While it runs it prints, beside the stage counts,
each running job's progress from its log (how far, how fast, when it ends); it ends with each
cluster's speed. Every step looks at what is already there, so a second run resumes rather than
starts over.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import typer
from sqlalchemy import select

from mpflow.analysis.structure.helix_builder import build_models
from mpflow.clusters.connections import ClusterConnections
from mpflow.commands.analyse import analyse_project
from mpflow.commands.common import dev_clusters_or_exit, fail
from mpflow.commands.manage import speed_lines
from mpflow.manager.pipeline import run_pipeline
from mpflow.manager.status import (
    CELL_KEY,
    count_table,
    project_summary,
    running_summary,
    stage_statuses,
    table_lines,
)
from mpflow.manager.tick import DirectIO, Manager, TickScope
from mpflow.models.importing import import_models
from mpflow.project.file import PROJECT_FILE, Project, ProjectError, init_project
from mpflow.project.mutants import EXAMPLES
from mpflow.states import FailureKind, JobState, StageState
from mpflow.store.database import DatabaseError, open_database
from mpflow.store.schema import Job, Model, utcnow

DEMO_MUTANTS = ("GpA-WT", "G83I")
MODELS_PER_MUTANT = 2
#: tiny runs: EMMD stops early once converged; PRMD and URMD a few hundred femtoseconds
DEMO_STAGES = {"emmd": {"nsteps": 150}, "prmd": {"nsteps": 100}, "urmd": {"nsteps": 200}}
DEMO_PREP_PARAMS = {"npt_steps": 500, "threads": 1}
DEMO_INTERVAL_S = 2.0


@dataclass
class DemoTimes:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, seconds: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + seconds


def demo_project(folder: Path, echo: Callable[[str], None]) -> Project:
    """The demo's project, created on first use (dev clusters, the two mutants, tiny stages)."""
    if (folder / PROJECT_FILE).exists():
        project = Project.load(folder)
        echo(f"resuming the demo project in {project.root}")
    else:
        # a name of its own: the demo's folder on the dev clusters is claimed by this project, and a demo
        # in another folder (another checkout) must not meet it there
        project = init_project(folder, name=f"demo-{uuid.uuid4().hex[:8]}", dev=True)
        echo(f"created the demo project in {project.root}")

    def tiny(doc):
        for stage, values in DEMO_STAGES.items():
            for key, value in values.items():
                doc["stages"][stage][key] = value
        doc["stages"]["prep"]["params"] = dict(DEMO_PREP_PARAMS)
        doc["manager"]["interval_s"] = DEMO_INTERVAL_S

    project.update_file(tiny)
    for name in DEMO_MUTANTS:
        project.add_mutant(EXAMPLES[name])
    return project


def import_demo_models(project: Project, Session, echo: Callable[[str], None]) -> None:
    with Session() as s:
        have = {m for (m,) in s.execute(select(Model.mutant))}
    for name in DEMO_MUTANTS:
        if name in have:
            continue
        out = project.root / "built" / name
        built = build_models(project.config.mutants[name], k=MODELS_PER_MUTANT, seed=1, out_dir=out)
        report = import_models(project, Session, name, [b.path for b in built])
        echo(f"{name}: built {len(built)} models ({', '.join(b.packing for b in built)})")
        for line in report.lines(groups=True):
            echo(f"  {line}")


def jobs_per_cluster(Session) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with Session() as s:
        for cluster, state, kind in s.execute(select(Job.cluster, Job.state, Job.failure_kind)):
            d = out.setdefault(cluster, {"won": 0, "cancelled": 0, "failed": 0})
            if state == JobState.D:
                d["won"] += 1
            elif kind == FailureKind.CANCELLED_BY_MPFLOW:
                d["cancelled"] += 1
            elif state == JobState.F:
                d["failed"] += 1
    return out


def job_seconds(Session, *, first_stage: str) -> tuple[float, float]:
    """Wall time (started → ended) of the winning jobs, summed: of the preparation stage, of the MD stages."""
    with Session() as s:
        rows = s.execute(select(Job.stage, Job.started, Job.ended).where(Job.state == JobState.D)).all()
    prep = sum((e - b).total_seconds() for st, b, e in rows if b and e and st == first_stage)
    md = sum((e - b).total_seconds() for st, b, e in rows if b and e and st != first_stage)
    return prep, md


def run_demo(folder: Path, *, echo: Callable[[str], None] = print, timeout_s: float = 1800,
             analyse: bool = True) -> int:
    """The whole demo; returns the exit code (0 when every model went through every stage)."""
    t0 = time.monotonic()
    times = DemoTimes()
    project = demo_project(folder, echo)
    Session = open_database(project.database_url)
    clusters = project.cluster_settings()
    t = time.monotonic()
    import_demo_models(project, Session, echo)
    times.add("models (build, check, classify, folders)", time.monotonic() - t)
    manager = Manager(project, Session, clusters)
    shown = {"running": ()}

    def tick(scope: TickScope):
        with ClusterConnections(clusters) as conns:
            report = manager.tick(DirectIO(conns), scope=scope)
        with Session() as s:  # the running jobs' progress from their logs: a line a quarter of the way
            statuses = stage_statuses(s, stage_order=project.config.stage_order())
        key = tuple((r.tag, r.stage, r.progress_cluster, int((r.progress.fraction or 0) * 4), r.progress.ended)
                    if r.progress else (r.tag, r.stage) for r in statuses if r.running)
        if key and key != shown["running"]:
            echo(f"  running: {running_summary(statuses, utcnow())}")
        shown["running"] = key
        return report

    t = time.monotonic()
    result = run_pipeline(project, Session, tick=tick, timeout_s=timeout_s, echo=echo)
    times.add("preparation (Slurm jobs on the master) and MD", time.monotonic() - t)
    now = utcnow()
    with Session() as s:
        rows = stage_statuses(s, stage_order=project.config.stage_order())
        summary = project_summary(s, project, now=now)
    echo("")
    for line in table_lines(*count_table(rows, project.cluster_names, project.config.master_stages(), now=now,
                                                      master_only=project.config.master_only_stages())):
        echo(line)
    echo(CELL_KEY)
    problems = [r for r in rows if r.state in (StageState.HELD, StageState.FAILED)]
    for r in problems:
        echo(f"{r.state}: {r.mutant}/{r.name} {r.stage}: {r.reason}")
    per_cluster = jobs_per_cluster(Session)
    echo("")
    echo("jobs per cluster: " + "; ".join(f"{c}: {d['won']} run to the end, {d['cancelled']} cancelled as the "
                                          f"slower copy, {d['failed']} failed" for c, d in sorted(per_cluster.items())))
    master = clusters[0]
    echo("speed per cluster (GROMACS's own ns/day of each finished MD run; `mpflow status --summary`):")
    for cluster, d in summary["clusters"].items():
        echo(f"{cluster}:")
        for line in speed_lines(d["speed"]):
            echo(line)
    for line in summary["faster"]:
        echo(f"  {line}")
    echo(f"results (the master's copy): {master.workdir}/<mutant>/<group>/<model>/<stage>/ "
         f"(e.g. {master.workdir}/{DEMO_MUTANTS[0]}/)")
    total = time.monotonic() - t0
    prep_s, md_s = job_seconds(Session, first_stage=project.config.stage_order()[0])
    if result.rounds == 1 and not times.seconds.get("membrane build and preparation"):
        echo(f"every stage was already done (this run resumed the project in {total:.0f} s)")
    else:
        local_prep = times.seconds.get("membrane build and preparation", 0.0)
        prep = (f"preparation in POPC {local_prep:.0f} s on this machine" if local_prep
                else f"preparation in POPC as jobs on the master ({prep_s:.0f} s of job time)")
        echo(f"time: {total:.0f} s in all; {prep}; models "
             f"{times.seconds.get('models (build, check, classify, folders)', 0):.0f} s; the MD jobs ran {md_s:.0f} s "
             f"of job time on the {len(clusters)} clusters, which share this machine's 2 cores")
    if result.timed_out or problems:
        echo("demo did not finish: see `mpflow status --project " + str(project.root) + "`")
        return 1
    if analyse:
        report = analyse_project(project, Session, echo=echo)
        echo(f"report of {' vs '.join(DEMO_MUTANTS)}: {report}")
    echo("demo finished: every model through prep, EMMD, PRMD and URMD")
    return 0


def demo(
    project_dir: Path = typer.Option(Path(".mpflow-demo"), "--project", help="The demo's project folder "
                                     "(created on first use; a second run resumes)."),
    timeout: float = typer.Option(1800, help="Give up after this many seconds."),
    analyse: bool = typer.Option(True, "--analyse/--no-analyse", help="End with the interaction analysis."),
) -> None:
    """GpA wild type and G83I through preparation in POPC, EMMD, PRMD and URMD on the dev clusters."""
    dev_clusters_or_exit()
    try:
        code = run_demo(project_dir, echo=typer.echo, timeout_s=timeout, analyse=analyse)
    except (ProjectError, DatabaseError) as exc:
        fail(str(exc), 2)
    raise typer.Exit(code)
