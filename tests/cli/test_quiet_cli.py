"""A quiet CLI: without a Prefect server, commands that need one say in one line how to start it.

Run as the user runs them (the console script in a subprocess, in a project folder, with no
PREFECT_API_URL and a Prefect home of its own), so nothing of the test process's Prefect settings
leaks in, and an ephemeral server, if one were started, would show in the output and the home.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mpflow.project.file import init_project

MPFLOW = [sys.executable, "-m", "mpflow"]
NO_SERVER = "error: no Prefect server for this project: start one with mpflow server start"


@pytest.fixture
def project(tmp_path):
    return init_project(tmp_path / "p", name="p", dev=True)


def _run(args: list[str], cwd: Path, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MPFLOW_PROJECT"))}
    env["PREFECT_HOME"] = str(cwd / ".prefect-home")
    env.update(env_overrides)
    return subprocess.run([*MPFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _lines(res: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]


def test_cluster_check_without_a_server_prints_one_line_and_starts_no_ephemeral_server(project):
    res = _run(["cluster", "check", "alpha"], project.root)
    assert (res.returncode, _lines(res)) == (2, [NO_SERVER])
    assert not (project.root / ".prefect-home" / "prefect.db").exists()


def test_register_dev_without_a_server_prints_the_same_line(project):
    res = _run(["cluster", "register-dev"], project.root)
    if "dev cluster" in res.stderr:  # no dev clusters on this machine: that line comes first
        pytest.skip(res.stderr.strip())
    assert (res.returncode, _lines(res)) == (2, [NO_SERVER])


def test_a_server_url_that_does_not_answer_is_one_line_too(project):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _run(["cluster", "check", "alpha"], project.root, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    [line] = _lines(res)
    assert res.returncode == 2
    assert line.startswith(f"error: the Prefect server at http://127.0.0.1:{port}/api does not answer (")
    assert line.endswith("): start it with mpflow server start")


def test_an_existing_server_that_does_not_answer_is_one_line(project):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    expected = [f"error: no Prefect server answers at http://127.0.0.1:{port}/api: start that server, or unset "
                "PREFECT_API_URL (and leave out --api-url) to start the project's own"]
    res = _run(["server", "start", "--api-url", f"http://127.0.0.1:{port}/api"], project.root)
    assert (res.returncode, _lines(res)) == (1, expected)  # (the lab server test takes PREFECT_API_URL)
    assert not (project.root / ".mpflow" / "server.json").exists()


def test_server_status_and_stop_without_a_server(project):
    res = _run(["server", "status"], project.root)
    assert (res.returncode, _lines(res)) == (3, [NO_SERVER.removeprefix("error: ")])
    res = _run(["server", "stop"], project.root)
    assert (res.returncode, _lines(res)) == (0, ["nothing to stop: no Prefect server was started for this project"])


def test_server_start_outside_a_project_is_one_line(tmp_path):
    res = _run(["server", "start"], tmp_path)
    assert res.returncode == 2
    assert _lines(res) == [f"error: no mpflow.toml in {tmp_path}: create a project with `mpflow init {tmp_path}`"]
