"""The cluster block in a real Prefect API, and the batch tasks running on the dev clusters."""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys

import pytest
from cluster_helpers import new_token
from prefect import flow
from prefect.states import Completed, Failed
from pydantic import SecretStr
from typer.testing import CliRunner

from mpflow.blocks.cluster import SlurmCluster
from mpflow.cli import app
from mpflow.jobscript import JobScriptOptions
from mpflow.slurm import JobState
from mpflow.slurm_client import JobRef
from mpflow.submission import SubmitRequest
from mpflow.transport import ClusterUnreachable, CommandTimeout, LocalTransport, SSHTransport
from mpflow.tasks.slurm import observe_jobs, submit_jobs, transient_only


def test_block_type_registers_with_the_prefect_cli(prefect_api):
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    res = subprocess.run([sys.executable, "-m", "prefect", "block", "register", "-m", "mpflow.blocks.cluster"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "mpflow Slurm cluster" in res.stdout


def test_register_dev_saves_one_block_per_cluster_and_they_load_by_name(prefect_api, clusters):
    result = CliRunner().invoke(app, ["cluster", "register-dev"])
    assert result.exit_code == 0, result.output
    for name, settings in clusters.items():
        block = SlurmCluster.load(name)
        assert block.settings() == settings
        expected = SSHTransport if settings.kind == "remote" else LocalTransport
        assert type(block.transport()) is expected


def test_secrets_are_stored_but_never_shown(prefect_api, slave):
    block = SlurmCluster(**{**dict(slave), "password": SecretStr("hunter2-do-not-print")})
    block.save("with-secret", overwrite=True)
    loaded = SlurmCluster.load("with-secret")
    assert loaded.password.get_secret_value() == "hunter2-do-not-print"
    assert "hunter2" not in repr(loaded) and "hunter2" not in str(loaded.settings())
    assert "hunter2" not in loaded.settings().describe()


def test_transient_only_retries_unreachable_and_timeouts_but_not_other_errors():
    assert transient_only(None, None, Failed(data=ClusterUnreachable("down", cluster="beta")))
    assert transient_only(None, None, Failed(data=CommandTimeout("slow", cluster="beta")))
    assert not transient_only(None, None, Failed(data=ValueError("bad option")))
    assert not transient_only(None, None, Completed(data=1))


def test_batch_tasks_in_a_flow_on_both_clusters(prefect_api, clusters):
    """One submit task and one observe task per cluster, whatever the number of models."""

    @flow
    def two_cluster_batch(names: list[str], n_models: int):
        results = {}
        for name in names:
            cluster = SlurmCluster.load(name)
            base = posixpath.join(cluster.workdir, "tests", new_token("flow"))
            reqs = [SubmitRequest(f"m{i}", new_token("f"), "None",
                                  JobScriptOptions(job_dir=posixpath.join(base, f"m{i}"), stage="emmd", mdrun=False,
                                                   commands=["echo x > emmd.gro"], time_limit_min=2))
                    for i in range(n_models)]
            outcomes = submit_jobs(cluster, reqs)
            refs = [JobRef(o.key, r.options.job_dir, "emmd", job_id=o.job_id) for o, r in zip(outcomes, reqs)]
            results[name] = observe_jobs(cluster, refs)
        return results

    CliRunner().invoke(app, ["cluster", "register-dev"])
    results = two_cluster_batch(list(clusters), 3)
    for name, res in results.items():
        assert len(res.observations) == 3
        assert all(o.state in {JobState.PD, JobState.R, JobState.D} for o in res.observations.values()), name


def test_observe_task_on_an_unreachable_cluster_fails_after_retries(prefect_api, slave):
    dead = slave.model_copy(update={"port": 2, "connect_timeout_s": 2})

    @flow
    def observe_dead():
        return observe_jobs.with_options(retry_delay_seconds=0)(dead, [JobRef("m", "/nowhere", "emmd")])

    with pytest.raises(ClusterUnreachable, match="cannot connect"):
        observe_dead()


def test_transfer_task_moves_a_tree_between_the_clusters(prefect_api, master, slave, tmp_path):
    from mpflow.tasks.transfer import transfer_files
    from mpflow.transfer import Action
    from mpflow.transport import open_transport

    src_dir = posixpath.join(master.workdir, "tests", new_token("xfer"))
    dst_dir = posixpath.join(slave.workdir, "tests", new_token("xfer"))
    with open_transport(master) as t:
        t.run(["mkdir", "-p", posixpath.join(src_dir, "sub")])
        t.run(["sh", "-c", 'echo tpr > "$1/emmd.tpr"; echo run > "$1/sub/emmd.sh"', "_", src_dir])

    @flow
    def ship():
        return transfer_files(master, src_dir, slave, dst_dir), transfer_files(master, src_dir, slave, dst_dir)

    first, second = ship()
    assert sorted((posixpath.relpath(r.path, dst_dir), r.action) for r in first) == [
        ("emmd.tpr", Action.COPIED), ("sub/emmd.sh", Action.COPIED)]
    assert all(r.action is Action.SKIPPED for r in second)
    with open_transport(slave) as t:
        assert t.run(["cat", posixpath.join(dst_dir, "sub", "emmd.sh")]).stdout == "run\n"
