"""Real ``gmx mdrun`` jobs on the dev clusters, observed by the real probe (``SlurmClient.observe``):
the log of a running job (no performance block yet), of a finished one, of one killed mid-run with
SIGKILL, and the progress they give, with the finished run's speed checked against its own steps
and wall time. Runs on alpha (locally) and on beta (over SSH)."""

from __future__ import annotations

import posixpath
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cluster_helpers import wait_until
from md_helpers import water_box_tpr

from mpflow.manager.progress import (
    SPEED_GROMACS,
    SPEED_SINCE_START,
    ns_per_day,
    read_progress,
)
from mpflow.slurm.client import JobRef
from mpflow.slurm.jobscript import JobScriptOptions
from mpflow.slurm.submission import SubmitRequest, submit_batch
from mpflow.states import FailureKind, JobState

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

NSTLOG = 500


def _submit(site, tmp_path, name: str, nsteps: int, commands: list[str] | None = None) -> JobRef:
    folder = site.path(name)
    site.transport.makedirs([folder])
    tpr = water_box_tpr(tmp_path / name, name, nsteps=nsteps, nstlog=NSTLOG)
    assert site.transport.write_files({posixpath.join(folder, f"{name}.tpr"): tpr.read_bytes()}) == {}
    options = JobScriptOptions(job_dir=folder, stage=name, comment="None", time_limit_min=10, continuation=False,
                               mdrun=commands is None, commands=commands or [])
    token = site.token()
    outcome = submit_batch(site.client, [SubmitRequest(key=name, token=token, options=options)])[name]
    assert outcome.error is None, outcome.error
    return JobRef(key=name, job_dir=folder, stage=name, job_id=outcome.job_id, token=token)


def _observe(site, ref: JobRef, header: bool = True):
    return site.client.observe([replace(ref, log_header=header)]).observations[ref.key]


def test_a_running_a_finished_and_a_killed_mdrun_read_from_their_logs(site, tmp_path):
    finished = _submit(site, tmp_path, "done", 3000)
    # mdrun in the background of its job script, its pid in a file, so the test can SIGKILL it mid-run
    killed = _submit(site, tmp_path, "killed", 2_000_000,
                     ["gmx mdrun -deffnm killed -ntomp 1 & pid=$!; echo $pid > mdrun.pid; wait $pid"])

    # running: steps written, no performance block yet
    def running():
        o = _observe(site, killed)
        log = o.files.log if o.files else None
        return o if o.state is JobState.R and log and log.step is not None and log.step >= 2 * NSTLOG else None

    o = wait_until("the long run's log to show two energy blocks", running, timeout=240, interval=1.0)
    log = o.files.log
    assert (log.version, log.integrator, log.nsteps, log.dt_ps, log.atoms) == \
        ("2022.5-Debian_2022.5_2", "md", 2_000_000, 0.002, 663)
    assert log.ns_per_day is None and not log.finished and log.started.tzinfo is not None
    progress = read_progress(None, o.files, continuation=False, now=datetime.now(UTC).replace(tzinfo=None))
    assert progress.speed_from == SPEED_SINCE_START and progress.ns_per_day > 0 and progress.left_s > 0
    tail_only = _observe(site, killed, header=False).files.log  # once the header is known: the tail alone
    assert tail_only.step >= log.step and tail_only.ns_per_day is None

    # killed with SIGKILL mid-run: the log ends after its last energy block
    pid = site.transport.run(["cat", posixpath.join(killed.job_dir, "mdrun.pid")]).stdout.strip()
    assert pid.isdigit()
    assert site.transport.run(["kill", "-KILL", pid]).returncode == 0

    def ended(ref):
        o = _observe(site, ref)
        return o if o.state in (JobState.D, JobState.F) else None

    o = wait_until("the killed job to end", lambda: ended(killed), timeout=120, interval=1.0)
    assert o.state is JobState.F and o.failure_kind is FailureKind.NONZERO_EXIT and o.exit_code == 137
    assert o.files.log.step >= 2 * NSTLOG and o.files.log.ns_per_day is None and not o.files.log.finished

    # finished: GROMACS's own speed, which is its steps over its wall time
    o = wait_until("the short run to finish", lambda: ended(finished), timeout=300, interval=1.0)
    assert o.state is JobState.D
    log = o.files.log
    assert log.finished and log.step == 3000 and log.wall_s > 0
    assert ns_per_day(log.step, log.dt_ps, log.wall_s) == pytest.approx(log.ns_per_day, rel=0.01)
    final = read_progress(None, o.files, continuation=False, now=datetime.now(UTC).replace(tzinfo=None))
    assert final.speed_from == SPEED_GROMACS and final.left_s == 0.0 and final.fraction == 1.0


def test_reading_logs_costs_no_command_per_job(site, tmp_path):
    """Observing jobs with and without logs is still one squeue and one probe: the log lines come back
    in the probe's output, a few hundred bytes a job."""
    ref = _submit(site, tmp_path, "cost", 1000)
    wait_until("the job to finish", lambda: _observe(site, ref).state in (JobState.D, JobState.F), timeout=300,
               interval=1.0)
    # nine more folders with copies of its log: ten logs in one probe
    logs = {posixpath.join(site.path(f"copy{i}"), "cost.log"): None for i in range(9)}
    site.transport.makedirs([posixpath.dirname(p) for p in logs])
    for path in logs:
        assert site.transport.run(["cp", posixpath.join(ref.job_dir, "cost.log"), path]).returncode == 0
    refs = [ref] + [JobRef(f"c{i}", posixpath.dirname(p), "cost", job_id=ref.job_id) for i, p in enumerate(logs)]
    t0 = time.perf_counter()
    result = site.client.observe(refs)
    elapsed = time.perf_counter() - t0
    assert result.commands <= 3  # squeue (+ sacct where there is accounting) + the probe
    assert {o.files.log.step for o in result.observations.values()} == {1000}
    print(f"\n{site.name}: observe of 10 jobs with logs: {result.commands} commands, {elapsed:.2f} s")
