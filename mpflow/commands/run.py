"""``mpflow run``: the modelling pipeline from the command line (preparation, then manager ticks)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from mpflow.clusters.connections import ClusterConnections
from mpflow.commands.common import (
    PROJECT_OPTION_HELP,
    check_selection,
    fail,
    open_project,
    project_clusters,
)
from mpflow.manager.pipeline import prepare_locally, run_pipeline
from mpflow.manager.tick import DirectIO, Manager, TickScope
from mpflow.project.file import ProjectError
from mpflow.states import EventKind
from mpflow.store.records import active_jobs, list_models


def run(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    mutant: list[str] = typer.Option(None, "--mutant", help="Only these mutants (repeatable; default: all)."),
    until: str = typer.Option(None, "--until", help="Stop after this stage (default: the last one)."),
    interval: float = typer.Option(None, "--interval", help="Seconds between manager ticks (default: the project's)."),
    timeout: float = typer.Option(None, "--timeout", help="Give up after this many seconds."),
) -> None:
    """Run the models through every stage (preparation included) as jobs on the clusters."""
    project, Session = open_project(project_dir)
    check_selection(project, mutants=mutant, stage=until)
    clusters = project_clusters(project)
    manager = Manager(project, Session, clusters)

    def say_held(transitions) -> None:
        held = [t for t in transitions if t.kind is EventKind.HELD]
        if held:
            names = {m.id: f"{m.mutant}/{m.group}/{m.name}" for m in list_models(Session)}
            for t in held:
                typer.echo(f"  held {names.get(t.model_id, t.model_id)} {t.stage}: {t.why} (`mpflow release` "
                           "once it is fixed)")

    shown: set[str] = set()

    def tick(scope: TickScope):
        with ClusterConnections(clusters) as conns:
            report = manager.tick(DirectIO(conns), scope=scope)
        for cluster, why in report.unreachable.items():
            typer.echo(f"  {cluster} unreachable this tick: {why}")
        for line in sorted(set(report.cluster_side.values()) - shown):
            typer.echo(f"  {line}")  # once per run: the command that fixes it is in the line
            shown.add(line)
        say_held(report.transitions)
        return report

    def prepare(items):
        say_held(prepare_locally(project, Session, clusters[0], items))

    try:
        result = run_pipeline(project, Session, tick=tick,
                              prepare=prepare,
                              mutants=mutant or None, until=until, interval_s=interval, timeout_s=timeout,
                              echo=typer.echo)
    except ProjectError as exc:  # the project's folder on a cluster is another project's
        fail(str(exc), 2)
    except KeyboardInterrupt:
        typer.echo(interrupted_lines(Session))
        raise typer.Exit(130) from None
    held = sum(c.get("held", 0) + c.get("failed", 0) for per in result.progress.counts.values()
               for c in per.values())
    typer.echo(f"pipeline {'timed out' if result.timed_out else 'finished'} after {result.seconds:.0f} s; "
               f"`mpflow status` shows every model-stage")
    if result.timed_out or held:
        raise typer.Exit(1)


def interrupted_lines(Session) -> str:
    """What a Ctrl-C of ``mpflow run`` stopped and what it left: preparations on this machine are ended (their
    models wait again); jobs already in the clusters' queues run on, and a new run takes them up."""
    with Session() as s:
        jobs = active_jobs(s)
    per = Counter(job.cluster for job in jobs)
    left = (f"{len(jobs)} job(s) left in the clusters' queues ({', '.join(f'{c} {n}' for c, n in per.items())}): "
            "they run on, `mpflow status` lists them" if jobs else "no job left in any queue")
    return ("interrupted: nothing more is submitted; preparations on this machine were ended and their models "
            f"wait again; {left}; `mpflow run` again resumes")
