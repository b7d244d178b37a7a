"""``mpflow demo``: run the demo pipeline on the dev clusters (see ``mpflow.demo``)."""

from __future__ import annotations

import typer

from mpflow.commands.common import dev_clusters_or_exit


def demo(
    timeout: float = typer.Option(300, help="Seconds to wait for the demo jobs."),
) -> None:
    """Run the demo pipeline on the dev clusters (start them with `scripts/devcluster up`)."""
    from mpflow.demo import run_demo
    from mpflow.slurm import JobState

    jobs = run_demo(dev_clusters_or_exit(), timeout_s=timeout, echo=typer.echo)
    failed = [j for j in jobs if j.state is not JobState.D]
    if failed:
        typer.echo("demo failed on: " + ", ".join(j.cluster for j in failed), err=True)
        raise typer.Exit(1)
    typer.echo("demo finished: a job ran through each cluster")
