"""``mpflow demo``: run the demo pipeline on the dev clusters (see ``mpflow.demo``)."""

from __future__ import annotations

import typer

from mpflow.cli import app


@app.command()
def demo(
    timeout: float = typer.Option(300, help="Seconds to wait for the demo jobs."),
) -> None:
    """Run the demo pipeline on the dev clusters (start them with `scripts/devcluster up`)."""
    from mpflow.demo import run_demo
    from mpflow.devcluster import DevClusterNotFound, dev_cluster_settings
    from mpflow.slurm import JobState

    try:
        clusters = dev_cluster_settings()
    except DevClusterNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    jobs = run_demo(clusters, timeout_s=timeout, echo=typer.echo)
    failed = [j for j in jobs if j.state is not JobState.D]
    if failed:
        typer.echo("demo failed on: " + ", ".join(j.cluster for j in failed), err=True)
        raise typer.Exit(1)
    typer.echo("demo finished: a job ran through each cluster")
