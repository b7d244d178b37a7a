"""``mpflow init``: create a project folder with its project file and database."""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import fail
from mpflow.project.file import ProjectError, init_project
from mpflow.redaction import redact_url
from mpflow.store.database import DatabaseError, open_database


def cluster_names_option(text: str | None) -> list[str] | None:
    """``--clusters a,b,c`` as a list (spaces around names dropped); None when not given."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        fail("--clusters: name at least one cluster, the master first (e.g. alpha,beta,gamma)", 2)
    return names


def init(
    folder: Path = typer.Argument(Path("."), help="Project folder (created if missing)."),
    dev: bool = typer.Option(False, "--dev", help="Use the dev clusters (alpha as master, beta as slave)."),
    name: str = typer.Option(None, "--name", help="Project name (default: the folder's name)."),
    clusters: str = typer.Option(None, "--clusters", help="Cluster names, comma-separated, the master first "
                                 "(e.g. --dev --clusters alpha,beta,gamma); any number."),
    reach: str = typer.Option(None, "--reach", show_default=False,
                              help="With --dev: ssh reaches every dev cluster over SSH, alpha included, as a "
                                   "workstation reaches real clusters (no cluster files on this machine's "
                                   "project side); default: alpha on this machine, the others over SSH."),
) -> None:
    """Create a project: mpflow.toml (clusters, mutants, stages, manager) and its jobs database."""
    names = cluster_names_option(clusters)
    if reach is not None and reach not in ("ssh", "as-set-up"):
        fail(f"--reach {reach!r}: expected ssh (or as-set-up, the default)", 2)
    try:
        project = init_project(folder, name=name, dev=dev, clusters=names, reach=reach)
        open_database(project.database_url)
    except (ProjectError, DatabaseError) as exc:
        fail(str(exc), 2)
    typer.echo(f"created project {project.config.project.name!r} in {project.root}")
    typer.echo(f"  project file: {project.file}")
    typer.echo(f"  database:     {redact_url(project.database_url)}")
    over = ", all over SSH" if project.config.clusters.reach == "ssh" else ""
    typer.echo(f"  clusters:     {', '.join(project.cluster_names)} ({project.config.clusters.source}{over})")
    if project.config.clusters.reach == "ssh":
        typer.echo(f"  next:         mpflow cluster setup {project.cluster_names[0]} (mpflow's cluster side on the "
                   "master: its grompp and preparation jobs run it)")
