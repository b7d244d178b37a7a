"""The dev clusters themselves (issue 3): real Slurm on alpha (local, accounting) and beta (SSH, none)."""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import time
from pathlib import Path

import pytest
from cluster_helpers import submit_script, wait_terminal, wait_until

from mpflow.clusters.devcluster import FORMAT_KEY, FORMAT_VERSION, find_connection_file
from mpflow.clusters.transport import LocalTransport, SSHTransport
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import SlurmClient
from mpflow.states import FailureKind, JobState

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

REPO = Path(__file__).resolve().parents[2]
DEVCLUSTER = REPO / "scripts" / "devcluster"


def test_connection_file_describes_the_clusters_with_the_same_workdir_basename(devcluster_doc):
    """alpha (master, local, accounting), beta (slave, SSH) and gamma (SSH through the bastion): the tests
    pick them by role, never by their number."""
    assert devcluster_doc[FORMAT_KEY] == FORMAT_VERSION
    by_role = {c["role"]: c for c in devcluster_doc["clusters"]}
    names = [c["name"] for c in devcluster_doc["clusters"]]
    assert len(set(names)) == len(names) == len(by_role) >= 3
    assert (by_role["master"]["kind"], by_role["slave"]["kind"], by_role["slave-via-bastion"]["kind"]) == \
        ("local", "remote", "remote")
    basenames = {posixpath.basename(c["workdir"]) for c in devcluster_doc["clusters"]}
    assert len(basenames) == 1
    workdirs = {c["workdir"] for c in devcluster_doc["clusters"]}
    assert len(workdirs) == len(names), "different workdirs, so transfers between clusters are real"
    assert [c["accounting"] for c in devcluster_doc["clusters"]].count(True) == 1
    bastion = devcluster_doc["bastion"]
    assert by_role["slave-via-bastion"]["proxy_jump"] == [{"host": bastion["host"], "port": bastion["port"],
                                                          "user": devcluster_doc["user"]}]


def test_a_job_completes_on_the_master_locally_and_on_the_slave_over_ssh(sites):
    for site, transport_type in zip(sites.values(), (LocalTransport, SSHTransport)):
        assert isinstance(site.transport, transport_type)
        job_id, token = submit_script(site.client, site.folder, 'echo "ran on ${SLURM_CLUSTER_NAME}"',
                                      token=site.token())
        status = wait_terminal(site.client, job_id)
        assert status.state is JobState.D, status
        out = site.transport.run(["cat", site.path(f"mpf-{token}.{site.name}.{job_id}.out")])
        assert out.stdout.strip() == f"ran on {site.name}"


def test_failing_job_is_failed_in_master_sacct_and_slave_has_no_accounting(sites, master, slave):
    site = sites[master.name]
    job_id, _ = submit_script(site.client, site.folder, "exit 3", token=site.token())
    wait_terminal(site.client, job_id)

    def sacct_row():  # accounting lags the controller by a moment
        res = site.transport.run(slurm.sacct_argv(job_ids=[job_id]))
        row = slurm.parse_sacct(res.returncode, res.stdout, res.stderr).get(job_id)
        return (row, res) if row and row.state is JobState.F else None

    row, res = wait_until(f"sacct to record job {job_id}", sacct_row, timeout=60)
    assert (row.slurm_state, row.state, row.exit_code, row.failure_kind) == (
        "FAILED", JobState.F, 3, FailureKind.NONZERO_EXIT)
    assert f"{job_id}|FAILED|3:0|" in res.stdout
    res = sites[slave.name].transport.run(["sacct", "-X", "-P"])
    assert res.returncode == 1
    assert "Slurm accounting storage is disabled" in res.stdout + res.stderr


def _next_job_id(client: SlurmClient) -> int:
    out = client.transport.run(["scontrol", "show", "config"]).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("NEXT_JOB_ID"))
    return int(line.split("=")[1])


def test_job_ids_collide_across_clusters_but_outputs_stay_apart(sites, master):
    """Both clusters number jobs from 1: bring them to the same next id, run one job on each in the
    same folder, and check the cluster name in the log names keeps the two outputs apart."""
    clients = {name: site.client for name, site in sites.items()}
    # The master's folder, open to both: alpha's jobs run as this process's user, beta's as the SSH user.
    folder = sites[master.name].folder
    os.chmod(folder, 0o1777)
    nxt = {name: _next_job_id(c) for name, c in clients.items()}
    behind = min(nxt, key=nxt.get)
    # Burn ids on the cluster that is behind: `sbatch --test-only` takes a job id and queues nothing.
    burn = 'for i in $(seq 1 "$1"); do sbatch --test-only --wrap true >/dev/null 2>&1 || exit 1; done'
    gap = max(nxt.values()) - nxt[behind]
    res = clients[behind].transport.run(["bash", "-c", burn, "burn", str(gap)], timeout=600)
    assert res.returncode == 0, res.stderr
    token = sites[master.name].token()
    # Each script is written in its own cluster's folder; both jobs run and write their logs in `folder`.
    ids = {name: submit_script(c, sites[name].folder, 'echo "from ${SLURM_CLUSTER_NAME}"', token=token,
                               sbatch_lines=f"#SBATCH --chdir={folder}")[0] for name, c in clients.items()}
    assert len(set(ids.values())) == 1, f"expected colliding job ids, got {ids}"
    for name, c in clients.items():
        assert wait_terminal(c, ids[name]).state is JobState.D
    job_id = ids[master.name]
    outs = {name: sites[master.name].transport.run(["cat", f"{folder}/mpf-{token}.{name}.{job_id}.out"]).stdout.strip()
            for name in clients}
    assert outs == {name: f"from {name}" for name in clients}


def _state_dir() -> Path:
    return find_connection_file().parent


def _pidfiles() -> dict[Path, int]:
    pids = {}
    for pf in _state_dir().rglob("*.pid"):
        try:
            pids[pf] = int(pf.read_text().split()[0])
        except (ValueError, IndexError):
            pass
    return pids


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/cmdline").read_bytes() != b""


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd and str(os.getpid()) != proc.name:
                found.append(f"{proc.name}: {cmd}")
    return found


def _devcluster(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPFLOW_DEVCLUSTER_DIR": str(_state_dir())}
    return subprocess.run([str(DEVCLUSTER), *args], capture_output=True, text=True, timeout=600, env=env)


def test_second_up_is_a_no_op(devcluster_doc):
    before = _pidfiles()
    conn = find_connection_file()
    mtime = conn.stat().st_mtime_ns
    started = time.monotonic()
    res = _devcluster("up")
    elapsed = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert "starting" not in res.stdout and "restarting" not in res.stdout, res.stdout
    assert _pidfiles() == before
    assert conn.stat().st_mtime_ns == mtime
    assert json.loads(conn.read_text()) == devcluster_doc
    assert elapsed < 30, f"a no-op `up` took {elapsed:.1f} s"


@pytest.mark.slow
def test_down_stops_exactly_its_processes_and_up_brings_them_back(devcluster_doc):
    """Runs last in this module: stops everything `up` started, checks, then starts it again."""
    before = _pidfiles()
    assert before, "up writes pid files"
    res = _devcluster("down")
    assert res.returncode == 0, res.stderr
    try:
        assert [pf for pf, pid in before.items() if _alive(pid)] == []
        assert _processes_mentioning(str(_state_dir())) == []
    finally:
        res = _devcluster("up")
        assert res.returncode == 0, res.stdout + res.stderr
    for c in devcluster_doc["clusters"]:
        wait_until(f"{c['name']} to answer sinfo after up",
                   lambda c=c: subprocess.run(["sinfo", "-h"], env={**os.environ, "SLURM_CONF": c["slurm_conf"]},
                                              capture_output=True).returncode == 0, timeout=60)


def test_status_shows_every_clusters_sinfo_and_ssh_and_the_extra_login_nodes(devcluster_doc):
    res = _devcluster("status")
    assert res.returncode == 0, res.stdout + res.stderr
    for c in devcluster_doc["clusters"]:
        section = res.stdout.split(f"== {c['name']} ", 1)[1].split("\n== ", 1)[0]
        assert "PARTITION" in section and c["node"] in section
        assert "ssh: ok" in section
    assert "== bastion (sshd 127.0.0.1:2223): up" in res.stdout
    assert "== beta 2FA login (sshd 127.0.0.1:2225): up" in res.stdout
