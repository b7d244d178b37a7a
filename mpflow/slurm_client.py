"""Slurm on one cluster, in batches: submit, cancel and read the state of all of mpflow's jobs.

The only place where ``mpflow.slurm``'s pure builders and parsers meet a transport. A state read is
one ``squeue`` for every job of the cluster, one ``sacct`` (where accounting exists, and only when
some expected job has left the queue), then ``scontrol show job`` only for the ids missing from
both; the number of scheduler commands per poll does not grow with the number of jobs queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from mpflow import slurm
from mpflow.job_files import FileEvidence, parse_probe, probe_argv, resolve_state
from mpflow.slurm import JobState, SlurmStatus
from mpflow.transport import Transport

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """States by job id from one poll, and how many scheduler commands it took."""

    states: dict[str, SlurmStatus]
    commands: int
    accounting: bool
    unknown_ids: list[str] = field(default_factory=list)  # asked for, but no scheduler knows them


@dataclass(frozen=True)
class JobRef:
    """A job the caller tracks: its folder and stage, and its Slurm id or submission token."""

    key: str
    job_dir: str
    stage: str
    job_id: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Observation:
    key: str
    state: JobState
    reason: str | None
    job_id: str | None
    slurm: SlurmStatus | None
    files: FileEvidence | None


@dataclass
class ObserveResult:
    observations: dict[str, Observation]
    commands: int
    accounting: bool


class SlurmClient:
    """Scheduler commands for one cluster over one transport (local or SSH)."""

    def __init__(self, transport: Transport, *, user: str | None = None):
        self.transport = transport
        self.cluster = transport.settings.name
        self.user = user if user is not None else (transport.settings.user if transport.settings.kind == "remote"
                                                    else None)
        self.accounting: bool | None = None  # learnt on the first sacct answer

    def _run(self, argv: Sequence[str], cwd: str | None = None):
        return self.transport.run(argv, cwd=cwd)

    # -- submit / cancel -------------------------------------------------------------------------
    def submit(self, script_path: str, *, token: str, comment: str | None = None, cwd: str | None = None,
               test_only: bool = False) -> str:
        # Partition and account are in the script's header (rendered for this cluster); repeating
        # them here would override a job's own choice, since sbatch's command line wins.
        argv = slurm.sbatch_argv(script_path, token=token, comment=comment, test_only=test_only)
        res = self._run(argv, cwd=cwd)
        if test_only:
            return slurm.parse_sbatch_test_only(res.returncode, res.stdout, res.stderr)
        return slurm.parse_sbatch(res.returncode, res.stdout, res.stderr)

    def cancel(self, job_ids: Iterable[str]) -> list[str]:
        ids = list(job_ids)
        if not ids:
            return []
        res = self._run(slurm.scancel_argv(ids))
        return slurm.parse_scancel(res.returncode, res.stdout, res.stderr)

    # -- state -----------------------------------------------------------------------------------
    def poll(self, job_ids: Iterable[str] = (), *, since: datetime | None = None) -> PollResult:
        """States of mpflow's jobs on this cluster; ``job_ids`` are the ones the caller expects."""
        wanted = [str(j) for j in job_ids]
        res = self._run(slurm.squeue_argv(self.user))
        states = slurm.parse_squeue(res.returncode, res.stdout, res.stderr)
        commands = 1
        # sacct answers for jobs that left the queue; while every expected job is still queued, the
        # accounting database (the slowest of the scheduler's services) is not asked at all.
        missing = [j for j in wanted if j not in states]
        if self.accounting is not False and (missing or not wanted):
            since = since or datetime.now() - timedelta(days=7)
            res = self._run(slurm.sacct_argv(self.user, since=since))
            commands += 1
            try:
                finished = slurm.parse_sacct(res.returncode, res.stdout, res.stderr)
                self.accounting = True
            except slurm.AccountingDisabled:
                self.accounting = False
                finished = {}
            for job_id, status in finished.items():
                # squeue is live; sacct may lag behind it for running jobs.
                if job_id not in states or status.state in {JobState.D, JobState.F}:
                    states[job_id] = status
        unknown = []
        for job_id in wanted:
            if job_id in states:
                continue
            res = self._run(slurm.scontrol_show_job_argv(job_id))
            commands += 1
            status = slurm.parse_scontrol_show_job(res.returncode, res.stdout, res.stderr)
            if status is None:
                unknown.append(job_id)
            else:
                states[job_id] = status
        return PollResult(states=states, commands=commands, accounting=bool(self.accounting), unknown_ids=unknown)

    def observe(self, refs: Sequence[JobRef], *, since: datetime | None = None) -> ObserveResult:
        """The state of every job in ``refs`` from one batched poll plus one file probe.

        A ref without a job id (a submission that crashed before its id was recorded) is found by its
        token in the job names squeue and sacct report.
        """
        refs = list(refs)
        polled = self.poll([r.job_id for r in refs if r.job_id], since=since)
        by_token = {slurm.token_of(s.name): s for s in polled.states.values() if slurm.token_of(s.name)}
        res = self._run(probe_argv(self.cluster, [(r.job_dir, r.stage) for r in refs]))
        evidence = parse_probe(res.returncode, res.stdout, res.stderr)
        observations = {}
        for r in refs:
            status = polled.states.get(r.job_id) if r.job_id else by_token.get(r.token)
            ev = evidence.get((r.job_dir, r.stage))
            state, reason = resolve_state(status, ev)
            observations[r.key] = Observation(r.key, state, reason, status.job_id if status else r.job_id, status, ev)
        return ObserveResult(observations, polled.commands + 1, polled.accounting)

