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
from pydantic import SecretStr

from mpflow.clusters.check import check_cluster
from mpflow.clusters.devcluster import find_connection_file
from mpflow.clusters.transport import ClusterUnreachable, open_transport
from mpflow.slurm.client import SlurmClient

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

REPO = Path(__file__).resolve().parents[2]


CHECKS = ["connect", "sinfo", "workdir", "slurm", "job scripts", "gromacs"]


def test_check_passes_on_both_dev_clusters(clusters):
    for settings in clusters.values():
        report = check_cluster(settings)
        assert report.ok, report.lines()
        assert [what for what, _, _ in report.checks] == CHECKS
        details = dict((what, detail) for what, _, detail in report.checks)
        assert details["sinfo"].startswith("cpu* up 1 ")
        assert details["workdir"] == f"{settings.workdir} (writable)"
        assert details["job scripts"] == "CPU and GPU variants render (mpflow default template)"
        assert details["slurm"].startswith("slurm 22.05")
        assert details["gromacs"].startswith(f"mdrun `{settings.mdrun_command}`: GROMACS 2022")


def test_cli_check_prints_one_line_per_check():
    out = subprocess.run([sys.executable, "-m", "mpflow", "cluster", "check", "--dev", "beta"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"[beta] ok   {what}" for what in CHECKS]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Real key files: another key, a key encrypted with a passphrase, text that is no key, a folder."""
    folder = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "other")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right", "-f", str(folder / "encrypted")], check=True)
    (folder / "garbage").write_text("this is not a private key\n")
    (folder / "empty_known_hosts").write_text("")
    return {"other": folder / "other", "encrypted": folder / "encrypted", "garbage": folder / "garbage",
            "folder": folder, "public": folder / "other.pub", "empty_known_hosts": folder / "empty_known_hosts",
            "missing": folder / "no-such-file"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"host": "no-such-host.invalid"}, "cannot connect to no-such-host.invalid:2222"),
        ({"port": 2}, "cannot connect to 127.0.0.1:2: Connection refused; check `host` and `port`"),
        ({"user": "nosuchuser"}, "authentication as 'nosuchuser' failed on 127.0.0.1:2222"),
        ({"key_path": "other"}, "authentication as 'mpflowdev' failed"),
        ({"known_hosts": "empty_known_hosts"}, "host key of 127.0.0.1:2222 is unknown; add it to known_hosts"),
        ({"known_hosts": "missing"}, "known_hosts {missing} does not exist; fix the cluster's `known_hosts`"),
        ({"key_path": "missing"}, "key_path {missing} does not exist; fix the cluster's `key_path`"),
        ({"key_path": "folder"}, "key_path {folder} is a folder, not a file; fix the cluster's `key_path`"),
        ({"key_path": "garbage"}, "key_path {garbage} is not an Ed25519, ECDSA or RSA private key; fix the "
                                  "cluster's `key_path`"),
        ({"key_path": "public"}, "key_path {public} is not an Ed25519, ECDSA or RSA private key"),
        ({"key_path": "encrypted"}, "key_path {encrypted} is encrypted and no key_passphrase is set; set the "
                                    "cluster's `key_passphrase`"),
        ({"key_path": "encrypted", "key_passphrase": SecretStr("wrong")}, "key_passphrase does not unlock key_path "
                                                                "{encrypted}; fix the cluster's `key_passphrase`"),
    ],
)
def test_bad_settings_give_one_line_naming_what_to_fix(slave, keys, change, expected):
    change = {k: keys.get(v, v) if k in ("key_path", "known_hosts") else v for k, v in change.items()}
    report = check_cluster(slave.model_copy(update={**change, "connect_timeout_s": 5}))
    assert not report.ok
    [(what, ok, detail)] = report.checks
    assert (what, ok) == ("connect", False)
    assert "\n" not in detail
    assert detail.startswith("[beta] " + expected.format(**{k: str(v) for k, v in keys.items()}))


def test_the_right_passphrase_unlocks_an_encrypted_key(slave, keys):
    """An encrypted key that the login node does not know: it is unlocked, then refused by the server."""
    report = check_cluster(slave.model_copy(update={"key_path": keys["encrypted"], "key_passphrase": SecretStr("right")}))
    assert report.checks[0][2].startswith("[beta] authentication as 'mpflowdev' failed")


def test_a_missing_workdir_is_reported_and_not_created(slave):
    missing = slave.workdir + "/no-such-workdir"
    report = check_cluster(slave.model_copy(update={"workdir": missing}))
    assert [(what, ok) for what, ok, _ in report.checks] == [
        ("connect", True), ("sinfo", True), ("workdir", False), ("slurm", True), ("job scripts", True),
        ("gromacs", True)]
    assert report.checks[2][2] == (f"{missing} does not exist on beta: create it (mkdir -p {missing}) or fix the "
                                   f"cluster's `workdir`")
    with open_transport(slave) as t:
        assert t.stat(missing) is None


def test_a_template_the_sandbox_refuses_fails_the_job_script_check(slave, tmp_path):
    evil = "{{ cycler.__init__.__globals__.os.system('touch " + str(tmp_path / "pwned") + "') }}{{ header }}"
    report = check_cluster(slave.model_copy(update={"gpu_template": evil}))
    assert ("job scripts", False) == report.checks[4][:2]
    assert report.checks[4][2].startswith("cluster beta: gpu_template, line 1: the sandbox refuses it")
    assert not (tmp_path / "pwned").exists()


def test_the_job_script_check_renders_each_stage_with_the_clusters_resources(slave):
    """Issue 24, item 12: each stage of ``stage_resources`` renders in the check; resources that do not
    make a job (settings copied without validation, as an old block's were) fail it, naming the stage."""
    resources = {"urmd": {"cpus_per_task": 2, "extra_sbatch": {"qos": "normal"}}}
    report = check_cluster(slave.model_copy(update={"stage_resources": resources}))
    by_name = {check[0]: check for check in report.checks}
    assert by_name["job scripts"] == ("job scripts", True, "CPU and GPU variants render (mpflow default template; "
                                                           "stages urmd)")
    broken = slave.model_copy(update={"stage_resources": {"urmd": {"cpus_per_task": "many"}}})  # as an old block
    by_name = {check[0]: check for check in check_cluster(broken).checks}
    assert by_name["job scripts"][:2] == ("job scripts", False)
    assert by_name["job scripts"][2].startswith("stage_resources['urmd'].cpus_per_task: Input should be a valid integer")


def test_a_partition_that_does_not_exist_fails_the_sinfo_check(slave):
    report = check_cluster(slave.model_copy(update={"partition": "gpu"}))
    assert report.checks[1][:2] == ("sinfo", False)
    assert report.checks[1][2].startswith("partition gpu does not exist (sinfo lists cpu")  # beta: cpu, short


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
            assert SlurmClient(t).poll().commands == 1  # one squeue: the master is not slowed by the slave
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
            assert SlurmClient(t).poll().commands == 1  # one squeue: the master is not slowed by the slave
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
