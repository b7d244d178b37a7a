"""``mpflow cluster ...``: check a cluster, and save the dev clusters as Prefect blocks."""

from __future__ import annotations

import typer

from mpflow.blocks.cluster import SlurmCluster, load_cluster_block, prefect_api_url
from mpflow.clusters.check import check_cluster
from mpflow.commands.common import dev_clusters_or_exit, fail
from mpflow.project.file import ProjectError

app = typer.Typer(help="Clusters: check them, register the dev clusters as blocks.", no_args_is_help=True)


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


@app.command("check")
def check(
    name: str = typer.Argument(..., help="Name of the cluster's block (or of a dev cluster with --dev)."),
    dev: bool = typer.Option(False, "--dev", help="Read the dev clusters' connection file instead of a block."),
) -> None:
    """Connect, show sinfo, check the workdir is writable and gmx is found."""
    report = check_cluster(_settings_for(name, dev))
    for line in report.lines():
        typer.echo(f"[{report.cluster}] {line}")
    if not report.ok:
        raise typer.Exit(1)


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
