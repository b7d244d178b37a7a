"""The long-lived manager's connections (issue 20, items 4 and 7): one login per cluster for many ticks,
and a two-factor login that expires mid-run — the cluster is unreachable with "login expired: run
`mpflow cluster login NAME`", never a failure, and the other cluster goes on. Real sshd (beta's 2FA
login node asks a code through PAM after the key), real Slurm."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from cluster_helpers import sshd_sessions, wait_until
from manager_helpers import make_bench

from mpflow.clusters.connections import KeptConnections
from mpflow.clusters.devcluster import dev_cluster_info
from mpflow.clusters.transport import SSHTransport
from mpflow.clusters.transport.ssh_auth import LoginRequired
from mpflow.manager.logins import LoginDesk, request_login
from mpflow.manager.tick import DirectIO

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters and beta's 2FA login node

STAGE = '''[stages.probe]
kind = "script"
commands = ["sleep 1", "echo ok > probe.gro"]
time_limit_min = 5
retry_budget = 2
'''



def _ticks(bench, conns, clusters, n):
    reports = []
    for _ in range(n):
        with conns.for_tick(clusters):
            reports.append(bench.manager.tick(DirectIO(conns)))
    return reports


def test_many_ticks_log_in_once_per_cluster(tmp_path, master, slave, gamma):
    b = make_bench(tmp_path, [master, slave, gamma], STAGE, "backoff_s = [0]")
    try:
        [m1] = b.add_models("m1")
        conns = KeptConnections(b.clusters)
        try:
            for _ in range(60):
                _ticks(b, conns, b.clusters, 1)
                if b.stage_state(m1, "probe") == "done":
                    break
            assert b.stage_state(m1, "probe") == "done"
            _ticks(b, conns, b.clusters, 3)
            assert conns.logins() == {slave.name: 1, gamma.name: 1, master.name: 0}
        finally:
            conns.close()
    finally:
        b.cleanup()


def test_a_two_factor_login_is_kept_and_its_expiry_is_unreachable_not_a_failure(tmp_path, master, slave, two_factor):
    beta2fa, code = two_factor
    with pytest.raises(LoginRequired, match=r"^\[beta\] login expired: run `mpflow cluster login beta`$"):
        SSHTransport(beta2fa).run(["true"])  # nobody to answer: nothing is sent
    b = make_bench(tmp_path, [master, beta2fa], STAGE, "backoff_s = [0]")
    conns = KeptConnections(b.clusters)
    asked = []
    desk = LoginDesk(b.root, conns, {c.name: c for c in b.clusters}.__getitem__).start()
    try:
        # `mpflow cluster login beta`'s side: the site's question relayed from the manager, answered here
        answer = request_login(b.root, "beta", lambda hop, instructions, prompts: asked.append(prompts) or [code])
        assert answer.startswith("logged in to beta")
        assert [[q for q, _ in p] for p in asked] == [["Password: "]]
        with pytest.raises(RuntimeError, match=r"^\[beta\] authentication as 'mpflowdev' failed"):
            request_login(b.root, "beta", lambda hop, instructions, prompts: ["wrong"])  # a wrong code: one line
        assert conns.logins()["beta"] == 1  # the good login is kept
        [m1] = b.add_models("m1")
        [report] = _ticks(b, conns, b.clusters, 1)
        assert report.unreachable == {} and sorted(report.submitted) == sorted(c.name for c in b.clusters)
        # the site ends the session (the login expired): the next ticks cannot log in again
        pidfile = Path(dev_cluster_info("beta")["two_factor_login"]["code_file"]).parent / "sshd.pid"
        for pid in sshd_sessions(pidfile.read_text().split()[0]):
            os.kill(pid, signal.SIGTERM)
        wait_until("the session gone", lambda: not conns._open["beta"]._conn.is_connected, timeout=20)
        for _ in range(40):
            [report] = _ticks(b, conns, b.clusters, 1)
            assert report.unreachable == {"beta": "[beta] login expired: run `mpflow cluster login beta`"}
            if b.stage_state(m1, "probe") == "done":
                break
        assert b.stage_state(m1, "probe") == "done"  # alpha's copy went on and won
        assert conns.logins()["beta"] == 1 and len(asked) == 1
    finally:
        desk.close()
        conns.close()
        # cleaned up through beta's ordinary login node: same cluster, same folder, no second factor
        b.clusters[1] = b.clusters[1].model_copy(update={"port": slave.port})
        b.cleanup()
