"""Prefect tasks for Slurm, one task run per cluster per batch (never one per model).

Thin wrappers: the work is in ``mpflow.submission`` and ``mpflow.slurm_client``. Retries are only
for transient failures (an unreachable cluster, a command timeout); a refused submission or a
parse error fails at once.
"""

from __future__ import annotations

from typing import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from mpflow.clusters import ClusterSettings
from mpflow.slurm_client import JobRef, ObserveResult, SlurmClient
from mpflow.submission import SubmitOutcome, SubmitRequest, submit_batch
from mpflow.transport import ClusterUnreachable, CommandTimeout, open_transport


def transient_only(task, task_run, state) -> bool:
    """Retry condition: retry when the cluster could not be reached or did not answer in time."""
    try:
        state.result()
    except (ClusterUnreachable, CommandTimeout):
        return True
    except Exception:  # anything else is not made better by trying again
        return False
    return False


RETRY = dict(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=transient_only, cache_policy=NO_CACHE)


def plain_settings(cluster: ClusterSettings) -> ClusterSettings:
    # A SlurmCluster block is a ClusterSettings; reduce it to the plain model for the core.
    return cluster.settings() if hasattr(cluster, "settings") else cluster


@task(name="submit-batch", task_run_name="submit-{cluster.name}", **RETRY)
def submit_jobs(cluster: ClusterSettings, requests: Sequence[SubmitRequest]) -> dict[str, SubmitOutcome]:
    """Every request to one cluster: one upload and one remote command. Outcomes keyed by request key."""
    settings = plain_settings(cluster)
    with open_transport(settings) as transport:
        outcomes = submit_batch(SlurmClient(transport), requests)
    failed = [o for o in outcomes.values() if o.error]
    get_run_logger().info("%s: submitted %d job(s), %d refused", settings.name, len(outcomes) - len(failed),
                          len(failed))
    for o in failed:
        get_run_logger().warning("%s: %s not submitted: %s", settings.name, o.key, o.error)
    return outcomes


@task(name="cancel-batch", task_run_name="cancel-{cluster.name}", **RETRY)
def cancel_jobs(cluster: ClusterSettings, job_ids: Sequence[str]) -> list[str]:
    """One scancel for every id; returns the ids Slurm did not know."""
    with open_transport(plain_settings(cluster)) as transport:
        return SlurmClient(transport).cancel(job_ids)


@task(name="observe-cluster", task_run_name="observe-{cluster.name}", **RETRY)
def observe_jobs(cluster: ClusterSettings, refs: Sequence[JobRef]) -> ObserveResult:
    """The jobs of one cluster not yet seen terminal: one squeue, (sacct), one file probe."""
    settings = plain_settings(cluster)
    with open_transport(settings) as transport:
        result = SlurmClient(transport).observe(refs)
    get_run_logger().info("%s: %d job(s) observed with %d commands", settings.name, len(refs), result.commands)
    return result
