"""``mpflow backup``: copy finished stages' outputs to a backup location, verified."""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import (
    PROJECT_OPTION_HELP,
    fail,
    open_project,
    project_clusters,
)
from mpflow.transfers.backup import back_up, destination_settings, done_stages


def backup(
    destination: str = typer.Argument(..., help="A cluster of the project, or an absolute folder here."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    stage: list[str] = typer.Option(None, "--stage", help="Only these stages (repeatable)."),
    mutant: list[str] = typer.Option(None, "--mutant", help="Only these mutants (repeatable)."),
) -> None:
    """Copy every finished stage's folder to DESTINATION with size and sha256 checked."""
    project, Session = open_project(project_dir)
    clusters = project_clusters(project)
    try:
        dest = destination_settings(destination, clusters)
    except ValueError as exc:
        fail(str(exc), 2)
    items = done_stages(Session, stages=stage or None, mutants=mutant or None)
    if not items:
        typer.echo("nothing to back up: no finished stage matches")
        return
    result = back_up(Session, clusters[0], dest, items)
    typer.echo(f"backed up {result.items} stage(s) to {dest.workdir}: {result.files_copied} file(s) copied "
               f"({result.bytes_copied / 1e6:.1f} MB), {result.files_identical} already there")
    for line in result.failed:
        typer.echo(f"error: {line}", err=True)
    if result.failed:
        raise typer.Exit(1)
