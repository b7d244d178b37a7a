"""Notifications through a real Prefect server: `mpflow server start` on a project whose `[notify]`
names a webhook creates the automations; the scheduled manager, on the dev clusters, then holds one
model-stage (grompp without a topology) and fails another for good (a job that exits 3 on both
clusters), and a tick that cannot reach a cluster leaves it unreachable: each reaches the HTTP
receiver this test starts, with the model, the stage (or cluster) and the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from manager_helpers import make_bench
from mpflow.deployments.processes import ServerState, StatePaths

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGES = '''[stages.pre]
kind = "script"
commands = ["echo ok > pre.gro"]
time_limit_min = 2

[stages.md]
kind = "gromacs"
after = "pre"
mdp = "urmd"
nsteps = 10

[stages.boom]
kind = "script"
commands = ["echo going down; exit 3"]
retry_budget = 1
time_limit_min = 2
'''


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def with_subject(self, text: str) -> list[dict]:
        return [r for r in self.received if text in r.get("subject", "")]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _mpflow(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MPFLOW_PROJECT")}
    return subprocess.run([sys.executable, "-m", "mpflow", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_held_failed_and_unreachable_reach_the_webhook(tmp_path, master, slave):
    from mpflow.flows.manager import tick_with_tasks
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    receiver = Receiver()
    root = tmp_path / "notified"
    bench = make_bench(root, [master, slave], STAGES, "interval_s = 15\nbackoff_s = [0]", name="notified")
    bench.project.update_file(lambda doc: doc.update({"notify": {"webhook": receiver.url, "unreachable_min": 0.2}}))
    try:
        res = _mpflow(["server", "start", "--project", str(root)], cwd=tmp_path, timeout=400)
        assert res.returncode == 0, res.stdout + res.stderr
        for kind in ("held", "failed", "unreachable"):
            assert f"  notify:      mpflow notified: {kind} (automation)" in res.stdout
        state = ServerState.read(StatePaths(root))
        with temporary_settings({PREFECT_API_URL: state.api_url}), get_client(sync_client=True) as client:
            names = sorted(a.name for a in client.read_automations() if a.name.startswith("mpflow notified"))
            assert names == ["mpflow notified: failed", "mpflow notified: held", "mpflow notified: unreachable"]

        [m1] = bench.add_models("m1")  # the scheduled manager takes it from here
        tag = f"{bench.mutant}/None/m1"
        failed = wait_until("the failed-for-good notification", lambda: receiver.with_subject("failed for good"),
                            timeout=300, interval=2)
        assert failed[0]["subject"] == "mpflow notified: a model-stage failed for good"
        assert failed[0]["body"].startswith(f"failed for good in project notified: {tag} boom: ")
        assert "nonzero_exit" in failed[0]["body"]
        held = wait_until("the held notification", lambda: receiver.with_subject("is held"), timeout=300, interval=2)
        assert held[0]["body"].startswith(f"held (needs a person) in project notified: {tag} md: ")
        assert "missing input" in held[0]["body"] and "topol.top" in held[0]["body"]

        # a cluster that stays unreachable: the scheduled manager paused, a tick (the manager flow's
        # code) with beta behind a port nothing listens on; no later tick reaches it
        with temporary_settings({PREFECT_API_URL: state.api_url}), get_client(sync_client=True) as client:
            client.pause_deployment(client.read_deployment_by_name("manager/notified").id)

            def idle():
                runs = client.read_flow_runs()
                return not [r for r in runs if r.state_type.value in ("RUNNING", "PENDING")
                            and r.name.startswith("tick")]

            wait_until("no manager tick running", idle, timeout=120, interval=2)
            bench.add_models("m2")  # something to submit to beta
            dead = bench.clusters[1].model_copy(update={"port": 1, "connect_timeout_s": 3})

            @flow(name="unreachable-tick")
            def one_tick():
                return tick_with_tasks(bench.project, bench.Session, [bench.clusters[0], dead])

            # an events worker an earlier test started in this process still sends to that test's server
            # (its key holds no API URL): stopped, the tick's events go to this server
            EventsWorker.drain_all()
            report = one_tick()
            EventsWorker.drain_all()
        assert slave.name in report.unreachable
        note = wait_until("the unreachable notification", lambda: receiver.with_subject("unreachable"),
                          timeout=120, interval=2)
        assert note[0]["body"].startswith(f"cluster {slave.name} of project notified unreachable for more than "
                                          f"0.2 min: ")
    finally:
        stopped = _mpflow(["server", "stop", "--project", str(root)], cwd=tmp_path)
        bench.cleanup()
        receiver.close()
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
