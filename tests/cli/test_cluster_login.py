"""`mpflow cluster login NAME` without a running manager, or for a cluster the project lacks: one line each."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.manager.logins import NoManagerRunning, login_socket_path, request_login
from mpflow.project.file import init_project


def test_no_manager_running_is_one_line_saying_what_to_start(tmp_path):
    init_project(tmp_path / "p", clusters=["alpha", "beta"])
    res = CliRunner().invoke(app, ["cluster", "login", "beta", "--project", str(tmp_path / "p")])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "error: no manager of this project is running to keep the login: start it (`mpflow server start`, or "
        "`mpflow manage`), then log in again"]
    with pytest.raises(NoManagerRunning):
        request_login(tmp_path / "p", "beta", lambda *a: [])


def test_a_cluster_the_project_lacks_is_named(tmp_path):
    init_project(tmp_path / "p", clusters=["alpha", "beta"])
    res = CliRunner().invoke(app, ["cluster", "login", "gamma", "--project", str(tmp_path / "p")])
    assert (res.exit_code, res.output.strip()) == (2, "error: no cluster 'gamma' in the project (clusters: alpha, beta)")


def test_the_socket_path_is_short_and_the_projects_own(tmp_path):
    a, b = login_socket_path(tmp_path / ("a" * 200)), login_socket_path(tmp_path / "b")
    assert a != b and len(str(a)) < 100 and a.parent == b.parent
