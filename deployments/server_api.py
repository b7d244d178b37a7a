"""Reading a project's Prefect server for ``mpflow server status`` and ``start``: its deployments, the
last runs of one deployment, and whether a worker of a work pool is online.

Each function takes the server's API URL and returns plain records (no Prefect objects leak out).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterStartTime,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings


@contextmanager
def _client(api_url: str):
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


@dataclass(frozen=True)
class DeploymentInfo:
    name: str  # flow/deployment
    interval_s: float | None
    paused: bool
    concurrency_limit: int | None

    def describe(self) -> str:
        how = f"every {self.interval_s:g} s" if self.interval_s else "on demand"
        if self.paused:
            how += ", paused"
        if self.concurrency_limit:
            how += f", at most {self.concurrency_limit} at a time"
        return f"{self.name} ({how})"


@dataclass(frozen=True)
class RunInfo:
    name: str
    state: str
    start: datetime | None
    end: datetime | None


def worker_online(api_url: str, work_pool: str) -> bool:
    with _client(api_url) as client:
        return any(w.status.value == "ONLINE" for w in client.read_workers_for_work_pool(work_pool))


def deployments_of_pool(api_url: str, work_pool: str) -> list[DeploymentInfo]:
    """Every deployment on ``work_pool``, sorted by name."""
    out = []
    with _client(api_url) as client:
        for d in client.read_deployments(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[work_pool]))):
            interval = next((s.schedule.interval.total_seconds() for s in d.schedules
                             if getattr(s.schedule, "interval", None)), None)
            limit = d.global_concurrency_limit.limit if d.global_concurrency_limit else None
            out.append(DeploymentInfo(f"{client.read_flow(d.flow_id).name}/{d.name}", interval, d.paused, limit))
    return sorted(out, key=lambda d: d.name)


def last_runs_of(api_url: str, deployment: str, limit: int) -> list[RunInfo]:
    """The last ``limit`` runs of ``deployment`` (``flow/name``) that started, the latest first."""
    with _client(api_url) as client:
        try:
            deployment_id = client.read_deployment_by_name(deployment).id
        except ObjectNotFound:
            return []
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                                          start_time=FlowRunFilterStartTime(is_null_=False)),
            sort=FlowRunSort.START_TIME_DESC, limit=limit)
    return [RunInfo(r.name, r.state_name, r.start_time, r.end_time) for r in runs]
