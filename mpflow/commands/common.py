"""Helpers shared by the command modules: one-line errors and the dev clusters' settings."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (1: failed, 2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def dev_clusters_or_exit():
    """The dev clusters' settings, or a one-line error and exit code 2 when they are not up."""
    from pydantic import ValidationError

    from mpflow.clusters import validation_message
    from mpflow.devcluster import DevClusterNotFound, dev_cluster_settings

    try:
        return dev_cluster_settings()
    except DevClusterNotFound as exc:
        fail(str(exc), 2)
    except ValidationError as exc:
        fail(f"dev-cluster connection file: {validation_message(exc)}", 2)


PROJECT_OPTION_HELP = "Project folder (default: $MPFLOW_PROJECT, else the current directory)."


def open_project(folder):
    """The project and a session factory on its database, or a one-line error (exit 2)."""
    from mpflow.db import DatabaseError, open_database
    from mpflow.project import Project, ProjectError

    try:
        project = Project.locate(folder)
        return project, open_database(project.database_url)
    except (ProjectError, DatabaseError) as exc:
        fail(str(exc), 2)


def project_clusters(project):
    """The project's cluster settings (master first), or a one-line error (exit 2)."""
    from mpflow.project import ProjectError

    try:
        return project.cluster_settings()
    except ProjectError as exc:
        fail(str(exc), 2)
