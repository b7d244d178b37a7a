"""``mpflow manage`` (manager ticks from the command line) and ``mpflow status``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from mpflow.clusters.connections import ClusterConnections
from mpflow.commands.common import PROJECT_OPTION_HELP, fail, open_project, project_clusters
from mpflow.manager.status import (
    CELL_KEY,
    cannot_start_lines,
    cluster_lines,
    count_table,
    dual_submission_summary,
    stage_statuses,
    stale_clusters,
    table_lines,
    with_staleness,
)
from mpflow.manager.tick import DirectIO, Manager
from mpflow.project.file import ProjectError
from mpflow.states import ModelStatus, StageState
from mpflow.store.records import ensure_model_stages
from mpflow.store.schema import utcnow
from mpflow.store.sites import site_records


def manage(
    once: bool = typer.Option(False, "--once", help="Run one tick and exit."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    interval: float = typer.Option(None, "--interval", help="Seconds between ticks (default: the project's)."),
) -> None:
    """Run the dual-cluster manager: observe, reconcile, decide and act (the manager flow's code)."""
    project, Session = open_project(project_dir)
    clusters = project_clusters(project)
    manager = Manager(project, Session, clusters)
    interval = interval or project.config.manager.interval_s
    while True:
        t0 = time.monotonic()
        try:
            with ClusterConnections(clusters) as conns:
                report = manager.tick(DirectIO(conns))
        except ProjectError as exc:  # the project's folder on a cluster is another project's
            fail(str(exc), 2)
        typer.echo(f"{time.strftime('%H:%M:%S')} {report.summary()}")
        if once:
            return
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))


def status(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model-stage, in a list."),
    summary: bool = typer.Option(False, "--summary", help="What dual submission bought, per cluster."),
    mutant: str = typer.Option(None, "--mutant", help="Only this mutant."),
    stage: str = typer.Option(None, "--stage", help="Only this stage."),
) -> None:
    """Model-stages per state and per cluster; held and failed-for-good ones with their reasons."""
    project, Session = open_project(project_dir)
    with Session.begin() as s:  # models registered since the last tick get their stage rows
        ensure_model_stages(s, project.config.stage_order())
    with Session() as s:
        if summary:
            data = dual_submission_summary(s, project.cluster_names)
            if as_json:
                typer.echo(json.dumps(data, indent=2))
                return
            _print_summary(data)
            return
        rows = stage_statuses(s, mutant=mutant, stage=stage, stage_order=project.config.stage_order())
        stale = stale_clusters(s, project.cluster_names)
        sites = site_records(s)
    if as_json:
        typer.echo(json.dumps([with_staleness(r.as_dict(), stale) for r in rows], indent=2, default=str))
        return
    if not rows:
        typer.echo("no models yet: import some with `mpflow import MUTANT FILES...`")
        return
    for line in table_lines(*count_table(rows, project.cluster_names, project.config.master_stages(), stale)):
        typer.echo(line)
    typer.echo(CELL_KEY)
    for cluster, since in stale.items():
        typer.echo(since.line(cluster, utcnow()))
    attention, seen = [], set()
    for r in rows:
        if r.state not in (StageState.HELD, StageState.FAILED, StageState.WAITING) or not r.reason:
            continue
        if r.model_status != ModelStatus.OK:  # the model itself waits: say it once, not once per stage
            if r.model in seen:
                continue
            seen.add(r.model)
            attention.append(f"{r.state:>7}  {r.mutant}/{r.group}/{r.name}: {r.reason}")
        else:
            attention.append(f"{r.state:>7}  {r.mutant}/{r.group}/{r.name} {r.stage}: {r.reason}")
    attention += cannot_start_lines(rows)
    if attention:
        typer.echo("")
        for line in attention:
            typer.echo(line)
    gromacs = any(spec.kind == "gromacs" for spec in project.config.stages.values())
    clusters = cluster_lines(sites, _settings_or_none(project), project.cluster_names, utcnow(), gromacs_stages=gromacs)
    if clusters:
        typer.echo("")
        for line in clusters:
            typer.echo(line)


def _settings_or_none(project) -> dict:
    """The project's cluster settings by name when they can be read without a server (dev clusters),
    else none: status never needs a cluster or a Prefect server."""
    if project.config.clusters.source != "dev":
        return {}
    try:
        return {c.name: c for c in project.cluster_settings()}
    except ProjectError:
        return {}


def _print_summary(data: dict) -> None:
    def fmt(s):
        return "-" if not s["n"] else f"median {s['median_s']} s (n={s['n']}, max {s['max_s']} s)"

    for cluster, d in data.items():
        rate = "-" if d["win_rate"] is None else f"{d['win_rate']:.0%}"
        typer.echo(f"{cluster}: {d['jobs']} job(s), won {d['won']} ({rate})")
        typer.echo(f"  queue wait:                    {fmt(d['queue_wait'])}")
        typer.echo(f"  cancelled losers:              {d['cancelled_losers']}")
        typer.echo(f"  loser's wait at cancellation:  {fmt(d['loser_wait_at_cancel'])}")
        typer.echo(f"  core-hours lost (both ran):    {d['core_hours_lost']}")
        typer.echo(f"  winner start → loser cancel:   {fmt(d['winner_start_to_loser_cancel'])}")
