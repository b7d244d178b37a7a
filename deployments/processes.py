"""A project's Prefect server and worker as processes: where their state is, finding them, stopping
exactly them, ports and health.

``mpflow server start`` (``mpflow.deployments.server``) starts a real ``prefect server start`` and a
process worker, each in its own session with its output in a log file under the project, and
records them in the project's state folder::

    <project>/.mpflow/
        server.json          url, port, work pool, database, pids (what ``status`` and the CLI read)
        server.pid worker.pid
        prefect/             the server's PREFECT_HOME and SQLite database
        logs/server.log logs/worker.log
        backups/             the jobs database as it was before each `mpflow db restore`

For an existing server (``PREFECT_API_URL``, ``--api-url``) there is no server pid: the state file
says ``external`` and only the worker is started and stopped.

``stop`` signals only processes whose pid files name them *and* whose command line is still the one
started here (a pid reused by another program is left alone). This module imports no Prefect, so every
``mpflow`` command can ask whether its project's server runs (:func:`running_server`) for nothing.
"""


from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from mpflow.redaction import redact_url

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
    def backups(self) -> Path:
        """Where ``mpflow db restore`` keeps the jobs database as it was before a restore."""
        return self.folder / "backups"

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
    server_pid: int | None  # None: a server mpflow did not start (``external``)
    worker_pid: int | None = None
    external: bool = False  # an existing server (PREFECT_API_URL, --api-url): only the worker is ours

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def alive(self) -> bool:
        """Our server runs (or, for an existing server, our worker on it does)."""
        if self.external:
            return self.worker_pid is not None and process_is_ours(self.worker_pid, "worker", self.work_pool)
        return self.server_pid is not None and process_is_ours(self.server_pid, "server", str(self.port))

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
    if role == "manager":  # the long-lived manager: `python -m mpflow manage --flow-runs --project <root>`
        return ["mpflow", "manage", "--flow-runs", marker]
    return ["prefect", "server" if role == "server" else "worker", "start", marker]


def process_is_ours(pid: int, role: str, marker: str) -> bool:
    """Is ``pid`` alive and still the ``prefect server|worker start`` (or the long-lived manager) started with
    ``marker`` in its argv?"""
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


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n---- {datetime.now(UTC).isoformat(timespec='seconds')} {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def last_log_line(log: Path) -> str:
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
    """Prefect's database URL: SQLite under the project, or the PostgreSQL URL given (asyncpg driver,
    whichever driver the URL named)."""
    if not url:
        return paths.sqlite_url
    scheme, sep, rest = url.partition("://")
    if not sep:
        # not a URL: it is not echoed, since its password (if any) could not be told apart
        raise ServerError("--database-url: not a URL (want postgresql://USER:PASSWORD@HOST/DB)")
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return f"sqlite+aiosqlite://{rest}"
    raise ServerError(f"--database-url {redact_url(url)!r}: Prefect's server needs a postgresql:// or sqlite:// URL")


def is_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(api_url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_healthy(api_url):
        if process.poll() is not None:
            raise ServerError(f"the Prefect server exited with code {process.returncode} ({log}): "
                              f"{last_log_line(log) or 'no output'}")
        if time.monotonic() > deadline:
            raise ServerError(f"the Prefect server did not answer {api_url}/health within {timeout_s:g} s "
                              f"(see {log})")
        time.sleep(0.5)


# -- the project's server ---------------------------------------------------------------------------

def running_server(root: Path) -> ServerState | None:
    """The project's server if its process still runs (the state file alone proves nothing); for an
    existing server mpflow did not start, while the worker mpflow started on it runs."""
    state = ServerState.read(StatePaths(Path(root).resolve()))
    return state if state is not None and state.alive() else None


def server_base_url(api_url: str) -> str:
    """The server's address from a Prefect API URL (``http://host:4200/api`` → ``http://host:4200``);
    a URL given without ``/api`` is taken for the server's own address."""
    url = api_url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest:
        raise ServerError(f"{api_url!r} is not a Prefect API URL (want http://HOST:PORT/api)")
    return url.removesuffix("/api")


