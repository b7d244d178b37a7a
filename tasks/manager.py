"""Prefect tasks of a manager tick: per cluster one observe, one submit and one cancel task run.

Each task uses the tick's one connection per cluster (``ClusterConnections``) and is retried with
backoff only for transient failures (an unreachable cluster, a command timeout). When the retries
are spent the cluster counts as unreachable (``?``) for this tick: its exception is returned, not
raised, so the other cluster's work goes on.
"""

from __future__ import annotations

from typing import Mapping

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from mpflow.manager import UNREACHABLE_ERRORS, ClusterConnections
from mpflow.tasks.slurm import transient_only

TICK_RETRY = dict(retries=2, retry_delay_seconds=[1, 3], retry_condition_fn=transient_only, cache_policy=NO_CACHE)


@task(name="observe", task_run_name="observe-{cluster}", **TICK_RETRY)
def observe_cluster(connections: ClusterConnections, cluster: str, refs: list):
    return connections.client(cluster).observe(refs)


@task(name="submit", task_run_name="submit-{cluster}-{n}-jobs", **TICK_RETRY)
def submit_to_cluster(connections: ClusterConnections, cluster: str, requests: list, n: int):
    from mpflow.submission import submit_batch

    return submit_batch(connections.client(cluster), requests)


@task(name="cancel", task_run_name="cancel-{cluster}-{n}-jobs", **TICK_RETRY)
def cancel_on_cluster(connections: ClusterConnections, cluster: str, job_ids: list, n: int):
    return connections.client(cluster).cancel(job_ids)


def _gather(futures: Mapping[str, PrefectFuture]) -> dict[str, object]:
    out: dict[str, object] = {}
    for cluster, fut in futures.items():
        try:
            out[cluster] = fut.result()
        except UNREACHABLE_ERRORS as exc:  # retries spent: unreachable for this tick
            out[cluster] = exc
    return out


class TaskIO:
    """``mpflow.manager.TickIO`` as Prefect task runs, the clusters in parallel."""

    def __init__(self, connections: ClusterConnections):
        self.connections = connections

    def observe_all(self, refs):
        return _gather({c: observe_cluster.submit(self.connections, c, list(b)) for c, b in refs.items() if b})

    def submit_all(self, requests):
        return _gather({c: submit_to_cluster.submit(self.connections, c, list(b), len(b))
                        for c, b in requests.items() if b})

    def cancel_all(self, job_ids):
        return _gather({c: cancel_on_cluster.submit(self.connections, c, list(b), len(b))
                        for c, b in job_ids.items() if b})
