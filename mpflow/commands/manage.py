"""``mpflow manage`` (manager ticks from the command line) and ``mpflow status``."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import typer

from mpflow.clusters.connections import KeptConnections
from mpflow.commands.common import (
    PROJECT_OPTION_HELP,
    check_selection,
    fail,
    open_project,
    project_clusters,
    terminal_prompter,
)
from mpflow.manager.status import (
    CELL_KEY,
    cannot_start_lines,
    cluster_lines,
    count_table,
    project_summary,
    running_lines,
    stage_statuses,
    stale_clusters,
    table_lines,
    with_staleness,
)
from mpflow.errors import CommandError, first_line
from mpflow.manager.logins import LoginDesk
from mpflow.manager.schedule import seconds_to_next_tick
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
    flow_runs: bool = typer.Option(False, "--flow-runs", help="Run each tick as a manager flow run on the project's "
                                   "Prefect server (tasks, events and artifacts in the UI), in this process."),
    login: list[str] = typer.Option([], "--login", help="Log in to this cluster first, answering its second factor "
                                    "here (a 2FA site); the manager then runs unattended until that login expires. "
                                    "Repeat for several."),
) -> None:
    """Run the dual-cluster manager: observe, reconcile, decide and act (the manager flow's code).

    Without --once this is the long-lived manager: it ticks every interval and keeps one connection per
    cluster for its whole life (one login per cluster, not one per tick)."""
    project, Session = open_project(project_dir)
    interval = interval or project.config.manager.interval_s
    if flow_runs:  # the clusters are read at each tick (a block missing or edited: that tick says so)
        from mpflow.deployments.manager_service import serve_manager  # Prefect: only when flow runs are asked for

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `mpflow server stop`: end after the tick in flight
        serve_manager(project.root, interval=interval, once=once, echo=typer.echo, stop=stop)
        return
    clusters = project_clusters(project)
    manager = Manager(project, Session, clusters)
    conns = KeptConnections(clusters)
    by_name = {c.name: c for c in clusters}
    for name in login:
        if name not in by_name:
            fail(f"--login {name}: no such cluster in the project (clusters: {', '.join(by_name)})", 2)
        try:
            conns.login(by_name[name], terminal_prompter)
        except CommandError as exc:
            fail(f"--login {name}: {first_line(exc)}", 1)
        typer.echo(f"logged in to {name}; it stays logged in while this manager runs")
    desk = LoginDesk(project.root, conns, lambda name: by_name[name])
    try:
        desk.start()
    except (OSError, RuntimeError) as exc:
        fail(f"cannot take logins for this project ({first_line(exc)})", 2)
    started = time.monotonic()
    try:
        while True:
            try:
                with conns.for_tick(clusters):
                    report = manager.tick(DirectIO(conns))
            except ProjectError as exc:  # the project's folder on a cluster is another project's
                fail(str(exc), 2)
            typer.echo(f"{time.strftime('%H:%M:%S')} {report.summary()}")
            if once:
                return
            time.sleep(seconds_to_next_tick(started, interval, time.monotonic()))
    finally:
        desk.close()
        conns.close()


def status(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model-stage, in a list (with --summary: "
                                 "the summary as one object)."),
    summary: bool = typer.Option(False, "--summary", help="Per cluster: what dual submission bought and how fast "
                                 "it computes; when the selected models will be through."),
    mutant: str = typer.Option(None, "--mutant", help="Only this mutant."),
    stage: str = typer.Option(None, "--stage", help="Only this stage."),
) -> None:
    """Model-stages per state and per cluster, how far running jobs are; held and failed-for-good ones."""
    project, Session = open_project(project_dir)
    check_selection(project, mutants=[mutant] if mutant else (), stage=stage)
    with Session.begin() as s:  # models registered since the last tick get their stage rows
        ensure_model_stages(s, project.config.stage_order())
    now = utcnow()
    with Session() as s:
        if summary:
            data = project_summary(s, project, mutants=[mutant] if mutant else None, now=now)
            if as_json:
                typer.echo(json.dumps(data, indent=2))
                return
            for line in summary_lines(data):
                typer.echo(line)
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
    for line in status_lines(rows, project, stale, sites, now):
        typer.echo(line)


def status_lines(rows, project, stale, sites, now) -> list[str]:
    """What ``mpflow status`` prints: the count table (with a progress column while jobs run), the
    running jobs, clusters the ticks cannot reach, the model-stages that need a person, and what the
    manager knows of each cluster (query budget, limits, GROMACS)."""
    lines = table_lines(*count_table(rows, project.cluster_names, project.config.master_stages(), stale, now=now,
                                              master_only=project.config.master_only_stages()))
    lines.append(CELL_KEY)
    running = running_lines(rows, now)
    if running:
        lines += ["", "running (steps, simulated time, speed, expected end):", *running]
    if stale:
        lines += ["", *(since.line(cluster, now) for cluster, since in stale.items())]
    attention, seen = [], set()
    for r in rows:
        if r.state not in (StageState.HELD, StageState.FAILED, StageState.WAITING) or not r.reason:
            continue
        if r.model_status != ModelStatus.OK:  # the model itself waits: say it once, not once per stage
            if r.model in seen:
                continue
            seen.add(r.model)
            attention.append(f"{r.state:>7}  {r.tag}: {r.reason}")
        else:
            attention.append(f"{r.state:>7}  {r.tag} {r.stage}: {r.reason}")
    attention += cannot_start_lines(rows)
    if attention:
        lines += ["", *attention]
    gromacs = any(spec.kind == "gromacs" for spec in project.config.stages.values())
    clusters = cluster_lines(sites, _settings_or_none(project), project.cluster_names, now, gromacs_stages=gromacs)
    if clusters:
        lines += ["", *clusters]
    return lines


def _settings_or_none(project) -> dict:
    """The project's cluster settings by name when they can be read without a server (dev clusters),
    else none: status never needs a cluster or a Prefect server."""
    if project.config.clusters.source != "dev":
        return {}
    try:
        return {c.name: c for c in project.cluster_settings()}
    except ProjectError:
        return {}


def summary_lines(data: dict) -> list[str]:
    """``mpflow status --summary`` as text: per cluster, then which is faster, then the forecast."""
    def fmt(s):
        return "-" if not s["n"] else f"median {s['median_s']} s (n={s['n']}, max {s['max_s']} s)"

    lines = []
    for cluster, d in data["clusters"].items():
        rate = "-" if d["win_rate"] is None else f"{d['win_rate']:.0%}"
        lines.append(f"{cluster}: {d['jobs']} job(s), won {d['won']} ({rate})")
        lines.append(f"  queue wait:                    {fmt(d['queue_wait'])}")
        lines.append(f"  cancelled losers:              {d['cancelled_losers']}")
        lines.append(f"  loser's wait at cancellation:  {fmt(d['loser_wait_at_cancel'])}")
        lines.append(f"  core-hours lost (both ran):    {d['core_hours_lost']}")
        lines.append(f"  winner start → loser cancel:   {fmt(d['winner_start_to_loser_cancel'])}")
        lines += speed_lines(d["speed"])
    if data["faster"]:
        lines += ["", "which cluster computes faster:", *(f"  {line}" for line in data["faster"])]
    lines += ["", "forecast: " + data["forecast"]["sentence"]]
    return lines


def speed_lines(rows: list[dict]) -> list[str]:
    """One cluster's speed of finished runs (``mpflow status --summary``'s ``speed``), indented."""
    if not rows:
        return ["  speed of finished runs:        - (no MD run has finished here yet)"]
    lines = ["  speed of finished runs (GROMACS's ns/day):"]
    for r in rows:
        size = f"~{r['atoms']:,} atoms" if r["atoms"] else "size unknown"
        spread_text = f" ({r['ns_per_day_low']:g}-{r['ns_per_day_high']:g})" if r["runs"] > 1 else ""
        lines.append(f"    {r['stage']}, {size}: {r['ns_per_day_median']:g} ns/day{spread_text}, {r['runs']} run(s)")
    return lines
