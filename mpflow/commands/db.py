"""``mpflow db backup|restore``: the project's jobs database copied to a file, and back."""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import PROJECT_OPTION_HELP, fail
from mpflow.deployments.processes import StatePaths
from mpflow.project.file import Project, ProjectError
from mpflow.redaction import redact_url
from mpflow.store.backups import (
    BackupError,
    BackupInfo,
    backup_database,
    default_name,
    engine_of,
    restore_database,
)
from mpflow.store.database import DatabaseError, head_revision

app = typer.Typer(help="The project's jobs database: back it up to a file, restore it from one.",
                  no_args_is_help=True)


def _project(folder: Path | None) -> Project:
    try:
        return Project.locate(folder)
    except ProjectError as exc:
        fail(str(exc), 2)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _describe(info: BackupInfo) -> str:
    newest = f"newest record {info.newest:%Y-%m-%d %H:%M:%S} UTC" if info.newest else "no records"
    return f"{info.engine}, {info.models} model(s), {info.jobs} job(s), {newest}"


@app.command("backup")
def backup(
    path: Path = typer.Argument(..., help="The file to write (never overwritten), or a folder to write "
                                          "<project>-jobs-<UTC time>.db (.pgdump for PostgreSQL) in."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Copy the jobs database to a file while the manager runs (SQLite's online backup; pg_dump)."""
    project = _project(project_dir)
    url = project.database_url
    try:
        dest = path / default_name(project.config.project.name, engine_of(url)) if path.is_dir() else path
        info = backup_database(url, dest)
    except (BackupError, DatabaseError) as exc:
        fail(str(exc), 1)
    typer.echo(f"backed up {redact_url(url)} ({_describe(info)}) to {dest} ({_size(info.size)})")


@app.command("restore")
def restore(
    path: Path = typer.Argument(..., help="A file `mpflow db backup` wrote, of this project's database engine."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    wait: float = typer.Option(120, "--wait", help="Seconds to wait for a running manager tick to finish."),
) -> None:
    """Replace the jobs database with a backup, keeping the one it replaces; the next tick first finds the jobs submitted since the backup on every cluster."""  # noqa: E501
    project = _project(project_dir)
    url = project.database_url
    folder = StatePaths(project.root).backups
    try:
        folder.mkdir(parents=True, exist_ok=True)
        keep = folder / f"before-restore-{default_name(project.config.project.name, engine_of(url))}"
        report = restore_database(url, path, clusters=project.cluster_names, keep=keep, wait_s=wait)
    except (BackupError, DatabaseError) as exc:
        fail(str(exc), 1)
    except OSError as exc:
        fail(f"{folder}: {exc.strerror}", 1)
    since = f"{report.since:%Y-%m-%d %H:%M:%S} UTC" if report.since else "the start"
    schema = (f"schema {report.revision}, the newest" if report.revision == head_revision()
              else f"schema {report.revision}, migrated to {head_revision()}")
    typer.echo(f"restored {redact_url(url)} from {path} ({schema})")
    typer.echo(f"  the database as it was: {report.kept.path} ({_describe(report.kept)})")
    typer.echo(f"  the next manager tick finds again the jobs submitted since {since} on "
               f"{', '.join(report.clusters)}, and submits nothing until it has asked every one of them")
