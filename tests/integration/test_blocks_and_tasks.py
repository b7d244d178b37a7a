"""The cluster blocks of the dev clusters in a real Prefect API, and the batch tasks running on the clusters."""

from __future__ import annotations

import posixpath

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from typer.testing import CliRunner

from mpflow.blocks.cluster import SlurmCluster
from mpflow.cli import app
from mpflow.jobscript import JobScriptOptions
from mpflow.slurm import FailureKind, JobState
from mpflow.slurm_client import JobRef
from mpflow.submission import SubmitRequest
from mpflow.tasks.slurm import cancel_jobs, observe_jobs, submit_jobs
from mpflow.transport import ClusterUnreachable, LocalTransport, SSHTransport


def test_register_dev_saves_one_block_per_cluster_and_they_load_by_name(prefect_api, clusters):
    result = CliRunner().invoke(app, ["cluster", "register-dev"])
    assert result.exit_code == 0, result.output
    for name, settings in clusters.items():
        block = SlurmCluster.load(name)
        assert block.settings() == settings
        expected = SSHTransport if settings.kind == "remote" else LocalTransport
        assert type(block.transport()) is expected


def test_batch_tasks_in_a_flow_on_both_clusters(prefect_api, sites):
    """One submit, one observe and one cancel task per cluster, whatever the number of models."""
    CliRunner().invoke(app, ["cluster", "register-dev"])
    requests = {name: [SubmitRequest(key=f"m{i}", token=site.token(), options=JobScriptOptions(
        job_dir=site.path(f"m{i}"), stage="emmd", mdrun=False, commands=["true"], time_limit_min=2,
        extra_sbatch={"hold": ""})) for i in range(3)] for name, site in sites.items()}

    @flow
    def two_cluster_batch():
        results = {}
        for name, reqs in requests.items():
            cluster = SlurmCluster.load(name)
            outcomes = submit_jobs(cluster, reqs)
            refs = [JobRef(k, r.options.job_dir, "emmd", job_id=o.job_id) for (k, o), r in zip(outcomes.items(), reqs)]
            queued = observe_jobs(cluster, refs)
            cancel_jobs(cluster, [o.job_id for o in outcomes.values()])
            results[name] = (outcomes, queued)
        return results

    for name, (outcomes, queued) in two_cluster_batch().items():
        assert list(outcomes) == ["m0", "m1", "m2"] and all(o.error is None for o in outcomes.values())
        assert {k: (o.state, o.pending_reason) for k, o in queued.observations.items()} == {
            f"m{i}": (JobState.PD, "JobHeldUser") for i in range(3)}, name
        assert queued.commands == 2
        after = sites[name].client.observe([JobRef(k, posixpath.join(sites[name].folder, k), "emmd", job_id=o.job_id)
                                            for k, o in outcomes.items()])
        assert {o.failure_kind for o in after.observations.values()} == {FailureKind.CANCELLED}


def test_observe_task_on_an_unreachable_cluster_is_tried_three_times(prefect_api, slave):
    dead = slave.model_copy(update={"port": 2, "connect_timeout_s": 2})

    @flow
    def observe_dead():
        return observe_jobs.with_options(retry_delay_seconds=0)(dead, [JobRef("m", "/nowhere", "emmd")])

    state = observe_dead(return_state=True)
    with pytest.raises(ClusterUnreachable, match="cannot connect to 127.0.0.1:2"):
        state.result()
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert [(r.name, r.run_count, r.state.type.value) for r in runs] == [("observe-beta", 3, "FAILED")]


def test_transfer_task_moves_a_tree_between_the_clusters(prefect_api, master, slave, sites):
    from mpflow.tasks.transfer import transfer_files
    from mpflow.transfer import Action

    src_dir, dst_dir = sites[master.name].path("src"), sites[slave.name].path("dst")
    assert sites[master.name].transport.write_files({f"{src_dir}/emmd.tpr": b"tpr\n",
                                                     f"{src_dir}/sub/emmd.sh": b"run\n"}) == {}

    @flow
    def ship():
        return transfer_files(master, src_dir, slave, dst_dir), transfer_files(master, src_dir, slave, dst_dir)

    first, second = ship()
    assert sorted((posixpath.relpath(r.path, dst_dir), r.action) for r in first) == [
        ("emmd.tpr", Action.COPIED), ("sub/emmd.sh", Action.COPIED)]
    assert [r.action for r in second] == [Action.SKIPPED, Action.SKIPPED]
    with sites[slave.name].transport.open_read(f"{dst_dir}/sub/emmd.sh") as f:
        assert f.read() == b"run\n"
