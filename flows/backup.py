"""The backup flow: finished stages' outputs copied to a backup location, verified (``mpflow.transfers.backup``)."""

from __future__ import annotations

from mpflow.blocks.cluster import open_project
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from mpflow.store.database import open_database
from mpflow.transfers.backup import back_up, destination_settings, done_stages


def _run_name() -> str:
    params = flow_run.parameters or {}
    return f"backup to {params.get('destination')}"


@task(name="back-up", task_run_name="back-up-{n}-stages", cache_policy=NO_CACHE)
def back_up_task(Session, master, destination, items, n: int):
    return back_up(Session, master, destination, items)


@flow(name="backup", flow_run_name=_run_name, log_prints=False)
def backup_flow(destination: str, project: str | None = None, stages: list[str] | None = None,
                mutants: list[str] | None = None) -> dict:
    """Copy the outputs of finished stages to a backup location, with checksums.

    Args:
        destination: A cluster of the project (by name) or an absolute folder on the machine running
            the flow; the model tree (mutant/group/name/stage) is kept.
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
        stages: Only these stages (default: every finished stage).
        mutants: Only these mutants (default: all).
    """
    proj = open_project(project)
    Session = open_database(proj.database_url)
    clusters = proj.cluster_settings()
    dest = destination_settings(destination, clusters)
    items = done_stages(Session, stages=stages, mutants=mutants)
    result = back_up_task(Session, clusters[0], dest, items, len(items))
    get_run_logger().info("backed up %d stage(s): %d file(s) copied (%d bytes), %d already there%s",
                          result.items, result.files_copied, result.bytes_copied, result.files_identical,
                          f"; {len(result.failed)} failed" if result.failed else "")
    if result.failed:
        raise RuntimeError("; ".join(result.failed[:3]))
    return {"stages": result.items, "copied": result.files_copied, "identical": result.files_identical,
            "bytes": result.bytes_copied}
