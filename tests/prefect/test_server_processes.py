"""The project's server processes without a server: ports, database URLs, and `stop` ending only its own.

Real processes stand in for the server: one whose command line is what `mpflow server start` runs
(``... prefect server start ... --port N``, with a child of its own), and one that is not ours.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from mpflow.deployments.processes import (
    DEFAULT_PORT,
    ServerError,
    ServerState,
    StatePaths,
    choose_port,
    port_is_free,
    process_is_ours,
    running_server,
    server_base_url,
    server_database_url,
)
from mpflow.deployments.server import start_server, stop_server

from mpflow.project.file import init_project
from mpflow.redaction import redact_url

# A stand-in whose argv carries the words `mpflow server start` gives its server, and which starts a child.
STAND_IN = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            "time.sleep(120)")


@pytest.fixture
def project(tmp_path):
    return init_project(tmp_path / "p", name="p", dev=True)


def _record(project, server_pid: int, port: int) -> StatePaths:
    paths = StatePaths(project.root)
    paths.folder.mkdir(parents=True, exist_ok=True)
    paths.pid_file("server").write_text(f"{server_pid}\n")
    ServerState(project=str(project.root), url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port,
                work_pool="mpflow-p", database="sqlite", started="now", server_pid=server_pid).save(paths)
    return paths


def _wait_for(predicate, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_a_port_in_use_is_refused_and_without_one_a_free_port_is_chosen():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {busy} on 127.0.0.1 is in use: choose another with --port"):
            choose_port("127.0.0.1", busy)
        chosen = choose_port("127.0.0.1", None)
    assert chosen != busy and port_is_free("127.0.0.1", chosen)
    with socket.socket() as s:  # 4200 taken: another port, not an error
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do (a port in TIME_WAIT is free)
        try:
            s.bind(("127.0.0.1", DEFAULT_PORT))
            s.listen()
        except OSError:
            pass  # someone else holds 4200 already: same situation
        assert choose_port("127.0.0.1", None) != DEFAULT_PORT


def test_database_urls_sqlite_under_the_project_postgres_with_asyncpg_and_others_refused(project):
    paths = StatePaths(project.root)
    assert server_database_url(paths, None) == f"sqlite+aiosqlite:///{project.root}/.mpflow/prefect/prefect.db"
    assert server_database_url(paths, "postgresql://u:pw@db:5432/prefect") == "postgresql+asyncpg://u:pw@db:5432/prefect"
    assert server_database_url(paths, "postgres://u@db/prefect") == "postgresql+asyncpg://u@db/prefect"
    with pytest.raises(ServerError, match=r"--database-url 'mysql://u@db/p': Prefect's server needs a postgresql://"):
        server_database_url(paths, "mysql://u@db/p")
    with pytest.raises(ServerError, match="not a URL"):
        server_database_url(paths, "prefect-db")
    # issue 24, item 2: a password is never echoed, in a URL of the wrong kind or in what is no URL
    with pytest.raises(ServerError) as info:
        server_database_url(paths, "mysql://u:SECRET@db/p")
    assert "SECRET" not in str(info.value) and "'mysql://u:***@db/p'" in str(info.value)
    with pytest.raises(ServerError) as info:
        server_database_url(paths, "u:SECRET@db/p")
    assert "SECRET" not in str(info.value)
    assert redact_url("postgresql+asyncpg://u:secret@db/prefect") == "postgresql+asyncpg://u:***@db/prefect"
    assert redact_url("sqlite+aiosqlite:////x/prefect.db") == "sqlite+aiosqlite:////x/prefect.db"


def test_stop_leaves_a_process_that_is_not_ours_alone_and_removes_its_stale_pid_file(project):
    other = subprocess.Popen(["sleep", "60"])
    try:
        paths = _record(project, other.pid, 4999)
        assert running_server(project.root) is None
        assert stop_server(project) == ["worker: not running",
                                        f"server: not running (stale pid file {other.pid} removed)"]
        assert other.poll() is None  # still running
        assert not paths.pid_file("server").exists() and not paths.state_file.exists()
    finally:
        other.kill()
        other.wait()


def test_stop_ends_our_server_process_and_what_it_started(project):
    ours = subprocess.Popen([sys.executable, "-c", STAND_IN, "prefect", "server", "start", "--port", "4998"],
                            start_new_session=True)
    try:
        _wait_for(lambda: _children(ours.pid))
        [child] = _children(ours.pid)
        paths = _record(project, ours.pid, 4998)
        assert process_is_ours(ours.pid, "server", "4998") and not process_is_ours(ours.pid, "server", "4200")
        assert running_server(project.root).server_pid == ours.pid
        assert stop_server(project) == ["worker: not running", f"server: stopped (pid {ours.pid})"]
        assert ours.wait(timeout=10) is not None
        _wait_for(lambda: subprocess.run(["kill", "-0", str(child)], capture_output=True).returncode != 0)
        assert not paths.state_file.exists() and not paths.pid_file("server").exists()
        assert stop_server(project) == ["nothing to stop: no Prefect server was started for this project"]
    finally:
        if ours.poll() is None:
            ours.kill()
            ours.wait()


def test_the_state_file_round_trips(project):
    paths = _record(project, 12345, 4200)
    state = ServerState.read(paths)
    assert (state.api_url, state.work_pool, state.worker_pid) == ("http://127.0.0.1:4200/api", "mpflow-p", None)
    assert json.loads(paths.state_file.read_text())["server_pid"] == 12345


def test_an_existing_server_that_does_not_answer_is_one_line_and_starts_nothing(project):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerError) as info:
        start_server(project, api_url=f"http://127.0.0.1:{port}/api")
    assert str(info.value) == (f"no Prefect server answers at http://127.0.0.1:{port}/api: start that server, or "
                               "unset PREFECT_API_URL (and leave out --api-url) to start the project's own")
    paths = StatePaths(project.root)
    assert not paths.state_file.exists() and not paths.pid_file("worker").exists()
    with pytest.raises(ServerError, match="--database-url is for a server mpflow starts"):
        start_server(project, api_url="http://127.0.0.1:1/api", database_url="postgresql://u@db/prefect")


def test_an_api_url_names_the_servers_address():
    assert server_base_url("http://lab:4200/api") == "http://lab:4200"
    assert server_base_url("http://lab:4200/api/") == "http://lab:4200"
    assert server_base_url("https://lab.example/prefect/api") == "https://lab.example/prefect"
    assert server_base_url("http://127.0.0.1:4200") == "http://127.0.0.1:4200"
    with pytest.raises(ServerError, match="is not a Prefect API URL"):
        server_base_url("lab:4200")
