"""``mpflow cluster ...``: check a cluster, set up its cluster-side mpflow, log in to a two-factor site (for the
running manager), and save the dev clusters as Prefect blocks."""

from __future__ import annotations

import posixpath
from pathlib import Path

import typer

from mpflow.blocks.cluster import SlurmCluster, load_cluster_block, prefect_api_url
from mpflow.build import build_digest
from mpflow.clusters.check import check_clusters
from mpflow.clusters.side import ClusterSideError, base_workdir, setup_site
from mpflow.clusters.transport import TransportError, open_transport
from mpflow.commands.common import (
    PROJECT_OPTION_HELP,
    dev_clusters_or_exit,
    fail,
    open_project,
    project_clusters,
    terminal_prompter,
)
from mpflow.manager.logins import NoManagerRunning, request_login
from mpflow.project.file import ProjectError
from mpflow.store.schema import utcnow
from mpflow.store.sites import update_site

app = typer.Typer(help="Clusters: check them, set up mpflow's cluster side, log in to a two-factor site, register "
                       "the dev clusters as blocks.", no_args_is_help=True)


def _settings_for(name: str, dev: bool):
    if dev:
        found = {s.name: s for s in dev_clusters_or_exit()}
        if name not in found:
            fail(f"no dev cluster {name!r} (have: {', '.join(found)})", 2)
        return found[name]

    try:
        return load_cluster_block(name)
    except ProjectError as exc:
        fail(str(exc), 2)


@app.command("login")
def login(
    name: str = typer.Argument(..., help="The cluster (its name in the project) whose site asks a second factor."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Log in to a two-factor site once: the running manager asks the site's questions here and keeps the
    login for its ticks, until the site ends it (then the cluster shows "login expired")."""
    project, _ = open_project(project_dir)
    if name not in project.cluster_names:
        fail(f"no cluster {name!r} in the project (clusters: {', '.join(project.cluster_names)})", 2)
    try:
        typer.echo(request_login(project.root, name, terminal_prompter))
    except NoManagerRunning as exc:
        fail(str(exc), 2)
    except (RuntimeError, OSError, ValueError) as exc:
        fail(f"login to {name} failed: {exc}", 1)


@app.command("check")
def check(
    names: list[str] = typer.Argument(None, help="Clusters' block names (dev clusters with --dev), the master "
                                                 "first; none: the project's clusters."),
    dev: bool = typer.Option(False, "--dev", help="Read the dev clusters' connection file instead of blocks."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP + " Used when no NAMES are given."),
) -> None:
    """Connect, show sinfo and the Slurm release, check the workdir is writable, the job scripts render, and
    read each cluster's GROMACS: whether its mdrun reads the .tpr files of the master's grompp (a cluster
    whose mdrun cannot is not sent GROMACS stages). Without NAMES, the project's clusters, and the versions
    are recorded for the manager."""
    Session = None
    sides = None
    if names:
        clusters = [_settings_for(n, dev) for n in names]
    else:
        project, Session = open_project(project_dir)
        sides = project_clusters(project)  # their cluster-side mpflow is the project's to check
        # each cluster's own workdir: the project's folder in it is made by the first import
        clusters = [c.model_copy(update={"workdir": posixpath.dirname(c.workdir)}) for c in sides]
    reports = check_clusters(clusters, sides)
    for report in reports:
        for line in report.lines():
            typer.echo(f"[{report.cluster}] {line}")
    if Session is not None:
        with Session.begin() as s:
            for r in reports:
                if r.gromacs is not None:
                    update_site(s, r.cluster, grompp_version=r.gromacs.grompp, mdrun_version=r.gromacs.mdrun,
                                gromacs_problem=r.gromacs.problem, gromacs_checked=utcnow())
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@app.command("setup")
def setup(
    name: str = typer.Argument(..., help="The project's cluster to set up."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Install this mpflow's cluster side on a cluster, in its own virtual environment
    (<cluster workdir>/.mpflow/venvs/mpflow-<build>), with only what the cluster-side steps need;
    the jobs of this build run it from there. Again after an upgrade of mpflow."""
    project, _ = open_project(project_dir)
    found = {c.name: c for c in project_clusters(project)}
    if name not in found:
        fail(f"no cluster {name!r} in the project (have: {', '.join(found)})", 2)
    settings = found[name]
    base = settings.model_copy(update={"workdir": base_workdir(settings)})
    try:
        with open_transport(base) as transport:
            python = setup_site(transport, settings, echo=typer.echo)
    except (ClusterSideError, TransportError) as exc:
        fail(str(exc).strip().splitlines()[0], 1)
    typer.echo(f"[{name}] cluster-side mpflow {build_digest()} ready: {python}")


@app.command("register-dev")
def register_dev(
    overwrite: bool = typer.Option(True, help="Replace blocks of the same name."),
) -> None:
    """Save each dev cluster as an mpflow-slurm-cluster block named after it."""
    clusters = dev_clusters_or_exit()
    try:
        prefect_api_url()
    except ProjectError as exc:
        fail(str(exc), 2)
    SlurmCluster.register_type_and_schema()
    for s in clusters:
        SlurmCluster(**dict(s)).save(s.name, overwrite=overwrite)
        typer.echo(f"saved block mpflow-slurm-cluster/{s.name}: {s.describe()}")
