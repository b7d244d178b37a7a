"""The manager flow: one tick of the dual-cluster manager, scheduled every 15 seconds.

The tick itself is ``mpflow.manager.tick.Manager.tick`` (the same code as ``mpflow manage --once``); this
flow gives it Prefect tasks for the per-cluster I/O, emits a Prefect event for every transition
(``mpflow.flows.events``: ``mpflow.job.*``, ``mpflow.stage.*``, ``mpflow.cluster.*``, for automations and
notifications), and leaves its artifacts (``mpflow.flows.artifacts``): the tick's summary, the
project's progress bar and its table of model-stages per mutant, stage and state.
"""

from __future__ import annotations

from datetime import datetime

from mpflow.blocks.cluster import open_project
from mpflow.flows.artifacts import ProgressArtifacts, publish_tick
from mpflow.flows.events import emit_transition_events
from mpflow.tasks.manager import TaskIO
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from mpflow.clusters.connections import ClusterConnections, KeptConnections
from mpflow.manager.pipeline import progress
from mpflow.manager.status import project_summary
from mpflow.manager.tick import Manager, TickReport, TickScope
from mpflow.store.database import open_database
from mpflow.store.schema import utcnow


def tick_run_name() -> str:
    """``tick HH:MM:SS`` (the scheduled time, local): ticks tell apart in the UI's list of runs."""


    when = flow_run.scheduled_start_time or datetime.now()
    return f"tick {when.astimezone():%H:%M:%S}"


@flow(name="manager", flow_run_name=tick_run_name, log_prints=False)
def manager_flow(project: str | None = None) -> dict:
    """One manager tick: observe every cluster, reconcile, advance, decide, submit and cancel.

    Args:
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
    """
    proj = _project(project)
    Session = _database(proj.database_url)
    report = tick_with_tasks(proj, Session, proj.cluster_settings())
    if report.skipped:
        return {"skipped": report.skipped}
    publish_progress(proj, Session, ProgressArtifacts(proj))
    return {"summary": report.summary(), "submitted": report.submitted, "cancelled": report.cancelled,
            "adopted": report.adopted, "recovering": report.recovering,
            "unreachable": list(report.unreachable), "transitions": len(report.transitions)}


_kept: KeptConnections | None = None
"""The connections of the long-lived manager process this flow runs in (``keep_connections``), if any."""


_loaded: dict[str, tuple[int, object]] = {}
"""In the long-lived manager process: the project as last loaded, with its project file's mtime then (loading
checks every stage's templates: an idle tick should not pay for it). Cluster settings are still read at
every tick (``cluster_settings``: a block edited in the UI takes effect at the next tick)."""


def _project(folder: str | None):
    if _kept is None:
        return open_project(folder)
    known = _loaded.get(str(folder))
    if known is not None and known[1].file.stat().st_mtime_ns == known[0]:
        return known[1]
    proj = open_project(folder)
    mtime = proj.file.stat().st_mtime_ns
    _loaded[str(folder)] = (mtime, proj)
    return proj


def _database(url: str):
    """The jobs database's sessions: opened (and its schema checked) once in the long-lived process."""
    if _kept is None:
        return open_database(url)
    key = f"database {url}"
    if key not in _loaded:
        _loaded[key] = (0, open_database(url))
    return _loaded[key][1]


def keep_connections(connections: KeptConnections | None) -> None:
    """From now on, the ticks run in this process use ``connections`` and leave them open (the manager
    service, ``mpflow.deployments.manager_service``); None: each tick opens and closes its own again."""
    global _kept
    _kept = connections
    _loaded.clear()


def tick_with_tasks(proj, Session, clusters, scope: TickScope | None = None) -> TickReport:
    """One tick with Prefect tasks for the I/O, its events emitted and its summary artifact made
    (inside a flow run: the manager flow, or the pipeline flow's loop). In the long-lived manager
    process the tick uses that process's kept connections: one login per cluster for many ticks."""
    logger = get_run_logger()
    with (_kept.for_tick(clusters) if _kept is not None else ClusterConnections(clusters)) as conns:
        report = Manager(proj, Session, clusters).tick(TaskIO(conns), scope=scope)
    logger.info(report.summary())
    if report.skipped:
        return report
    emit_transition_events(report.transitions, proj.config.project.name, Session)
    publish_tick(report, proj, Session)
    return report


def publish_progress(proj, Session, artifacts: ProgressArtifacts, mutants: list[str] | None = None) -> None:
    """The project's progress bar and stage table (of ``mutants``), with the forecast."""
    with Session() as s:
        forecast = project_summary(s, proj, mutants=mutants, now=utcnow())["forecast"]["sentence"]
    artifacts.publish(progress(Session, proj, mutants), forecast)
