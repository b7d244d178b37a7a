"""A lab's setup, as a lab runs it: Prefect's server on PostgreSQL (the test PostgreSQL), and a project on
an existing server that mpflow did not start.

- `mpflow server start --database-url postgresql+asyncpg://…`: the server's own tables are in that
  PostgreSQL database, the manager deployment runs twice and `mpflow server status` lists its runs;
  the password is nowhere in what mpflow prints, records or logs.
- With `PREFECT_API_URL` set to a server started separately (`prefect server start`, on
  PostgreSQL too), `mpflow server start` starts no server: the work pool, the blocks, the deployments and
  a worker; `mpflow server stop` stops that worker and leaves the server running (`--api-url` takes
  the same path: ``tests/cli/test_quiet_cli.py``).

Each test stops what it started; the databases are dropped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from mpflow.deployments.processes import (
    ServerState,
    StatePaths,
    choose_port,
    is_healthy,
    process_is_ours,
    read_pid,
    spawn,
)
from projects import make_project
from sqlalchemy import create_engine, text

from mpflow.redaction import url_password

pytestmark = pytest.mark.devcluster  # the dev project's blocks are the dev clusters


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "MPFLOW_PROJECT"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return {**env, **extra}


def _mpflow(args: list[str], env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _run_manager(deployment: str, api_url: str) -> None:
    res = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", deployment, "--watch",
                          "--watch-timeout", "240"], env=_env(PREFECT_API_URL=api_url), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "Flow run finished successfully in 'Completed'."


def _pause(deployment: str, api_url: str) -> None:
    """No scheduled tick from now on, and none still running (a run of ours would be cancelled)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        client.pause_deployment(dep.id)
        active = FlowRunFilter(deployment_id={"any_": [dep.id]}, state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=["PENDING", "RUNNING", "CANCELLING"])))
        wait_until("no manager run active", lambda: not client.read_flow_runs(flow_run_filter=active), timeout=120)


def _everything_mpflow_wrote(root: Path, *outputs: str) -> str:
    files = [p for p in (root / ".mpflow").rglob("*") if p.is_file() and p.suffix in (".log", ".json")]
    return "\n".join([*outputs, *(p.read_text(errors="replace") for p in files)])


def _prefect_tables(url: str) -> int:
    engine = create_engine(url.replace("+asyncpg", "+psycopg"))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM deployment")).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def prefect_database(postgres):
    name = postgres.create(label="prefect")
    yield postgres.url_of(name, driver="asyncpg")
    postgres.drop(name)


def test_the_projects_server_on_postgres_runs_the_manager_twice_and_lists_its_runs(tmp_path, prefect_database):
    name = f"pgserved-{uuid.uuid4().hex[:8]}"  # its folder on the clusters is claimed: a name of this run's own
    project = make_project(tmp_path / "pg", name=name)
    env = _env()
    res = _mpflow(["server", "start", "--project", str(project.root), "--database-url", prefect_database], env)
    state = ServerState.read(StatePaths(project.root))
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        assert "  database:    postgresql+asyncpg://mpflow:***@127.0.0.1:" in res.stdout
        assert _prefect_tables(prefect_database) >= 1  # the deployments are in PostgreSQL
        _pause(f"manager/{name}", state.api_url)  # only our two runs
        for _ in range(2):
            _run_manager(f"manager/{name}", state.api_url)
        status = _mpflow(["server", "status", "--project", str(project.root)], env, timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr
        assert sum("Completed  tick " in line for line in status.stdout.splitlines()) >= 2
        assert "; database postgresql+asyncpg://mpflow:***@" in status.stdout.splitlines()[0]
    finally:
        stopped = _mpflow(["server", "stop", "--project", str(project.root)], env, timeout=120)
    assert stopped.returncode == 0 and not process_is_ours(state.server_pid, "server", str(state.port))
    everything = _everything_mpflow_wrote(project.root, res.stdout, res.stderr, status.stdout, stopped.stdout)
    assert url_password(prefect_database) not in everything


def test_an_existing_server_gets_the_project_and_a_worker_and_keeps_running_after_stop(tmp_path, prefect_database):
    port = choose_port("127.0.0.1", None)
    home = tmp_path / "lab-server"
    server = spawn([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                   _env(PREFECT_HOME=str(home), PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_database),
                   tmp_path, home / "server.log")
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_until("the lab's server", lambda: server.poll() is not None or is_healthy(api_url), timeout=180)
        assert server.poll() is None, (home / "server.log").read_text()[-2000:]
        name = f"labproj-{uuid.uuid4().hex[:8]}"  # its folder on the clusters is claimed: a name of this run's own
        project = make_project(tmp_path / "lab", name=name)
        env = _env(PREFECT_API_URL=api_url)
        res = _mpflow(["server", "start", "--project", str(project.root)], env)
        assert res.returncode == 0, res.stdout + res.stderr
        state = ServerState.read(StatePaths(project.root))
        assert (state.external, state.server_pid, state.api_url) == (True, None, api_url)
        assert res.stdout.splitlines()[0] == f"using the Prefect server at http://127.0.0.1:{port} " \
                                             "(not started by mpflow: it is left running)"
        assert f"project '{name}' is set up on the Prefect server at http://127.0.0.1:{port} " \
               "(not started by mpflow)" in res.stdout
        assert f"deployment:  manager/{name} (every 15 s" in res.stdout
        assert not StatePaths(project.root).pid_file("server").exists()
        assert process_is_ours(state.worker_pid, "worker", f"mpflow-{name}")
        _pause(f"manager/{name}", api_url)
        _run_manager(f"manager/{name}", api_url)  # the worker mpflow started runs it
        status = _mpflow(["server", "status", "--project", str(project.root)], _env(), timeout=120)
        assert status.stdout.splitlines()[0] == f"server: http://127.0.0.1:{port} (not started by mpflow; healthy)"
        manager_pid = read_pid(StatePaths(project.root), "manager")  # the long-lived manager mpflow started
        assert manager_pid is not None and process_is_ours(manager_pid, "manager", str(project.root))
        stopped = _mpflow(["server", "stop", "--project", str(project.root)], _env(), timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.splitlines() == [f"manager: stopped (pid {manager_pid})",
                                               f"worker: stopped (pid {state.worker_pid})",
                                               f"server: left running at http://127.0.0.1:{port} "
                                               "(mpflow did not start it)"]
        assert server.poll() is None and is_healthy(api_url)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and what it started (its own session)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
