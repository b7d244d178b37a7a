"""`mpflow cluster check` and the failure modes of reaching a cluster, on the real login nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import wait_until

from mpflow.cluster_check import check_cluster
from mpflow.devcluster import find_connection_file
from mpflow.slurm_client import SlurmClient
from mpflow.transport import ClusterUnreachable, open_transport

REPO = Path(__file__).resolve().parents[2]


def test_check_passes_on_both_dev_clusters(clusters):
    for settings in clusters.values():
        report = check_cluster(settings)
        assert report.ok, report.lines()
        assert [what for what, _, _ in report.checks] == ["connect", "sinfo", "workdir writable", "gmx"]
        assert "idle" in report.checks[1][2] or "mix" in report.checks[1][2] or "alloc" in report.checks[1][2]


def test_cli_check_prints_one_line_per_check():
    out = subprocess.run([sys.executable, "-m", "mpflow", "cluster", "check", "--dev", "beta"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("[beta] ok ") for line in lines)


@pytest.fixture(scope="module")
def other_key(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "id_other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"host": "no-such-host.invalid"}, "cannot connect to no-such-host.invalid"),
        ({"port": 2}, "cannot connect to 127.0.0.1:2"),
        ({"user": "nosuchuser"}, "authentication as 'nosuchuser' failed"),
        ({"key_path": "OTHER_KEY"}, "authentication as"),
        ({"known_hosts": "EMPTY"}, "host key of 127.0.0.1"),
    ],
)
def test_bad_settings_give_one_clear_line(slave, other_key, tmp_path, change, expected):
    if change.get("key_path") == "OTHER_KEY":
        change = {"key_path": other_key}
    if change.get("known_hosts") == "EMPTY":
        (tmp_path / "known_hosts").write_text("")
        change = {"known_hosts": tmp_path / "known_hosts"}
    report = check_cluster(slave.model_copy(update={**change, "connect_timeout_s": 5}))
    assert not report.ok
    [(what, ok, detail)] = report.checks
    assert what == "connect" and not ok
    assert expected in detail and "\n" not in detail
    if "known_hosts" in change:
        assert "is unknown" in detail


def test_changed_host_key_is_refused(slave, tmp_path):
    host = f"[{slave.host}]:{slave.port}"
    assert any(line.startswith(host + " ") for line in Path(slave.known_hosts).read_text().splitlines())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    fake = (tmp_path / "k.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"{host} {fake[0]} {fake[1]}\n")
    report = check_cluster(slave.model_copy(update={"known_hosts": tmp_path / "known_hosts"}))
    assert not report.ok and "does not match known_hosts" in report.checks[0][2]


def _sshd_pid(name: str) -> int:
    return int((find_connection_file().parent / name / "run" / "sshd.pid").read_text().split()[0])


def _restore_devclusters():
    env = {**os.environ, "MPFLOW_DEVCLUSTER_DIR": str(find_connection_file().parent)}
    res = subprocess.run([str(REPO / "scripts" / "devcluster"), "up"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_slave_login_node_stopped_fails_fast_and_master_is_unaffected(master, slave):
    pid = _sshd_pid(slave.name)
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(f"sshd {pid} to exit", lambda: not Path(f"/proc/{pid}").exists(), timeout=10, interval=0.05)
        started = time.monotonic()
        report = check_cluster(slave.model_copy(update={"connect_timeout_s": 5}))
        assert not report.ok and "cannot connect to 127.0.0.1" in report.checks[0][2]
        with open_transport(slave) as t, pytest.raises(ClusterUnreachable, match="cannot connect"):
            SlurmClient(t).poll()
        assert time.monotonic() - started < 10
        with open_transport(master) as t:
            assert SlurmClient(t).poll().commands >= 1
        assert check_cluster(master).ok
    finally:
        _restore_devclusters()
    assert check_cluster(slave).ok


def test_hung_login_node_times_out_instead_of_hanging(master, slave):
    """SIGSTOP the login node's sshd: TCP still connects (the kernel accepts), SSH never answers."""
    pid = _sshd_pid(slave.name)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        hung = slave.model_copy(update={"connect_timeout_s": 3})
        report = check_cluster(hung)
        assert not report.ok and "no SSH answer from 127.0.0.1" in report.checks[0][2]
        with open_transport(hung) as t, pytest.raises(ClusterUnreachable, match="no SSH answer"):
            SlurmClient(t).poll()
        elapsed = time.monotonic() - started
        assert elapsed < 20, f"two connection attempts took {elapsed:.1f} s with a 3 s timeout"
        with open_transport(master) as t:
            assert SlurmClient(t).poll().commands >= 1
    finally:
        os.kill(pid, signal.SIGCONT)
    assert check_cluster(slave).ok


def test_a_killed_ssh_session_is_reported_and_the_next_call_reconnects(slave):
    """Kill the login node's per-connection sshd processes under an open transport."""
    with open_transport(slave) as t:
        assert t.run(["true"]).ok
        sessions = subprocess.run(["pgrep", "-u", slave.user, "-f", "sshd: "], capture_output=True, text=True)
        pids = [int(p) for p in sessions.stdout.split()]
        assert pids, "an open SSH connection has a session sshd"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        try:
            first = t.run(["echo", "again"], timeout=10)
        except ClusterUnreachable as exc:
            assert "connection lost" in str(exc)
            first = None
        second = first or t.run(["echo", "again"], timeout=10)
        assert second.stdout == "again\n"
