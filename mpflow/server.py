"""A project's own Prefect server and worker: start them, find them, stop exactly them.

``mpflow server start`` runs a real ``prefect server start`` (SQLite under the project by default,
PostgreSQL when a URL is given) and a process worker, each in its own session with its output in a
log file under the project, and records them in the project's state folder::

    <project>/.mpflow/
        server.json          url, port, work pool, database, pids (what ``status`` and the CLI read)
        server.pid worker.pid
        prefect/             the server's PREFECT_HOME and SQLite database
        logs/server.log logs/worker.log

``stop`` signals only processes whose pid files name them *and* whose command line is still the one
started here (a pid reused by another program is left alone). Starting the processes and waiting for
them is here; what is set up on the server is ``mpflow.deployments.deploy``, and what is read from its
API for ``status`` is ``mpflow.deployments.server_api``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from mpflow.project import Project

STATE_DIR = ".mpflow"
DEFAULT_PORT = 4200
DEFAULT_HOST = "127.0.0.1"

# Prefect's anonymous analytics and promotional content are off unless the user asks for them: mpflow
# runs on cluster login nodes and laptops, often without a route to the internet, where the server's
# telemetry heartbeat only produces tracebacks.
QUIET_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

NO_SERVER = "no Prefect server for this project: start one with mpflow server start"


class ServerError(Exception):
    """The project's server cannot be started, found or stopped; one line saying what to do."""


def quiet_prefect_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: ``os.environ``, changed in place) with the quiet defaults where unset."""
    env = os.environ if env is None else env
    for key, value in QUIET_PREFECT_DEFAULTS.items():
        env.setdefault(key, value)
    return env


@dataclass(frozen=True)
class StatePaths:
    """Where a project keeps its server's state, logs and (SQLite) database."""

    root: Path

    @property
    def folder(self) -> Path:
        return self.root / STATE_DIR

    @property
    def prefect_home(self) -> Path:
        return self.folder / "prefect"

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def state_file(self) -> Path:
        return self.folder / "server.json"

    def pid_file(self, role: str) -> Path:
        return self.folder / f"{role}.pid"

    def log_file(self, role: str) -> Path:
        return self.logs / f"{role}.log"

    @property
    def sqlite_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.prefect_home / 'prefect.db'}"


@dataclass
class ServerState:
    """What ``start`` recorded: enough for ``status``, ``stop`` and for commands to find the API."""

    project: str
    url: str
    host: str
    port: int
    work_pool: str
    database: str
    started: str
    server_pid: int
    worker_pid: int | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def save(self, paths: StatePaths) -> None:
        tmp = paths.state_file.with_name(f".{paths.state_file.name}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, paths.state_file)

    @classmethod
    def read(cls, paths: StatePaths) -> "ServerState | None":
        try:
            return cls(**json.loads(paths.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None


# -- processes ------------------------------------------------------------------------------------

def _cmdline(pid: int) -> list[str] | None:
    """The process's argv, or None when no such process (or it is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a] or None


def _reap(pid: int) -> None:
    """Collect the exit status of a child of this process (tests start servers in-process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signature(role: str, marker: str) -> list[str]:
    return ["prefect", "server" if role == "server" else "worker", "start", marker]


def process_is_ours(pid: int, role: str, marker: str) -> bool:
    """Is ``pid`` alive and still the ``prefect server|worker start`` started with ``marker`` in its argv?"""
    _reap(pid)
    argv = _cmdline(pid)
    return argv is not None and all(part in argv for part in _signature(role, marker))


def read_pid(paths: StatePaths, role: str) -> int | None:
    try:
        return int(paths.pid_file(role).read_text().strip())
    except (OSError, ValueError):
        return None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the worker's flow-run processes run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    _reap(pid)
    argv = _cmdline(pid)
    return argv is not None


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_process(paths: StatePaths, role: str, marker: str, *, grace_s: float = 20) -> str:
    """Stop the ``role`` process named by its pid file (and what it started); say what was done."""
    pid = read_pid(paths, role)
    pid_file = paths.pid_file(role)
    if pid is None:
        return f"{role}: not running"
    if not process_is_ours(pid, role, marker):
        pid_file.unlink(missing_ok=True)
        return f"{role}: not running (stale pid file {pid} removed)"
    tree = [pid, *_descendants(pid)]
    _signal_all(tree, signal.SIGTERM)
    left = _wait_gone(tree, grace_s)
    if left:
        _signal_all(left, signal.SIGKILL)
        _wait_gone(left, 5)
    pid_file.unlink(missing_ok=True)
    return f"{role}: stopped (pid {pid}{', killed after ' + format(grace_s, 'g') + ' s' if left else ''})"


def _spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n---- {datetime.now(UTC).isoformat(timespec='seconds')} {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# -- ports, URLs, health ----------------------------------------------------------------------------

def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, requested: int | None) -> int:
    """``requested`` if free (else an error); without one, 4200 if free, else any free port."""
    if requested is not None:
        if not port_is_free(host, requested):
            raise ServerError(f"port {requested} on {host} is in use: choose another with --port")
        return requested
    if port_is_free(host, DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_database_url(paths: StatePaths, url: str | None) -> str:
    """Prefect's database URL: SQLite under the project, or the PostgreSQL URL given (asyncpg driver)."""
    if not url:
        return paths.sqlite_url
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ServerError(f"--database {url!r}: not a URL (want postgresql://USER:PASSWORD@HOST/DB)")
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise ServerError(f"--database {url!r}: Prefect's server needs a postgresql:// or sqlite:// URL")


def redact_url(url: str) -> str:
    """The URL without its password (for printing and the state file)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def is_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(api_url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_healthy(api_url):
        if process.poll() is not None:
            raise ServerError(f"the Prefect server exited with code {process.returncode} ({log}): "
                              f"{_last_line(log) or 'no output'}")
        if time.monotonic() > deadline:
            raise ServerError(f"the Prefect server did not answer {api_url}/health within {timeout_s:g} s "
                              f"(see {log})")
        time.sleep(0.5)


# -- the project's server ---------------------------------------------------------------------------

def running_server(root: Path) -> ServerState | None:
    """The project's server if its process still runs (the state file alone proves nothing)."""
    paths = StatePaths(Path(root).resolve())
    state = ServerState.read(paths)
    if state is None or not process_is_ours(state.server_pid, "server", str(state.port)):
        return None
    return state


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

    from mpflow.deployments.deploy import set_up_project, work_pool_name

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
    server = _spawn([sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
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
        worker = _spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
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
        import traceback

        log = paths.log_file("start")
        log.write_text("".join(traceback.format_exception(exc)))
        text = str(exc).strip().splitlines()
        raise ServerError(f"setting up the Prefect server failed: {text[0] if text else type(exc).__name__} "
                          f"(traceback in {log}); the server was stopped") from None
    return report


def wait_worker_online(state: ServerState, worker: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait until the worker has sent its first heartbeat to the server."""
    from mpflow.deployments.server_api import worker_online

    deadline = time.monotonic() + timeout_s
    while not worker_online(state.api_url, state.work_pool):
        if worker.poll() is not None:
            raise ServerError(f"the Prefect worker exited with code {worker.returncode} ({log}): "
                              f"{_last_line(log) or 'no output'}")
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
        from mpflow.deployments.deploy import deployment_name
        from mpflow.deployments.server_api import deployments_of_pool, last_runs_of

        report.deployments = deployments_of_pool(state.api_url, state.work_pool)
        report.manager_runs = last_runs_of(state.api_url, f"manager/{deployment_name(project)}", last_runs)
    return report
