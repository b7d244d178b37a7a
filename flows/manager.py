"""The manager flow: one tick of the dual-cluster manager, scheduled every 15 seconds.

The tick itself is ``mpflow.manager.tick.Manager.tick`` (the same code as ``mpflow manage --once``); this
flow gives it Prefect tasks for the per-cluster I/O, emits a Prefect event for every transition
(``mpflow.job.*`` and ``mpflow.stage.*``, with the model, stage and cluster as resources, for
automations and notifications), and leaves a summary artifact per tick.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from mpflow.blocks.cluster import open_project
from mpflow.tasks.manager import TaskIO
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from mpflow.clusters.connections import ClusterConnections
from mpflow.manager.status import (
    count_jobs_by_stage_state_cluster,
    dual_submission_summary,
)
from mpflow.manager.tick import Manager, TickReport
from mpflow.states import EventKind
from mpflow.store.database import open_database

EVENT_NAMES: dict[EventKind, str] = {
    EventKind.SUBMITTED: "mpflow.job.submitted",
    EventKind.STARTED: "mpflow.job.started",
    EventKind.COMPLETED: "mpflow.job.completed",
    EventKind.FAILED: "mpflow.job.failed",
    EventKind.CANCELLED: "mpflow.job.cancelled",
    EventKind.SUBMIT_REFUSED: "mpflow.job.refused",
    EventKind.NOT_SUBMITTED: "mpflow.job.not-submitted",
    EventKind.RECOVERED: "mpflow.job.recovered",
    EventKind.ADOPTED: "mpflow.job.adopted",
    EventKind.WON: "mpflow.stage.won",
    EventKind.STAGE_DONE: "mpflow.stage.job-done",
    EventKind.DONE: "mpflow.stage.done",
    EventKind.FAILED_FOR_GOOD: "mpflow.stage.failed-for-good",
    EventKind.HELD: "mpflow.stage.held",
    EventKind.READY: "mpflow.stage.ready",
}
"""The Prefect event each transition of a model-stage is emitted as (the others are not emitted)."""


def emit_transition_events(report: TickReport, project_name: str) -> int:
    """One Prefect event per transition; returns how many were emitted."""
    n = 0
    for t in report.transitions:
        name = EVENT_NAMES.get(t.kind)
        if name is None or t.model_id is None:
            continue
        resource = {"prefect.resource.id": f"mpflow.{project_name}.model.{t.model_id}.{t.stage}",
                    "prefect.resource.name": f"model {t.model_id} {t.stage}",
                    "mpflow.model": str(t.model_id), "mpflow.stage": t.stage or ""}
        related = [{"prefect.resource.id": f"mpflow.{project_name}.model.{t.model_id}",
                    "prefect.resource.role": "model"}]
        if t.cluster:
            resource["mpflow.cluster"] = t.cluster
            related.append({"prefect.resource.id": f"mpflow.{project_name}.cluster.{t.cluster}",
                            "prefect.resource.role": "cluster"})
        payload = {"from": t.from_state, "to": t.to_state, "why": t.why}
        if t.value is not None:
            payload["seconds"] = t.value
        emit_event(event=name, resource=resource, related=related, payload=payload, occurred=t.time)
        n += 1
    return n


def tick_markdown(report: TickReport, counts: list[tuple[str, str, str, int]], dual: dict | None = None) -> str:
    lines = [f"**{report.summary()}**", "", "| stage | state | cluster | jobs |", "|---|---|---|---|"]
    lines += [f"| {st} | {state} | {c} | {n} |" for st, state, c, n in counts]
    if dual:
        def med(d):
            return "-" if not d["n"] else f"{d['median_s']} s (n={d['n']})"

        lines += ["", "What dual submission bought (`mpflow status --summary`):", "",
                  "| cluster | won | win rate | median queue wait | losers cancelled | their median wait "
                  "| core-hours lost | winner start → loser cancel |", "|---|---|---|---|---|---|---|---|"]
        def rate(d):
            return "-" if d["win_rate"] is None else f"{d['win_rate']:.0%}"

        lines += [f"| {c} | {d['won']} | {rate(d)} | "
                  f"{med(d['queue_wait'])} | {d['cancelled_losers']} | {med(d['loser_wait_at_cancel'])} | "
                  f"{d['core_hours_lost']} | {med(d['winner_start_to_loser_cancel'])} |" for c, d in dual.items()]
    actions = Counter(t.kind for t in report.transitions)
    if actions:
        lines += ["", "| transition | count |", "|---|---|"] + [f"| {k} | {n} |" for k, n in sorted(actions.items())]
    if report.unreachable:
        lines += ["", "Unreachable this tick:"] + [f"- {c}: {why}" for c, why in report.unreachable.items()]
    return "\n".join(lines)


def tick_run_name() -> str:
    """``tick HH:MM:SS`` (the scheduled time, local): ticks tell apart in the UI's list of runs."""


    when = flow_run.scheduled_start_time or datetime.now()
    return f"tick {when.astimezone():%H:%M:%S}"


@flow(name="manager", flow_run_name=tick_run_name, log_prints=False)
def manager_flow(project: str | None = None) -> dict:
    """One manager tick: observe both clusters, reconcile, advance, decide, submit and cancel.

    Args:
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
    """
    proj = open_project(project)
    report = tick_with_tasks(proj, open_database(proj.database_url), proj.cluster_settings())
    if report.skipped:
        return {"skipped": report.skipped}
    return {"summary": report.summary(), "submitted": report.submitted, "cancelled": report.cancelled,
            "adopted": report.adopted, "recovering": report.recovering,
            "unreachable": list(report.unreachable), "transitions": len(report.transitions)}


def tick_with_tasks(proj, Session, clusters) -> TickReport:
    """One tick with Prefect tasks for the I/O, its events emitted and its summary artifact made
    (inside a flow run: the manager flow, or the pipeline flow's loop)."""
    logger = get_run_logger()
    with ClusterConnections(clusters) as conns:
        report = Manager(proj, Session, clusters).tick(TaskIO(conns))
    logger.info(report.summary())
    if report.skipped:
        return report
    emit_transition_events(report, proj.config.project.name)
    with Session() as s:
        counts = count_jobs_by_stage_state_cluster(s)
        dual = dual_submission_summary(s, proj.cluster_names)
    create_markdown_artifact(key="manager-tick", markdown=tick_markdown(report, counts, dual),
                             description="Model-stages per state and cluster, and what this tick did")
    return report
