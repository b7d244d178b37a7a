"""Prefect tasks of a manager tick: per cluster one observe, one submit and one cancel task run, and
one task run per stage batch of the advance phase (grompp and the input transfers of one stage, or
bringing one stage's outputs back); after a restore from a backup, one survey task run per cluster.

Each task uses the tick's one connection per cluster (``ClusterConnections``) and is retried with
backoff only for transient failures (an unreachable cluster, a command timeout). When the retries
are spent the cluster (or the batch) counts as unreachable for this tick: its exception is returned,
not raised, so the other clusters' work goes on.
"""

from __future__ import annotations

from typing import Callable, Mapping

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.transport import ClusterUnreachable, CommandTimeout
from mpflow.manager.tick import UNREACHABLE_ERRORS
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.submission import submit_batch


def transient_only(task, task_run, state) -> bool:
    """Retry condition: retry when a cluster could not be reached or did not answer in time."""
    try:
        state.result()
    except (ClusterUnreachable, CommandTimeout):
        return True
    except Exception:  # anything else is not made better by trying again
        return False
    return False


TICK_RETRY = dict(retries=2, retry_delay_seconds=[1, 3], retry_condition_fn=transient_only, cache_policy=NO_CACHE)


def _client(connections: ClusterConnections, cluster: str) -> SlurmClient:
    return SlurmClient(connections.transport(cluster))


@task(name="observe", task_run_name="observe-{cluster}", **TICK_RETRY)
def observe_cluster(connections: ClusterConnections, cluster: str, refs: list):
    return _client(connections, cluster).observe(refs)


@task(name="submit", task_run_name="submit-{cluster}-{n}-jobs", **TICK_RETRY)
def submit_to_cluster(connections: ClusterConnections, cluster: str, requests: list, n: int):
    return submit_batch(_client(connections, cluster), requests)


@task(name="cancel", task_run_name="cancel-{cluster}-{n}-jobs", **TICK_RETRY)
def cancel_on_cluster(connections: ClusterConnections, cluster: str, job_ids: list, n: int):
    return _client(connections, cluster).cancel(job_ids)


@task(name="survey", task_run_name="survey-{cluster}", **TICK_RETRY)
def survey_cluster(connections: ClusterConnections, cluster: str, since, folders: list):
    """After a restore: every mpflow job the cluster knows of, and what the model-stages' folders say."""
    return _client(connections, cluster).survey(since, folders)


@task(name="advance", task_run_name="{label}", **TICK_RETRY)
def advance_batch(label: str, batch: Callable[[], dict[int, str | None]]) -> dict[int, str | None]:
    """One stage batch of the advance phase (``label``: ``prepare-emmd-12``, ``collect-urmd-3``)."""
    return batch()


@task(name="claim", task_run_name="claim-{cluster}", **TICK_RETRY)
def claim_on_cluster(cluster: str, call: Callable[[], object]) -> object:
    """The project's folder on one cluster claimed for this project (once per cluster and folder)."""
    return call()


def _gather(futures: Mapping[str, PrefectFuture]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, fut in futures.items():
        try:
            out[key] = fut.result()
        except UNREACHABLE_ERRORS as exc:  # retries spent: unreachable for this tick
            out[key] = exc
    return out


class TaskIO:
    """``mpflow.manager.tick.TickIO`` as Prefect task runs, the clusters in parallel."""

    def __init__(self, connections: ClusterConnections):
        self.connections = connections

    def observe_all(self, refs):
        # every cluster the tick names, an empty one too (it counts the user's jobs there)
        return _gather({c: observe_cluster.submit(self.connections, c, list(b)) for c, b in refs.items()})

    def submit_all(self, requests):
        return _gather({c: submit_to_cluster.submit(self.connections, c, list(b), len(b))
                        for c, b in requests.items() if b})

    def cancel_all(self, job_ids):
        return _gather({c: cancel_on_cluster.submit(self.connections, c, list(b), len(b))
                        for c, b in job_ids.items() if b})

    def advance(self, label, batch):
        return _gather({label: advance_batch.submit(label, batch)})[label]

    def claim_all(self, claims):
        return _gather({c: claim_on_cluster.submit(c, call) for c, call in claims.items()})
    def survey_all(self, since, folders):
        return _gather({c: survey_cluster.submit(self.connections, c, since, list(b)) for c, b in folders.items() if b})
