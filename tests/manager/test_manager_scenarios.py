"""The dual-cluster manager on the dev clusters: real Slurm, real SSH, a real jobs database (each scenario
on SQLite and on PostgreSQL), one scenario per test."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from at_once import run_at_once
from cluster_helpers import wait_until
from manager_helpers import (
    PassThroughIO,
    devcluster_up,
    make_bench,
    set_partition_state,
    squeue_tokens,
)

from mpflow.clusters.devcluster import find_connection_file
from mpflow.clusters.transport import open_transport
from mpflow.store.backups import backup_database, restore_database

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

REPO = Path(__file__).resolve().parents[2]

SLEEP_STAGE = '''[stages.probe]
kind = "script"
commands = ["sleep {seconds}", "echo ok > probe.gro"]
time_limit_min = 5
retry_budget = {budget}
'''


@pytest.fixture
def bench(tmp_path, master, slave, database_url):
    benches = []

    def make(stages_toml: str, manager_toml: str = "backoff_s = [0]"):
        b = make_bench(tmp_path, [master, slave], stages_toml, manager_toml, database=database_url)
        benches.append(b)
        return b

    yield make
    for b in benches:
        b.cleanup()




def test_both_free_submits_to_both_keeps_the_first_to_run_and_cancels_the_other(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=20, budget=2))
    [mid] = b.add_models("m1")
    first = b.tick()
    assert first.submitted == {master.name: 1, slave.name: 1}
    b.tick_until("one copy cancelled", lambda: any(j.failure_kind == "cancelled_by_mpflow" for j in b.jobs()),
                 timeout=60)
    jobs = {j.cluster: j for j in b.jobs()}
    winner = next(c for c, j in jobs.items() if j.failure_kind != "cancelled_by_mpflow")
    loser = next(c for c in jobs if c != winner)
    if jobs[loser].started is not None and jobs[winner].started is not None:
        assert jobs[winner].started <= jobs[loser].started
    b.tick_until("the stage done", lambda: b.stage_state(mid, "probe") == "done", timeout=90)
    jobs = b.jobs()
    assert [(j.cluster, j.state) for j in jobs if j.cluster == winner] == [(winner, "D")]
    assert [(j.cluster, j.state, j.counted) for j in jobs if j.cluster == loser] == [(loser, "F", False)]
    # the winner's outputs are on the master
    with open_transport(master) as t:
        out = t.run(["cat", f"{b.clusters[0].workdir}/{b.mutant}/None/m1/probe/probe.gro"])
    assert out.stdout.strip() == "ok"


def test_slave_partition_down_keeps_it_pending_until_cancelled(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=5, budget=2))
    [mid] = b.add_models("m1")
    set_partition_state(slave, "DOWN")
    try:
        b.tick()
        b.tick_until("the slave's pending copy cancelled",
                     lambda: any(j.cluster == slave.name and j.state == "F" for j in b.jobs()), timeout=60)
        slave_job = next(j for j in b.jobs() if j.cluster == slave.name)
        assert (slave_job.failure_kind, slave_job.started, slave_job.counted) == ("cancelled_by_mpflow", None, False)
        assert slave_job.slurm_id not in [n for n in squeue_tokens(slave)]
    finally:
        set_partition_state(slave, "UP")
    b.tick_until("the stage done", lambda: b.stage_state(mid, "probe") == "done", timeout=90)
    assert [(j.cluster, j.state) for j in b.jobs() if j.state == "D"] == [(master.name, "D")]


def test_a_job_that_always_fails_uses_its_budget_then_fails_for_good(bench, master, slave):
    b = bench('[stages.probe]\nkind = "script"\ncommands = ["exit 3"]\ntime_limit_min = 2\nretry_budget = 2\n')
    [mid] = b.add_models("m1")
    b.tick_until("failed for good", lambda: b.stage_state(mid, "probe") == "failed", timeout=180)
    jobs = b.jobs()
    seen = [(j.cluster, j.state, j.failure_kind, j.counted) for j in jobs]
    per_cluster = {c.name: [j for j in jobs if j.cluster == c.name and j.counted] for c in (master, slave)}
    # the budget is two counted failures per cluster; a copy the policy requeues free of charge (a job
    # Slurm and its folder both forgot, a submission that never reached the scheduler) is not one of them
    assert {c: len(js) for c, js in per_cluster.items()} == {master.name: 2, slave.name: 2}, seen
    assert all(j.state == "F" and (j.counted or j.failure_kind in ("lost", "not_submitted")) for j in jobs), seen
    # later ticks submit nothing more
    for _ in range(3):
        report = b.tick()
        assert report.submitted == {} and report.decided == 0
    assert len(b.jobs()) == len(jobs)
    from mpflow.manager.status import stage_statuses

    with b.Session() as s:
        [row] = stage_statuses(s)
    assert row.state == "failed" and row.reason.startswith("failed for good")


def _tick_and_die_after_sbatch(root: str, mutant: str, clusters):
    """In a child process: one tick whose process dies right after sbatch returned, before the commit."""
    from manager_helpers import Bench

    b = Bench(Path(root), clusters, mutant)

    class DieAfterSubmit(PassThroughIO):
        def submit_all(self, requests):
            self.io.submit_all(requests)
            os._exit(17)  # killed between sbatch and the database commit

    b.tick(io_wrapper=DieAfterSubmit)


def test_manager_killed_between_sbatch_and_commit_finds_its_jobs_by_token(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=30, budget=2))
    [mid] = b.add_models("m1")
    child = multiprocessing.get_context("spawn").Process(target=_tick_and_die_after_sbatch,
                                                         args=(str(b.root), b.mutant, b.clusters))
    child.start()
    child.join(120)
    assert child.exitcode == 17
    rows = b.jobs()
    assert sorted((j.cluster, j.state, j.slurm_id) for j in rows) == [(master.name, "SUBMITTING", None),
                                                                      (slave.name, "SUBMITTING", None)]
    report = b.tick()
    assert report.submitted == {}
    rows = b.jobs()
    assert len(rows) == 2 and all(j.slurm_id for j in rows)
    # both copies found; if both had already started, the later one was cancelled in the same tick
    assert all(j.state in ("PD", "R") or j.failure_kind == "cancelled_by_mpflow" for j in rows)
    recovered = [t for t in report.transitions if t.kind == "recovered"]
    assert sorted(t.cluster for t in recovered) == sorted([master.name, slave.name])
    for c in (master, slave):
        names = squeue_tokens(c)
        token = next(j.token for j in rows if j.cluster == c.name)
        assert names.count(f"mpf-{token}") == 1, f"{c.name}: {names}"


def _sshd_pid(name: str) -> int:
    return int((find_connection_file().parent / name / "run" / "sshd.pid").read_text().split()[0])


def test_slave_unreachable_mid_run_changes_nothing_there_and_reconciles_later(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=25, budget=2))
    [m1, m2] = b.add_models("m1", "m2")
    # alpha cannot start anything, from the first submission on: beta's copies win (set after the first
    # tick, alpha could start its copies before the partition went down and win the race)
    set_partition_state(master, "DOWN")
    try:
        b.tick()
        b.tick_until("both running on the slave", lambda: sum(1 for j in b.jobs()
                                                             if j.cluster == slave.name and j.state == "R") == 2,
                     timeout=60)
    finally:
        set_partition_state(master, "UP")
    fast_fail = [b.clusters[0], b.clusters[1].model_copy(update={"connect_timeout_s": 3})]
    pid = _sshd_pid(slave.name)
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until("sshd gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=10, interval=0.05)
        before = {(j.id, j.state) for j in b.jobs()}
        for _ in range(3):
            report = b.tick(clusters=fast_fail)
            assert slave.name in report.unreachable
            assert report.submitted == {} and report.cancelled == {}
        # the slave's running copies are neither cancelled nor resubmitted; alpha's pending ones stay
        after = {(j.id, j.state) for j in b.jobs()}
        assert before == after
    finally:
        devcluster_up()
    b.tick_until("both done after the slave came back",
                 lambda: all(b.stage_state(m, "probe") == "done" for m in (m1, m2)), timeout=120)
    assert sorted((j.cluster, j.state) for j in b.jobs() if j.state == "D") == [(slave.name, "D")] * 2


def test_master_slurmctld_restarted_mid_run_loses_and_duplicates_nothing(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=20, budget=2))
    [mid] = b.add_models("m1")
    set_partition_state(slave, "DOWN")
    try:
        b.tick()
        b.tick_until("running on the master", lambda: any(j.cluster == master.name and j.state == "R"
                                                          for j in b.jobs()), timeout=60)
        pidfile = find_connection_file().parent / master.name / "run" / "slurmctld.pid"
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        wait_until("slurmctld gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=30, interval=0.1)
        report = b.tick()
        assert master.name in report.unreachable and report.submitted == {} and report.cancelled == {}
        devcluster_up()
        b.tick_until("the stage done", lambda: b.stage_state(mid, "probe") == "done", timeout=120)
    finally:
        set_partition_state(slave, "UP")
    jobs = b.jobs()
    assert [(j.cluster, j.state) for j in jobs if j.cluster == master.name] == [(master.name, "D")]
    assert [j.failure_kind for j in jobs if j.cluster == slave.name] == ["cancelled_by_mpflow"]


def _tick_at_once(root: str, mutant: str, clusters, start, out) -> None:
    """In a child process: one tick, started with the other child's (its submissions take 2 s)."""
    from manager_helpers import Bench

    class Slow(PassThroughIO):
        def submit_all(self, requests):
            time.sleep(2)  # hold the lease long enough for the other tick to try
            return self.io.submit_all(requests)

    b = Bench(Path(root), clusters, mutant)
    start.wait()
    report = b.tick(io_wrapper=Slow)
    out.put((report.skipped, report.submitted, report.unreachable, report.refused))


def test_two_ticks_at_once_in_two_processes_one_acts_and_the_other_skips(bench, master, slave):
    b = bench(SLEEP_STAGE.format(seconds=5, budget=2))
    b.add_models(*[f"m{i}" for i in range(5)])
    reports = run_at_once(_tick_at_once, (str(b.root), b.mutant, b.clusters), 2)
    acted = [r[1:] for r in reports if not r[0]]
    skipped = [r[0] for r in reports if r[0]]
    assert skipped == ["another tick holds the manager lease"]
    assert acted == [({master.name: 5, slave.name: 5}, {}, {})]
    assert len(b.jobs()) == 10


def test_a_job_that_hits_its_time_limit_continues_from_its_checkpoint(bench, master, slave):
    # A counter that survives restarts stands for a checkpoint: the continuation resumes from it.
    stage = '''[stages.probe]
kind = "script"
commands = ["n=$(cat count 2>/dev/null || echo 0); echo start-$n >> starts", "while [ $n -lt 75 ]; do n=$((n+1)); echo $n > count; sleep 1; done", "echo ok > probe.gro"]
time_limit_min = 1
retry_budget = 1
'''
    b = bench(stage)
    [mid] = b.add_models("m1")
    set_partition_state(slave, "DOWN")
    try:
        b.tick_until("the stage done", lambda: b.stage_state(mid, "probe") == "done", timeout=300, interval=3)
    finally:
        set_partition_state(slave, "UP")
    master_jobs = [j for j in b.jobs() if j.cluster == master.name]
    assert [(j.state, j.failure_kind, j.counted, j.continuation) for j in master_jobs] == [
        ("F", "timeout", False, False), ("D", None, False, True)]
    with open_transport(master) as t:
        starts = t.run(["cat", f"{b.clusters[0].workdir}/{b.mutant}/None/m1/probe/starts"]).stdout.split()
    assert starts[0] == "start-0" and starts[1] != "start-0" and len(starts) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once it is closed


def test_a_restore_from_an_older_backup_finds_the_jobs_submitted_since_and_duplicates_none(bench, master, slave,
                                                                                           tmp_path):
    b = bench(SLEEP_STAGE.format(seconds=10, budget=2))
    [m1, m2] = b.add_models("m1", "m2")
    url = b.project.database_url
    backup = tmp_path / "older-backup"
    backup_database(url, backup)  # the models, no job yet
    set_partition_state(slave, "DOWN")  # beta's copies stay pending
    try:
        assert b.tick().submitted == {master.name: 2, slave.name: 2}
        submitted = sorted((j.cluster, j.model_id, j.token, j.slurm_id) for j in b.jobs())
        restore_database(url, backup, clusters=[master.name, slave.name], keep=tmp_path / "kept")
        assert b.jobs() == []  # the restored database knows none of the four

        # beta cannot be reached: alpha's copies are found again, and nothing is submitted anywhere
        away = [b.clusters[0], b.clusters[1].model_copy(update={"port": _closed_port(), "connect_timeout_s": 3})]
        report = b.tick(clusters=away)
        assert (report.recovering, report.adopted, report.submitted) == ([slave.name], {master.name: 2}, {})
        report = b.tick()  # beta answers again: its copies are found again, still nothing submitted
        assert (report.recovering, report.adopted, report.submitted) == ([], {slave.name: 2}, {})
        assert sorted((j.cluster, j.model_id, j.token, j.slurm_id) for j in b.jobs()) == submitted  # no lost record
        assert {t.kind for t in report.transitions} >= {"adopted"}
    finally:
        set_partition_state(slave, "UP")
    b.tick_until("both stages done", lambda: all(b.stage_state(m, "probe") == "done" for m in (m1, m2)), timeout=120)
    jobs = b.jobs()
    assert sorted((j.model_id, j.cluster) for j in jobs) == sorted(
        [(m1, master.name), (m1, slave.name), (m2, master.name), (m2, slave.name)])  # no duplicate
    for c in (master, slave):
        names = squeue_tokens(c)
        for j in jobs:
            if j.cluster == c.name:
                assert names.count(f"mpf-{j.token}") <= 1
