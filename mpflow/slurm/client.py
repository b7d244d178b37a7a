"""Slurm on one cluster, in batches: submit many, cancel many, and observe the jobs a caller tracks.

The only place where ``mpflow.slurm.commands``'s pure builders and parsers meet a transport. The cost of each
action is a constant number of commands, whatever the number of jobs:

- ``observe(refs)``: one ``squeue --states=all`` for every job of the user (finished jobs included
  while Slurm keeps them, MinJobAge), one ``sacct`` only where the cluster has accounting and some
  job is missing from squeue, and one command reading every job's folder (``job_files``: its files,
  and the key lines of its GROMACS log, from which the caller follows the run's progress). A job
  Slurm has forgotten is judged by its exit-code file, never by a per-job ``scontrol``. Callers pass
  only the jobs they have not yet seen in a terminal state.
- ``submit_many(jobs)``: one command running every ``sbatch`` (records on its stdin).
- ``cancel(ids)``: one ``scancel``.
- ``survey(since, folders)``: every mpflow job the cluster knows of (one squeue, one sacct since
  ``since`` where there is accounting) and what the given job folders say (one probe), for finding
  again jobs the caller has no record of (after a restore from a backup).

Scheduler failures raise ``SchedulerError`` with the cluster, the argv, Slurm's output and a hint.
"""

from __future__ import annotations

import logging
import os
import pwd
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Sequence, TypeVar

from mpflow.clusters.transport import CommandResult, Transport
from mpflow.slurm import commands as slurm
from mpflow.slurm.commands import SbatchJob, SchedulerError, SlurmStatus
from mpflow.slurm.job_files import (
    FileEvidence,
    parse_probe,
    probe_argv,
    probe_stdin,
    resolve_state,
)
from mpflow.states import TERMINAL, FailureKind, JobState

log = logging.getLogger(__name__)

T = TypeVar("T")
SBATCH_SECONDS_PER_JOB = 2.0
"""Added to a batch submission's timeout per job (an sbatch on a busy controller can take a second)."""
ID_BATCH = 5000
NAME_BATCH = 1000
"""Job ids (or job names) per scancel or sacct: one command line stays far below the 128 KiB a login
shell takes as its command."""


@dataclass(frozen=True)
class JobRef:
    """A job the caller tracks: its key, folder and stage, and its Slurm id or submission token.
    ``log_header``: read the head of the job's log too (its run length, time step and system size),
    which the caller needs only until it knows them."""

    key: str
    job_dir: str
    stage: str
    job_id: str | None = None
    token: str | None = None
    log_header: bool = True


@dataclass(frozen=True)
class Observation:
    """One job's state from the scheduler and its folder together.

    ``failure_kind`` is set exactly when ``state`` is F; ``pending_reason`` only when it is PD.
    ``start`` is when the job started (set for R, and for D/F when known; the dual-cluster rule keeps
    the earlier start of two running copies); ``end`` is set for D/F when known."""

    key: str
    state: JobState
    failure_kind: FailureKind | None
    pending_reason: str | None
    job_id: str | None
    start: datetime | None
    end: datetime | None
    exit_code: int | None
    detail: str | None  # one line for humans: "exit code 3", "TIMEOUT", "COMPLETED but no emmd.gro"
    slurm: SlurmStatus | None  # what the scheduler said, if it still knows the job
    files: FileEvidence | None  # what the job's folder said

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass
class PollResult:
    """States by job id from one poll, and how many scheduler commands it took."""

    states: dict[str, SlurmStatus]
    commands: int
    accounting: bool | None
    user_jobs: int | None = None  # all of the user's jobs queued or running (mpflow's and others)


@dataclass
class ObserveResult:
    observations: dict[str, Observation]
    commands: int  # scheduler commands plus the file probe
    accounting: bool | None  # None: not learnt yet (sacct was not needed)
    user_jobs: int | None = None  # all of the user's jobs queued or running, from the same squeue


@dataclass
class Survey:
    """Every mpflow job one cluster knows of, and what a set of job folders says."""

    jobs: dict[str, SlurmStatus]  # by job id: squeue's, and sacct's for the jobs squeue has forgotten
    files: dict[tuple[str, str], FileEvidence]  # by (job folder, stage)
    commands: int


class SlurmClient:
    """Scheduler commands for one cluster over one transport (local or SSH)."""

    def __init__(self, transport: Transport, *, user: str | None = None):
        self.transport = transport
        self.cluster = transport.settings.name
        self.user = user or (transport.settings.user if transport.settings.kind == "remote" else None) \
            or pwd.getpwuid(os.getuid()).pw_name  # named, never --me: releases before 20.11 lack it
        self.accounting: bool | None = None  # learnt on the first sacct answer

    def _call(self, argv: Sequence[str], parse: Callable[[CommandResult], T], *, cwd: str | None = None,
              stdin: str | bytes | None = None, timeout: float | None = None) -> T:
        """Run ``argv`` and parse its result; a ``SchedulerError`` from the parser gets the cluster and argv."""
        res = self.transport.run(argv, cwd=cwd, stdin=stdin, timeout=timeout)
        try:
            return parse(res)
        except SchedulerError as exc:
            raise exc.at(self.cluster, res.argv) from None

    # -- submit / cancel -------------------------------------------------------------------------
    def submit(self, script_path: str, *, token: str, comment: str | None = None, cwd: str | None = None,
               test_only: bool = False) -> str:
        """One sbatch of a script already on the cluster (``submit_many`` for a batch). Partition and
        account are in the script's header (rendered for this cluster); repeating them here would
        override a job's own choice, since sbatch's command line wins."""
        argv = slurm.sbatch_argv(script_path, token=token, comment=comment, test_only=test_only)
        parse = slurm.parse_sbatch_test_only if test_only else slurm.parse_sbatch
        return self._call(argv, lambda r: parse(r.returncode, r.stdout, r.stderr), cwd=cwd)

    def submit_many(self, jobs: Sequence[SbatchJob], *, test_only: bool = False) -> dict[str, str | SchedulerError]:
        """Every sbatch of ``jobs`` in one remote command; {key: job id, or the error for that job}.
        One job's refusal does not stop the others."""
        if not jobs:
            return {}
        keys = [j.key for j in jobs]
        res = self.transport.run(slurm.sbatch_many_argv(), stdin=slurm.sbatch_many_stdin(jobs),
                                 timeout=self.transport.settings.command_timeout_s
                                 + SBATCH_SECONDS_PER_JOB * len(jobs))
        answers = slurm.parse_sbatch_many(res.returncode, res.stdout, res.stderr, keys, test_only=test_only)
        argv = {j.key: j.argv for j in jobs}
        return {k: (a.at(self.cluster, argv[k]) if isinstance(a, SchedulerError) else a) for k, a in answers.items()}

    def cancel(self, job_ids: Iterable[str]) -> list[str]:
        """Cancel jobs with one scancel (per 5000 ids); returns the ids Slurm said it did not know."""
        ids = list(job_ids)
        unknown: list[str] = []
        for i in range(0, len(ids), ID_BATCH):
            unknown += self._call(slurm.scancel_argv(ids[i:i + ID_BATCH]),
                                  lambda r: slurm.parse_scancel(r.returncode, r.stdout, r.stderr))
        return unknown

    # -- state -----------------------------------------------------------------------------------
    def poll(self, job_ids: Iterable[str] = (), *, tokens: Iterable[str] = (), since: datetime | None = None
             ) -> PollResult:
        """What the scheduler says about mpflow's jobs on this cluster: one squeue, and one sacct per
        kind of lookup (ids, tokens; per 5000 ids or 1000 names) only where there is accounting and an expected
        job is not in squeue. ``job_ids`` and ``tokens`` are the jobs the caller expects."""
        everyone = self._call(slurm.squeue_argv(self.user),
                              lambda r: slurm.parse_squeue(r.returncode, r.stdout, r.stderr, only_mpflow=False))
        user_jobs = slurm.queued_count(everyone)
        states = {i: s for i, s in everyone.items() if s.name.startswith(slurm.JOB_NAME_PREFIX)}
        commands = 1
        known_tokens = {slurm.token_of(s.name) for s in states.values()}
        missing_ids = sorted({str(j) for j in job_ids} - set(states))
        missing_names = [slurm.job_name(t) for t in sorted(set(tokens) - known_tokens)]
        lookups = [(missing_ids[i:i + ID_BATCH], []) for i in range(0, len(missing_ids), ID_BATCH)]
        lookups += [([], missing_names[i:i + NAME_BATCH]) for i in range(0, len(missing_names), NAME_BATCH)]
        for ids, names in lookups:
            if self.accounting is False:
                break
            # By id, sacct searches all time; by name, only since `since` (default: the last 7 days).
            window = (since or datetime.now() - timedelta(days=7)) if names else None
            finished = self._sacct(slurm.sacct_argv(self.user, since=window, job_ids=ids, job_names=names))
            commands += 1
            for job_id, status in finished.items():
                states.setdefault(job_id, status)  # squeue is live; sacct may lag behind it
        return PollResult(states=states, commands=commands, accounting=self.accounting, user_jobs=user_jobs)

    def _sacct(self, argv: list[str]) -> dict[str, SlurmStatus]:
        """One sacct; {} (and ``accounting`` False from then on) where the cluster has no accounting."""
        res = self.transport.run(argv)
        try:
            finished = slurm.parse_sacct(res.returncode, res.stdout, res.stderr)
            self.accounting = True
        except slurm.AccountingDisabled:
            self.accounting = False
            finished = {}
        except SchedulerError as exc:
            raise exc.at(self.cluster, res.argv) from None
        return finished

    def _probe(self, folders: Sequence[tuple[str, str]]) -> dict[tuple[str, str], FileEvidence]:
        return self._call(probe_argv(self.cluster), lambda r: parse_probe(r.returncode, r.stdout, r.stderr),
                          stdin=probe_stdin(folders))

    def survey(self, since: datetime, folders: Sequence[tuple[str, str]]) -> Survey:
        """Every mpflow job of the user this cluster knows of, and what ``folders`` ((job folder,
        stage) pairs) say: one squeue, one sacct of every job since ``since`` (the cluster's local
        time) where there is accounting, one file probe."""
        jobs = self._call(slurm.squeue_argv(self.user), lambda r: slurm.parse_squeue(r.returncode, r.stdout,
                                                                                      r.stderr))
        commands = 2
        if self.accounting is not False:
            for job_id, status in self._sacct(slurm.sacct_argv(self.user, since=since)).items():
                jobs.setdefault(job_id, status)
            commands += 1
        return Survey(jobs, self._probe(folders), commands)

    def observe(self, refs: Sequence[JobRef], *, since: datetime | None = None) -> ObserveResult:
        """The state of every job in ``refs`` from one poll plus one file probe.

        Pass only jobs not yet seen in a terminal state (D or F): a finished job costs nothing more
        than an unfinished one, but there is no reason to ask again. A ref without a job id (a
        submission that crashed before its id was recorded) is found by its token in job names."""
        refs = list(refs)
        keys = [r.key for r in refs]
        if len(set(keys)) != len(keys):
            raise ValueError("observe: job keys must be unique")
        polled = self.poll([r.job_id for r in refs if r.job_id], tokens=[r.token for r in refs
                                                                         if r.token and not r.job_id], since=since)
        by_token = {slurm.token_of(s.name): s for s in polled.states.values() if slurm.token_of(s.name)}
        evidence = self._probe([(r.job_dir, r.stage, r.log_header) for r in refs]) if refs else {}
        observations = {}
        for r in refs:
            status = polled.states.get(r.job_id) if r.job_id else by_token.get(r.token)
            job_id = status.job_id if status is not None else r.job_id
            ev = evidence.get((r.job_dir, r.stage))
            v = resolve_state(job_id, status, ev)
            observations[r.key] = Observation(
                key=r.key, state=v.state, failure_kind=v.failure_kind,
                pending_reason=status.pending_reason if status is not None and v.state is JobState.PD else None,
                job_id=job_id, start=status.start if status is not None else None,
                end=status.end if status is not None and v.state in TERMINAL else None,
                exit_code=v.exit_code, detail=v.detail, slurm=status, files=ev)
        return ObserveResult(observations, polled.commands + bool(refs), polled.accounting, polled.user_jobs)
