"""``mpflow server start|stop|status``: a project's own Prefect server and worker, and what is deployed
on it (the processes themselves are ``mpflow.deployments.processes``; what is set up on the server is
``mpflow.deployments.deploy``; what ``status`` reads back is ``mpflow.deployments.server_api``).

Two ways to start: the project's own server (SQLite under the project, or PostgreSQL by
``database_url``), or an **existing** server (``api_url``: a lab's one server, on PostgreSQL) on which
mpflow starts no server, only sets the project up (work pool, blocks, deployments) and starts a
worker; ``stop`` then stops that worker and leaves the server alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import httpx
from mpflow.deployments.deploy import WORKER_QUEUE, deployment_name, set_up_project, work_pool_name
from mpflow.deployments.processes import (
    DEFAULT_HOST,
    ServerError,
    ServerState,
    StatePaths,
    choose_port,
    is_healthy,
    last_log_line,
    process_is_ours,
    quiet_prefect_environment,
    read_pid,
    running_server,
    server_base_url,
    server_database_url,
    spawn,
    stop_process,
    wait_healthy,
)
from mpflow.deployments.server_api import (
    deployments_of_pool,
    last_runs_of,
    worker_online,
)

from mpflow.project.file import Project
from mpflow.redaction import redact_url


def prefect_process_env(paths: StatePaths, api_url: str, project: Project, extra: dict[str, str]) -> dict[str, str]:
    env = quiet_prefect_environment(dict(os.environ))
    env.update({"PREFECT_HOME": str(paths.prefect_home), "PREFECT_API_URL": api_url,
                "MPFLOW_PROJECT": str(project.root)})
    env.update(extra)
    return env


@dataclass
class StartReport:
    state: ServerState
    already_running: bool
    setup: object = None  # mpflow.deployments.deploy.SetUp (None when the server already ran)


def start_server(project: Project, *, host: str = DEFAULT_HOST, port: int | None = None,
                 database_url: str | None = None, api_url: str | None = None, timeout_s: float = 180,
                 progress: Callable[[str], None] = lambda _: None) -> StartReport:
    """Start the project's Prefect server (or use the existing one at ``api_url``) and a worker,
    deploy, and return what runs. Nothing is started when they run already."""
    paths = StatePaths(project.root)
    existing = running_server(project.root)
    if existing is not None:
        return StartReport(existing, already_running=True)
    stop_server(project)  # leftovers of a server that died (its worker may still run): stop what is ours
    for folder in (paths.prefect_home, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    pool = work_pool_name(project)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    if api_url is not None:
        if database_url:
            raise ServerError("--database-url is for a server mpflow starts; the existing server at "
                              f"{api_url} keeps its own database")
        url = server_base_url(api_url)
        if not is_healthy(f"{url}/api"):
            raise ServerError(f"no Prefect server answers at {url}/api: start that server, or unset "
                              "PREFECT_API_URL (and leave out --api-url) to start the project's own")
        parsed = httpx.URL(url)
        state = ServerState(project=str(project.root), url=url, host=parsed.host, port=parsed.port or 0,
                            work_pool=pool, database="(the existing server's)", started=started, server_pid=None,
                            external=True)
        progress(f"using the Prefect server at {url} (not started by mpflow: it is left running)")
        state.save(paths)
        return _set_up_and_start_worker(project, state, paths, timeout_s, progress)

    port = choose_port(host, port)
    db_url = server_database_url(paths, database_url)
    url = f"http://{host}:{port}"
    env = prefect_process_env(paths, f"{url}/api", project, {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": db_url,
        "PREFECT_UI_API_URL": f"{url}/api",
    })
    progress(f"starting the Prefect server on {url} (database {redact_url(db_url)}; log: {paths.log_file('server')})")
    server = spawn([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                    env, project.root, paths.log_file("server"))
    paths.pid_file("server").write_text(f"{server.pid}\n")
    state = ServerState(project=str(project.root), url=url, host=host, port=port, work_pool=pool,
                        database=redact_url(db_url), started=started, server_pid=server.pid)
    state.save(paths)
    try:
        wait_healthy(state.api_url, server, paths.log_file("server"), timeout_s)
    except BaseException:
        stop_server(project)
        raise
    return _set_up_and_start_worker(project, state, paths, timeout_s, progress)


def _set_up_and_start_worker(project: Project, state: ServerState, paths: StatePaths, timeout_s: float,
                             progress: Callable[[str], None]) -> StartReport:
    """Work pool, blocks and deployments on the server of ``state``, then a worker; on any failure
    what was started here is stopped again (an existing server is left alone)."""
    try:
        progress("creating the work pool, registering blocks, deploying")
        report = StartReport(state, already_running=False, setup=set_up_project(project, state.api_url))
        progress(f"starting a worker on work pool {state.work_pool} (log: {paths.log_file('worker')})")
        worker = spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", state.work_pool,
                        "--work-queue", WORKER_QUEUE, "--type", "process", "--name", f"{state.work_pool}-worker"],
                       prefect_process_env(paths, state.api_url, project, {"PREFECT_WORKER_QUERY_SECONDS": "5"}),
                       project.root, paths.log_file("worker"))
        paths.pid_file("worker").write_text(f"{worker.pid}\n")
        state.worker_pid = worker.pid
        state.save(paths)
        wait_worker_online(state, worker, paths.log_file("worker"), timeout_s)
        # the scheduled manager's runs, in one long-lived process that keeps its cluster connections
        progress(f"starting the long-lived manager (log: {paths.log_file('manager')})")
        manager = spawn([sys.executable, "-m", "mpflow", "manage", "--flow-runs", "--project", str(project.root)],
                        prefect_process_env(paths, state.api_url, project, {}), project.root,
                        paths.log_file("manager"))
        paths.pid_file("manager").write_text(f"{manager.pid}\n")
    except BaseException as exc:
        stop_server(project)
        if isinstance(exc, (ServerError, KeyboardInterrupt, SystemExit)):
            raise
        # An unexpected failure: the traceback goes to a log file, the user gets one line naming it.
        log = paths.log_file("start")
        log.write_text("".join(traceback.format_exception(exc)))
        text = str(exc).strip().splitlines()
        what = "the existing server was left running" if state.external else "the server was stopped"
        raise ServerError(f"setting up the Prefect server failed: {text[0] if text else type(exc).__name__} "
                          f"(traceback in {log}); {what}") from None
    return report


def wait_worker_online(state: ServerState, worker: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait until the worker has sent its first heartbeat to the server."""
    deadline = time.monotonic() + timeout_s
    while not worker_online(state.api_url, state.work_pool):
        if worker.poll() is not None:
            raise ServerError(f"the Prefect worker exited with code {worker.returncode} ({log}): "
                              f"{last_log_line(log) or 'no output'}")
        if time.monotonic() > deadline:
            raise ServerError(f"the Prefect worker did not come online within {timeout_s:g} s (see {log})")
        time.sleep(0.5)


def stop_server(project: Project) -> list[str]:
    """Stop the worker, then the server, that ``start_server`` started for this project (of an
    existing server, only the worker)."""
    paths = StatePaths(project.root)
    state = ServerState.read(paths)
    if state is None and read_pid(paths, "server") is None and read_pid(paths, "worker") is None:
        return ["nothing to stop: no Prefect server was started for this project"]
    lines = []
    if state is not None:
        if read_pid(paths, "manager") is not None:  # (a server started before the long-lived manager has none)
            lines.append(stop_process(paths, "manager", str(project.root)))
        lines.append(stop_process(paths, "worker", state.work_pool))
        if state.external:
            lines.append(f"server: left running at {state.url} (mpflow did not start it)")
        else:
            lines.append(stop_process(paths, "server", str(state.port)))
    else:  # pid files without a state file: nothing proves what they are
        for role in ("manager", "worker", "server"):
            paths.pid_file(role).unlink(missing_ok=True)
        lines.append("removed pid files without a state file (nothing stopped)")
    paths.state_file.unlink(missing_ok=True)
    return lines


@dataclass
class StatusReport:
    state: ServerState | None
    healthy: bool = False
    worker_running: bool = False
    manager_running: bool = False  # the long-lived manager process that runs the scheduled manager's runs
    deployments: list | None = None  # mpflow.deployments.server_api.DeploymentInfo
    manager_runs: list | None = None  # mpflow.deployments.server_api.RunInfo


def server_status(project: Project, *, last_runs: int = 5) -> StatusReport:
    """What runs for this project: server, worker, deployments and the manager's last runs."""
    state = running_server(project.root)
    if state is None:
        return StatusReport(None)
    report = StatusReport(state, healthy=is_healthy(state.api_url),
                          worker_running=state.worker_pid is not None
                          and process_is_ours(state.worker_pid, "worker", state.work_pool),
                          manager_running=(pid := read_pid(StatePaths(project.root), "manager")) is not None
                          and process_is_ours(pid, "manager", str(project.root)))
    if report.healthy:
        report.deployments = deployments_of_pool(state.api_url, state.work_pool)
        report.manager_runs = last_runs_of(state.api_url, f"manager/{deployment_name(project)}", last_runs)
    return report
