"""Deploying a project's flows on a Prefect server: work pool, block types, dev blocks, deployments.

``set_up_project(project, api_url)`` does it all on the server at ``api_url`` (``mpflow server start``
calls it before starting the worker); the functions it calls talk to the Prefect API of the current
settings. Names:

- work pool ``mpflow-<project name>`` (type ``process``): the worker ``mpflow server start`` starts;
- deployment ``<flow name>/<project name>`` for every entry of ``mpflow.deployments.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpflow.blocks.cluster import SlurmCluster
from mpflow.deployments.notify import set_up_notifications
from mpflow.deployments.registry import DEPLOYMENTS, FlowDeployment
from prefect._internal.versioning import VersionType
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate, WorkPoolCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyLimitStrategy,
)
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Crashed
from prefect.types.entrypoint import EntrypointType
from prefect.workers.process import ProcessWorker

import mpflow
from mpflow.clusters.devcluster import DevClusterNotFound
from mpflow.clusters.settings import dev_cluster_settings

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

    from mpflow.project.file import Project


MANAGER_QUEUE = "manager"
"""The work queue of the deployments whose runs the long-lived manager process runs in itself
(``mpflow.deployments.manager_service``); the worker serves the pool's default queue only."""
WORKER_QUEUE = "default"


def work_pool_name(project: "Project") -> str:
    return f"mpflow-{project.config.project.name}"


def deployment_name(project: "Project") -> str:
    return project.config.project.name


@dataclass(frozen=True)
class Deployed:
    """One deployment as applied: its full name and what its schedule and limit are."""

    full_name: str
    interval_s: float | None
    one_at_a_time: bool

    def describe(self) -> str:
        how = f"every {self.interval_s:g} s" if self.interval_s else "on demand"
        if self.one_at_a_time:
            how += ", one run at a time (a new run cancelled while one runs)"
        return f"{self.full_name} ({how})"


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool ``name`` unless it exists; True when it was created."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        client.create_work_pool(WorkPoolCreate(
            name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template(),
            description="mpflow's flows, run as local processes by the worker `mpflow server start` started."))
    return True


def register_block_types() -> list[str]:
    """Register mpflow's block types (what ``prefect block register -m mpflow.blocks.cluster`` does)."""
    SlurmCluster.register_type_and_schema()
    return [SlurmCluster.get_block_type_slug()]


def save_dev_cluster_blocks() -> list[str]:
    """Save each dev cluster as an ``mpflow-slurm-cluster`` block named after it; their full names."""
    names = []
    for settings in dev_cluster_settings():
        SlurmCluster(**dict(settings)).save(settings.name, overwrite=True)
        names.append(f"{SlurmCluster.get_block_type_slug()}/{settings.name}")
    return names


def form_problems(flow: "Flow", defaults: dict[str, Any]) -> list[str]:
    """What makes a flow's UI form unusable as it opens: parameters without a default or a description,
    and fields of a parameter's pydantic model (a nested form) without a description."""
    schema = flow.parameters.model_dump()
    problems = []
    for name, prop in schema.get("properties", {}).items():
        if name in schema.get("required", []) and name not in defaults:
            problems.append(f"{flow.name}: parameter {name!r} has no default (give one in the registry entry)")
        if not (prop.get("description") or "").strip():
            problems.append(f"{flow.name}: parameter {name!r} has no description (add it to the flow's Args:)")
    for model, definition in schema.get("definitions", {}).items():
        for field, prop in definition.get("properties", {}).items():
            if not (prop.get("description") or "").strip():
                problems.append(f"{flow.name}: field {model}.{field} has no description "
                                "(give it Field(description=...))")
    return problems


def deployment_parameters(entry: FlowDeployment, flow: "Flow", project: "Project") -> dict[str, Any]:
    """The deployment's parameter defaults: the project folder for ``project``, then the entry's own."""
    params: dict[str, Any] = {}
    if "project" in flow.parameters.properties:
        params["project"] = str(project.root)
    params.update(entry.default_parameters(project))
    return params


class UnusableForm(ValueError):
    """A flow's UI form would not open usable: a parameter without a default or a description."""


def build_deployment(entry: FlowDeployment, project: "Project") -> "RunnerDeployment":
    """The Prefect deployment of one registry entry for ``project`` (not yet applied); refused
    (:class:`UnusableForm`) when its form would not open usable in the UI."""
    flow = entry.load_flow()
    parameters = deployment_parameters(entry, flow, project)
    problems = form_problems(flow, parameters)
    if problems:
        raise UnusableForm("; ".join(problems))
    interval = entry.interval_s(project)
    limit = (ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
             if entry.one_at_a_time else None)
    return flow.to_deployment(
        name=deployment_name(project),
        interval=interval,
        concurrency_limit=limit,
        parameters=parameters,
        description=entry.description,
        tags=["mpflow", project.config.project.name, *entry.tags],
        version=mpflow.__version__,
        work_pool_name=work_pool_name(project),
        # the manager's runs: a queue the worker leaves to the long-lived manager process
        work_queue_name=MANAGER_QUEUE if entry.in_manager_process else None,
        # The worker runs each flow in the project folder, with the project named explicitly too.
        job_variables={"working_dir": str(project.root), "env": {"MPFLOW_PROJECT": str(project.root)}},
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def deploy_project(project: "Project") -> list[Deployed]:
    """Create or update every registry deployment for ``project`` on the current server."""
    done = []
    for entry in DEPLOYMENTS:
        deployment = build_deployment(entry, project)
        deployment.version_type = VersionType.SIMPLE  # mpflow's version; no git/CI inference
        deployment.apply(work_pool_name=work_pool_name(project))
        done.append(Deployed(deployment.full_name, entry.interval_s(project), entry.one_at_a_time))
    return done


def release_orphaned_runs(project: "Project") -> int:
    """Crash this project's runs left Pending/Running by a server that stopped, and free their slots.

    Call it before the worker starts, when nothing can be running for the project's work pool.
    Prefect 3.9 keeps deployment-concurrency leases in the server's memory by default: a run caught
    in Pending or Running when the server stopped keeps its slot in the database after a restart with
    no lease left to expire, and with CANCEL_NEW every later manager run is cancelled for good (the
    same wedge as opsmill/infrahub#9856). Returns how many runs were crashed.
    """
    pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[work_pool_name(project)]))
    crashed = 0
    with get_client(sync_client=True) as client:
        stuck = client.read_flow_runs(
            work_pool_filter=pool,
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=["PENDING", "RUNNING", "CANCELLING"]))))
        for run in stuck:
            client.set_flow_run_state(run.id, Crashed(message="The Prefect server stopped during this run "
                                                              "(released by mpflow server start)."))
            crashed += 1
        for deployment in client.read_deployments(work_pool_filter=pool):
            limit = deployment.global_concurrency_limit
            if limit is not None and limit.active_slots:
                client.update_global_concurrency_limit(limit.name, GlobalConcurrencyLimitUpdate(active_slots=0))
    return crashed


@dataclass
class SetUp:
    """What ``set_up_project`` did on the server."""

    work_pool: str
    work_pool_created: bool
    blocks: list[str]
    deployments: list[Deployed]
    orphans_released: int
    automations: list[str]


def set_up_project(project: "Project", api_url: str) -> SetUp:
    """Everything a fresh or restarted server needs for ``project``, before its worker starts: the work
    pool, the block types (and the dev clusters' blocks for a dev project), every deployment, the
    release of runs a previous server left behind, and the automations of its ``[notify]`` section."""
    pool = work_pool_name(project)
    with temporary_settings({PREFECT_API_URL: api_url}):
        created = ensure_work_pool(pool)
        blocks = [f"{slug} (block type)" for slug in register_block_types()]
        if project.config.clusters.source == "dev":

            try:
                blocks += save_dev_cluster_blocks()
            except DevClusterNotFound as exc:
                blocks.append(f"no dev cluster blocks ({exc})")
        deployed = deploy_project(project)
        released = release_orphaned_runs(project)
        automations = set_up_notifications(project)
    return SetUp(pool, created, blocks, deployed, released, automations)
