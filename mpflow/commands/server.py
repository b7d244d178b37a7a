"""``mpflow server start|stop|status``: the project's own Prefect server, work pool, deployments and worker."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import typer

from mpflow.blocks.cluster import NO_SERVER
from mpflow.commands.common import PROJECT_OPTION_HELP, fail, user_api_url
from mpflow.deployments.processes import ServerError, StatePaths
from mpflow.deployments.server import server_status, start_server, stop_server
from mpflow.project.file import Project, ProjectError

app = typer.Typer(help="The project's Prefect server: start it (with a worker and every deployment), "
                       "stop it, see what runs.", no_args_is_help=True)


def _project(folder: Path | None):
    try:
        return Project.locate(folder)
    except ProjectError as exc:
        fail(str(exc), 2)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (shorter lines)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _project_option(project) -> str:
    here = Path.cwd().resolve()
    return "" if project.root == here else f" --project {_shown(project.root)}"


@app.command("start")
def start(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    port: int = typer.Option(None, "--port", help="Port of the server (default: 4200 if free, else any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the server listens on."),
    database: str = typer.Option(None, "--database-url", "--database", envvar="MPFLOW_PREFECT_DATABASE",
                                 help="PostgreSQL URL for Prefect's own database, e.g. postgresql+asyncpg://USER@HOST"
                                      "/prefect (default: SQLite under <project>/.mpflow/prefect/)."),
    api_url: str = typer.Option(None, "--api-url",
                                help="An existing Prefect server's API URL: start no server, set the project up "
                                     "there and start a worker (default: $PREFECT_API_URL, when you set it)."),
    timeout: float = typer.Option(180, "--timeout", help="Seconds to wait for the server and the worker."),
) -> None:
    """Start a Prefect server for the project (or use an existing one), its work pool, blocks and
    deployments, and a worker."""
    project = _project(project_dir)
    try:
        report = start_server(project, host=host, port=port, database_url=database,
                              api_url=api_url or user_api_url(), timeout_s=timeout,
                              progress=lambda line: typer.echo(line))
    except ServerError as exc:
        fail(str(exc), 1)
    state, paths = report.state, StatePaths(project.root)
    again = _project_option(project)
    name = project.config.project.name
    if report.already_running:
        where = "uses the Prefect server" if state.external else "already runs"
        typer.echo(f"the Prefect server of project {name!r} {where} at {state.url}")
    else:
        setup = report.setup
        typer.echo(f"project {name!r} is set up on the Prefect server at {state.url} (not started by mpflow)"
                   if state.external else f"Prefect server of project {name!r} is up")
        typer.echo(f"  database:    {state.database}")
        typer.echo(f"  work pool:   {setup.work_pool} (process{', created' if setup.work_pool_created else ''}), "
                   "worker running")
        typer.echo(f"  blocks:      {', '.join(setup.blocks) or '-'}")
        for d in setup.deployments:
            typer.echo(f"  deployment:  {d.describe()}")
        for line in setup.automations:
            typer.echo(f"  notify:      {line}")
        if setup.orphans_released:
            typer.echo(f"  released:    {setup.orphans_released} run(s) the previous server left running (Crashed)")
        typer.echo(f"  logs:        {_shown(paths.logs)}/")
    typer.echo(f"  UI:          {state.url}")
    typer.echo(f"  from a shell: export PREFECT_API_URL={state.api_url}")
    typer.echo(f"  stop:        mpflow server stop{again}" + ("  (stops the worker only)" if state.external else ""))


@app.command("stop")
def stop(project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP)) -> None:
    """Stop the worker and the server this project's `mpflow server start` started (nothing else: of
    an existing server, only the worker)."""
    for line in stop_server(_project(project_dir)):
        typer.echo(line)


@app.command("status")
def status(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Say what runs: the server, the worker, the deployments and the manager's last runs."""
    project = _project(project_dir)
    report = server_status(project)
    if as_json:
        out = {"running": report.state is not None, "healthy": report.healthy,
               "url": report.state.url if report.state else None, "worker_running": report.worker_running,
               "manager_running": report.manager_running,
               "deployments": [asdict(d) for d in report.deployments or []],
               "manager_runs": [asdict(r) for r in report.manager_runs or []]}
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    if report.state is None:
        typer.echo(NO_SERVER)
        raise typer.Exit(3)
    s = report.state
    health = "healthy" if report.healthy else "NOT answering /api/health"
    if s.external:
        typer.echo(f"server: {s.url} (not started by mpflow; {health})")
    else:
        typer.echo(f"server: {s.url} (pid {s.server_pid}, since {s.started}, {health}; database {s.database})")
    typer.echo(f"worker: {'running' if report.worker_running else 'NOT running'} on work pool {s.work_pool}"
               + (f" (pid {s.worker_pid})" if report.worker_running else ""))
    typer.echo(f"manager: {'running' if report.manager_running else 'NOT running'} (the long-lived process that runs "
               "the scheduled manager's ticks and keeps the cluster connections)")
    for d in report.deployments or []:
        typer.echo(f"deployment: {d.describe()}")
    if report.manager_runs:
        typer.echo("last manager runs:")
        for r in report.manager_runs:
            start = r.start.astimezone().strftime("%H:%M:%S") if r.start else "-"
            end = r.end.astimezone().strftime("%H:%M:%S") if r.end else "-"
            typer.echo(f"  {start} → {end}  {r.state:<10} {r.name}")
    if os.environ.get("PREFECT_API_URL") not in (None, s.api_url):
        typer.echo(f"note: PREFECT_API_URL in this shell points elsewhere ({os.environ['PREFECT_API_URL']})")
