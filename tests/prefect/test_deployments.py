"""The project's own Prefect server, started by `mpflow server start` as a user does, with every flow
deployed on the dev clusters: the API lists what was set up, the 15-second schedule runs manager
ticks one at a time, and `prefect deployment run` of the manager, and of the models flow with the
defaults its UI form opens with, lands in the project's jobs database.

One server for the whole module (it takes ~10-40 s to come up on two cores); `mpflow server stop`
ends it, its worker and their children afterwards, and the jobs the ticks submitted are cancelled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from manager_helpers import Bench, make_bench
from mpflow.analysis.structure.helix_builder import build_models
from mpflow.deployments.processes import ServerState, StatePaths, process_is_ours

from mpflow.clusters.settings import dev_cluster_settings
from mpflow.project.mutants import EXAMPLES, Mutant
from mpflow.store.schema import Model

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

PROJECT = f"served-{uuid.uuid4().hex[:8]}"  # its folder on the dev clusters is its own
STAGE = '''[stages.probe]
kind = "script"
commands = ["echo ok > probe.gro"]
time_limit_min = 2
retry_budget = 1
'''
RAN = {"COMPLETED", "FAILED", "CRASHED"}  # runs that went through Running (not cancelled before starting)


@dataclass
class Served:
    bench: Bench
    state: ServerState
    env: dict[str, str]
    mutant: str  # the project's one mutant (the models deployment's default), two models built for it
    built: set[str]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MPFLOW_PROJECT")}


def _mpflow(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpflow", *args], cwd=cwd, env=_clean_env(), capture_output=True,
                          text=True, timeout=timeout)


served_manager_pid = [0]  # the long-lived manager process of the served project, for the fixture's last check


@pytest.fixture(scope="module")
def served(tmp_path_factory, master, slave):
    root = tmp_path_factory.mktemp("served")
    bench = make_bench(root, [master, slave], STAGE, "interval_s = 15\nbackoff_s = [0]", name=PROJECT)
    bench.add_models("m1")
    # A mutant of its own for the models flow (before the server starts: it is the form's default).
    mutant = Mutant(name=f"{bench.mutant}-gpa", sequence=EXAMPLES["GpA-WT"].sequence, oligomer=2, first_resid=70)
    bench.project.add_mutant(mutant)
    built = build_models(mutant, k=2, out_dir=root / "built" / mutant.name)
    try:
        res = _mpflow(["server", "start", "--project", str(root)], cwd=root.parent, timeout=400)
        assert res.returncode == 0, res.stdout + res.stderr
        state = ServerState.read(StatePaths(root))
        served_manager_pid[0] = int(StatePaths(root).pid_file("manager").read_text())
        yield Served(bench, state, {**_clean_env(), "PREFECT_API_URL": state.api_url}, mutant.name,
                     {b.name for b in built})
    finally:
        stopped = _mpflow(["server", "stop", "--project", str(root)], cwd=root.parent)
        bench.cleanup()  # the project's folder on each cluster
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not process_is_ours(state.server_pid, "server", str(state.port))
    assert not process_is_ours(state.worker_pid, "worker", state.work_pool)
    assert not process_is_ours(served_manager_pid[0], "manager", str(root))


@contextmanager
def api(served: Served):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: served.state.api_url}), get_client(sync_client=True) as client:
        yield client


def manager_runs(client, deployment_id) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])))


def test_the_servers_api_lists_the_blocks_work_pool_and_deployments(served):
    with api(served) as client:
        blocks = client.read_block_documents_by_type("mpflow-slurm-cluster")
        pool = client.read_work_pool(f"mpflow-{PROJECT}")
        deployments = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
        block_type = client.read_block_type_by_slug("mpflow-slurm-cluster")
    assert block_type.name == "mpflow Slurm cluster"
    assert {b.name for b in blocks} == {s.name for s in dev_cluster_settings()}  # every dev cluster, however many
    assert pool.type == "process"
    from mpflow.deployments.registry import DEPLOYMENTS

    assert set(deployments) == {f"{e.load_flow().name}/{PROJECT}" for e in DEPLOYMENTS}
    manager = deployments[f"manager/{PROJECT}"]
    assert [s.schedule.interval.total_seconds() for s in manager.schedules] == [15.0]
    assert (manager.global_concurrency_limit.limit, manager.concurrency_options.collision_strategy.value) \
        == (1, "CANCEL_NEW")
    assert manager.parameters == {"project": str(served.bench.root)}
    assert manager.entrypoint == "mpflow.flows.manager.manager_flow"
    assert manager.work_pool_name == f"mpflow-{PROJECT}"


def test_commands_run_in_the_project_use_its_server_and_a_second_start_changes_nothing(served):
    res = _mpflow(["cluster", "check", "alpha"], cwd=served.bench.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[0].startswith("[alpha] ok   connect:")
    assert "Traceback" not in res.stderr
    again = _mpflow(["server", "start"], cwd=served.bench.root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[0] == (f"the Prefect server of project {PROJECT!r} already runs at "
                                            f"{served.state.url}")
    assert ServerState.read(StatePaths(served.bench.root)) == served.state


def test_the_scheduled_manager_completes_runs_one_at_a_time(served):
    with api(served) as client:
        deployment = client.read_deployment_by_name(f"manager/{PROJECT}")
        client.resume_deployment(deployment.id)  # (a later test pauses it)

        def completed():
            runs = [r for r in manager_runs(client, deployment.id) if r.state_type.value == "COMPLETED"]
            return runs if len(runs) >= 2 else None

        wait_until("two completed scheduled manager runs", completed, timeout=60)
        ran = sorted((r for r in manager_runs(client, deployment.id) if r.state_type.value in RAN),
                     key=lambda r: r.start_time)
    assert {r.state_type.value for r in ran} == {"COMPLETED"}
    assert all(r.name.startswith("tick ") for r in ran)
    for earlier, later in zip(ran, ran[1:]):
        assert earlier.end_time <= later.start_time, f"{earlier.name} overlaps {later.name}"
    # the ticks did the manager's work: m1 went to both clusters
    assert {j.cluster for j in served.bench.jobs("probe")} == {"alpha", "beta"}
    status = _mpflow(["server", "status"], cwd=served.bench.root)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"deployment: manager/{PROJECT} (every 15 s, at most 1 at a time)" in status.stdout.splitlines()
    assert "Completed  tick " in status.stdout
    # issue 20: the scheduled runs ran in the long-lived manager process (its work queue is not the worker's),
    # which kept one connection to beta for all of them; none was cancelled as overlapping
    assert "manager: running (the long-lived process" in status.stdout
    assert deployment.work_queue_name == "manager"
    with api(served) as client:
        runs = manager_runs(client, deployment.id)
    first_tick = min(r.start_time for r in runs if r.state_type.value == "COMPLETED")
    # a run due before the manager process was up may be skipped as stale; none after its first tick
    late = [(r.name, r.state.message) for r in runs if r.state_type.value == "CANCELLED"
            and (r.expected_start_time > first_tick or not (r.state.message or "").startswith("skipped"))]
    assert late == []
    log = (served.bench.root / ".mpflow" / "logs" / "manager.log").read_text()
    assert log.count("Beginning flow run 'tick ") >= 2


def test_prefect_deployment_run_of_the_manager_lands_in_the_jobs_database(served):
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    b = served.bench
    with api(served) as client:
        deployment = client.read_deployment_by_name(f"manager/{PROJECT}")
        client.pause_deployment(deployment.id)  # no scheduled tick: only our run may act
        try:
            active = FlowRunFilter(deployment_id={"any_": [deployment.id]},
                                   state=FlowRunFilterState(type=FlowRunFilterStateType(
                                       any_=["PENDING", "RUNNING", "CANCELLING"])))
            wait_until("no manager run active", lambda: not client.read_flow_runs(flow_run_filter=active), timeout=60)
            [m2] = b.add_models("m2")
            res = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", f"manager/{PROJECT}",
                                  "--watch", "--watch-timeout", "180"],
                                 env=served.env, capture_output=True, text=True, timeout=240)
        finally:
            client.resume_deployment(deployment.id)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "Flow run finished successfully in 'Completed'."
    assert {(j.cluster, j.model_id) for j in b.jobs("probe") if j.model_id == m2} == {("alpha", m2), ("beta", m2)}


def test_prefect_deployment_run_of_models_with_the_forms_defaults_imports_the_built_models(served):
    from sqlalchemy import select

    res = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", f"models/{PROJECT}",
                          "--watch", "--watch-timeout", "240"],
                         env=served.env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "Flow run finished successfully in 'Completed'."
    assert f"{served.mutant}: 2 model files" in " ".join(res.stdout.split())  # the run's name (wrapped by rich)
    with served.bench.Session() as s:
        names = set(s.scalars(select(Model.name).where(Model.mutant == served.mutant)))
    assert names == served.built
