"""The registry of deployments: one entry per deployed flow.

To deploy a new flow, add ONE ``FlowDeployment`` to ``DEPLOYMENTS``::

    FlowDeployment("mpflow.flows.analysis:analysis_flow",
                   "Interaction statistics of the finished stages, with a report."),

and restart the server (``mpflow server stop && mpflow server start``; ``start`` re-applies every
deployment). The deployment is named ``<flow name>/<project name>`` (``prefect deployment run
'analysis/gpa'``). A flow parameter named ``project`` gets the project folder as its default; any
other parameter the flow leaves without a default needs one in ``parameters`` (the UI form must be
usable as it opens), and every parameter needs a description in the flow's Google-style ``Args:``
docstring. ``tests/unit/test_deployments_registry.py`` checks both, and that every flow in
``mpflow.flows`` is either here or in ``NOT_DEPLOYED`` (subflows only other flows call).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from prefect import Flow

    from mpflow.project.file import Project


@dataclass(frozen=True)
class FlowDeployment:
    """One deployed flow.

    Attributes:
        flow: ``module:attribute`` of the flow object (the worker imports it from the installed mpflow).
        description: One line shown in the UI's list of deployments.
        every_s: Seconds between scheduled runs (a number, or a function of the project); None: run
            on demand only.
        one_at_a_time: Concurrency limit 1 with collision strategy CANCEL_NEW: a run that finds
            another one running is cancelled instead of queued.
        parameters: Defaults for the UI form beyond the flow's own (a mapping, or a function of the
            project returning one).
        tags: Extra tags (every deployment also gets ``mpflow`` and the project name).
        in_manager_process: Its runs go to the work queue the long-lived manager process serves
            (``mpflow.deployments.manager_service``), not to the worker: they run in that one process,
            which keeps its connections to the clusters from one run to the next.
    """

    flow: str
    description: str
    every_s: float | Callable[["Project"], float] | None = None
    one_at_a_time: bool = False
    parameters: Mapping[str, Any] | Callable[["Project"], Mapping[str, Any]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    in_manager_process: bool = False

    def load_flow(self) -> "Flow":
        module_name, _, attribute = self.flow.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def interval_s(self, project: "Project") -> float | None:
        return self.every_s(project) if callable(self.every_s) else self.every_s

    def default_parameters(self, project: "Project") -> dict[str, Any]:
        extra = self.parameters(project) if callable(self.parameters) else self.parameters
        return dict(extra)


def manager_interval_s(project: "Project") -> float:
    """The project's ``[manager] interval_s`` (15 s unless the project file says otherwise)."""
    return project.config.manager.interval_s


def models_defaults(project: "Project") -> dict[str, Any]:
    """The project's first mutant and the folder ``mpflow build`` writes its models to (``built/<mutant>``)."""
    mutant = next(iter(project.config.mutants), "")
    return {"mutant": mutant, "paths": [str(project.root / "built" / mutant)] if mutant else []}


DEPLOYMENTS: list[FlowDeployment] = [
    FlowDeployment(
        "mpflow.flows.manager:manager_flow",
        "The dual-cluster manager: one tick observes every cluster, submits, cancels and advances.",
        every_s=manager_interval_s,
        one_at_a_time=True,
        tags=("manager",),
        in_manager_process=True,
    ),
    FlowDeployment(
        "mpflow.flows.models:models_flow",
        "Import docked models of one mutant: check, geometry, conformations, folders on every cluster.",
        parameters=models_defaults,
        tags=("models",),
    ),
    FlowDeployment("mpflow.flows.stages:pipeline_flow",
                   "Every model from preparation through EMMD, PRMD and URMD on every cluster.",
                   tags=("stages",)),
    FlowDeployment("mpflow.flows.stages:prepare_flow",
                   "Preparation on the master: topology, POPC bilayer, water and ions, relaxation.",
                   tags=("stages",)),
    FlowDeployment("mpflow.flows.stages:emmd_flow", "Energy minimisation on every cluster.", tags=("stages",)),
    FlowDeployment("mpflow.flows.stages:prmd_flow", "Position-restrained NPT on every cluster.", tags=("stages",)),
    FlowDeployment("mpflow.flows.stages:urmd_flow", "Production MD on every cluster.", tags=("stages",)),
    FlowDeployment("mpflow.flows.analysis:analysis_flow",
                   "Interaction statistics of the finished stages: tables, report and notebook.",
                   parameters=lambda p: {"out_dir": str(p.root / "analysis")}, tags=("analysis",)),
    FlowDeployment("mpflow.flows.backup:backup_flow", "Finished stages copied to a backup location, verified.",
                   parameters=lambda p: {"destination": str(p.root / "backup")}, tags=("backup",)),
]

# Flows in mpflow.flows that are not deployed on purpose (subflows that only other flows call).
NOT_DEPLOYED: set[str] = {"mpflow.flows.analysis:chunks_flow"}  # the analysis flow's chunk subflow
