"""The cluster blocks of the dev clusters in a real Prefect API, and the manager tick's batch tasks on the clusters."""

from __future__ import annotations

import posixpath

import pytest
from mpflow.blocks.cluster import SlurmCluster
from mpflow.tasks.manager import TaskIO
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.transport import ClusterUnreachable, LocalTransport, SSHTransport
from mpflow.slurm.client import JobRef
from mpflow.slurm.jobscript import JobScriptOptions
from mpflow.slurm.submission import SubmitRequest
from mpflow.states import FailureKind, JobState
from mpflow.transfers.engine import transfer_tree

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


def test_register_dev_saves_one_block_per_cluster_and_they_load_by_name(prefect_api, clusters):
    result = CliRunner().invoke(app, ["cluster", "register-dev"])
    assert result.exit_code == 0, result.output
    for name, settings in clusters.items():
        block = SlurmCluster.load(name)
        assert block.settings() == settings
        expected = SSHTransport if settings.kind == "remote" else LocalTransport
        assert type(block.transport()) is expected


def _task_runs(flow_run_id) -> list[tuple[str, int, str]]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted((r.name, r.run_count, r.state.type.value) for r in runs)


def test_the_ticks_tasks_batch_per_cluster_on_both_clusters(prefect_api, clusters, sites):
    """One submit, one observe and one cancel task run per cluster, whatever the number of models."""
    requests = {name: [SubmitRequest(key=f"m{i}", token=site.token(), options=JobScriptOptions(
        job_dir=site.path(f"m{i}"), stage="emmd", mdrun=False, commands=["true"], time_limit_min=2,
        extra_sbatch={"hold": ""})) for i in range(3)] for name, site in sites.items()}

    @flow
    def two_cluster_batch():
        with ClusterConnections(clusters.values()) as conns:
            io = TaskIO(conns)
            outcomes = io.submit_all(requests)
            refs = {c: [JobRef(k, r.options.job_dir, "emmd", job_id=o.job_id)
                        for (k, o), r in zip(outcomes[c].items(), requests[c])] for c in requests}
            queued = io.observe_all(refs)
            io.cancel_all({c: [o.job_id for o in outcomes[c].values()] for c in requests})
            return outcomes, queued

    state = two_cluster_batch(return_state=True)
    outcomes, queued = state.result()
    for name in requests:
        assert list(outcomes[name]) == ["m0", "m1", "m2"] and all(o.error is None for o in outcomes[name].values())
        assert {k: (o.state, o.pending_reason) for k, o in queued[name].observations.items()} == {
            f"m{i}": (JobState.PD, "JobHeldUser") for i in range(3)}, name
        assert queued[name].commands == 2
        after = sites[name].client.observe([JobRef(k, posixpath.join(sites[name].folder, k), "emmd", job_id=o.job_id)
                                            for k, o in outcomes[name].items()])
        assert {o.failure_kind for o in after.observations.values()} == {FailureKind.CANCELLED}
    names = [n for n, _, _ in _task_runs(state.state_details.flow_run_id)]
    assert sorted(names) == sorted([f"submit-{c}-3-jobs" for c in requests] + [f"observe-{c}" for c in requests]
                                   + [f"cancel-{c}-3-jobs" for c in requests])


def test_an_unreachable_cluster_is_tried_three_times_then_returned_not_raised(prefect_api, slave):
    dead = slave.model_copy(update={"port": 2, "connect_timeout_s": 2})

    @flow
    def observe_dead():
        with ClusterConnections([dead]) as conns:
            return TaskIO(conns).observe_all({dead.name: [JobRef("m", "/nowhere", "emmd")]})

    state = observe_dead(return_state=True)
    result = state.result()[dead.name]
    assert isinstance(result, ClusterUnreachable) and "cannot connect to 127.0.0.1:2" in str(result)
    assert _task_runs(state.state_details.flow_run_id) == [("observe-beta", 3, "FAILED")]


def test_an_advance_batch_is_one_task_run_retried_on_a_transient_error(prefect_api, master, slave, sites):
    """A stage batch of the advance phase (here: a tree to the other cluster) is one task run, named for
    the stage and its size, tried again when its cluster could not be reached."""
    src_dir, dst_dir = sites[master.name].path("src"), sites[slave.name].path("dst")
    assert sites[master.name].transport.write_files({f"{src_dir}/emmd.tpr": b"tpr\n",
                                                     f"{src_dir}/sub/emmd.sh": b"run\n"}) == {}
    calls = []

    @flow
    def ship():
        with ClusterConnections([master, slave]) as conns:
            def batch():
                calls.append(1)
                if len(calls) == 1:
                    raise ClusterUnreachable("login node went away", cluster=slave.name)
                results = transfer_tree(conns.transport(master.name), src_dir, conns.transport(slave.name), dst_dir)
                return {i: None for i, _ in enumerate(results)}
            return TaskIO(conns).advance("collect-emmd-2", batch)

    state = ship(return_state=True)
    assert state.result() == {0: None, 1: None}
    assert _task_runs(state.state_details.flow_run_id) == [("collect-emmd-2", 2, "COMPLETED")]
    with sites[slave.name].transport.open_read(f"{dst_dir}/sub/emmd.sh") as f:
        assert f.read() == b"run\n"
