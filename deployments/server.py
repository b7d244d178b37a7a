"""``mpflow server start|stop|status``: a project's own Prefect server and worker, and what is deployed
on it (the processes themselves are ``mpflow.deployments.processes``; what is set up on the server is
``mpflow.deployments.deploy``; what ``status`` reads back is ``mpflow.deployments.server_api``)."""

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

from mpflow.deployments.deploy import deployment_name, set_up_project, work_pool_name
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
                 database_url: str | None = None, timeout_s: float = 180,
                 progress: Callable[[str], None] = lambda _: None) -> StartReport:
    """Start the project's Prefect server and worker (unless they run), deploy, and return what runs."""
    paths = StatePaths(project.root)
    existing = running_server(project.root)
    if existing is not None:
        return StartReport(existing, already_running=True)
    stop_server(project)  # leftovers of a server that died (its worker may still run): stop what is ours

    port = choose_port(host, port)
    db_url = server_database_url(paths, database_url)
    url = f"http://{host}:{port}"
    pool = work_pool_name(project)
    for folder in (paths.prefect_home, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    env = prefect_process_env(paths, f"{url}/api", project, {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": db_url,
        "PREFECT_UI_API_URL": f"{url}/api",
    })
    progress(f"starting the Prefect server on {url} (log: {paths.log_file('server')})")
    server = spawn([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                    env, project.root, paths.log_file("server"))
    paths.pid_file("server").write_text(f"{server.pid}\n")
    state = ServerState(project=str(project.root), url=url, host=host, port=port, work_pool=pool,
                        database=redact_url(db_url), started=datetime.now(UTC).isoformat(timespec="seconds"),
                        server_pid=server.pid)
    state.save(paths)
    try:
        wait_healthy(state.api_url, server, paths.log_file("server"), timeout_s)
        progress("creating the work pool, registering blocks, deploying")
        report = StartReport(state, already_running=False, setup=set_up_project(project, state.api_url))
        progress(f"starting a worker on work pool {pool} (log: {paths.log_file('worker')})")
        worker = spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
                         "--name", f"{pool}-worker"],
                        prefect_process_env(paths, state.api_url, project, {"PREFECT_WORKER_QUERY_SECONDS": "5"}),
                        project.root, paths.log_file("worker"))
        paths.pid_file("worker").write_text(f"{worker.pid}\n")
        state.worker_pid = worker.pid
        state.save(paths)
        wait_worker_online(state, worker, paths.log_file("worker"), timeout_s)
    except BaseException as exc:
        stop_server(project)
        if isinstance(exc, (ServerError, KeyboardInterrupt, SystemExit)):
            raise
        # An unexpected failure: the traceback goes to a log file, the user gets one line naming it.
        log = paths.log_file("start")
        log.write_text("".join(traceback.format_exception(exc)))
        text = str(exc).strip().splitlines()
        raise ServerError(f"setting up the Prefect server failed: {text[0] if text else type(exc).__name__} "
                          f"(traceback in {log}); the server was stopped") from None
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
    """Stop the worker, then the server, that ``start_server`` started for this project."""
    paths = StatePaths(project.root)
    state = ServerState.read(paths)
    if state is None and read_pid(paths, "server") is None and read_pid(paths, "worker") is None:
        return ["nothing to stop: no Prefect server was started for this project"]
    lines = []
    if state is not None:
        lines.append(stop_process(paths, "worker", state.work_pool))
        lines.append(stop_process(paths, "server", str(state.port)))
    else:  # pid files without a state file: nothing proves what they are
        for role in ("worker", "server"):
            paths.pid_file(role).unlink(missing_ok=True)
        lines.append("removed pid files without a state file (nothing stopped)")
    paths.state_file.unlink(missing_ok=True)
    return lines


@dataclass
class StatusReport:
    state: ServerState | None
    healthy: bool = False
    worker_running: bool = False
    deployments: list | None = None  # mpflow.deployments.server_api.DeploymentInfo
    manager_runs: list | None = None  # mpflow.deployments.server_api.RunInfo


def server_status(project: Project, *, last_runs: int = 5) -> StatusReport:
    """What runs for this project: server, worker, deployments and the manager's last runs."""
    state = running_server(project.root)
    if state is None:
        return StatusReport(None)
    report = StatusReport(state, healthy=is_healthy(state.api_url),
                          worker_running=state.worker_pid is not None
                          and process_is_ours(state.worker_pid, "worker", state.work_pool))
    if report.healthy:
        report.deployments = deployments_of_pool(state.api_url, state.work_pool)
        report.manager_runs = last_runs_of(state.api_url, f"manager/{deployment_name(project)}", last_runs)
    return report
