"""`mpflow watch` in a real terminal (tmux): it draws the project from its database, redraws when the
database changes, never needs a cluster (none is reachable here: the dev-cluster file points nowhere),
and q or Ctrl-C leave it with exit code 0 and the terminal back in its normal mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from progress_helpers import seed_progress_project

from mpflow.clusters.devcluster import CONNECTION_FILE_ENV
from mpflow.manager.progress import SPEED_SINCE_START, JobProgress
from mpflow.store.database import open_database
from mpflow.store.records import JobChange, update_jobs
from mpflow.store.schema import Job, utcnow

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def tmux(tmp_path):
    """A tmux server of this test's own (its own socket), killed afterwards."""
    if shutil.which("tmux") is None:
        if IN_CI:
            pytest.fail("tmux is needed under CI=true (scripts/test-deps installs it)")
        pytest.skip("tmux not installed (scripts/test-deps installs it)")
    socket = f"mpflow-test-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> str:
        res = subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res.stderr
        return res.stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def _start(tmux, project_root: Path, tmp_path: Path, name: str) -> None:
    mpflow = Path(sys.executable).with_name("mpflow")
    env = f"{CONNECTION_FILE_ENV}={tmp_path / 'no-clusters.json'} TERM=xterm-256color"
    # after mpflow watch: its exit code and whether the terminal is back in canonical mode
    command = (f"env -u COLUMNS -u LINES {env} {mpflow} watch --interval 1 --project {project_root}; echo exit=$?; "
               f"stty -a | grep -o -- '-\\?icanon' | sed 's/^/mode=/'; sleep 600")
    tmux("new-session", "-d", "-s", name, "-x", "150", "-y", "40", command)


def _screen(tmux, name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def _wait_for(tmux, name: str, text: str, what: str, timeout: float = 60) -> str:
    """The screen once it shows ``text``."""
    def shows():
        screen = _screen(tmux, name)
        return screen if text in screen else None

    return wait_until(what, shows, timeout=timeout)


def test_watch_draws_redraws_from_the_database_and_q_leaves_cleanly(tmux, tmp_path):
    project = seed_progress_project(tmp_path / "watched", utcnow())
    _start(tmux, project.root, tmp_path, "w")
    screen = _wait_for(tmux, "w", "running: 2", "the first frame")
    assert "mpflow watch · watched ·" in screen and "q quits" in screen
    assert "WT/None/m1" in screen and "125,000/500,000" in screen and "150" in screen
    assert "speed not measured yet" in screen and "held: WT/None/m3 prep" in screen
    assert "forecast: all 2 selected model(s) through urmd" in screen
    print("\n" + screen)

    # the manager writes a new reading: the view shows it at its next redraw, without any cluster
    Session = open_database(project.database_url)
    with Session.begin() as s:
        job = s.query(Job).filter(Job.stage == "urmd", Job.cluster == "beta").one()
        new = JobProgress(read_at=utcnow(), step=250_000, nsteps=500_000, dt_ps=0.002, time_ps=500.0, atoms=29312,
                          integrator="md", ns_per_day=120.0, speed_from=SPEED_SINCE_START, left_s=360.0)
        update_jobs(s, [JobChange(job.id, progress=new.as_dict())])
    screen = _wait_for(tmux, "w", "250,000/500,000", "the redraw with m2 half way", timeout=30)
    assert "50%" in screen and "(in 6 min)" in screen

    t0 = time.monotonic()
    tmux("send-keys", "-t", "w", "q")
    screen = _wait_for(tmux, "w", "mode=", "watch to leave on q", timeout=30)
    assert time.monotonic() - t0 < 5
    assert "exit=0" in screen and "mode=icanon" in screen and "left mpflow watch" in screen
    assert "running: 2" not in screen  # its screen is gone: the terminal shows what it showed before


def test_ctrl_c_leaves_cleanly_too(tmux, tmp_path):
    project = seed_progress_project(tmp_path / "watched", utcnow())
    _start(tmux, project.root, tmp_path, "c")
    _wait_for(tmux, "c", "running: 2", "the first frame")
    tmux("send-keys", "-t", "c", "C-c")
    screen = _wait_for(tmux, "c", "mode=", "watch to leave on Ctrl-C", timeout=30)
    assert "exit=0" in screen and "mode=icanon" in screen and "Traceback" not in screen
