"""mpflow's transitions as Prefect events, for automations and notifications.

Every transition the manager's tick and the pipeline's preparation record in the ``events`` table is
emitted under a name of :data:`EVENT_NAMES`: a model-stage's as ``mpflow.job.*`` / ``mpflow.stage.*``
with the resource ``mpflow.<project>.model.<id>.<stage>`` (labels ``mpflow.model``, ``mpflow.model-tag``
``mutant/group/name``, ``mpflow.stage``, ``mpflow.cluster``), a cluster's as ``mpflow.cluster.unreachable``
/ ``mpflow.cluster.reachable`` with the resource ``mpflow.<project>.cluster.<name>``. The payload holds
the states, ``why`` and, where there is one, ``seconds``. ``mpflow.deployments.notify`` hangs the
project's notifications on these names.
"""

from __future__ import annotations

from typing import Iterable

from prefect.events import emit_event

from mpflow.states import EventKind
from mpflow.store.records import Transition, model_tags

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
    EventKind.CLUSTER_UNREACHABLE: "mpflow.cluster.unreachable",
    EventKind.CLUSTER_REACHABLE: "mpflow.cluster.reachable",
}
"""The Prefect event each transition is emitted as (the others are not emitted)."""


def model_resource_prefix(project_name: str) -> str:
    return f"mpflow.{project_name}.model."


def cluster_resource(project_name: str, cluster: str) -> str:
    return f"mpflow.{project_name}.cluster.{cluster}"


def emit_transition_events(transitions: Iterable[Transition], project_name: str, Session) -> int:
    """One Prefect event per transition of :data:`EVENT_NAMES`; returns how many were emitted."""
    transitions = [t for t in transitions if t.kind in EVENT_NAMES and (t.model_id is not None or t.cluster)]
    if not transitions:
        return 0
    with Session() as s:
        tags = model_tags(s, {t.model_id for t in transitions if t.model_id is not None})
    for t in transitions:
        payload = {"from": t.from_state, "to": t.to_state, "why": t.why}
        if t.value is not None:
            payload["seconds"] = t.value
        if t.model_id is None:  # a cluster's reachability
            resource = {"prefect.resource.id": cluster_resource(project_name, t.cluster),
                        "prefect.resource.name": f"cluster {t.cluster}", "mpflow.cluster": t.cluster}
            emit_event(event=EVENT_NAMES[t.kind], resource=resource, payload=payload, occurred=t.time)
            continue
        resource = {"prefect.resource.id": f"{model_resource_prefix(project_name)}{t.model_id}.{t.stage}",
                    "prefect.resource.name": f"model {t.model_id} {t.stage}",
                    "mpflow.model": str(t.model_id), "mpflow.stage": t.stage or ""}
        if t.model_id in tags:
            tag = tags[t.model_id]
            resource["mpflow.model-tag"] = f"{tag.mutant}/{tag.group}/{tag.name}"  # as mpflow status says it
        related = [{"prefect.resource.id": f"mpflow.{project_name}.model.{t.model_id}",
                    "prefect.resource.role": "model"}]
        if t.cluster:
            resource["mpflow.cluster"] = t.cluster
            related.append({"prefect.resource.id": cluster_resource(project_name, t.cluster),
                            "prefect.resource.role": "cluster"})
        emit_event(event=EVENT_NAMES[t.kind], resource=resource, related=related, payload=payload, occurred=t.time)
    return len(transitions)
