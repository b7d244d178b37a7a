"""A project's notifications: Prefect automations on mpflow's events, created by ``mpflow server start``
when ``mpflow.toml`` has a ``[notify]`` section.

One automation per kind the section's ``on`` names, each named ``mpflow <project>: <kind>``:

- ``held`` — an ``mpflow.stage.held`` event of the project (a model-stage needs a person: a
  preparation or grompp that failed, outputs not brought back);
- ``failed`` — an ``mpflow.stage.failed-for-good`` event (the retry budget is spent on every cluster);
- ``unreachable`` — a proactive trigger per cluster: after ``mpflow.cluster.unreachable``, no
  ``mpflow.cluster.reachable`` within ``unreachable_min`` minutes.

Each sends a notification (subject and body name the project, the model, the stage or cluster and
the reason) through a Prefect notification block: with ``webhook = URL``, a *Custom Webhook* block
``mpflow-<project>-notify`` that POSTs ``{"subject": ..., "body": ...}`` as JSON; with
``block = "TYPE/NAME"``, that saved block (Slack, Teams, e-mail ...). Starting the server again
replaces the project's automations; without a ``[notify]`` section they are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from mpflow.deployments.processes import ServerError
from mpflow.flows.events import EVENT_NAMES, cluster_resource, model_resource_prefix
from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from mpflow.states import EventKind

if TYPE_CHECKING:
    from mpflow.project.file import NotifySection, Project


class NotifyError(ServerError):
    """The ``[notify]`` section names a block that is not on the server; one line."""


MODEL_BODY = ("{{ event.resource['mpflow.model-tag'] or 'model ' ~ event.resource['mpflow.model'] }} "
              "{{ event.resource['mpflow.stage'] }}: {{ event.payload.why }}")


@dataclass(frozen=True)
class Rule:
    kind: str  # a NotifySection.on value
    subject: str
    body: str


def rules(project_name: str, section: "NotifySection") -> dict[str, tuple[EventTrigger, Rule]]:
    """The trigger and the message of each kind of notification."""
    models = {"prefect.resource.id": f"{model_resource_prefix(project_name)}*"}
    clusters = {"prefect.resource.id": cluster_resource(project_name, "*")}
    minutes = f"{section.unreachable_min:g}"
    return {
        "held": (EventTrigger(expect={EVENT_NAMES[EventKind.HELD]}, match=models, posture=Posture.Reactive,
                              threshold=1, within=timedelta(0)),
                 Rule("held", f"mpflow {project_name}: a model-stage is held",
                      f"held (needs a person) in project {project_name}: {MODEL_BODY}")),
        "failed": (EventTrigger(expect={EVENT_NAMES[EventKind.FAILED_FOR_GOOD]}, match=models,
                                posture=Posture.Reactive, threshold=1, within=timedelta(0)),
                   Rule("failed", f"mpflow {project_name}: a model-stage failed for good",
                        f"failed for good in project {project_name}: {MODEL_BODY}")),
        "unreachable": (EventTrigger(after={EVENT_NAMES[EventKind.CLUSTER_UNREACHABLE]},
                                     expect={EVENT_NAMES[EventKind.CLUSTER_REACHABLE]}, match=clusters,
                                     for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                                     within=timedelta(minutes=section.unreachable_min)),
                        Rule("unreachable", f"mpflow {project_name}: a cluster is unreachable",
                             f"cluster {{{{ event.resource['mpflow.cluster'] }}}} of project {project_name} "
                             f"unreachable for more than {minutes} min: {{{{ event.payload.why }}}}")),
    }


def automation_name(project_name: str, kind: str) -> str:
    return f"mpflow {project_name}: {kind}"


def notification_block_id(project: "Project", section: "NotifySection"):
    """The id of the block the notifications go through (the project's webhook block, saved now)."""
    if section.webhook is not None:
        slug = re.sub(r"[^a-z0-9-]+", "-", project.config.project.name.lower()).strip("-") or "project"
        name = f"mpflow-{slug}-notify"  # a block name holds lowercase letters, digits and dashes
        block = CustomWebhookNotificationBlock(name=name, url=section.webhook, method="POST",
                                               json_data={"subject": "{{subject}}", "body": "{{body}}"})
        return block.save(name, overwrite=True)
    slug, _, name = section.block.partition("/")
    with get_client(sync_client=True) as client:
        try:
            return client.read_block_document_by_name(name, slug).id
        except ObjectNotFound:
            raise NotifyError(f"{project.file}: notify.block: no block {section.block!r} on the Prefect server "
                              f"(save it in the UI's Blocks page, or give notify.webhook)") from None


def set_up_notifications(project: "Project") -> list[str]:
    """Replace the project's automations with those of its ``[notify]`` section (none without one);
    what was created, one line each. Talks to the Prefect API of the current settings."""
    name = project.config.project.name
    section = project.config.notify
    with get_client(sync_client=True) as client:
        for kind in ("held", "failed", "unreachable"):
            for old in client.read_automations_by_name(automation_name(name, kind)):
                client.delete_automation(old.id)
    if section is None:
        return []
    block_id = notification_block_id(project, section)
    created = []
    with get_client(sync_client=True) as client:
        for kind, (trigger, rule) in rules(name, section).items():
            if kind not in section.on:
                continue
            client.create_automation(AutomationCore(
                name=automation_name(name, kind),
                description=f"mpflow {name}: notify when {kind} (from [notify] in {project.file})",
                trigger=trigger,
                actions=[SendNotification(block_document_id=block_id, subject=rule.subject, body=rule.body)]))
            created.append(f"{automation_name(name, kind)} (automation)")
    return created
