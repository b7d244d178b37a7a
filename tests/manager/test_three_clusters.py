"""Three dev clusters, one behind a jump host (issue 20, item 7): the race among three, the jump host with a
wrong key, and the jump host down while the two others go on. Real Slurm, real sshd, real SSH through
the bastion."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from manager_helpers import devcluster_up, make_bench, set_partition_state
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.clusters.check import check_cluster
from mpflow.clusters.devcluster import (
    load_connection,
)
from mpflow.clusters.settings import JumpHost
from mpflow.clusters.transport import (
    ClusterSettingsError,
    ClusterUnreachable,
    SSHTransport,
)
from mpflow.project.file import Project

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters (alpha, beta, gamma and the bastion)

REPO = Path(__file__).resolve().parents[2]
SLEEP_STAGE = '''[stages.probe]
kind = "script"
commands = ["sleep {seconds}", "echo ok > probe.gro"]
time_limit_min = 5
retry_budget = 2
'''


@pytest.fixture
def bench(tmp_path, master, slave, gamma):
    benches = []

    def make(stages_toml: str):
        b = make_bench(tmp_path, [master, slave, gamma], stages_toml, "backoff_s = [0]")
        benches.append(b)
        return b

    yield make
    for b in benches:
        b.cleanup()



def _bastion_pid() -> int:
    return int(Path(load_connection()["bastion"]["pid_file"]).read_text().split()[0])



def test_init_makes_a_project_on_the_three_dev_clusters(tmp_path, gamma):
    res = CliRunner().invoke(app, ["init", str(tmp_path / "p"), "--dev", "--clusters", "alpha,beta,gamma"])
    assert res.exit_code == 0, res.output
    assert "  clusters:     alpha, beta, gamma (dev)" in res.output.splitlines()
    settings = Project.load(tmp_path / "p").cluster_settings()
    assert [(s.name, len(s.proxy_jump)) for s in settings] == [("alpha", 0), ("beta", 0), ("gamma", 1)]


def test_gamma_is_reached_through_the_bastion_with_one_login(gamma):
    with SSHTransport(gamma) as t:
        assert [r.stdout.strip() for r in (t.run(["sinfo", "-h", "-o", "%R"]), t.run(["true"]))] == ["cpu", ""]
        assert (t.logins, len(t._hops)) == (1, 1)


def test_the_race_among_three_is_won_by_the_copy_that_starts_first(bench, master, slave, gamma):
    """alpha and beta cannot start anything; gamma's copy (through the jump host) starts first and wins,
    the two others are cancelled."""
    b = bench(SLEEP_STAGE.format(seconds=8))
    [m1] = b.add_models("m1")
    set_partition_state(master, "DOWN")
    set_partition_state(slave, "DOWN")
    try:
        b.tick_until("gamma's copy running", lambda: any(j.cluster == gamma.name and j.state == "R"
                                                         for j in b.jobs()), timeout=90)
        b.tick_until("the two others cancelled", lambda: sorted(
            (j.cluster, j.state, j.failure_kind) for j in b.jobs() if j.cluster != gamma.name) == [
            (master.name, "F", "cancelled_by_mpflow"), (slave.name, "F", "cancelled_by_mpflow")], timeout=60)
    finally:
        set_partition_state(master, "UP")
        set_partition_state(slave, "UP")
    b.tick_until("done on gamma", lambda: b.stage_state(m1, "probe") == "done", timeout=120)
    assert [(j.cluster, j.state) for j in b.jobs() if j.state == "D"] == [(gamma.name, "D")]


def test_a_wrong_key_on_the_jump_host_is_one_line_naming_the_hop(gamma, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    [jump] = gamma.proxy_jump
    wrong = gamma.model_copy(update={"proxy_jump": [JumpHost(host=jump.host, port=jump.port, user=jump.user,
                                                             key_path=other)]})
    with pytest.raises(ClusterSettingsError) as err:
        SSHTransport(wrong).run(["true"])
    line = str(err.value).splitlines()[0]
    assert line.startswith(f"[gamma] authentication as 'mpflowdev' failed on jump host "
                           f"(mpflowdev@127.0.0.1:{jump.port}); check the jump host's user and key")
    assert err.value.setting == "proxy_jump"
    report = check_cluster(wrong)
    assert [(what, ok) for what, ok, _ in report.checks] == [("connect", False)]
    assert "jump host (mpflowdev@127.0.0.1:" in report.checks[0][2] and "\n" not in report.checks[0][2]


def test_the_bastion_down_leaves_gamma_unknown_and_the_others_go_on(bench, master, slave, gamma):
    b = bench(SLEEP_STAGE.format(seconds=1))
    [m1] = b.add_models("m1")
    fast = [*b.clusters[:2], b.clusters[2].model_copy(update={"connect_timeout_s": 3})]
    pid = _bastion_pid()
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until("the bastion gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=10, interval=0.05)
        with pytest.raises(ClusterUnreachable, match=r"^\[gamma\] cannot connect to jump host "
                                                     r"\(mpflowdev@127.0.0.1:2223\): Connection refused"):
            SSHTransport(fast[2]).run(["true"])
        report = b.tick(clusters=fast)
        assert list(report.unreachable) == [gamma.name]
        assert "jump host" in report.unreachable[gamma.name]
        assert sorted(report.submitted) == sorted([master.name, slave.name])
        b.tick_until("done on alpha or beta while gamma is unknown",
                     lambda: b.stage_state(m1, "probe") == "done", timeout=120, clusters=fast)
        assert {j.cluster for j in b.jobs()} == {master.name, slave.name}
    finally:
        devcluster_up()
    with SSHTransport(gamma) as t:
        assert t.run(["true"]).ok
